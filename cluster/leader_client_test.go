package cluster

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// txnLog counts the etcd transactions a client sent, by the address of
// the member that answered them.
type txnLog struct {
	mu sync.Mutex
	by map[string]int // guarded by mu
	// unavailable fails every transaction as gRPC does when the member
	// cannot be reached, without sending it.
	unavailable atomic.Bool
}

func (l *txnLog) dialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/etcdserverpb.KV/Txn" && l.unavailable.Load() {
			return status.Error(codes.Unavailable, "test: member unreachable")
		}
		var p grpcpeer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
		if method == "/etcdserverpb.KV/Txn" && err == nil && p.Addr != nil {
			l.mu.Lock()
			l.by[p.Addr.String()]++
			l.mu.Unlock()
		}
		return err
	})
}

// take returns the counts and starts again from none.
func (l *txnLog) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	by := l.by
	l.by = map[string]int{}
	return by
}

// hostPort is a client URL's host:port (what a peer address shows).
func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// fixedLeader is a LeaderSource that names one member whatever raft says.
type fixedLeader struct{ urls []string }

func (f fixedLeader) LeaderClientURLs() []string     { return f.urls }
func (f fixedLeader) LeaderChanged() <-chan struct{} { return nil }

// leaderTestStore opens a store over every member of q whose partition
// writes go through a LeaderClient following src; it returns the
// transactions' logs of both clients.
func leaderTestStore(t *testing.T, q *testQuorum, src LeaderSource) (s *EtcdStore, lc *LeaderClient, main, pinned *txnLog) {
	t.Helper()
	main, pinned = &txnLog{by: map[string]int{}}, &txnLog{by: map[string]int{}}
	cfg := clientv3.Config{Endpoints: q.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	mcfg := cfg
	mcfg.DialOptions = []grpc.DialOption{main.dialOption()}
	cli, err := clientv3.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	lcfg := cfg
	lcfg.DialOptions = []grpc.DialOption{pinned.dialOption()}
	lc, err = NewLeaderClient(lcfg, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	s, err = OpenEtcdStore(ctxT(t), EtcdStoreConfig{ClusterID: "test-cluster", Client: cli, Leader: lc, SessionTimeout: testTTL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lc, main, pinned
}

// bumpAll writes every partition of topic once, as the controller does
// (fenced by its term, no wait for the snapshot: commitUnsettled), one
// partition a transaction.
func bumpAll(t *testing.T, s *EtcdStore, store Store, topic string) {
	t.Helper()
	ctx := ctxT(t)
	uc := store.(unsettledCommitter)
	var last int64
	for _, p := range s.Snapshot().Partitions.All() {
		if p.Topic != topic {
			continue
		}
		n := p.Clone()
		n.PartitionEpoch++
		rev, err := uc.commitUnsettled(ctx, []PartitionUpdate{{Old: p, New: n}})
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, rev)
	}
	if _, err := s.WaitRevision(ctx, last); err != nil {
		t.Fatal(err)
	}
}

// pollUntil polls cond for up to 20 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quorumLeader(q *testQuorum) int {
	for i, m := range q.members {
		if m != nil && m.Stats().Leader {
			return i
		}
	}
	return -1
}

func TestControllerPartitionWritesGoToTheQuorumLeaderAndFollowIt(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAll()
	var lead int
	pollUntil(t, "a quorum leader", func() bool { lead = quorumLeader(q); return lead >= 0 })
	src := q.members[(lead+1)%3] // a follower: it survives the leader
	s, lc, main, pinned := leaderTestStore(t, q, src)
	reg, err := s.Register(ctxT(t), testBroker(1))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	term, err := reg.Campaign(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	topic, parts := testTopic("t", 6, 1)
	if err := s.CreateTopic(ctxT(t), topic, parts); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the leader client connected", func() bool { return lc.ready() != nil })

	main.take()
	pinned.take()
	bumpAll(t, s, term.Store(), "t")
	leaderAddr := hostPort(t, q.members[lead].LeaderClientURLs()[0])
	if got := pinned.take(); got[leaderAddr] != 6 || len(got) != 1 {
		t.Fatalf("partition writes through the leader client: %v, want 6 at the quorum leader %s", got, leaderAddr)
	}
	if got := main.take(); len(got) != 0 {
		t.Fatalf("partition writes through the store's client: %v, want none", got)
	}

	q.stop(lead)
	var next []string
	pollUntil(t, "a new quorum leader", func() bool {
		next = src.LeaderClientURLs()
		return len(next) > 0 && hostPort(t, next[0]) != leaderAddr
	})
	pollUntil(t, "the leader client on the new leader", func() bool {
		eps := lc.Endpoints()
		return len(eps) == 1 && eps[0] == next[0] && lc.ready() != nil
	})
	main.take()
	pinned.take()
	bumpAll(t, s, term.Store(), "t")
	nextAddr := hostPort(t, next[0])
	if got := pinned.take(); got[nextAddr] != 6 || len(got) != 1 {
		t.Fatalf("partition writes through the leader client after the leader died: %v, want 6 at the new leader %s", got, nextAddr)
	}
	if got := main.take(); len(got) != 0 {
		t.Fatalf("partition writes through the store's client after the leader died: %v, want none", got)
	}
}

func TestControllerPartitionWritesFallBackWhenTheLeaderClientsMemberDies(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAll()
	// The leader client is pinned to member 2 whatever raft says; it
	// may follow: the writes are forwarded.
	pinnedURL := "http://" + q.endpoints()[2]
	s, lc, main, pinned := leaderTestStore(t, q, fixedLeader{urls: []string{pinnedURL}})
	topic, parts := testTopic("t", 4, 1)
	if err := s.CreateTopic(ctxT(t), topic, parts); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the leader client connected", func() bool { return lc.ready() != nil })
	main.take()
	pinned.take()
	bumpAll(t, s, s, "t")
	if got := pinned.take(); got[q.endpoints()[2]] != 4 {
		t.Fatalf("partition writes through the leader client: %v, want 4 at %s", got, q.endpoints()[2])
	}

	// A transaction the leader client fails to deliver goes again
	// through the store's client.
	pinned.unavailable.Store(true)
	main.take()
	bumpAll(t, s, s, "t")
	if got := main.take(); got[q.endpoints()[0]]+got[q.endpoints()[1]]+got[q.endpoints()[2]] != 4 {
		t.Fatalf("partition writes through the store's client once the leader client's failed: %v, want 4", got)
	}
	pinned.unavailable.Store(false)

	q.stop(2)
	main.take()
	bumpAll(t, s, s, "t")
	if got := pinned.take(); len(got) != 0 {
		t.Fatalf("partition writes through the leader client of a stopped member: %v", got)
	}
	if got := main.take(); got[q.endpoints()[0]]+got[q.endpoints()[1]] != 4 {
		t.Fatalf("partition writes through the store's client once the leader client's member stopped: %v, want 4", got)
	}
	for _, p := range s.Snapshot().Partitions.All() {
		if p.PartitionEpoch != 3 {
			t.Fatalf("partition %d at epoch %d after three rounds of writes, want 3", p.Partition, p.PartitionEpoch)
		}
	}
}

// movingLeader is a LeaderSource whose leader the test moves.
type movingLeader struct {
	mu      sync.Mutex
	urls    []string      // guarded by mu
	changed chan struct{} // guarded by mu; closed by move
}

func newMovingLeader(urls ...string) *movingLeader {
	return &movingLeader{urls: urls, changed: make(chan struct{})}
}

func (m *movingLeader) LeaderClientURLs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.urls
}

func (m *movingLeader) LeaderChanged() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *movingLeader) move(urls ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.urls = urls
	close(m.changed)
	m.changed = make(chan struct{})
}

// A new leader named while the client of the old one is still making its
// first connection (gRPC builds the client's resolver on a goroutine of
// its own then) is followed without a data race, and the writes reach
// it; a leader named again reuses its client.
func TestLeaderClientFollowsALeaderNamedWhileItsFirstConnectionStarts(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAll()
	eps := q.endpoints()
	urls := make([]string, len(eps))
	for i, ep := range eps {
		urls[i] = "http://" + ep
	}
	log := &txnLog{by: map[string]int{}}
	cfg := clientv3.Config{DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: []grpc.DialOption{log.dialOption()}}
	for round := range 10 {
		from, to := round%3, (round+1)%3
		src := newMovingLeader(urls[from])
		lc, err := NewLeaderClient(cfg, src)
		if err != nil {
			t.Fatal(err)
		}
		// A write starts the first connection while the leader moves.
		started := make(chan struct{})
		go func() {
			defer close(started)
			lc.ready()
		}()
		src.move(urls[to])
		<-started
		pollUntil(t, "the leader client on the moved leader", func() bool {
			e := lc.Endpoints()
			return len(e) == 1 && e[0] == urls[to] && lc.ready() != nil
		})
		log.take()
		if _, err := lc.ready().Txn(ctxT(t)).Commit(); err != nil {
			t.Fatal(err)
		}
		if got := log.take(); got[eps[to]] != 1 || len(got) != 1 {
			t.Fatalf("round %d: a write through the leader client reached %v, want %s only", round, got, eps[to])
		}
		first := lc.cur.Load().cli
		src.move(urls[from])
		pollUntil(t, "the leader client back on the first leader", func() bool {
			e := lc.Endpoints()
			return len(e) == 1 && e[0] == urls[from]
		})
		src.move(urls[to])
		pollUntil(t, "the leader client on the moved leader again", func() bool { return lc.cur.Load().cli == first })
		if err := lc.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
}

// A partition write that the raft leader's client sent and that goes
// unanswered (a member forwarded it to a leader that then died: etcd
// answers only at its request timeout) is sent again as soon as the
// member names a new leader, and commits once.
func TestControllerPartitionWriteInFlightIsSentAgainWhenTheQuorumLeaderMoves(t *testing.T) {
	q := newTestQuorum(t, 3)
	q.startAll()
	eps := q.endpoints()
	src := newMovingLeader("http://" + eps[0])
	var hang atomic.Bool
	hung := make(chan struct{})
	hangOnce := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == "/etcdserverpb.KV/Txn" && hang.CompareAndSwap(true, false) {
			close(hung)
			<-ctx.Done()
			return status.FromContextError(ctx.Err()).Err()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	cfg := clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	lcfg := cfg
	lcfg.DialOptions = []grpc.DialOption{hangOnce}
	lc, err := NewLeaderClient(lcfg, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	s, err := OpenEtcdStore(ctxT(t), EtcdStoreConfig{ClusterID: "test-cluster", Client: cli, Leader: lc, SessionTimeout: testTTL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	topic, parts := testTopic("t", 1, 1)
	if err := s.CreateTopic(ctxT(t), topic, parts); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the leader client connected", func() bool { return lc.ready() != nil })

	hang.Store(true)
	go func() {
		<-hung
		src.move("http://" + eps[1])
	}()
	bumpAll(t, s, s, "t") // fails at ctxT's deadline if the write is not sent again
	select {
	case <-hung:
	default:
		t.Fatal("the partition write did not go through the leader client")
	}
	for _, p := range s.Snapshot().Partitions.All() {
		if p.PartitionEpoch != 1 {
			t.Fatalf("partition %d at epoch %d after one write, want 1", p.Partition, p.PartitionEpoch)
		}
	}
}
