package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// TestStartGivesUpOnASilentMetadataQuorumAfterTheInitialRegistrationTimeout:
// a broker whose metadata store does not answer gives up after
// initial.broker.registration.timeout.ms, not a fixed limit, with an
// error naming the setting and the endpoints it waited for.
func TestStartGivesUpOnASilentMetadataQuorumAfterTheInitialRegistrationTimeout(t *testing.T) {
	// An address nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{Logger: logger, ReplicatedLeadership: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	cc := DefaultClusterConfig()
	cc.NodeID = 1
	u, err := ParseMetadataStore("etcd://" + dead)
	if err != nil {
		t.Fatal(err)
	}
	cc.MetadataStoreURL, cc.MetadataStore = u, u.HostPorts()
	cc.InitialRegistrationTimeout = 700 * time.Millisecond
	cfg := DefaultConfig()
	cfg.Cluster = &ClusterOptions{Config: cc, UnsafeNoFsync: true}
	srv, err := New(mgr, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.ListenOn(Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	// The test's own limit only keeps a broken start from hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = srv.StartCluster(ctx)
	if err == nil {
		t.Fatal("the start joined a metadata store that is not there")
	}
	t.Logf("start error: %v", err)
	for _, want := range []string{BrokerInitialRegistrationTimeoutMs + "=700", dead, "cluster ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q does not say %q", err, want)
		}
	}
}
