package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/term"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { rootCmd.AddCommand(newUserCmd()) }

// newUserCmd is `tributary user`: the SCRAM users of SASL listeners, as
// kafka-configs.sh --entity-type users and kafka-storage format
// --add-scram manage them. With --data-dir it works offline on a stopped
// broker's data dir (the way to make the first user before anyone can
// connect); otherwise it asks --brokers (AlterUserScramCredentials,
// DescribeUserScramCredentials).
func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete SCRAM users (online, or offline on a stopped broker's data dir)",
		Example: `  printf '%s\n' "$PASSWORD" | tributary user create admin --mechanism SCRAM-SHA-256 --password-stdin --data-dir /var/lib/tributary
  printf '%s\n' "$PASSWORD" | tributary user create alice --mechanism SCRAM-SHA-512 --password-stdin --brokers 127.0.0.1:9092
  tributary user list
  tributary user delete alice --mechanism SCRAM-SHA-512`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newUserCreateCmd(), newUserListCmd(), newUserDeleteCmd())
	return cmd
}

// userTarget is where a user command works: a data dir offline, or the
// brokers online.
type userTarget struct{ dataDir string }

func (u *userTarget) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&u.dataDir, "data-dir", "", "work offline on this stopped broker's data dir instead of asking --brokers")
}

func (u *userTarget) check(cmd *cobra.Command) error {
	if u.dataDir != "" && cmd.Flags().Changed("brokers") {
		return usageError{errors.New("give --data-dir (offline) or --brokers (online), not both")}
	}
	return nil
}

// withStore opens the credential store of the data dir while holding the
// dir's lock, so that no running broker's store is changed under it.
func (u *userTarget) withStore(name string, fn func(*auth.CredentialStore) error) error {
	if err := os.MkdirAll(u.dataDir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	unlock, err := tlog.LockDir(u.dataDir)
	if errors.Is(err, tlog.ErrLocked) {
		return fmt.Errorf("%s: %w: stop the broker first, or leave out --data-dir to change the users of the running broker through --brokers", name, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer unlock()
	store, err := auth.OpenCredentialStore(auth.CredentialsPath(u.dataDir))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fn(store)
}

// parseMechanisms reads --mechanism values (repeatable, comma-separated).
func parseMechanisms(values []string) ([]auth.ScramMechanism, error) {
	var out []auth.ScramMechanism
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			m, err := auth.ParseScramMechanism(strings.ToUpper(strings.TrimSpace(s)))
			if err != nil {
				return nil, usageError{fmt.Errorf("--mechanism: %w", err)}
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// maxPasswordBytes bounds what --password-stdin reads.
const maxPasswordBytes = 64 << 10

// readPassword reads the password: the first line of standard input with
// --password-stdin, or typed twice at a terminal without echo. Never from
// the command line, where other users can read it.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if !fromStdin {
		f, ok := in.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", usageError{errors.New("give the password on standard input with --password-stdin (never on the command line)")}
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, maxPasswordBytes)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: standard input holds no password")
	}
	return line, nil
}

func newUserCreateCmd() *cobra.Command {
	var (
		target        userTarget
		mechanisms    []string
		iterations    int
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a SCRAM user, or set a new password for one",
		Example: `  printf '%s\n' "$PASSWORD" | tributary user create admin --password-stdin --data-dir ./data
  tributary user create alice --mechanism SCRAM-SHA-256,SCRAM-SHA-512 --password-stdin < alice.pw`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := target.check(cmd); err != nil {
				return err
			}
			if name == "" {
				return usageError{errors.New("user create: empty user name")}
			}
			if iterations < auth.MinScramIterations || iterations > auth.MaxScramIterations {
				return usageError{fmt.Errorf("user create: --iterations %d: want %d to %d", iterations, auth.MinScramIterations, auth.MaxScramIterations)}
			}
			mechs, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			password, err := readPassword(cmd, passwordStdin)
			if err != nil {
				return fmt.Errorf("user create: %w", err)
			}
			var rows [][]string
			for _, m := range mechs {
				rows = append(rows, []string{name, m.String(), strconv.Itoa(iterations), "created"})
			}
			if target.dataDir != "" {
				err = target.withStore("user create", func(store *auth.CredentialStore) error {
					var changes []auth.CredentialChange
					for _, m := range mechs {
						c, err := auth.NewScramCredential(m, password, auth.NewSalt(), iterations)
						if err != nil {
							return err
						}
						changes = append(changes, auth.CredentialChange{User: name, Mechanism: m, Credential: c})
					}
					return store.Apply(changes)
				})
			} else {
				err = withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
					var ups []kadm.UpsertSCRAM
					for _, m := range mechs {
						ups = append(ups, kadm.UpsertSCRAM{User: name, Mechanism: kadm.ScramMechanism(m), Iterations: int32(iterations), Password: password})
					}
					return alterSCRAMs(ctx, adm, name, nil, ups)
				})
			}
			if err != nil {
				return fmt.Errorf("user create %s: %w", name, err)
			}
			return printTable(cmd.OutOrStdout(), []string{"USER", "MECHANISM", "ITERATIONS", "STATUS"}, rows)
		},
	}
	target.addFlags(cmd)
	cmd.Flags().StringSliceVar(&mechanisms, "mechanism", []string{auth.MechanismScramSHA256}, "SCRAM-SHA-256 and/or SCRAM-SHA-512 (repeatable, comma-separated)")
	cmd.Flags().IntVar(&iterations, "iterations", auth.DefaultScramIterations, "PBKDF2 iterations, 4096 to 16384 as Kafka allows")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// userRow is one credential as list prints it.
