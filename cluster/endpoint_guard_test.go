package cluster

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/tributary-io/tributary/internal/faultproxy"
)

// TestEndpointGuardMovesTheLeaseOffAMemberThatStoppedAnswering: a
// broker's registration whose lease keep-alive stream runs over a
// connection to an etcd endpoint that stops answering (a partition: the
// proxy in front of it holds every byte, and nothing closes the
// connection) is not fenced with a 3 s session timeout: the guard finds
// the endpoint silent within a third of it, closes the client's
// connections to it, and the keep-alive and the metadata watch carry on
// over the other endpoint (here the same member, dialled directly). gRPC
// keepalive pings alone would take 10 s or more.
func TestEndpointGuardMovesTheLeaseOffAMemberThatStoppedAnswering(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out twice a 3 s session timeout")
	}
	q := newTestQuorum(t, 1)
	q.startAll()
	direct := q.endpoints()[0]
	proxy, err := faultproxy.New("127.0.0.1:0", endpointAddr(direct))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	viaProxy := "http://" + proxy.Addr()

	const session = 3 * time.Second
	guard := NewEndpointGuard(nil)
	// The client starts on the proxied endpoint alone, so that the
	// registration's keep-alive stream and the watch are opened there.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{viaProxy}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{guard.DialOption()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "test-cluster", Client: cli, SessionTimeout: session, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg, err := s.Register(ctx, testBroker(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	cli.SetEndpoints(viaProxy, direct)
	guard.Start(cli, []string{viaProxy, direct}, session/12, testLogger(t))
	t.Cleanup(guard.Close)
	time.Sleep(session / 3) // the direct connection is up

	proxy.Drop()
	select {
	case <-reg.Fenced():
		t.Fatalf("fenced with one endpoint cut off: %v", reg.Err())
	case <-time.After(2 * session):
	}
	// The watch moved too: a write shows in the snapshot.
	topic, parts := testTopic("after-the-cut", 1, 1)
	if err := s.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, s, 5*time.Second, "the topic created after the cut", func(sn *Snapshot) bool {
		_, ok := sn.Topics["after-the-cut"]
		return ok
	})
	if _, ok := s.Snapshot().Brokers[2]; !ok {
		t.Fatal("broker 2's registration is gone from the snapshot")
	}
	proxy.Heal()
}

func TestEndpointAddr(t *testing.T) {
	for in, want := range map[string]string{"http://127.0.0.1:2379": "127.0.0.1:2379", "https://[::1]:2379": "[::1]:2379", "10.0.0.1:2379": "10.0.0.1:2379"} {
		if got := endpointAddr(in); got != want {
			t.Errorf("endpointAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEndpointGuardLeavesAnEndpointOnlyAfterProbesInARowGoUnanswered:
// one late answer (a loaded machine) closes nothing, since closing fails
// every request in flight on the endpoint's connections; silentProbes in
// a row do, once another endpoint answers, and an answer after that is
// reported as a recovery.
func TestEndpointGuardLeavesAnEndpointOnlyAfterProbesInARowGoUnanswered(t *testing.T) {
	type step struct {
		silent, othersAnswer bool
		want                 probeAction
	}
	for name, steps := range map[string][]step{
		"one late answer": {{true, true, probeNothing}, {false, true, probeNothing}, {true, true, probeNothing}, {false, true, probeNothing}},
		"two in a row":    {{true, true, probeNothing}, {true, true, probeLeave}, {true, true, probeLeaveAgain}, {false, true, probeRecovered}, {false, true, probeNothing}},
		"nowhere to go":   {{true, false, probeNothing}, {true, false, probeNothing}, {true, true, probeLeave}, {false, false, probeRecovered}},
	} {
		var r probeRun
		for i, s := range steps {
			if got := r.observe(s.silent, s.othersAnswer); got != s.want {
				t.Errorf("%s: probe %d (silent %v, others answer %v) = %v, want %v", name, i+1, s.silent, s.othersAnswer, got, s.want)
			}
		}
	}
}
