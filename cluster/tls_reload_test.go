package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"
)

// TestEtcdStoreTakesTLSOfEachNewConnection: an EtcdStore with ReloadTLS
// asks it for every new connection's TLS rather than keeping the
// configuration it was opened with: a source that turns to a CA the
// member is not signed by fails the first connection although its first
// answer was good; one that turns good lets a new store in; and turning
// it bad again leaves the established connection working.
func TestEtcdStoreTakesTLSOfEachNewConnection(t *testing.T) {
	pki := writeTestPKI(t)
	q := newTestQuorum(t, 1)
	c := q.config(0)
	c.PeerTLS, c.ClientTLS = &pki, &pki
	m, err := StartEmbedded(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	q.members[0] = m
	good, err := m.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	bad := good.Clone()
	bad.RootCAs = x509.NewCertPool() // trusts nothing the member serves
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(timeout time.Duration, reload func() *tls.Config) (*EtcdStore, error) {
		octx, ocancel := context.WithTimeout(ctx, timeout)
		defer ocancel()
		return OpenEtcdStore(octx, EtcdStoreConfig{ClusterID: "tls", Endpoints: m.ClientURLs(), ReloadTLS: reload, Logger: testLogger(t)})
	}

	var calls atomic.Int32
	goodThenBad := func() *tls.Config {
		if calls.Add(1) == 1 {
			return good
		}
		return bad
	}
	if s, err := open(2*time.Second, goodThenBad); err == nil {
		s.Close()
		t.Fatal("the store kept the TLS it was opened with instead of asking ReloadTLS at the handshake")
	}

	var cur atomic.Pointer[tls.Config]
	cur.Store(good)
	s, err := open(10*time.Second, cur.Load)
	if err != nil {
		t.Fatalf("open with the good configuration: %v", err)
	}
	defer s.Close()
	if _, _, err := s.AllocateProducerIDBlock(ctx, 10); err != nil {
		t.Fatalf("a write: %v", err)
	}
	cur.Store(bad)
	if _, _, err := s.AllocateProducerIDBlock(ctx, 10); err != nil {
		t.Fatalf("a write over the established connection after the configuration changed: %v", err)
	}
}
