package peers

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tributary-io/tributary/bench"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// ServeBroker starts the broker a child process was asked for (cfg.Kind:
// KindTributary or KindKfake); it is the bench.StartFunc that a program
// using this package hands to bench.ServeChild when bench.ChildKind() is
// set. Tributary runs with its defaults over cfg.DataDir; kfake keeps
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
		// kfake listens on 127.0.0.1 only; port 0 picks a free one.
		c, err := kfake.NewCluster(
			kfake.NumBrokers(1),
			kfake.Ports(0),
			kfake.AllowAutoTopicCreation(),
			kfake.DefaultNumPartitions(cfg.Partitions),
		)
		if err != nil {
			return "", nil, err
		}
		return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
	}
	return "", nil, fmt.Errorf("unknown broker kind %q", cfg.Kind)
}
