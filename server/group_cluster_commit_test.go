package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/consumergroup"
)

// heartbeatCounter is a kgo hook counting the Heartbeat requests a client
// got an answer to.
type heartbeatCounter struct{ answered atomic.Int64 }

func (h *heartbeatCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == int16(kmsg.Heartbeat) && e2e.Err() == nil {
		h.answered.Add(1)
	}
}

// stalledGroupCluster is a three-broker cluster whose leaders refuse the
// fetches of __consumer_offsets from the broker stalled names (0: none),
// with commits waiting at most commitTimeout and followers kept in the
// ISR for a minute, so a stalled follower holds every write of the
// partitions it follows. It returns the coordinator of group, the
// follower of its partition to stall, and a client of the coordinator.
func stalledGroupCluster(t *testing.T, group string, commitTimeout time.Duration, stalled *atomic.Int32) (*testCluster, *clusterTestNode, int32, *kgo.Client) {
	t.Helper()
	tc := startTestClusterWith(t, func(_ *clusterTestNode, cfg *Config) {
		cfg.Cluster.Config.ReplicaLagTimeMax = time.Minute
		cfg.Groups.OffsetsCommitTimeout = commitTimeout
		cfg.Groups.InitialRebalanceDelay = 0
		cfg.stalledFollower = func(topic string, _, follower int32) bool {
			return topic == consumergroup.OffsetsTopic && follower == stalled.Load()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "t"); err != nil {
		t.Fatal(err)
	}
	coord := tc.node(findCoordinator(t, ctx, tc.node(1), group))
	p := coord.srv.Groups().PartitionFor(group)
	m := tc.waitFor(coord, "the group's offsets partition with its three replicas in sync", func(m *kmsg.MetadataResponse) bool {
		ot, ok := topicOf(m, consumergroup.OffsetsTopic)
		return ok && int(p) < len(ot.Partitions) && ot.Partitions[p].Leader == coord.id && len(ot.Partitions[p].ISR) == 3
	})
	ot, _ := topicOf(m, consumergroup.OffsetsTopic)
	follower := ot.Partitions[p].Replicas[0]
	if follower == coord.id {
		follower = ot.Partitions[p].Replicas[1]
	}
	return tc, coord, follower, mustClient(t, coord.addr)
}

// commitT0 is an OffsetCommit of offset for t-0, as member (or a simple
// commit: member "", generation -1).
func commitT0(group, member string, generation int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset, rp.LeaderEpoch = offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// committedOffset is what OffsetFetch shows for t-0 of group: -1 when
// nothing.
func committedOffset(t *testing.T, ctx context.Context, cl *kgo.Client, group string) int64 {
	t.Helper()
	resps, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	if r, ok := resps.Lookup("t", 0); ok {
		return r.At
	}
	return -1
}

// TestClusterGroupHeartbeatsAnsweredWhileACommitWaitsForAStalledFollower:
// a commit waits for a follower of the group's __consumer_offsets
// partition that makes no progress, and meanwhile a franz-go member's
// heartbeats are answered and OffsetFetch answers without the commit;
// once the follower catches up the commit is answered, shown, and the
// member kept its session and generation.
func TestClusterGroupHeartbeatsAnsweredWhileACommitWaitsForAStalledFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-broker cluster")
	}
	const group = "g-stalled"
	var stalled atomic.Int32
	_, coord, follower, cl := stalledGroupCluster(t, group, time.Minute, &stalled)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	hb := new(heartbeatCounter)
	member := mustClient(t, coord.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("t"),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.DisableAutoCommit(), kgo.WithHooks(hb))
	polled := make(chan struct{})
	pollCtx, stopPolling := context.WithCancel(ctx)
	go func() {
		defer close(polled)
		for pollCtx.Err() == nil {
			member.PollFetches(pollCtx)
		}
	}()
	defer func() { stopPolling(); <-polled }()
	var memberID string
	var generation int32
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if memberID, generation = member.GroupMetadata(); generation > 0 && hb.answered.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member did not join the group")
		}
	}

	p := coord.srv.Groups().PartitionFor(group)
	l, _ := coord.mgr.Partition(consumergroup.OffsetsTopic, p)
	end := l.NextOffset()
	stalled.Store(follower)
	type answer struct {
		resp *kmsg.OffsetCommitResponse
		err  error
	}
	committed := make(chan answer, 1)
	// Its own connection (OffsetFetch must not queue behind it on the
	// client's), which waits as long as the test.
	committer := mustClient(t, coord.addr, kgo.RequestTimeoutOverhead(time.Minute))
	go func() {
		resp, err := commitT0(group, memberID, generation, 5).RequestWith(ctx, committer.Broker(int(coord.id)))
		committed <- answer{resp, err}
	}()
	// The commit is appended at once and waits for the stalled follower.
	for l.NextOffset() == end {
		time.Sleep(10 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatal("the commit was never appended")
		}
	}
	before := hb.answered.Load()
	for deadline := time.Now().Add(10 * time.Second); hb.answered.Load() < before+3; time.Sleep(20 * time.Millisecond) {
		select {
		case a := <-committed:
			t.Fatalf("commit answered (%+v, %v) while a follower of its partition was stalled", a.resp, a.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats answered in 10 s while a commit waits: the group waits with it", hb.answered.Load()-before)
		}
	}
	if got := committedOffset(t, ctx, cl, group); got == 5 {
		t.Fatal("OffsetFetch shows a commit not replicated yet")
	}

	stalled.Store(0)
	select {
	case a := <-committed:
		if a.err != nil {
			t.Fatalf("OffsetCommit: %v", a.err)
		}
		if err := kerr.ErrorForCode(a.resp.Topics[0].Partitions[0].ErrorCode); err != nil {
			t.Fatalf("commit once the follower caught up: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("commit not answered once the follower caught up")
	}
	if got := committedOffset(t, ctx, cl, group); got != 5 {
		t.Fatalf("OffsetFetch after the commit: %d, want 5", got)
	}
	if id, gen := member.GroupMetadata(); id != memberID || gen != generation {
		t.Fatalf("member %s generation %d after the commit, was %s generation %d: its session lapsed", id, gen, memberID, generation)
	}
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	d := groups[group]
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != memberID {
		t.Fatalf("group after the commit: %s with %d members", d.State, len(d.Members))
	}
}

// TestClusterCommitTimesOutAfterOffsetsCommitTimeout: a commit whose
// partition's follower stays stalled is answered COORDINATOR_NOT_AVAILABLE
// (Kafka 4's answer to a timed-out coordinator write) once
// offsets.commit.timeout.ms has passed, and OffsetFetch keeps showing the
// offset committed before it.
func TestClusterCommitTimesOutAfterOffsetsCommitTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-broker cluster")
	}
	const group = "g-timeout"
	var stalled atomic.Int32
	_, coord, follower, cl := stalledGroupCluster(t, group, 1500*time.Millisecond, &stalled)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	commit := func(offset int64) error {
		resp, err := commitT0(group, "", -1, offset).RequestWith(ctx, cl.Broker(int(coord.id)))
		if err != nil {
			t.Fatalf("OffsetCommit: %v", err)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	// The coordinator answers once it has loaded the partition.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := commit(3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit with every replica in sync: %v", err)
		}
	}
	stalled.Store(follower)
	start := time.Now()
	if err := commit(4); err != kerr.CoordinatorNotAvailable {
		t.Fatalf("commit with a stalled follower: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Fatalf("commit answered after %v, before offsets.commit.timeout.ms", waited)
	}
	if got := committedOffset(t, ctx, cl, group); got != 3 {
		t.Fatalf("OffsetFetch after a commit that timed out: %d, want 3", got)
	}
	stalled.Store(0)
	// Caught up, commits go through again.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := commit(6)
		if err == nil {
			break
		}
		if err != kerr.CoordinatorNotAvailable || time.Now().After(deadline) {
			t.Fatalf("commit once the follower is back: %v", err)
		}
	}
	if got := committedOffset(t, ctx, cl, group); got != 6 {
		t.Fatalf("OffsetFetch: %d, want 6", got)
	}
}
