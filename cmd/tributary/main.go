// Command tributary is the Tributary broker and its operator tools in one
// binary.
//
//	tributary serve --data-dir ./data --listen 127.0.0.1:9092
//
// serve opens and recovers the data dir (taking its lock), serves Kafka
// clients on --listen and Prometheus metrics on --metrics-listen, and on
// SIGINT/SIGTERM stops accepting, finishes in-flight requests, flushes and
// exits 0. The other commands are clients of a running broker (--brokers,
// or TRIBUTARY_BROKERS) or read a data dir offline; each registers itself
// on the root command from its own file.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Where the client commands find the broker.
const (
	defaultBrokers = "127.0.0.1:9092"
	envBrokers     = "TRIBUTARY_BROKERS"
)

// rootCmd is the tributary command; every subcommand adds itself to it in
// an init function of its file.
var rootCmd = &cobra.Command{
	Use:   "tributary",
	Short: "A Kafka-compatible log broker and its operator tools",
	Long: `Tributary is a Kafka-compatible, segmented append-only log broker: one
binary, no ZooKeeper, real Kafka clients work unmodified.`,
	Example: `  tributary serve --data-dir ./data
  tributary serve --print-config`,
	SilenceUsage:  true, // an error prints one line, not the usage
	SilenceErrors: true, // main prints it, prefixed
}

// brokers is the --brokers flag shared by the client commands.
var brokers string

func init() {
	def := defaultBrokers
	if env := os.Getenv(envBrokers); env != "" {
		def = env
	}
	rootCmd.PersistentFlags().StringVar(&brokers, "brokers", def, "comma-separated host:port of brokers to bootstrap from (env "+envBrokers+")")
	rootCmd.AddCommand(&cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the broker: recover the data dir and serve Kafka clients",
		Example: `  tributary serve --data-dir ./data --listen 127.0.0.1:9092
  tributary serve --config broker.properties --set num.partitions=3`,
		// serve parses its own flags (Kafka's setting names, --set).
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(args)
		},
	})
}

// usageError is a command line that names no valid command or flag: exit
// status 2, as flag-parsing tools do, so scripts can tell it from a failure.
type usageError struct{ error }

func main() {
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if len(os.Args) < 2 {
		rootCmd.SetOut(os.Stderr)
		rootCmd.Usage()
		os.Exit(2)
	}
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "tributary: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
