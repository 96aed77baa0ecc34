package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// Three brokers in one process, roles assigned by hand: an acks=all
// produce is acknowledged only once every ISR member holds it, the
// followers' logs equal the leader's byte for byte, and a follower that
// stops fetching holds acks=all produces up until it is back.
func TestClusterAcksAllAnsweredOnceFollowersHoldTheRecords(t *testing.T) {
	const topic = "acks"
	n1, n2, n3 := startThreeNodesWithTopic(t, topic)
	st := partitionState(topic, 1, 1, 1, 2, 3)
	n1.lead(st, 2)
	n2.follow(st, n1)
	n3.follow(st, n1)
	l1, l2, l3 := n1.log(topic), n2.log(topic), n3.log(topic)

	ctx := testContext(t)
	prod := n1.b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 20 {
		r, err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v" + strconv.Itoa(i))}).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		for _, n := range []*clusterNode{n2, n3} {
			if end := n.log(topic).NextOffset(); end <= r.Offset {
				t.Fatalf("record at %d acknowledged while follower %d's log ends at %d", r.Offset, n.id, end)
			}
		}
	}
	waitSameLog(t, l1, l2)
	waitSameLog(t, l1, l3)
	for _, be := range batchEpochs(logBytes(t, l3)) {
		if be[1] != 1 {
			t.Fatalf("follower batch at %d has leader epoch %d, want 1", be[0], be[1])
		}
	}

	// Follower 3 stops fetching: an acks=all produce is appended but not
	// acknowledged within its timeout.
	n3.rm.Stop(st.TP())
	req := probeProduce(9, topic, probeBatch(3, 10))
	req.TimeoutMillis = 300
	resp := n1.request(ctx, req).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all produce with a follower away: error %d, want REQUEST_TIMED_OUT", code)
	}
	if l2.NextOffset() != l1.NextOffset() || l3.NextOffset() == l1.NextOffset() {
		t.Fatalf("log ends: leader %d, fetching follower %d, stopped follower %d", l1.NextOffset(), l2.NextOffset(), l3.NextOffset())
	}

	// A client's produce waits for it too, and completes once it is back.
	done := make(chan error, 1)
	go func() { done <- prod.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr() }()
	select {
	case err := <-done:
		t.Fatalf("acks=all produce answered (%v) while an ISR member was not fetching", err)
	case <-time.After(300 * time.Millisecond):
	}
	n3.follow(st, n1)
	if err := <-done; err != nil {
		t.Fatalf("produce after the follower came back: %v", err)
	}
	waitSameLog(t, l1, l3)
	waitSameLog(t, l1, l2)

	cons := n1.b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	recs := consumeN(t, cons, 24)
	if got := string(recs[23].Value); got != "late" {
		t.Fatalf("last record %q, want \"late\"", got)
	}
}

