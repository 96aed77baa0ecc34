package server

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/replica"
)

// TestReplicaConnLogsInOnEverySASLListener: a follower's replica.Conn
// logs in with franz-go's PLAIN and SCRAM mechanisms over SASL_PLAINTEXT
// and over SASL_SSL (TLS with the listener's CA), and is then served; a
// wrong password fails the login with SASL_AUTHENTICATION_FAILED, and
// the error does not show it.
func TestReplicaConnLogsInOnEverySASLListener(t *testing.T) {
	b, ca := saslBroker(t)
	ctx := testContext(t)
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for name, mech := range mechanisms("alice", "alice-secret") {
			cfg := replica.ConnConfig{Addr: b.addrs[listener], SASL: mech}
			if listener == "SASL_SSL" {
				cfg.TLS = func() *tls.Config { return ca.ClientConfig(nil) }
			}
			c := replica.NewConn(1, cfg)
			resp, err := c.Request(ctx, kmsg.NewPtrMetadataRequest())
			if err != nil {
				t.Fatalf("%s %s: %v", listener, name, err)
			}
			if n := len(resp.(*kmsg.MetadataResponse).Brokers); n != 1 {
				t.Fatalf("%s %s: metadata with %d brokers", listener, name, n)
			}
			c.Close()
		}
		for name, mech := range mechanisms("alice", "not-the-secret") {
			cfg := replica.ConnConfig{Addr: b.addrs[listener], SASL: mech}
			if listener == "SASL_SSL" {
				cfg.TLS = func() *tls.Config { return ca.ClientConfig(nil) }
			}
			c := replica.NewConn(1, cfg)
			_, err := c.Request(ctx, kmsg.NewPtrMetadataRequest())
			c.Close()
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s %s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", listener, name, err)
			}
			if strings.Contains(err.Error(), "not-the-secret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		}
	}
}

// TestReplicaConnLogsInAgainBeforeTheSessionExpires: with
// connections.max.reauth.ms, the leader closes a session that outlives
// it; a Conn dials and logs in again before that, so its requests keep
// being served across several lifetimes.
func TestReplicaConnLogsInAgainBeforeTheSessionExpires(t *testing.T) {
	b, _ := saslBroker(t, func(c *Config) { c.ConnectionsMaxReauth = 300 * time.Millisecond })
	ctx := testContext(t)
	mech := mechanisms("alice", "alice-secret")["SCRAM-SHA-256"]
	c := replica.NewConn(1, replica.ConnConfig{Addr: b.addrs["SASL_PLAINTEXT"], SASL: mech})
	defer c.Close()
	for range 8 {
		if _, err := c.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
