package server

import (
	"crypto/tls"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	tlog "github.com/tributary-io/tributary/log"
)

// secureBroker is a broker with the listeners of Kafka's settings, each on
// a random loopback port.
type secureBroker struct {
	*testBroker
	addrs map[string]string // listener name -> bound address
}

// startSecureBroker starts a broker over a temp dir serving listeners
// (names from listeners, "NAME://127.0.0.1:0,...", with protocol map
// pmap) with the security settings security.
func startSecureBroker(t testing.TB, listeners, pmap string, security map[string]string, opts ...brokerOpt) *secureBroker {
	t.Helper()
	ls, err := ResolveListeners(listeners, "", pmap, security)
	if err != nil {
		t.Fatalf("listeners: %v", err)
	}
	return startBrokerOn(t, ls, opts...)
}

// startBrokerOn starts a broker over a temp dir serving ls.
func startBrokerOn(t testing.TB, ls []Listener, opts ...brokerOpt) *secureBroker {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger})
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
	b := &secureBroker{testBroker: &testBroker{t: t, dir: dir, mgr: mgr, srv: srv}, addrs: map[string]string{}}
	t.Cleanup(b.stop)
	for _, l := range ls {
		addr, err := srv.ListenOn(l)
		if err != nil {
			t.Fatalf("listen %s: %v", l.Name, err)
		}
		b.addrs[l.Name] = addr.String()
		if b.addr == "" {
			b.addr = addr.String()
		}
	}
	return b
}

// clientOn is a franz-go client of listener name, with opts.
func (b *secureBroker) clientOn(name string, opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addrs[name]), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		b.t.Fatalf("kgo client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

// tlsRaw is a raw connection over TLS to listener name.
func (b *secureBroker) tlsRaw(name string, cfg *tls.Config) (*rawConn, error) {
	nc, err := tls.Dial("tcp", b.addrs[name], cfg)
	if err != nil {
		return nil, err
	}
	b.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: b.t, nc: nc}, nil
}

// labeledCounter is the value of counter name's series with labels (as
// name=value pairs), 0 if it has none yet.
func labeledCounter(t testing.TB, srv *Server, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
