package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func testBroker(id int32) Broker {
	return Broker{NodeID: id, Rack: "r1", Endpoints: []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.9", Port: 9092}}}
}

// registerBroker registers testBroker(id) on s; the registration is
// closed when the test ends.
func registerBroker(t *testing.T, s *EtcdStore, id int32) *Registration {
	t.Helper()
	reg, err := s.Register(ctxT(t), testBroker(id))
	if err != nil {
		t.Fatalf("register broker %d: %v", id, err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// registerController registers broker id on s and makes it the
// controller: its campaign, with no rival, wins at once.
func registerController(t *testing.T, s *EtcdStore, id int32) (*Registration, *Leadership) {
	t.Helper()
	reg := registerBroker(t, s, id)
	lead, err := reg.Campaign(ctxT(t))
	if err != nil {
		t.Fatalf("campaign of broker %d: %v", id, err)
	}
	return reg, lead
}

// rivalCampaign is the campaign of a broker registered while another is
// the controller, run in the background: it wins (won) once that
// controller's term ends, or fails (err).
type rivalCampaign struct {
	id  int32
	won chan *Leadership
	err chan error
}

// campaignBehind registers broker id on s and starts its campaign.
func campaignBehind(t *testing.T, s *EtcdStore, id int32) *rivalCampaign {
	t.Helper()
	reg := registerBroker(t, s, id)
	c := &rivalCampaign{id: id, won: make(chan *Leadership, 1), err: make(chan error, 1)}
	ctx := ctxT(t)
	go func() {
		l, err := reg.Campaign(ctx)
		if err != nil {
			c.err <- err
			return
		}
		c.won <- l
	}()
	return c
}

// loses fails the test if c wins or fails within d: the controller's
// term still holds (why).
func (c *rivalCampaign) loses(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case <-c.won:
		t.Fatalf("broker %d won while %s", c.id, why)
	case err := <-c.err:
		t.Fatal(err)
	case <-time.After(d):
	}
}

// wins waits up to d for c to win, and returns its leadership.
func (c *rivalCampaign) wins(t *testing.T, d time.Duration, after string) *Leadership {
	t.Helper()
	select {
	case l := <-c.won:
		return l
	case err := <-c.err:
		t.Fatal(err)
	case <-time.After(d):
		t.Fatalf("broker %d never became controller %s", c.id, after)
	}
	return nil
}

// TestRegisterTriesAgainAfterADroppedRequest: a registration whose
// transaction etcd drops (Unavailable, as when the connection it was on
// is closed under it: a member restarting, or the endpoint guard leaving
// a member too slow to answer its probe on a loaded machine; or a
// proposal not committed in time) is tried again and succeeds, rather
// than failing the broker's start.
func TestRegisterTriesAgainAfterADroppedRequest(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	tests := []struct {
		name string
		err  error // what the dropped transactions get
	}{
		{"connection closed", status.Error(codes.Unavailable, "error reading from server: use of closed network connection (dropped by the test)")},
		{"request timed out", rpctypes.ErrGRPCTimeout},
		{"lease ran out before the registration", rpctypes.ErrGRPCLeaseNotFound},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var drop atomic.Int32 // transactions still to drop
			dropTxn := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				if method == "/etcdserverpb.KV/Txn" && drop.Add(-1) >= 0 {
					return tc.err
				}
				return invoker(ctx, method, req, reply, cc, opts...)
			}
			cli, err := clientv3.New(clientv3.Config{Endpoints: q.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
				DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(dropTxn)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cli.Close() })
			ctx := ctxT(t)
			s, err := OpenEtcdStore(ctx, EtcdStoreConfig{ClusterID: "test-cluster", Client: cli, SessionTimeout: testTTL, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			id := int32(4 + i)
			drop.Store(2)
			reg, err := s.Register(ctx, testBroker(id))
			if err != nil {
				t.Fatalf("register after two dropped transactions: %v", err)
			}
			defer reg.Close()
			if n := drop.Load(); n >= 0 {
				t.Fatalf("%d of 2 transactions left to drop: the test dropped nothing", n+1)
			}
			snap := waitSnapshot(t, s, 5*time.Second, "the broker registered", func(s *Snapshot) bool { return s.Live(id) })
			if b := snap.Brokers[id]; b.Epoch != reg.Epoch() {
				t.Fatalf("registered broker = %+v, want epoch %d", b, reg.Epoch())
			}
			stillRegistered(t, reg, 0, "after two dropped transactions")
		})
	}
}

func TestLapsedLeaseFencesBrokerOnEveryMember(t *testing.T) {
	_, stores := quorumStores(t)
	ctx := ctxT(t)
	reg := registerBroker(t, stores[0], 7)
	for _, s := range stores {
		snap := waitSnapshot(t, s, 5*time.Second, "broker 7 registered", func(s *Snapshot) bool { return s.Live(7) })
		if b := snap.Brokers[7]; b.Epoch != reg.Epoch() || b.Rack != "r1" || len(b.Endpoints) != 1 || b.Endpoints[0].Port != 9092 {
			t.Fatalf("registered broker = %+v, want epoch %d", b, reg.Epoch())
		}
	}
	// A broker-fenced write works while registered.
	topic, parts := testTopic("t", 1, 7)
	if err := reg.Store().CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}

	// The broker stops renewing (a pause, a partition): no revoke.
	reg.session.Orphan()
	start := time.Now()
	waitFenced(t, reg, lapseWait, "by its lease's lapse")
	for i, s := range stores {
		waitSnapshot(t, s, lapseWait, "broker 7 gone", func(s *Snapshot) bool { return !s.Live(7) })
		t.Logf("member %d: broker gone %v after its renewals stopped (TTL %v)", i, time.Since(start), testTTL)
	}
	p, _ := stores[0].Snapshot().Partition("t", 0)
	next := p.Clone()
	next.ISR = nil
	if err := reg.Store().UpdatePartitions(ctx, []PartitionUpdate{{Old: p, New: next}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("write by a fenced broker: %v, want ErrFenced", err)
	}
}

func TestReregistrationTakesOverAndGrowsEpoch(t *testing.T) {
	s := singleMemberStore(t, testTTL)
	first := registerBroker(t, s, 1)
	// A restarted incarnation registers before the first's lease lapsed.
	second := registerBroker(t, s, 1)
	if second.Epoch() <= first.Epoch() {
		t.Fatalf("epochs %d then %d: must grow", first.Epoch(), second.Epoch())
	}
	waitFenced(t, first, 5*time.Second, "by a new incarnation's registration")
	if b := s.Snapshot().Brokers[1]; b.Epoch != second.Epoch() {
		t.Fatalf("snapshot epoch %d, want the new registration's %d", b.Epoch, second.Epoch())
	}
	stillRegistered(t, second, 0, "as the new incarnation")
	// Close deregisters at once, and is not a fencing.
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if second.Err() != nil {
		t.Fatalf("Err after Close = %v", second.Err())
	}
	waitSnapshot(t, s, 5*time.Second, "broker 1 deregistered", func(s *Snapshot) bool { return !s.Live(1) })
}

func TestControllerFailsOverWhenItsMemberStops(t *testing.T) {
	q, stores := quorumStores(t)
	ctx := ctxT(t)
	// Broker 1 reaches etcd only through member 0, broker 2 through member 1.
	_, lead1 := registerController(t, stores[0], 1)
	for _, s := range stores {
		waitSnapshot(t, s, 5*time.Second, "controller 1", func(s *Snapshot) bool { return s.Controller == 1 })
	}
	rival := campaignBehind(t, stores[1], 2)
	rival.loses(t, 300*time.Millisecond, "broker 1 is controller")

	q.stop(0) // broker 1's only member: its session cannot be renewed
	start := time.Now()
	lead2 := rival.wins(t, lapseWait, "after broker 1's member stopped")
	t.Logf("controller moved %v after its member stopped (TTL %v)", time.Since(start), testTTL)
	select {
	case <-lead1.Lost():
	case <-time.After(lapseWait):
		t.Fatal("the old controller never learnt it lost")
	}
	for _, s := range stores[1:] {
		waitSnapshot(t, s, 5*time.Second, "controller 2", func(s *Snapshot) bool { return s.Controller == 2 && !s.Live(1) })
	}
	// The new controller's fenced writes work; the old one's cannot.
	topic, parts := testTopic("after", 1, 2)
	if err := lead2.Store().CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	if err := lead2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lead2.Lost():
	default:
		t.Fatal("Lost not closed after Resign")
	}
	if err := lead2.Store().DeleteTopic(ctx, "after"); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after resigning: %v, want ErrFenced", err)
	}
	waitSnapshot(t, stores[1], 5*time.Second, "no controller", func(s *Snapshot) bool { return s.Controller == -1 })
}

