// Package testetcd starts etcd members for tests that stand one in for an
// external etcd cluster (metadata.store=etcd://...), configured as etcd
// ships: in particular --max-txn-ops 128, the limit the cluster package's
// staged writes are built for. Test code only.
package testetcd

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/tributary-io/tributary/internal/testnet"
)

// shippedMaxTxnOps is etcd's default --max-txn-ops.
const shippedMaxTxnOps = 128

// StartDefaultLimit starts a one-member etcd on 127.0.0.1 with etcd's
// default limits (fsync off, for speed) and returns its client address
// (host:port). The member stops when the test ends.
func StartDefaultLimit(t testing.TB) string {
	t.Helper()
	port := testnet.FreePortPair(t, "127.0.0.1")
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port+1)}
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	if cfg.MaxTxnOps != shippedMaxTxnOps {
		t.Fatalf("testetcd: etcd's default max-txn-ops is %d, the tests expect %d", cfg.MaxTxnOps, shippedMaxTxnOps)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("testetcd: start: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("testetcd: etcd did not start within 20 s")
	}
	return client.Host
}
