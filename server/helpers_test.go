package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	tlog "github.com/tributary-io/tributary/log"
)

// testBroker is a real broker on a random loopback port over a temp data dir.
type testBroker struct {
	t    testing.TB
	dir  string
	addr string
	mgr  *tlog.Manager
	srv  *Server
}

type brokerOpt func(*Config)

// startBroker starts a broker in-process; it is closed at the end of the test.
func startBroker(t testing.TB, opts ...brokerOpt) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), opts...)
}

func startBrokerIn(t testing.TB, dir string, opts ...brokerOpt) *testBroker {
	t.Helper()
	return startBrokerWith(t, dir, nil, opts...)
}

// startBrokerWith starts a broker over dir with the given topic defaults
// (nil: Kafka's).
func startBrokerWith(t testing.TB, dir string, defaults *tlog.Config, opts ...brokerOpt) *testBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A fuzz target may not call f.Log from inside its fuzz function, where
	// the broker logs from: fuzz brokers stay quiet even with -v.
	if _, fuzz := t.(*testing.F); testing.Verbose() && !fuzz {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger, Defaults: defaults})
	if err != nil {
		t.Fatalf("open manager: %v", err)
	}
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(mgr, cfg, logger)
	if err != nil {
		mgr.Close()
		t.Fatalf("new server: %v", err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		mgr.Close()
		t.Fatalf("listen: %v", err)
	}
	b := &testBroker{t: t, dir: dir, addr: addr.String(), mgr: mgr, srv: srv}
	t.Cleanup(b.stop)
	return b
}

// stop closes the server and the manager; safe to call twice.
func (b *testBroker) stop() {
	if b.srv == nil {
		return
	}
	if err := b.srv.Close(); err != nil {
		b.t.Errorf("server close: %v", err)
	}
	if err := b.mgr.Close(); err != nil {
		b.t.Errorf("manager close: %v", err)
	}
	b.srv, b.mgr = nil, nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// client returns a franz-go client for the broker, closed with the test.
func (b *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatalf("kgo client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func (b *testBroker) admin() *kadm.Client {
	return kadm.NewClient(b.client())
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