func TestQuorumStaysWritableWithOneMemberDown(t *testing.T) {
	q, stores := quorumStores(t)
	ctx := ctxT(t)
	q.stop(2)
	topic, parts := testTopic("survives", 3, 1, 2)
	if err := stores[0].CreateTopic(ctx, topic, parts); err != nil {
		t.Fatalf("write with two of three members: %v", err)
	}
	waitSnapshot(t, stores[1], 5*time.Second, "topic on the other live member", func(s *Snapshot) bool { return s.Partitions.Len() == 3 })
	p, _ := stores[1].Snapshot().Partition("survives", 0)
	next := p.Clone()
	next.Leader, next.LeaderEpoch = 2, 1
	if err := stores[1].UpdatePartitions(ctx, []PartitionUpdate{{Old: p, New: next}}); err != nil {
		t.Fatal(err)
	}
}

// brokenAfterApplyKV applies the first transaction and then answers it
// Unavailable, as a client whose connection to the member broke before
// the answer came back (the endpoint guard closing it).
type brokenAfterApplyKV struct {
	clientv3.KV
	broke atomic.Bool
}

func (kv *brokenAfterApplyKV) Txn(ctx context.Context) clientv3.Txn {
	return &brokenAfterApplyTxn{Txn: kv.KV.Txn(ctx), kv: kv}
}

