package server

// Shared helpers of the consumer-group integration tests (group_*_test.go):
// a broker tuned for fast rebalances, producing keyed streams, waiting for
// a group to settle and decoding its assignment.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group timing used by the client side of these tests: short enough that
// a crashed member is noticed in about a second, long enough that a busy
// 2-core machine running -race does not expire healthy members.
const (
	groupSessionTimeout = 1500 * time.Millisecond
	groupHeartbeat      = 150 * time.Millisecond
	// groupWait bounds every wait for a group to reach a state.
	groupWait = 20 * time.Second
)

// groupBrokerOpts makes rebalances fast: no initial delay, short session
// timeouts allowed, a small __consumer_offsets.
func groupBrokerOpts(c *Config) {
	c.Groups.InitialRebalanceDelay = 0
	c.Groups.MinSessionTimeout = 300 * time.Millisecond
	c.Groups.OffsetsTopicPartitions = 3
}

// startGroupBroker is startBroker with groupBrokerOpts then opts.
func startGroupBroker(t testing.TB, opts ...brokerOpt) *testBroker {
	t.Helper()
	b := startBroker(t, append([]brokerOpt{groupBrokerOpts}, opts...)...)
	b.waitGroupsLoaded()
	return b
}

// waitGroupsLoaded waits for the coordinator's background replay of
// __consumer_offsets, during which it answers COORDINATOR_LOAD_IN_PROGRESS:
// real clients retry through that, the raw-protocol tests expect their
// first JoinGroup to reach a loaded coordinator.
func (b *testBroker) waitGroupsLoaded() {
	b.t.Helper()
	if err := b.srv.groups.WaitLoaded(); err != nil {
		b.t.Fatalf("loading groups: %v", err)
	}
}

// groupClientOpts are franz-go group options with the tests' timings.
func groupClientOpts(group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(groupSessionTimeout),
		kgo.HeartbeatInterval(groupHeartbeat),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
}

func createGroupTopic(t testing.TB, ctx context.Context, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// groupKey is the key of record i of a test stream.
func groupKey(i int) string { return fmt.Sprintf("k%06d", i) }

// produceKeyed produces records from..from+n-1 (key groupKey(i)) to
// topic, spread over its partitions by key, and waits for them.
func produceKeyed(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(groupKey(from + i)), Value: []byte("v")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", n, topic, err)
	}
}

// produceToPartitions produces n records to each of partitions 0..parts-1
// of topic, in order, and waits for them.
func produceToPartitions(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, parts int32, n int) {
	t.Helper()
	var recs []*kgo.Record
	for p := range parts {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(groupKey(i)), Value: []byte("v")})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// manualPartitionClient is a producer that honours Record.Partition.