type userRow struct {
	user, mechanism string
	iterations      int
}

func newUserListCmd() *cobra.Command {
	var target userTarget
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the SCRAM users with their mechanisms and iterations",
		Example: "  tributary user list\n  tributary user list --data-dir ./data",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := target.check(cmd); err != nil {
				return err
			}
			rows, err := listUsers(cmd, &target, "user list")
			if err != nil {
				return err
			}
			var out [][]string
			for _, r := range rows {
				out = append(out, []string{r.user, r.mechanism, strconv.Itoa(r.iterations)})
			}
			return printTable(cmd.OutOrStdout(), []string{"USER", "MECHANISM", "ITERATIONS"}, out)
		},
	}
	target.addFlags(cmd)
	return cmd
}

// listUsers is every credential, sorted by user and mechanism.
func listUsers(cmd *cobra.Command, target *userTarget, name string) ([]userRow, error) {
	var rows []userRow
	if target.dataDir != "" {
		err := target.withStore(name, func(store *auth.CredentialStore) error {
			for _, u := range store.Users() {
				for _, m := range u.Mechanisms {
					rows = append(rows, userRow{u.User, m.Mechanism.String(), m.Iterations})
				}
			}
			return nil
		})
		return rows, err
	}
	err := withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, d := range described.Sorted() {
			if d.Err != nil {
				return fmt.Errorf("%s %s: %w", name, d.User, kafkaErr(d.Err, d.ErrMessage))
			}
			for _, ci := range d.CredInfos {
				rows = append(rows, userRow{d.User, auth.ScramMechanism(ci.Mechanism).String(), int(ci.Iterations)})
			}
		}
		return nil
	})
	return rows, err
}

func newUserDeleteCmd() *cobra.Command {
	var (
		target     userTarget
		mechanisms []string
	)
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a user's SCRAM credentials (every mechanism unless --mechanism)",
		Example: "  tributary user delete alice\n  tributary user delete alice --mechanism SCRAM-SHA-512 --data-dir ./data",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := target.check(cmd); err != nil {
				return err
			}
			mechs, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			if len(mechs) == 0 {
				rows, err := listUsers(cmd, &target, "user delete")
				if err != nil {
					return err
				}
				for _, r := range rows {
					if r.user == name {
						m, _ := auth.ParseScramMechanism(r.mechanism)
						mechs = append(mechs, m)
					}
				}
				if len(mechs) == 0 {
					return fmt.Errorf("user delete %s: no such user", name)
				}
			}
			if target.dataDir != "" {
				err = target.withStore("user delete", func(store *auth.CredentialStore) error {
					var changes []auth.CredentialChange
					for _, m := range mechs {
						changes = append(changes, auth.CredentialChange{User: name, Mechanism: m, Delete: true})
					}
					return store.Apply(changes)
				})
			} else {
				err = withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
					var dels []kadm.DeleteSCRAM
					for _, m := range mechs {
						dels = append(dels, kadm.DeleteSCRAM{User: name, Mechanism: kadm.ScramMechanism(m)})
					}
					return alterSCRAMs(ctx, adm, name, dels, nil)
				})
			}
			if err != nil {
				return fmt.Errorf("user delete %s: %w", name, err)
			}
			var rows [][]string
			for _, m := range mechs {
				rows = append(rows, []string{name, m.String(), "deleted"})
			}
			return printTable(cmd.OutOrStdout(), []string{"USER", "MECHANISM", "STATUS"}, rows)
		},
	}
	target.addFlags(cmd)
	cmd.Flags().StringSliceVar(&mechanisms, "mechanism", nil, "delete only SCRAM-SHA-256 and/or SCRAM-SHA-512 (default: every one the user has)")
	return cmd
}

// alterSCRAMs applies dels and ups for user name over AlterUserScramCredentials
// and returns the user's error, if the broker answered one.
func alterSCRAMs(ctx context.Context, adm *kadm.Client, name string, dels []kadm.DeleteSCRAM, ups []kadm.UpsertSCRAM) error {
	res, err := adm.AlterUserSCRAMs(ctx, dels, ups)
	if err != nil {
		return err
	}
	if r := res[name]; r.Err != nil {
		return kafkaErr(r.Err, r.ErrMessage)
	}
	return nil
}
