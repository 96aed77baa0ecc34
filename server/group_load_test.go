package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// loadGate holds group loads open while closed: a consumergroup
// LoadHook.
type loadGate struct {
	mu      sync.Mutex
	holding bool
	release chan struct{}
	held    atomic.Int32 // loads waiting at the gate
}

func newLoadGate() *loadGate { return &loadGate{release: make(chan struct{})} }

// close makes loads from now on wait until open.
func (g *loadGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = true
}

// open lets every held load go on, and later ones pass; safe to call
// twice.
func (g *loadGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holding {
		close(g.release)
		g.holding = false
	}
}

func (g *loadGate) hook(int32) {
	g.mu.Lock()
	holding, release := g.holding, g.release
	g.mu.Unlock()
	if holding {
		g.held.Add(1)
		<-release
	}
}

// checkGroupRequestsWhileLoading: what the group APIs answer, on c, while
// group's partition of __consumer_offsets loads, as Kafka's group
// coordinator answers them: COORDINATOR_LOAD_IN_PROGRESS wherever the
// version carries an error (OffsetFetch before v2 on each partition,
// from v8 per group), and a heartbeat blindly NONE.
func checkGroupRequestsWhileLoading(t *testing.T, c *rawConn, group string) {
	t.Helper()
	load := kerr.CoordinatorLoadInProgress
	for _, v := range []int16{0, 9} {
		wantCode(t, fmt.Sprintf("JoinGroup v%d", v), c.do(validJoin(v, group)).(*kmsg.JoinGroupResponse).ErrorCode, load)
	}
	// The load is answered before the request's own faults, as Kafka.
	wantCode(t, "JoinGroup with a session below the minimum", c.do(joinReq(9, group, "")).(*kmsg.JoinGroupResponse).ErrorCode, load)
	wantCode(t, "SyncGroup", c.do(syncReq(group, "m", 1, nil)).(*kmsg.SyncGroupResponse).ErrorCode, load)
	for _, v := range []int16{0, 4} {
		hb := heartbeatReq(group, "m", 1)
		hb.Version = v
		wantCode(t, fmt.Sprintf("Heartbeat v%d", v), c.do(hb).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	}
	wantCode(t, "LeaveGroup", c.do(leaveReq(group, "m")).(*kmsg.LeaveGroupResponse).ErrorCode, load)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group, commit.Generation = group, -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "load-t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
	cr := c.do(commit).(*kmsg.OffsetCommitResponse)
	if len(cr.Topics) != 1 || len(cr.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetCommit: %+v", cr)
	}
	wantCode(t, "OffsetCommit", cr.Topics[0].Partitions[0].ErrorCode, load)

	for _, v := range []int16{1, 2, 7} {
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Version = v
		fetch.Group = group
		fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "load-t", Partitions: []int32{0}}}
		fr := c.do(fetch).(*kmsg.OffsetFetchResponse)
		code := fr.ErrorCode
		if v < 2 {
			if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
				t.Fatalf("OffsetFetch v%d: %+v", v, fr)
			}
			code = fr.Topics[0].Partitions[0].ErrorCode
		}
		wantCode(t, fmt.Sprintf("OffsetFetch v%d", v), code, load)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group}}
	if fr := c.do(fetch).(*kmsg.OffsetFetchResponse); len(fr.Groups) != 1 {
		t.Fatalf("OffsetFetch v8: %+v", fr)
	} else {
		wantCode(t, "OffsetFetch v8", fr.Groups[0].ErrorCode, load)
	}

	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Version = 5
	describe.Groups = []string{group}
	if dr := c.do(describe).(*kmsg.DescribeGroupsResponse); len(dr.Groups) != 1 {
		t.Fatalf("DescribeGroups: %+v", dr)
	} else {
		wantCode(t, "DescribeGroups", dr.Groups[0].ErrorCode, load)
	}
}

// validJoin is a first JoinGroup with a session timeout the broker's
// defaults allow.
func validJoin(v int16, group string) *kmsg.JoinGroupRequest {
	req := joinReq(v, group, "")
	req.SessionTimeoutMillis = 10000
	return req
}

