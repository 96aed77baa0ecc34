package peers

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/tributary-io/tributary/bench"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// serveKfake starts franz-go's in-memory kfake, the control. kfake is a
// test dependency only (never imported by non-test code), so it is set by
// kfake_test.go: the peer benchmark runs as a test (make bench-peers).
var serveKfake func(cfg bench.ChildConfig) (string, func() error, error)

// ServeBroker starts the broker a child process was asked for (cfg.Kind:
// KindTributary or KindKfake); it is the bench.StartFunc that the peers
// test binary hands to bench.ServeChild when bench.ChildKind() is set.
// Tributary runs with its defaults over cfg.DataDir; kfake keeps
// everything in memory (its default) and ignores the data dir.
func ServeBroker(cfg bench.ChildConfig) (string, func() error, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch cfg.Kind {
	case KindTributary:
		mgr, err := tlog.OpenManager(cfg.DataDir, tlog.Options{Logger: logger})
		if err != nil {
			return "", nil, err
		}
		scfg := server.DefaultConfig()
		scfg.NumPartitions = cfg.Partitions
		srv, err := server.New(mgr, scfg, logger)
		if err != nil {
			return "", nil, errors.Join(err, mgr.Close())
		}
		addr, err := srv.Listen(cfg.Listen)
		if err != nil {
			return "", nil, errors.Join(err, srv.Close(), mgr.Close())
		}
		return addr.String(), func() error { return errors.Join(srv.Close(), mgr.Close()) }, nil
	case KindKfake:
		if serveKfake == nil {
			return "", nil, errKfakeTestOnly
		}
		return serveKfake(cfg)
	}
	return "", nil, fmt.Errorf("unknown broker kind %q", cfg.Kind)
}

// errKfakeTestOnly: this binary is not the peers test binary.
var errKfakeTestOnly = errors.New("peers: kfake runs only in the peers test binary (make bench-peers)")