// With the ISR shrunk below min.insync.replicas an acks=all produce is
// refused before anything is appended, acks=1 still is appended, and once
// the follower rejoins the ISR acks=all works again.
func TestClusterMinISRRefusesAcksAllWhileTheISRIsTooSmall(t *testing.T) {
	const topic = "minisr"
	var (
		n1      *clusterNode
		mu      sync.Mutex
		current cluster.PartitionState
	)
	cfg := replicaTestConfig()
	cfg.LagTimeMax = 300 * time.Millisecond
	cfg.AlterISR = func(ctx context.Context, old cluster.PartitionState, isr []int32, _ []int64) error {
		mu.Lock()
		if old.PartitionEpoch != current.PartitionEpoch {
			mu.Unlock()
			return cluster.ErrConflict
		}
		next := old.Clone()
		next.ISR, next.PartitionEpoch = isr, old.PartitionEpoch+1
		current = next
		mu.Unlock()
		_, err := n1.rm.BecomeLeader(n1.log(topic), next, 2)
		return err
	}
	n1 = startClusterNode(t, 1, cfg, clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n1.createTopic(topic)
	n2.createTopic(topic)
	current = partitionState(topic, 1, 1, 1, 2)
	ld := n1.lead(current, 2)
	n2.follow(current, n1)
	ctx := testContext(t)

	produce := func(acks int16) int16 {
		req := probeProduce(9, topic, probeBatch(2, 10))
		req.Acks = acks
		return n1.request(ctx, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(-1); code != 0 {
		t.Fatalf("acks=all produce with the whole ISR: error %d", code)
	}
	// A follower that stops while caught up stays in sync until the
	// leader has more than it: an acks=1 produce leaves it behind.
	n2.rm.Stop(current.TP())
	if code := produce(1); code != 0 {
		t.Fatalf("acks=1 produce: error %d", code)
	}
	waitFor(t, "the stopped follower to leave the ISR", func() bool { return len(ld.State().ISR) == 1 })
	end := n1.log(topic).NextOffset()
	if code := produce(-1); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all produce with ISR %v: error %d, want NOT_ENOUGH_REPLICAS", ld.State().ISR, code)
	}
	if got := n1.log(topic).NextOffset(); got != end {
		t.Fatalf("a refused acks=all produce moved the log end from %d to %d", end, got)
	}
	if code := produce(1); code != 0 {
		t.Fatalf("acks=1 produce with a small ISR: error %d", code)
	}
	mu.Lock()
	back := current.Clone()
	mu.Unlock()
	n2.follow(back, n1)
	waitFor(t, "the follower to rejoin the ISR", func() bool { return len(ld.State().ISR) == 2 })
	if code := produce(-1); code != 0 {
		t.Fatalf("acks=all produce after the follower rejoined: error %d", code)
	}
	waitSameLog(t, n1.log(topic), n2.log(topic))
}

// Consumers of the leader see only records below the high watermark;
// a follower (a replica ID) is served up to the log end.
func TestClusterConsumersReadOnlyBelowTheHighWatermark(t *testing.T) {
	const topic = "hw"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n1.createTopic(topic)
	n2.createTopic(topic)
	st := partitionState(topic, 1, 1, 1, 2)
	ld := n1.lead(st, 1)
	n2.follow(st, n1)
	ctx := testContext(t)
	l1 := n1.log(topic)
	waitFor(t, "the follower's first fetch", func() bool { return ld.Followers()[0].LogEndOffset == 0 })
	n2.rm.Stop(st.TP())

	req := probeProduce(9, topic, probeBatch(3, 10))
	req.Acks = 1
	if code := n1.request(ctx, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("acks=1 produce: error %d", code)
	}
	if l1.NextOffset() != 3 || l1.HighWatermark() != 0 {
		t.Fatalf("leader log end %d, high watermark %d; want 3 and 0", l1.NextOffset(), l1.HighWatermark())
	}
	fr := n1.request(ctx, consumerFetch(12, topic, 0, -1)).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("consumer fetch above the high watermark: error %d, high watermark %d, %d record bytes",
			p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
	}
	lo := n1.request(ctx, listOffsets(topic, -1, -1)).(*kmsg.ListOffsetsResponse)
	if p := lo.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 0 {
		t.Fatalf("consumer's latest offset: error %d, offset %d; want the high watermark 0", p.ErrorCode, p.Offset)
	}
	lo = n1.request(ctx, listOffsets(topic, -1, 2)).(*kmsg.ListOffsetsResponse)
	if p := lo.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 3 {
		t.Fatalf("replica's latest offset: error %d, offset %d; want the log end 3", p.ErrorCode, p.Offset)
	}

	// DeleteRecords reaches up to the high watermark, not the log end.
	for _, tc := range []struct {
		offset, low int64
		code        int16
	}{{3, -1, kerr.OffsetOutOfRange.Code}, {-1, 0, 0}} {
		dr := n1.request(ctx, deleteRecordsReq(topic, tc.offset)).(*kmsg.DeleteRecordsResponse)
		if p := dr.Topics[0].Partitions[0]; p.ErrorCode != tc.code || p.LowWatermark != tc.low {
			t.Fatalf("DeleteRecords %d above the high watermark: error %d, low watermark %d; want %d and %d",
				tc.offset, p.ErrorCode, p.LowWatermark, tc.code, tc.low)
		}
	}

	n2.follow(st, n1)
	waitFor(t, "the high watermark to reach the log end", func() bool { return l1.HighWatermark() == 3 })
	fr = n1.request(ctx, consumerFetch(12, topic, 0, 1)).(*kmsg.FetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 3 || countRecords(p.RecordBatches) != 3 {
		t.Fatalf("consumer fetch once committed: error %d, high watermark %d, %d records",
			p.ErrorCode, p.HighWatermark, countRecords(p.RecordBatches))
	}
	// The partition's leader epoch is checked as on a single broker.
	for _, tc := range []struct {
		epoch int32
		want  int16
	}{{0, kerr.FencedLeaderEpoch.Code}, {2, kerr.UnknownLeaderEpoch.Code}} {
		fr = n1.request(ctx, consumerFetch(12, topic, 0, tc.epoch)).(*kmsg.FetchResponse)
		if got := fr.Topics[0].Partitions[0].ErrorCode; got != tc.want {
			t.Fatalf("fetch at leader epoch %d: error %d, want %d", tc.epoch, got, tc.want)
		}
	}
}

// A broker that does not lead a partition answers NOT_LEADER_OR_FOLLOWER
// to clients, with the leader the metadata names (KIP-951) where the
// version carries it; replicas may still ask it OffsetForLeaderEpoch.
func TestClusterNonLeaderAnswersNotLeaderOrFollower(t *testing.T) {
	const topic = "nl"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	var leaderHost string
	var leaderPort int32
	hooks := clusterHooks{
		leaderHint: func(tp string, p int32) (int32, int32, bool) {
			return 1, 7, (tp == topic || tp == "ghost") && p == 0
		},
		brokerEndpoint: func(listener string, id int32) (string, int32, *string, bool) {
			return leaderHost, leaderPort, nil, id == 1 && listener == DefaultListenerName
		},
	}
	host, port, err := net.SplitHostPort(n1.b.addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	leaderHost, leaderPort = host, int32(p)
	n2 := startClusterNode(t, 2, replicaTestConfig(), hooks)
	n1.createTopic(topic)
	n2.createTopic(topic)
	st := partitionState(topic, 1, 7, 1, 2)
	n1.lead(st, 1)
	n2.follow(st, n1)
	ctx := testContext(t)
	notLeader := kerr.NotLeaderForPartition.Code

	// Produce: v10+ carries the hint and the leader's endpoint.
	for _, v := range []int16{9, 10, 12} {
		resp := n2.request(ctx, probeProduce(v, topic, probeBatch(1, 10))).(*kmsg.ProduceResponse)
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != notLeader {
			t.Fatalf("produce v%d to a follower: error %d, want NOT_LEADER_OR_FOLLOWER", v, sp.ErrorCode)
		}
		wantLeader, wantBrokers := int32(-1), 0
		if v >= 10 {
			wantLeader, wantBrokers = 1, 1
		}
		if sp.CurrentLeader.LeaderID != wantLeader || len(resp.Brokers) != wantBrokers {
			t.Fatalf("produce v%d: current leader %+v, brokers %+v", v, sp.CurrentLeader, resp.Brokers)
		}
		if v >= 10 && (sp.CurrentLeader.LeaderEpoch != 7 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != leaderPort) {
			t.Fatalf("produce v%d: hint %+v, broker %+v; want leader 1 at epoch 7 on %s", v, sp.CurrentLeader, resp.Brokers[0], n1.b.addr)
		}
	}
	// A topic this broker holds no replica of, but the metadata knows.
	resp := n2.request(ctx, probeProduce(9, "ghost", probeBatch(1, 10))).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != notLeader {
		t.Fatalf("produce to a partition held elsewhere: error %d, want NOT_LEADER_OR_FOLLOWER", code)
	}
	if got := n2.log(topic).NextOffset(); got != 0 {
		t.Fatalf("a refused produce reached the follower's log (end %d)", got)
	}

	// Fetch: v12+ carries the hint, v16+ the endpoint.
	local, _ := n2.b.mgr.Topic(topic)
	for _, v := range []int16{11, 12, 16} {
		req := consumerFetch(v, topic, 0, -1)
		req.Topics[0].TopicID = local.ID
		fr := n2.request(ctx, req).(*kmsg.FetchResponse)
		sp := fr.Topics[0].Partitions[0]
		if sp.ErrorCode != notLeader {
			t.Fatalf("fetch v%d from a follower: error %d, want NOT_LEADER_OR_FOLLOWER", v, sp.ErrorCode)
		}
		wantLeader, wantBrokers := int32(-1), 0
		if v >= 12 {
			wantLeader = 1
		}
		if v >= 16 {
			wantBrokers = 1
		}
		if sp.CurrentLeader.LeaderID != wantLeader || len(fr.Brokers) != wantBrokers {
			t.Fatalf("fetch v%d: current leader %+v, brokers %+v", v, sp.CurrentLeader, fr.Brokers)
		}
	}

	lo := n2.request(ctx, listOffsets(topic, -1, -1)).(*kmsg.ListOffsetsResponse)
	if code := lo.Topics[0].Partitions[0].ErrorCode; code != notLeader {
		t.Fatalf("ListOffsets at a follower: error %d", code)
	}

	ofle := func(replicaID int32) int16 {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4
		req.ReplicaID = replicaID
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 7
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return n2.request(ctx, req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := ofle(-1); code != notLeader {
		t.Fatalf("a consumer's OffsetForLeaderEpoch at a follower: error %d", code)
	}
	if code := ofle(3); code != 0 {
		t.Fatalf("a replica's OffsetForLeaderEpoch at a follower: error %d, want an answer", code)
	}

	if code := n2.request(ctx, deleteRecordsReq(topic, -1)).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode; code != notLeader {
		t.Fatalf("DeleteRecords at a follower: error %d", code)
	}
}

// A leader change by hand: the old leader's tail that never reached the
// new leader is truncated away once it follows (DivergingEpoch), its log
// then equals the new leader's with the new epoch's batches, and fresh
// franz-go clients of the new leader produce and consume.
func TestClusterLeaderChangeTruncatesTheOldLeadersDivergentTail(t *testing.T) {
	const topic = "fail"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n1.createTopic(topic)
	n2.createTopic(topic)
	l1, l2 := n1.log(topic), n2.log(topic)
	st1 := partitionState(topic, 1, 1, 1, 2)
	n1.lead(st1, 1)
	n2.follow(st1, n1)
	ctx := testContext(t)

	// Not idempotent: each data dir hands out producer IDs from its own
	// block until the node wiring allocates them cluster-wide, so the
	// new leader would give prod2 this producer's ID.
	prod := n1.b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	for i := range 5 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("a%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitSameLog(t, l1, l2)

	// The follower stops; the leader takes three more with acks=1 that
	// never reach it.
	n2.rm.Stop(st1.TP())
	req := probeProduce(9, topic, probeBatch(3, 10))
	req.Acks = 1
	if code := n1.request(ctx, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("acks=1 produce: error %d", code)
	}
	if l1.NextOffset() != 8 || l2.NextOffset() != 5 {
		t.Fatalf("log ends: old leader %d, follower %d; want 8 and 5", l1.NextOffset(), l2.NextOffset())
	}

	// Node 2 leads at epoch 2; node 1 follows it.
	st2 := partitionState(topic, 2, 2, 2, 1)
	n2.lead(st2, 1)
	n1.follow(st2, n2)
	old := n1.request(ctx, probeProduce(9, topic, probeBatch(1, 10))).(*kmsg.ProduceResponse)
	if code := old.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to the demoted leader: error %d, want NOT_LEADER_OR_FOLLOWER", code)
	}

	prod2 := n2.b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 2 {
		r, err := prod2.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("b%d", i))}).First()
		if err != nil {
			t.Fatalf("produce to the new leader: %v", err)
		}
		if r.Offset != int64(5+i) {
			t.Fatalf("record b%d produced to the new leader at %d, want %d", i, r.Offset, 5+i)
		}
	}
	waitSameLog(t, l2, l1)
	epochs := batchEpochs(logBytes(t, l1))
	if len(epochs) != 7 {
		t.Fatalf("old leader's batches after the change: %v, want 7", epochs)
	}
	for i, be := range epochs {
		want := int64(1)
		if i >= 5 {
			want = 2
		}
		if be[0] != int64(i) || be[1] != want {
			t.Fatalf("old leader's batch %d: offset %d epoch %d, want offset %d epoch %d", i, be[0], be[1], i, want)
		}
	}

	cons := n2.b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	recs := consumeN(t, cons, 7)
	for i, r := range recs {
		want := fmt.Sprintf("a%d", i)
		if i >= 5 {
			want = fmt.Sprintf("b%d", i-5)
		}
		if string(r.Value) != want || r.Offset != int64(i) || r.LeaderEpoch != int32(epochs[i][1]) {
			t.Fatalf("record %d: offset %d epoch %d %q, want %q", i, r.Offset, r.LeaderEpoch, r.Value, want)
		}
	}
}

// A new leader whose high watermark is below the start of its epoch
// answers ListOffsets with OFFSET_NOT_AVAILABLE until a follower's fetch
// commits the earlier epochs' records (KIP-207).
func TestClusterNewLeaderAnswersOffsetNotAvailableUntilCaughtUp(t *testing.T) {
	const topic = "ona"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 := startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n1.createTopic(topic)
	n2.createTopic(topic)
	l1, l2 := n1.log(topic), n2.log(topic)
	st1 := partitionState(topic, 1, 1, 1)
	n1.lead(st1, 1)
	ctx := testContext(t)
	for range 5 {
		req := probeProduce(9, topic, probeBatch(1, 10))
		if code := n1.request(ctx, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: error %d", code)
		}
	}
	// Node 2 got the records but never heard they were committed.
	l2.SetReplicated(true)
	if _, err := l2.AppendAsFollower(logBytes(t, l1)); err != nil {
		t.Fatal(err)
	}
	n1.rm.Stop(st1.TP())
	st2 := partitionState(topic, 2, 2, 2, 1)
	n2.lead(st2, 1)
	if l2.HighWatermark() != 0 {
		t.Fatalf("new leader's high watermark %d, want 0", l2.HighWatermark())
	}
	for _, ts := range []int64{-1, -2, 0} {
		lo := n2.request(ctx, listOffsets(topic, ts, -1)).(*kmsg.ListOffsetsResponse)
		if code := lo.Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetNotAvailable.Code {
			t.Fatalf("ListOffsets %d at a leader behind its epoch start: error %d, want OFFSET_NOT_AVAILABLE", ts, code)
		}
	}
	n1.follow(st2, n2)
	waitFor(t, "the new leader's high watermark", func() bool { return l2.HighWatermark() == 5 })
	lo := n2.request(ctx, listOffsets(topic, -1, -1)).(*kmsg.ListOffsetsResponse)
	if p := lo.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 5 || p.LeaderEpoch != 2 {
		t.Fatalf("ListOffsets once caught up: error %d, offset %d, epoch %d; want 5 at epoch 2", p.ErrorCode, p.Offset, p.LeaderEpoch)
	}
}

// A follower's fetch long-polling at the leader's log end is woken by
// the next append, which the high watermark does not cover yet; a
// consumer's long poll is woken only once the follower's next fetch
// commits it. The follower here is a raw connection with replica ID 2.
func TestClusterLongPollsWakeFollowersOnAppendsAndConsumersOnCommit(t *testing.T) {
	const topic = "lp"
	n1 := startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	l1 := n1.createTopic(topic)
	st := partitionState(topic, 1, 1, 1, 2)
	n1.lead(st, 1)

	replicaFetch := func(offset int64) *kmsg.FetchRequest {
		req := consumerFetch(12, topic, offset, 1)
		req.ReplicaID = 2
		req.MaxWaitMillis, req.MinBytes = 20000, 1
		req.Topics[0].Partitions[0].LastFetchedEpoch = l1.LeaderEpoch()
		return req
	}
	follower, consumer, producer := n1.b.raw(), n1.b.raw(), n1.b.raw()
	fch := follower.startFetch(replicaFetch(0))
	waitFor(t, "the follower's long poll", func() bool { return l1.Waiting() == 1 })

	creq := consumerFetch(12, topic, 0, -1)
	creq.MaxWaitMillis, creq.MinBytes = 20000, 1
	cch := consumer.startFetch(creq)
	waitFor(t, "the consumer's long poll", func() bool { return l1.Waiting() == 2 })

	req := probeProduce(9, topic, probeBatch(2, 10))
	req.Acks = 1
	if code := producer.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: error %d", code)
	}
	// Both long polls wait up to 20 s: an answer within half of that
	// is a wake-up, not the end of the wait.
	var fr fetchResult
	select {
	case fr = <-fch:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower's long poll was not woken by an append")
	}
	if fr.err != nil {
		t.Fatal(fr.err)
	}
	if p := fr.resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || countRecords(p.RecordBatches) != 2 || p.HighWatermark != 0 {
		t.Fatalf("follower's fetch: error %d, %d records, high watermark %d; want 2 records above high watermark 0",
			p.ErrorCode, countRecords(p.RecordBatches), p.HighWatermark)
	}
	if answered(cch) {
		t.Fatal("a consumer's long poll answered before the records were committed")
	}
	// The follower's next fetch reports it holds them: committed.
	second := replicaFetch(2)
	second.MaxWaitMillis = 0
	fr2 := follower.do(second).(*kmsg.FetchResponse)
	if p := fr2.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 2 {
		t.Fatalf("follower's second fetch: error %d, high watermark %d, want 2", p.ErrorCode, p.HighWatermark)
	}
	select {
	case fr = <-cch:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer's long poll was not woken by the high watermark")
	}
	if fr.err != nil {
		t.Fatal(fr.err)
	}
	if p := fr.resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || countRecords(p.RecordBatches) != 2 {
		t.Fatalf("consumer's fetch: error %d, %d records, want 2", p.ErrorCode, countRecords(p.RecordBatches))
	}
}

// startThreeNodesWithTopic starts nodes 1, 2 and 3 with the replica test
// settings, each with topic created in its log manager.
func startThreeNodesWithTopic(t *testing.T, topic string) (n1, n2, n3 *clusterNode) {
	t.Helper()
	n1 = startClusterNode(t, 1, replicaTestConfig(), clusterHooks{})
	n2 = startClusterNode(t, 2, replicaTestConfig(), clusterHooks{})
	n3 = startClusterNode(t, 3, replicaTestConfig(), clusterHooks{})
	for _, n := range []*clusterNode{n1, n2, n3} {
		n.createTopic(topic)
	}
	return n1, n2, n3
}