// findCoordinatorOn asks c for group's coordinator at version v.
func findCoordinatorOn(c *rawConn, v int16, group string) (node int32, code int16) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = v
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	resp := c.do(req).(*kmsg.FindCoordinatorResponse)
	if v >= 4 {
		if len(resp.Coordinators) != 1 {
			return -1, kerr.UnknownServerError.Code
		}
		return resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
	}
	return resp.NodeID, resp.ErrorCode
}

// TestFindCoordinatorNamesTheBrokerWhileGroupsLoad: a single broker
// replaying __consumer_offsets at start already answers FindCoordinator
// with itself, as Kafka does once it leads the partition, and the group
// requests that follow answer COORDINATOR_LOAD_IN_PROGRESS (a heartbeat
// NONE) until the replay is done; then they are served.
func TestFindCoordinatorNamesTheBrokerWhileGroupsLoad(t *testing.T) {
	gate := newLoadGate()
	gate.close()
	b := startBroker(t, func(c *Config) { c.Groups.LoadHook = gate.hook })
	t.Cleanup(gate.open) // before the broker closes: Close waits for the load
	c := b.raw()
	for _, v := range []int16{0, 3, 4} {
		node, code := findCoordinatorOn(c, v, "load-g")
		if code != 0 || node != NodeID {
			t.Errorf("FindCoordinator v%d while loading: node %d, %v; want this broker", v, node, kerr.ErrorForCode(code))
		}
	}
	if gate.held.Load() != 1 {
		t.Fatalf("%d loads held at the gate, want 1", gate.held.Load())
	}
	checkGroupRequestsWhileLoading(t, c, "load-g")

	gate.open()
	if err := b.srv.groups.WaitLoaded(); err != nil {
		t.Fatal(err)
	}
	resp := c.do(validJoin(9, "load-g")).(*kmsg.JoinGroupResponse)
	wantCode(t, "JoinGroup once loaded", resp.ErrorCode, kerr.MemberIDRequired)
}

// sessionWatch is a kgo hook keeping the error that first ended the
// client's group session (kgo then calls OnPartitionsLost and rejoins).
type sessionWatch struct {
	once  sync.Once
	ended chan struct{} // closed once err is set
	err   error
}

func newSessionWatch() *sessionWatch { return &sessionWatch{ended: make(chan struct{})} }

func (w *sessionWatch) OnGroupManageError(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ended)
	})
}

// first returns the error that first ended a session, nil if none did.
func (w *sessionWatch) first() error {
	select {
	case <-w.ended:
		return w.err
	default:
		return nil
	}
}

// checkSessionEnd fails t unless err, the error that ended a kgo group
// session across a coordinator failover, says the consumer could not
// reach a coordinator: a connection error, or COORDINATOR_NOT_AVAILABLE
// or NOT_COORDINATOR answered until its retries ran out (no broker names
// a coordinator until the group's partition has a new leader). Any other
// group error (a heartbeat answered LOAD_IN_PROGRESS, a member or
// generation the new coordinator does not know) is the broker's fault.
func checkSessionEnd(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) && ke != kerr.CoordinatorNotAvailable && ke != kerr.NotCoordinator {
		t.Errorf("the consumer's group session ended on %v across the failover", err)
		return
	}
	t.Logf("the consumer's group session ended while no coordinator answered it (%v); it rejoined once the load was done", err)
}

// joinLongSession makes a single-member group of group on c (the
// MEMBER_ID_REQUIRED round, the join, the leader's sync) whose session
// outlasts a coordinator failover, and returns its member id and
// generation.
func joinLongSession(t *testing.T, c *rawConn, group, topic string) (string, int32) {
	t.Helper()
	join := func(member string) *kmsg.JoinGroupResponse {
		req := joinReq(9, group, member, consumerProtocol("range", topic))
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 60_000, 60_000
		return c.do(req).(*kmsg.JoinGroupResponse)
	}
	resp := join("")
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.MemberIDRequired {
		t.Fatalf("first join of %s: %v, want MEMBER_ID_REQUIRED", group, err)
	}
	resp = join(resp.MemberID)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || resp.LeaderID != resp.MemberID {
		t.Fatalf("join %s: %v, leader %q, member %q; want a lone leader", group, err, resp.LeaderID, resp.MemberID)
	}
	if err := kerr.ErrorForCode(c.do(syncReq(group, resp.MemberID, resp.Generation, []byte("a"))).(*kmsg.SyncGroupResponse).ErrorCode); err != nil {
		t.Fatalf("sync %s: %v", group, err)
	}
	return resp.MemberID, resp.Generation
}