type brokenAfterApplyTxn struct {
	clientv3.Txn
	kv *brokenAfterApplyKV
}

func (t *brokenAfterApplyTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.Txn = t.Txn.Then(ops...)
	return t
}

func (t *brokenAfterApplyTxn) Commit() (*clientv3.TxnResponse, error) {
	resp, err := t.Txn.Commit()
	if err == nil && t.kv.broke.CompareAndSwap(false, true) {
		return nil, status.Error(codes.Unavailable, "error reading from server: use of closed network connection")
	}
	return resp, err
}

// TestRegisterTriesAgainAfterAWriteAppliedAndDropped: a registration
// write answered Unavailable after the member applied it (its connection
// closed before the answer came back) is tried again, and the broker ends
// registered and renewing: the failed try's lease, revoked, takes its key
// with it, and the next try writes it under its own.
func TestRegisterTriesAgainAfterAWriteAppliedAndDropped(t *testing.T) {
	s := singleMemberStore(t, testTTL)
	kv := &brokenAfterApplyKV{KV: s.client.KV}
	s.client.KV = kv
	reg := registerBroker(t, s, 4)
	if !kv.broke.Load() {
		t.Fatal("the first write was not answered Unavailable")
	}
	// Held past the TTL: the lease was not revoked, and is renewed.
	stillRegistered(t, reg, 2*testTTL, "after its first write was applied and dropped")
	if _, ok := s.Snapshot().Brokers[4]; !ok {
		t.Fatal("broker 4 is not registered")
	}
}

// TestAbandonedControllerTermHoldsUntilItsRegistrationEnds: a controller
// that abandons its term (a killed process: no resignation) keeps the
// office, so no other candidate wins, until its registration is ended
// (EndRegistration, as the fast fencer ends it; the lease is far longer
// than the test): its election key goes with its lease and the next
// candidate wins at once.
func TestAbandonedControllerTermHoldsUntilItsRegistrationEnds(t *testing.T) {
	s := singleMemberStore(t, fastFenceTTL)
	ctx := ctxT(t)
	reg1, lead1 := registerController(t, s, 1)
	rival := campaignBehind(t, s, 2)
	waitSnapshot(t, s, 5*time.Second, "two candidates, controller 1", func(s *Snapshot) bool { return s.Controller == 1 && s.Live(2) })

	lead1.Abandon()
	reg1.Abandon()
	select {
	case <-lead1.Lost():
	default:
		t.Fatal("Lost not closed after Abandon")
	}
	rival.loses(t, 500*time.Millisecond, "broker 1's abandoned term still holds its lease")
	if c := s.Snapshot().Controller; c != 1 {
		t.Fatalf("controller %d after broker 1 abandoned its term, want 1 until its registration ends", c)
	}

	if ended, err := s.EndRegistration(ctx, 1, reg1.Epoch()); err != nil || !ended {
		t.Fatalf("EndRegistration = %v, %v", ended, err)
	}
	l := rival.wins(t, fastFenceWait, "after broker 1's registration was ended")
	defer func() { _ = l.Resign(ctx) }()
	waitSnapshot(t, s, 5*time.Second, "controller 2", func(s *Snapshot) bool { return s.Controller == 2 && !s.Live(1) })
}
