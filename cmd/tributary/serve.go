package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: tributary serve [flags]

example:
  tributary serve --data-dir ./data --listen 127.0.0.1:9092
  tributary serve --config broker.properties --set num.partitions=3

Broker settings use Kafka's server.properties names (see --print-config);
--set overrides --config, which overrides the defaults.

flags:
`)
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "./data", "data directory (one broker per directory)")
	listen := fs.String("listen", "127.0.0.1:9092", "address for Kafka clients")
	advertise := fs.String("advertise", "", "host:port clients are told to connect to (default: the listen address)")
	metricsListen := fs.String("metrics-listen", "127.0.0.1:9644", "address serving /metrics (Prometheus) and /healthz; empty disables")
	configFile := fs.String("config", "", "broker settings file (Java properties, Kafka's names)")
	printConfig := fs.Bool("print-config", false, "print the effective broker settings and exit")
	var sets []string
	fs.Func("set", "one broker setting as name=value (repeatable)", func(v string) error {
		sets = append(sets, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	settings, err := brokerSettings(*configFile, sets)
	if err != nil {
		return err
	}
	settings.Server.Advertise = *advertise
	if *printConfig {
		fmt.Print(settings.Properties())
		return nil
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(logger)

	// Catch signals before anything is open: a SIGTERM that arrives during
	// startup (a long recovery) must still end in a clean Close.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	m, err := tlog.OpenManager(*dataDir, tlog.Options{Logger: logger, Defaults: &settings.Topics})
	if err != nil {
		return err
	}
	logger.Info("tributary: data dir open", "dir", *dataDir, "topics", len(m.Topics()), "took", time.Since(start))
	err = run(ctx, logger, m, settings.Server, *listen, *metricsListen)
	logger.Info("tributary: shutting down")
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// brokerSettings reads the config file, then applies --set overrides.
func brokerSettings(file string, sets []string) (server.BrokerSettings, error) {
	settings := server.DefaultBrokerSettings()
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return settings, fmt.Errorf("serve: config: %w", err)
		}
		err = settings.ReadProperties(f, file)
		f.Close()
		if err != nil {
			return settings, err
		}
	}
	for _, kv := range sets {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return settings, fmt.Errorf("serve: --set %q: want name=value", kv)
		}
		if err := settings.Apply(strings.TrimSpace(name), value); err != nil {
			return settings, err
		}
	}
	return settings, settings.Validate()
}

// run serves Kafka clients and metrics until ctx ends, then stops accepting,
// lets in-flight requests finish and returns.
func run(ctx context.Context, logger *slog.Logger, m *tlog.Manager, cfg server.Config, listen, metricsListen string) error {
	srv, err := server.New(m, cfg, logger)
	if err != nil {
		return err
	}
	addr, err := srv.Listen(listen)
	if err != nil {
		return err
	}
	var httpSrv *http.Server
	metricsAddr := "off"
	if metricsListen != "" {
		ln, err := net.Listen("tcp", metricsListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("serve: metrics listener: %w", err)
		}
		metricsAddr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(srv.Registry(), promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "ok")
		})
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go httpSrv.Serve(ln)
	}
	logger.Info("tributary: serving Kafka clients", "listen", addr.String(), "metrics", metricsAddr)
	<-ctx.Done()
	logger.Info("tributary: signal received, draining connections")
	err = srv.Close()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		httpSrv.Shutdown(sctx)
		cancel()
	}
	return err
}