// TestClusterGroupConsumerRidesACoordinatorFailover: group members ride
// the kill of their coordinator. FindCoordinator names the new one, the
// leader of the group's __consumer_offsets partition, while it still
// loads the partition; meanwhile its group requests answer
// COORDINATOR_LOAD_IN_PROGRESS and heartbeats NONE, and once the load is
// done a member's session and generation are still valid: it heartbeats
// and commits in it. A franz-go consumer goes on consuming while the
// load is held, unless its client gave up its session while no broker
// named a coordinator (kgo ends a session on a heartbeat it could not
// deliver and rejoins, which waits for the load, as with Kafka); either
// way it never rewinds below the offsets committed before the kill (the
// new coordinator serves them), commits through the new coordinator, and
// consumes every record.
func TestClusterGroupConsumerRidesACoordinatorFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	gate := newLoadGate()
	tc := startTestClusterWith(t, func(_ *clusterTestNode, c *Config) {
		c.Groups.LoadHook = gate.hook
		c.Groups.InitialRebalanceDelay = 0 // the raw member's group forms at its join
	})
	t.Cleanup(gate.open) // before the nodes close: Close waits for loads
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, group = "failover-grp", "failover-group"
	var seeds []string
	for _, n := range tc.nodes {
		seeds = append(seeds, n.addr)
	}
	adm := kadm.NewClient(mustClient(t, seeds[0], kgo.SeedBrokers(seeds...)))
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	prod := mustClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 30)

	watch := newSessionWatch()
	cons := mustClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.RetryTimeout(time.Minute), kgo.WithHooks(watch))
	seen := map[string]bool{}
	floor := map[int32]int64{} // after the kill: the offsets committed before it
	consume := func(ctx context.Context, done func() bool) error {
		t.Helper()
		for !done() {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset < floor[r.Partition] {
					t.Errorf("%s-%d: consumed offset %d after the failover, below the %d committed before it", r.Topic, r.Partition, r.Offset, floor[r.Partition])
				}
				seen[string(r.Value)] = true
			})
		}
		return nil
	}
	if err := consume(ctx, func() bool { return len(seen) >= 30 }); err != nil {
		t.Fatalf("consumed %d of 30: %v", len(seen), err)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, committed.Error())
	}

	// A raw member of a group of the same __consumer_offsets partition,
	// with a commit in its generation.
	coord := tc.node(findCoordinator(t, ctx, tc.node(1), group))
	memberGroup := ""
	for i := 0; memberGroup == ""; i++ {
		if g := fmt.Sprintf("failover-member-%d", i); coord.srv.groups.PartitionFor(g) == coord.srv.groups.PartitionFor(group) {
			memberGroup = g
		}
	}
	cc := &rawConn{t: t, nc: dialNode(t, coord.addr)}
	member, generation := joinLongSession(t, cc, memberGroup, topic)
	if err := commitCodes(cc.do(commitReq(8, memberGroup, member, generation, topic, 7, nil, 0)).(*kmsg.OffsetCommitResponse))[topic+"/0"]; err != nil {
		t.Fatalf("commit of the raw member: %v", err)
	}

	// Kill the coordinator with the next load held open.
	gate.close()
	coord.stop(true)
	var survivor *clusterTestNode
	for _, n := range tc.nodes {
		if n != coord {
			survivor = n
			break
		}
	}
	sc := &rawConn{t: t, nc: dialNode(t, survivor.addr)}
	var next int32
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		node, code := findCoordinatorOn(sc, 4, group)
		if code == 0 && node != coord.id {
			next = node
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindCoordinator after the kill of %d: node %d, %v", coord.id, node, kerr.ErrorForCode(code))
		}
	}
	// The new coordinator is handed the partition (NOT_COORDINATOR until
	// then), and answers LOAD_IN_PROGRESS while its load is held.
	nc := &rawConn{t: t, nc: dialNode(t, tc.node(next).addr)}
	for deadline := time.Now().Add(20 * time.Second); gate.held.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new coordinator never started loading the group's partition")
		}
	}
	if node, code := findCoordinatorOn(sc, 4, group); code != 0 || node != next {
		t.Fatalf("FindCoordinator while %d loads: node %d, %v", next, node, kerr.ErrorForCode(code))
	}
	checkGroupRequestsWhileLoading(t, nc, group)
	wantCode(t, "the raw member's heartbeat while loading", nc.do(heartbeatReq(memberGroup, member, generation)).(*kmsg.HeartbeatResponse).ErrorCode, nil)

	// The consumer goes on meanwhile, fetches needing no coordinator,
	// unless its session ended before the new coordinator answered it:
	// its rejoin then waits for the load.
	committed.Each(func(o kadm.OffsetResponse) { floor[o.Partition] = o.At })
	produce(30, 30)
	held, stopHeld := context.WithCancel(ctx)
	go func() {
		select {
		case <-watch.ended:
		case <-held.Done():
		}
		stopHeld()
	}()
	if err := consume(held, func() bool { return len(seen) >= 60 }); err != nil && ctx.Err() != nil {
		t.Fatalf("consumed %d of 60 while %d loads: %v", len(seen), next, err)
	}
	stopHeld()
	gate.open()

	// Once loaded, the new coordinator serves what was committed before
	// the kill, and the raw member's session and generation.
	for {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: memberGroup}}
		resp := nc.do(req).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) == 1 && resp.Groups[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d never finished loading the group's partition: %+v", next, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if at, _ := fetchOne(t, nc, memberGroup, topic, 0); at != 7 {
		t.Errorf("the raw member's commit before the failover: %d after it, want 7", at)
	}
	wantCode(t, "the raw member's heartbeat once loaded", nc.do(heartbeatReq(memberGroup, member, generation)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	if err := commitCodes(nc.do(commitReq(8, memberGroup, member, generation, topic, 8, nil, 0)).(*kmsg.OffsetCommitResponse))[topic+"/0"]; err != nil {
		t.Errorf("commit of the raw member in its generation once loaded: %v", err)
	}
	// A new admin client: the first one's cached coordinator is dead.
	adm = kadm.NewClient(mustClient(t, survivor.addr))
	after, err := adm.FetchOffsets(ctx, group)
	if err != nil || after.Error() != nil {
		t.Fatalf("fetch offsets after the failover: %v %v", err, after.Error())
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if a, ok := after.Lookup(o.Topic, o.Partition); !ok || a.At != o.At {
			t.Errorf("%s-%d: committed %d before the failover, %v after", o.Topic, o.Partition, o.At, a)
		}
	})

	// The consumer commits every end offset through the new coordinator;
	// one that rejoined consumes again from the offsets committed before
	// the kill until it does.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit after the failover: %v", err)
		}
		final, err := adm.FetchOffsets(ctx, group)
		if err != nil || final.Error() != nil {
			t.Fatalf("fetch offsets: %v %v", err, final.Error())
		}
		var behind []string
		ends.Each(func(e kadm.ListedOffset) {
			if f, ok := final.Lookup(e.Topic, e.Partition); !ok || f.At != e.Offset {
				behind = append(behind, fmt.Sprintf("%s-%d: committed %v, end offset %d", e.Topic, e.Partition, f.At, e.Offset))
			}
		})
		if len(behind) == 0 {
			break
		}
		poll, stopPoll := context.WithTimeout(ctx, time.Second)
		_ = consume(poll, func() bool { return false })
		stopPoll()
		if ctx.Err() != nil {
			t.Fatalf("after the failover: %v", behind)
		}
	}
	if len(seen) != 60 {
		t.Errorf("consumed %d distinct records of 60", len(seen))
	}
	checkSessionEnd(t, watch.first())
}

// dialNode opens a connection to addr, closed with the test.
func dialNode(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}
