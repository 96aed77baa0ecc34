package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
)

// readyCheck is the check named name of r, failing the test without it.
func readyCheck(t *testing.T, r Readiness, name string) ReadinessCheck {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in:\n%s", name, r)
	return ReadinessCheck{}
}

// TestReadinessOfASingleBroker: not ready before a listener serves, ready
// while it does, not ready once closing.
func TestReadinessOfASingleBroker(t *testing.T) {
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	srv, err := New(mgr, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.Readiness(); r.Ready || readyCheck(t, r, ReadyListeners).Detail != "no listener open yet" {
		t.Errorf("before Listen:\n%s", r)
	}
	if _, err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if r := srv.Readiness(); !r.Ready || len(r.Checks) != 1 || r.String() != "[+]listeners 1 serving\nready\n" {
		t.Errorf("serving:\n%s", r)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if r := srv.Readiness(); r.Ready || !strings.HasPrefix(r.String(), "[-]listeners closing") {
		t.Errorf("closed:\n%s", r)
	}
}

// TestReadinessOfAClusterNode: a voter whose quorum has not formed serves
// its listener but is not ready, and says it waits for a quorum; the
// nodes of a running cluster are ready, and a fenced node is ready again
// only once registered and reconciled under its new broker epoch.
func TestReadinessOfAClusterNode(t *testing.T) {
	t.Run("quorum not formed", func(t *testing.T) {
		mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{ReplicatedLeadership: true})
		if err != nil {
			t.Fatal(err)
		}
		defer mgr.Close()
		cc := DefaultClusterConfig()
		cc.NodeID = 1
		cc.ControllerListen = freeControllerAddr(t, "127.0.0.1")
		_, p, _ := net.SplitHostPort(cc.ControllerListen)
		port, _ := strconv.Atoi(p)
		// Voters 2 and 3 never start (their ports refuse connections).
		cc.Voters = []Voter{{ID: 1, Host: "127.0.0.1", Port: uint16(port)}, {ID: 2, Host: "127.0.0.2", Port: 1}, {ID: 3, Host: "127.0.0.3", Port: 1}}
		cfg := DefaultConfig()
		cfg.Cluster = &ClusterOptions{Config: cc, UnsafeNoFsync: true, StartTimeout: 300 * time.Millisecond}
		srv, err := New(mgr, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if _, err := srv.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		r := srv.Readiness()
		joined := readyCheck(t, r, ReadyJoined)
		if r.Ready || !readyCheck(t, r, ReadyListeners).OK || joined.OK ||
			joined.Detail != "joining: waiting for a quorum of controller.quorum.voters (2 of 3) and the metadata store" {
			t.Errorf("before the quorum:\n%s", r)
		}
		// StartCluster gives up without a quorum; the node stays unready.
		if err := srv.StartCluster(context.Background()); err == nil {
			t.Fatal("StartCluster without a quorum succeeded")
		}
		if r := srv.Readiness(); r.Ready {
			t.Errorf("after a failed start:\n%s", r)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		tc := startTestCluster(t)
		waitReady := func(n *clusterTestNode) Readiness {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for {
				r := n.srv.Readiness()
				if r.Ready {
					return r
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d not ready:\n%s", n.id, r)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		for _, n := range tc.nodes {
			r := waitReady(n)
			if len(r.Checks) != 5 {
				t.Errorf("node %d: %d checks:\n%s", n.id, len(r.Checks), r)
			}
		}
		n := tc.node(2)
		before := n.srv.node.currentReg().Epoch()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tc.fenceAndWait(ctx, n, tc.node(1), tc.node(3))
		r := waitReady(n)
		epoch := n.srv.node.currentReg().Epoch()
		if epoch <= before || readyCheck(t, r, ReadyRegistered).Detail != "broker epoch "+strconv.FormatInt(epoch, 10) {
			t.Errorf("after the fencing (epoch %d before):\n%s", before, r)
		}
		if got := n.srv.node.rec.caughtUp.Load(); got < epoch {
			t.Errorf("ready with partitions reconciled at revision %d, below broker epoch %d", got, epoch)
		}
	})
}
