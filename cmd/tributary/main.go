// Command tributary is the Tributary broker and its operator tools in one
// binary.
//
//	tributary serve --data-dir ./data --listen 127.0.0.1:9092
//
// serve opens and recovers the data dir (taking its lock), serves Kafka
// clients on --listen and Prometheus metrics on --metrics-listen, and on
// SIGINT/SIGTERM stops accepting, finishes in-flight requests, flushes and
// exits 0. The other commands are clients of a running broker (--brokers,
// or TRIBUTARY_BROKERS; a secured one with the Kafka client properties of
// --command-config, client_security.go) or read a data dir offline; each
// registers itself on the root command from its own file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary-io/tributary/server"
)

// The ports of a broker, and where the client commands find it. The
// README, the Makefile's run target and deploy/ use the same (a test
// checks them).
const (
	defaultListen        = "127.0.0.1:9092"
	defaultMetricsListen = "127.0.0.1:9644"
	defaultBrokers       = defaultListen
	envBrokers           = "TRIBUTARY_BROKERS"
)

// rootCmd is the tributary command; every subcommand adds itself to it in
// an init function of its file:
//
//	func init() { rootCmd.AddCommand(newTopicCmd()) }
//
// A subcommand keeps its flag variables inside its constructor (not in
// package globals), so that tests can build a fresh tree with newRootCmd
// and run it in-process as often as they like.
var rootCmd = newRootCmd()

// brokers is rootCmd's --brokers flag, shared by the client commands. A
// command should read it with brokersFlag(cmd), which also works in a tree
// built by newRootCmd for a test.
var brokers string

// newRootCmd builds the root command with its persistent flags and no
// subcommands. --brokers is parsed into the package's brokers, or into
// brokersVar if one is given: tests that run two trees at once pass their
// own so as not to share (and race on) the package variable, and commands
// read the flag with brokersFlag(cmd), which works either way.
func newRootCmd(brokersVar ...*string) *cobra.Command {
	target := &brokers
	if len(brokersVar) > 0 && brokersVar[0] != nil {
		target = brokersVar[0]
	}
	root := &cobra.Command{
		Use:   "tributary",
		Short: "A Kafka-compatible log broker and its operator tools",
		Long: `Tributary is a Kafka-compatible, segmented append-only log broker: one
binary, no ZooKeeper, real Kafka clients work unmodified.`,
		Example: `  tributary serve --data-dir ./data
  tributary topic create events --partitions 3
  echo hello | tributary produce --topic events
  tributary consume --topic events --offset earliest`,
		SilenceUsage:  true, // an error prints one line, not the usage
		SilenceErrors: true, // execute prints it, prefixed
	}
	def := defaultBrokers
	if env := os.Getenv(envBrokers); env != "" {
		def = env
	}
	root.PersistentFlags().StringVarP(target, "brokers", "b", def, "comma-separated host:port of brokers to bootstrap from (env "+envBrokers+")")
	addSecurityFlags(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.Version = versionString()
	root.SetVersionTemplate("tributary {{.Version}}\n")
	root.AddCommand(&cobra.Command{
		Use:     "version",
		Short:   "Print the version, VCS revision and Go version of this binary",
		Example: "  tributary version\n  tributary --version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "tributary %s\n", versionString())
			return err
		},
	})
	return root
}

// versionString names this build: "v0.3.0-5-gabc1234 (revision abc1234…,
// go1.26.0)", from what make build stamped or Go recorded (server.BuildVersion).
func versionString() string {
	version, revision := server.BuildVersion()
	return fmt.Sprintf("%s (revision %s, %s)", version, revision, runtime.Version())
}

// brokersFlag is the --brokers of the tree cmd belongs to.
func brokersFlag(cmd *cobra.Command) string {
	if f := cmd.Flag("brokers"); f != nil {
		return f.Value.String()
	}
	return brokers
}

// usageError is a command line that names no valid command or flag: exit
// status 2, as flag-parsing tools do, so scripts can tell it from a failure.
type usageError struct{ error }

// errInterrupted ends a command that SIGINT or SIGTERM stopped, after it
// printed what it had done: exit status 130, as a shell reports it.
var errInterrupted = errors.New("interrupted")

// execute runs root with args and returns the exit status: 0, 1 for a
// failure, 2 for a usage error, 130 for an interrupt. A failure is one
// line on stderr.
func execute(root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		root.Usage()
		return 2
	}
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "tributary: %s\n", oneLine(err.Error()))
		if isUsageError(err) {
			return 2
		}
		if errors.Is(err, errInterrupted) {
			return 130
		}
		return 1
	}
	return 0
}

// isUsageError tells a bad command line from a failure: our usageError,
// and cobra's own errors for unknown commands, missing required flags and
// wrong argument counts.
func isUsageError(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "required flag", "requires at least", "accepts "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// oneLine folds a multi-line error (cobra's unknown-command suggestions,
// joined errors) onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func main() {
	os.Exit(execute(rootCmd, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
