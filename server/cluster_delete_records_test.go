package server

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

// Three brokers in one process, roles assigned by hand: DeleteRecords on
// the leader is answered once every live replica's log start offset has
// reached the offset asked for, with that low watermark; a follower that
// stopped fetching holds it up until the request times out
// (REQUEST_TIMED_OUT, with the low watermark reached so far), unless its
// broker is no longer live; once it fetches again it catches up.
func TestClusterDeleteRecordsWaitsForEveryReplicasLogStart(t *testing.T) {
	const topic = "dr"
	var n3Dead atomic.Bool
	cfg := replicaTestConfig()
	cfg.Alive = func(id int32) bool { return id != 3 || !n3Dead.Load() }
	n1 := startClusterNode(t, 1, cfg, clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n3 := startClusterNode(t, 3, replicaTestConfig(), clusterHooks{})
	nodes := []*clusterNode{n1, n2, n3}
	for _, n := range nodes {
		n.createTopic(topic)
	}
	st := partitionState(topic, 1, 1, 1, 2, 3)
	n1.lead(st, 1)
	n2.follow(st, n1)
	n3.follow(st, n1)
	ctx := testContext(t)
	for range 4 {
		resp := n1.request(ctx, probeProduce(9, topic, probeBatch(10, 10))).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("acks=all produce: error %d", code)
		}
	}
	logs := []*tlog.Log{n1.log(topic), n2.log(topic), n3.log(topic)}
	starts := func() []int64 {
		var out []int64
		for _, l := range logs {
			out = append(out, l.StartOffset())
		}
		return out
	}
	deleteRecords := func(offset int64, timeout int32) kmsg.DeleteRecordsResponseTopicPartition {
		t.Helper()
		req := deleteRecordsReq(topic, offset)
		req.TimeoutMillis = timeout
		return n1.request(ctx, req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
	}

	// Answered with every replica's log start at the offset asked for.
	if p := deleteRecords(12, 10_000); p.ErrorCode != 0 || p.LowWatermark != 12 {
		t.Fatalf("DeleteRecords 12: error %d, low watermark %d; want 0 and 12", p.ErrorCode, p.LowWatermark)
	}
	for i, s := range starts() {
		if s != 12 {
			t.Fatalf("log starts %v once DeleteRecords 12 was answered: broker %d at %d, want 12", starts(), i+1, s)
		}
	}

	// A follower that stopped fetching holds the low watermark back.
	n3.rm.Stop(st.TP())
	if p := deleteRecords(20, 300); p.ErrorCode != kerr.RequestTimedOut.Code || p.LowWatermark != 12 {
		t.Fatalf("DeleteRecords 20 with follower 3 stopped: error %d, low watermark %d; want REQUEST_TIMED_OUT and 12",
			p.ErrorCode, p.LowWatermark)
	}
	if s := starts(); s[0] != 20 || s[2] != 12 {
		t.Fatalf("log starts %v after DeleteRecords 20 timed out: want the leader's at 20, the stopped follower's at 12", s)
	}
	waitFor(t, "the fetching follower to follow the leader's log start", func() bool { return logs[1].StartOffset() == 20 })

	// A broker no longer live does not count (as Kafka's low watermark
	// counts live replicas only).
	n3Dead.Store(true)
	if p := deleteRecords(25, 10_000); p.ErrorCode != 0 || p.LowWatermark != 25 {
		t.Fatalf("DeleteRecords 25 with follower 3 not live: error %d, low watermark %d; want 0 and 25", p.ErrorCode, p.LowWatermark)
	}
	n3Dead.Store(false)

	// Back, it catches up, and -1 deletes up to the high watermark.
	n3.follow(st, n1)
	hw := logs[0].HighWatermark()
	if p := deleteRecords(-1, 10_000); p.ErrorCode != 0 || p.LowWatermark != hw {
		t.Fatalf("DeleteRecords -1 with follower 3 back: error %d, low watermark %d; want 0 and the high watermark %d",
			p.ErrorCode, p.LowWatermark, hw)
	}
	for i, s := range starts() {
		if s != hw {
			t.Fatalf("log starts %v once DeleteRecords -1 was answered: broker %d at %d, want %d", starts(), i+1, s, hw)
		}
	}
}

// A leader that steps down answers its waiting acks=all produces and
// DeleteRecords with NOT_LEADER_OR_FOLLOWER at once, not at their request
// timeout (a minute here, past the test connection's deadline).
func TestClusterStepDownAnswersWaitingRequestsAtOnce(t *testing.T) {
	const topic = "stepdown"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n1.createTopic(topic)
	n2.createTopic(topic)
	st := partitionState(topic, 1, 1, 1, 2)
	ld := n1.lead(st, 2)
	n2.follow(st, n1)
	ctx := testContext(t)
	if code := n1.request(ctx, probeProduce(9, topic, probeBatch(3, 10))).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("acks=all produce: error %d", code)
	}
	waitFor(t, "the follower to report its log start", func() bool {
		low, err := ld.LowWatermark()
		return err == nil && low == 0
	})
	n2.rm.Stop(st.TP())
	l1 := n1.log(topic)

	produced := make(chan kmsg.ProduceResponseTopicPartition, 1)
	go func() {
		req := probeProduce(9, topic, probeBatch(2, 10))
		req.TimeoutMillis = 60_000
		produced <- n1.b.raw().do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}()
	waitFor(t, "the acks=all produce to be appended", func() bool { return l1.NextOffset() == 5 })
	deleted := make(chan kmsg.DeleteRecordsResponseTopicPartition, 1)
	go func() {
		req := deleteRecordsReq(topic, 3)
		req.TimeoutMillis = 60_000
		deleted <- n1.b.raw().do(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
	}()
	waitFor(t, "DeleteRecords to move the leader's log start", func() bool { return l1.StartOffset() == 3 })
	select {
	case p := <-produced:
		t.Fatalf("acks=all produce answered (error %d) with an ISR member away", p.ErrorCode)
	case p := <-deleted:
		t.Fatalf("DeleteRecords answered (error %d) with a replica away", p.ErrorCode)
	case <-time.After(100 * time.Millisecond):
	}

	// The broker steps down (its leadership taken away at a new epoch,
	// no leader elected yet).
	next := partitionState(topic, cluster.NoLeader, 2, 1, 2)
	if err := n1.rm.BecomeFollower(l1, next, nil); err != nil {
		t.Fatal(err)
	}
	if p := <-produced; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("acks=all produce waiting at the step-down: error %d, want NOT_LEADER_OR_FOLLOWER", p.ErrorCode)
	}
	if p := <-deleted; p.ErrorCode != kerr.NotLeaderForPartition.Code || p.LowWatermark != -1 {
		t.Fatalf("DeleteRecords waiting at the step-down: error %d, low watermark %d; want NOT_LEADER_OR_FOLLOWER and -1",
			p.ErrorCode, p.LowWatermark)
	}
}

