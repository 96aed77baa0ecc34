// Command tributary is the Tributary broker binary.
//
//	tributary serve --data-dir ./data --listen 127.0.0.1:9092
//
// Today `serve` opens and recovers the data dir (taking its lock) and keeps
// it open until interrupted; the Kafka wire protocol listener is the next
// piece of work (see the README).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

const usage = `usage: tributary <command> [flags]

commands:
  serve    open the data dir (recovering it after a crash) and serve it

Run 'tributary <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "tributary: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tributary: %v\n", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tributary serve [flags]\n\nexample:\n  tributary serve --data-dir ./data --listen 127.0.0.1:9092\n\nflags:\n")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "./data", "data directory (one broker per directory)")
	listen := fs.String("listen", "127.0.0.1:9092", "address for Kafka clients")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)

	// Catch signals before anything is open: a SIGTERM that arrives during
	// startup (a long recovery) must still end in a clean Close.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	m, err := tlog.OpenManager(*dataDir, tlog.Options{Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("tributary: data dir open", "dir", *dataDir, "topics", len(m.Topics()), "took", time.Since(start))
	logger.Warn("tributary: the Kafka protocol listener is not built yet; storage only", "listen", *listen)

	<-ctx.Done()
	logger.Info("tributary: shutting down")
	return m.Close()
}
