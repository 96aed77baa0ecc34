// Package testbroker starts a real single Tributary broker inside a test
// process, for the tests of packages other than server (server's own
// tests cannot import it: it imports server). The broker serves on a free
// loopback port over a temp data dir and stops with the test.
package testbroker

import (
	"errors"
	"log/slog"
	"testing"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// Broker is a broker a test started.
type Broker struct {
	// Addr is its Kafka listener (host:port).
	Addr string
	// Logs are its partitions' logs, for a test that looks underneath.
	Logs *tlog.Manager
}

// Start starts a broker with server.DefaultConfig adjusted by configure
// (in order), logging nowhere. A broker that does not close cleanly at
// the end of the test fails it.
func Start(t testing.TB, configure ...func(*server.Config)) *Broker {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{Logger: logger})
	if err != nil {
		t.Fatalf("testbroker: open logs: %v", err)
	}
	cfg := server.DefaultConfig()
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := server.New(mgr, cfg, logger)
	if err != nil {
		t.Fatalf("testbroker: %v", errors.Join(err, mgr.Close()))
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("testbroker: listen: %v", errors.Join(err, srv.Close(), mgr.Close()))
	}
	t.Cleanup(func() {
		if err := errors.Join(srv.Close(), mgr.Close()); err != nil {
			t.Errorf("testbroker: close: %v", err)
		}
	})
	return &Broker{Addr: addr.String(), Logs: mgr}
}
