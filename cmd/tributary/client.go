package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client settings shared by the commands that talk to a broker.
const (
	// adminTimeout bounds one admin command end to end, so that a broker
	// that is down fails the command instead of hanging it.
	adminTimeout = 30 * time.Second
	// dialTimeout fails fast on an address nothing listens on.
	dialTimeout = 5 * time.Second
	// reachTimeout bounds the first contact with --brokers (reachBrokers):
	// a dial, and an ApiVersions answer, from one of them.
	reachTimeout = dialTimeout + 2*time.Second
)

// seedBrokers is cmd's --brokers as a list.
func seedBrokers(cmd *cobra.Command) ([]string, error) {
	var seeds []string
	for _, b := range strings.Split(brokersFlag(cmd), ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, usageError{errors.New("--brokers is empty")}
	}
	return seeds, nil
}

// newClient connects a franz-go client to cmd's --brokers and checks that
// one of them answers (reachBrokers), so that every client command fails
// within seconds, naming the address, when no broker is there: franz-go
// itself retries a dead seed until the request's own deadline, which for a
// producer is never.
func newClient(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := seedBrokers(cmd)
	if err != nil {
		return nil, err
	}
	base, sec, err := clientBaseOpts(cmd, seeds)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := reachBrokers(cmd.Context(), cl, seeds); err != nil {
		cl.Close()
		if errors.Is(err, kerr.SaslAuthenticationFailed) {
			return nil, sec.authFailed(seeds, errors.Unwrap(err))
		}
		return nil, err
	}
	return cl, nil
}

// clientBaseOpts are the options every client command's clients share:
// the seeds, the dial timeout, the client id and the security settings
// (--command-config and TRIBUTARY_CLIENT_*, clientSecurityOpts).
func clientBaseOpts(cmd *cobra.Command, seeds []string) ([]kgo.Opt, *clientSecurity, error) {
	secOpts, sec, err := clientSecurityOf(cmd, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTimeout(dialTimeout), kgo.ClientID("tributary-cli")}
	return append(base, secOpts...), sec, nil
}

// reachBrokers asks the seed brokers for their API versions, one after the
// other, until one answers within reachTimeout. Its error is one line
// naming the addresses tried and why the last failed.
func reachBrokers(ctx context.Context, cl *kgo.Client, seeds []string) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	err := cl.Ping(ctx)
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v", reachTimeout)
	}
	return unreachableError{seeds: seeds, err: err}
}

// unreachableError is a command's failure to reach any of --brokers.
type unreachableError struct {
	seeds []string
	err   error
}

func (e unreachableError) Error() string {
	return fmt.Sprintf("cannot reach a broker at %s (--brokers or %s): %v", strings.Join(e.seeds, ","), envBrokers, e.err)
}

func (e unreachableError) Unwrap() error { return e.err }

// withAdmin runs fn with an admin client over --brokers and a context
// bounded by adminTimeout.
func withAdmin(cmd *cobra.Command, fn func(ctx context.Context, adm *kadm.Client) error) error {
	cl, err := newClient(cmd)
	if err != nil {
		// "topic list: cannot reach a broker at ...", as fn's own errors read
		return fmt.Errorf("%s: %w", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
	defer cancel()
	return fn(ctx, kadm.NewClient(cl))
}

// outputFormat is an --output flag: text for people, json for machines.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "text|json" }

func (o *outputFormat) Set(v string) error {
	switch v {
	case "text", "json":
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("want text or json")
}

func addOutputFlag(cmd *cobra.Command, o *outputFormat) {
	*o = "text"
	cmd.Flags().Var(o, "output", "output format: text (tables) or json")
}

// writeJSON writes v indented, as the json output of a command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseConfigs reads repeated name=value flags into a map.
func parseConfigs(flag string, kvs []string) (map[string]*string, error) {
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError{fmt.Errorf("--%s %q: want name=value", flag, kv)}
		}
		m[strings.TrimSpace(k)] = &v
	}
	return m, nil
}

// kafkaErr folds a broker error and its message into one string.
func kafkaErr(err error, msg string) error {
	if msg != "" && err != nil && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}