// Three brokers on one etcd quorum: DeleteRecords through a client is
// answered with a low watermark that every replica's local log starts at;
// a follower whose broker stopped (and so left the live brokers) does not
// hold it up, as Kafka counts live replicas only.
func TestClusterDeleteRecordsLowWatermarkIsEveryReplicasLogStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	const topic = "drc"
	tc := startTestCluster(t)
	ctx := testContext(t)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	if r, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	m := tc.waitFor(tc.node(1), topic+" led with three in-sync replicas", func(m *kmsg.MetadataResponse) bool {
		tp, ok := topicOf(m, topic)
		return ok && len(tp.Partitions) == 1 && tp.Partitions[0].Leader >= 1 && len(tp.Partitions[0].ISR) == 3
	})
	tp, _ := topicOf(m, topic)
	leader := tp.Partitions[0].Leader
	for _, n := range tc.nodes {
		tc.waitLocal(n, topic, func(m *tlog.Manager) bool { _, ok := m.Partition(topic, 0); return ok })
	}
	produceN(t, mustClient(t, tc.node(1).addr, kgo.RequiredAcks(kgo.AllISRAcks())), topic, 30)

	del := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := rs.Lookup(topic, 0)
		if !ok {
			t.Fatalf("no answer for %s-0", topic)
		}
		return r
	}
	checkStarts := func(want int64, nodes ...*clusterTestNode) {
		t.Helper()
		for _, n := range nodes {
			l, _ := n.mgr.Partition(topic, 0)
			if got := l.StartOffset(); got != want {
				t.Fatalf("node %d's log starts at %d once DeleteRecords answered low watermark %d", n.id, got, want)
			}
		}
	}
	if r := del(10); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("DeleteRecords 10: low watermark %d, %v; want 10", r.LowWatermark, r.Err)
	}
	checkStarts(10, tc.nodes...)

	// A follower's broker stops: it leaves the live brokers at once, and
	// no longer counts.
	var stopped *clusterTestNode
	var live []*clusterTestNode
	for _, n := range tc.nodes {
		if n.id != leader && n.id != 1 && stopped == nil {
			stopped = n
			continue
		}
		live = append(live, n)
	}
	stopped.stop(true)
	tc.waitFor(tc.node(leader), "two live brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 2 })
	if r := del(20); r.Err != nil || r.LowWatermark != 20 {
		t.Fatalf("DeleteRecords 20 with follower %d stopped: low watermark %d, %v; want 20", stopped.id, r.LowWatermark, r.Err)
	}
	checkStarts(20, live...)
}