func manualPartitionClient(b *testBroker) *kgo.Client {
	return b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// waitGroup polls DescribeGroups until the group is in state with members
// members and ok (nil: any) accepts it, and returns that description;
// after groupWait it fails the test with the last description seen.
func waitGroup(t testing.TB, ctx context.Context, adm *kadm.Client, group, state string, members int, ok func(kadm.DescribedGroup) bool) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, groupWait)
	defer cancel()
	var last kadm.DescribedGroup
	var lastErr error
	for {
		dgs, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			last, lastErr = dgs[group], dgs[group].Err
			if last.Err == nil && last.State == state && len(last.Members) == members && (ok == nil || ok(last)) {
				return last
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never reached %s with %d members (and the test's condition) within %v: last state %q, %d members, assignments %v, err %v",
				group, state, members, groupWait, last.State, len(last.Members), describeAssignments(last), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// groupAssignments decodes every member's consumer assignment: member id
// to topic to sorted partitions. ok is false when one does not decode.
func groupAssignments(dg kadm.DescribedGroup) (map[string]map[string][]int32, bool) {
	out := make(map[string]map[string][]int32, len(dg.Members))
	for _, m := range dg.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil, false
		}
		ts := make(map[string][]int32)
		for _, tp := range ca.Topics {
			ps := slices.Clone(tp.Partitions)
			slices.Sort(ps)
			ts[tp.Topic] = append(ts[tp.Topic], ps...)
		}
		out[m.MemberID] = ts
	}
	return out, true
}

func describeAssignments(dg kadm.DescribedGroup) string {
	as, ok := groupAssignments(dg)
	if !ok {
		return "(undecodable)"
	}
	return fmt.Sprint(as)
}

// ownsAll reports whether every partition 0..parts-1 of topic is assigned
// to exactly one member and each member has between lo and hi of them.
func ownsAll(dg kadm.DescribedGroup, topic string, parts int32, lo, hi int) bool {
	as, ok := groupAssignments(dg)
	if !ok {
		return false
	}
	owners := make(map[int32]int)
	for _, ts := range as {
		n := len(ts[topic])
		if n < lo || n > hi {
			return false
		}
		for _, p := range ts[topic] {
			owners[p]++
		}
	}
	if len(owners) != int(parts) {
		return false
	}
	for p, n := range owners {
		if n != 1 || p < 0 || p >= parts {
			return false
		}
	}
	return true
}

// committedOffsets is the group's committed offset of each partition of
// topic (kadm FetchOffsets); partitions without a commit are absent.
func committedOffsets(t testing.TB, ctx context.Context, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	// Right after a start the coordinator may still be replaying
	// __consumer_offsets: COORDINATOR_LOAD_IN_PROGRESS is retriable, and a
	// client retries it, as Kafka's admin client does.
	os, err := adm.FetchOffsets(ctx, group)
	for errors.Is(err, kerr.CoordinatorLoadInProgress) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		os, err = adm.FetchOffsets(ctx, group)
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := make(map[int32]int64)
	for p, o := range os[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offsets of %s: %s/%d: %v", group, topic, p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out
}

// groupEndOffsets is the log end offset of each partition of topic.
func groupEndOffsets(t testing.TB, ctx context.Context, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// waitCommitted polls until the group's commits of topic equal want.
func waitCommitted(t testing.TB, ctx context.Context, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(groupWait)
	var got map[int32]int64
	for time.Now().Before(deadline) {
		got = committedOffsets(t, ctx, adm, group, topic)
		if mapsEqual(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s commits of %s: got %v, want %v", group, topic, got, want)
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// partitionOffset names one record.
type partitionOffset struct {
	Partition int32
	Offset    int64
}

// missingRecords counts the records of [0, end) of each partition not in

// waitConsumed waits until every offset below end is in seen (guarded by
// mu), failing the test after groupWait.
func waitConsumed(t *testing.T, mu *sync.Mutex, end map[int32]int64, seen map[partitionOffset]int) {
	t.Helper()
	deadline := time.Now().Add(groupWait)
	for {
		mu.Lock()
		n, first := missingRecords(end, seen)
		mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records never consumed, first %v", n, first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen and lists the first 10 of them.
func missingRecords(end map[int32]int64, seen map[partitionOffset]int) (int, []partitionOffset) {
	var miss []partitionOffset
	for p, e := range end {
		for o := int64(0); o < e; o++ {
			if seen[partitionOffset{p, o}] == 0 {
				miss = append(miss, partitionOffset{p, o})
			}
		}
	}
	sort.Slice(miss, func(i, j int) bool {
		if miss[i].Partition != miss[j].Partition {
			return miss[i].Partition < miss[j].Partition
		}
		return miss[i].Offset < miss[j].Offset
	})
	return len(miss), miss[:min(len(miss), 10)]
}

// commitSync commits offsets of topic as cl's group member and fails the
// test unless every partition's commit is acknowledged.
func commitSync(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, offsets map[int32]int64) {
	t.Helper()
	offs := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range offsets {
		offs[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit %v: %v", offsets, commitErr)
	}
}
