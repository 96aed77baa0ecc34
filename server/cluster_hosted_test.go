package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/recordbatch"
)

// startFourNodeCluster is startTestCluster plus a fourth broker (not a
// voter, on 127.0.0.5) that joins by naming the voters; it waits until
// every broker sees four.
func startFourNodeCluster(t *testing.T) *testCluster {
	t.Helper()
	tc := startTestCluster(t)
	n := &clusterTestNode{t: t, id: 4, host: "127.0.0.5", dir: t.TempDir()}
	if err := tc.start(n); err != nil {
		t.Fatalf("node 4: %v", err)
	}
	tc.nodes = append(tc.nodes, n)
	t.Cleanup(func() { n.stop(false) })
	for _, n := range tc.nodes {
		tc.waitFor(n, "4 brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 4 })
	}
	return tc
}

// assignedTo lists the partitions of topic that snap assigns to node.
func assignedTo(snap *cluster.Snapshot, topic string, node int32) []int32 {
	out := []int32{}
	for p := range snap.Topics[topic].Partitions {
		if st, ok := snap.Partition(topic, p); ok && st.IsReplica(node) {
			out = append(out, p)
		}
	}
	return out
}

// partitionDirsOf lists the partitions of topic that have a directory in
// the data dir dir.
func partitionDirsOf(t *testing.T, dir, topic string) []int32 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := []int32{}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), topic+"-")
		if !e.IsDir() || !ok {
			continue
		}
		if p, err := strconv.Atoi(rest); err == nil {
			out = append(out, int32(p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// waitHostsAssigned waits until node n knows topic with all its
// partitions and hosts, in its Manager and its data dir, exactly the
// partitions the cluster assigns to it, and returns them.
func (tc *testCluster) waitHostsAssigned(n *clusterTestNode, topic string) []int32 {
	tc.t.Helper()
	var want, hosted, dirs []int32
	deadline := time.Now().Add(15 * time.Second)
	for {
		snap := n.srv.node.snapshot()
		want = assignedTo(snap, topic, n.id)
		count := int(snap.Topics[topic].Partitions)
		lt, ok := n.mgr.Topic(topic)
		if ok {
			hosted = lt.Hosted()
		}
		dirs = partitionDirsOf(tc.t, n.dir, topic)
		if ok && count > 0 && len(lt.Partitions) == count && slices.Equal(hosted, want) && slices.Equal(dirs, want) {
			return want
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("node %d, topic %s: hosts %v with directories %v, want exactly its replicas %v", n.id, topic, hosted, dirs, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterBrokersHostOnlyTheirReplicas: on four brokers, a topic with
// RF=2 has a log and a directory on each broker for exactly the
// partitions assigned to it (and __consumer_offsets, RF=3, too); franz-go
// producers and a group consumer bootstrapped through each broker write
// and read every record; a broker that is no replica of a partition
// answers NOT_LEADER_OR_FOLLOWER to Produce, Fetch, ListOffsets,
// OffsetForLeaderEpoch, DeleteRecords and DescribeProducers for it, lists
// only its replicas in DescribeLogDirs (no topic it hosts none of) and in
// its partition metrics, and
// still answers Metadata for every partition; a partition reassigned away
// from a broker is stopped and deleted there, and created and caught up
// on the broker it moved to; a restarted broker reopens exactly its
// replicas.
func TestClusterBrokersHostOnlyTheirReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members and four brokers")
	}
	tc := startFourNodeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const topic, partitions = "sparse", 8
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	if resp, err := adm.CreateTopic(ctx, partitions, 2, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	// A topic on one broker: the other three know it and host nothing.
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "single"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	for _, n := range tc.nodes {
		tc.waitFor(n, "every partition led with two replicas", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			if !ok || len(tp.Partitions) != partitions {
				return false
			}
			for _, p := range tp.Partitions {
				if p.Leader < 1 || len(p.Replicas) != 2 {
					return false
				}
			}
			return true
		})
	}
	total, single := 0, 0
	for _, n := range tc.nodes {
		single += len(tc.waitHostsAssigned(n, "single"))
		hosted := tc.waitHostsAssigned(n, topic)
		if len(hosted) == 0 || len(hosted) == partitions {
			t.Errorf("node %d hosts %v of %d partitions: RF=2 on four brokers places some, not all, on each", n.id, hosted, partitions)
		}
		total += len(hosted)
	}
	if single != 1 {
		t.Errorf("the one partition of topic single (RF=1) is hosted %d times", single)
	}
	if total != 2*partitions {
		t.Errorf("%d replicas hosted across the brokers, want %d", total, 2*partitions)
	}

	// Produce through each broker (bootstrapped there alone), acks=all.
	const perBroker = 200
	for _, n := range tc.nodes {
		cl := mustClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
		var rs []*kgo.Record
		for i := range perBroker {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d-%d", n.id, i)), Value: []byte(fmt.Sprintf("v%d-%d", n.id, i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce through node %d: %v", n.id, err)
		}
	}
	// Consume every record through each broker with a group (its offsets
	// in __consumer_offsets, placed sparsely as well).
	want := len(tc.nodes) * perBroker
	for _, n := range tc.nodes {
		group := fmt.Sprintf("g%d", n.id)
		cl := mustClient(t, n.addr, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		seen := map[string]bool{}
		for len(seen) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consume through node %d: %d of %d records", n.id, len(seen), want)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Logf("node %d consumer: %s-%d: %v", n.id, topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit through node %d: %v", n.id, err)
		}
	}
	for _, n := range tc.nodes {
		hosted := tc.waitHostsAssigned(n, "__consumer_offsets")
		if lt, _ := n.mgr.Topic("__consumer_offsets"); len(hosted) == len(lt.Partitions) {
			t.Errorf("node %d hosts every __consumer_offsets partition (RF=3 on four brokers)", n.id)
		}
	}

	// A broker that is no replica of a partition.
	snap := tc.node(1).srv.node.snapshot()
	var p int32
	var outsider *clusterTestNode
	for _, n := range tc.nodes {
		if st, _ := snap.Partition(topic, 0); !st.IsReplica(n.id) {
			outsider = n
			break
		}
	}
	st, _ := snap.Partition(topic, p)
	checkNotHosted(ctx, t, outsider, topic, p, st)

	// Reassign partition 0 from one of its replicas (the follower) to the
	// outsider, as an operator's reassignment would leave it.
	var follower int32
	for _, r := range st.Replicas {
		if r != st.Leader {
			follower = r
		}
	}
	moved := st.Clone()
	moved.Replicas = []int32{st.Leader, outsider.id}
	moved.ISR = []int32{st.Leader}
	moved.PartitionEpoch++
	if err := tc.node(1).srv.node.store.UpdatePartitions(ctx, []cluster.PartitionUpdate{{Old: st, New: moved}}); err != nil {
		t.Fatalf("reassign %s-%d: %v", topic, p, err)
	}
	for _, id := range []int32{follower, outsider.id} {
		n := tc.node(id)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if cur, _ := n.srv.node.snapshot().Partition(topic, p); slices.Equal(cur.Replicas, moved.Replicas) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d's metadata does not show the reassignment of %s-%d", id, topic, p)
			}
		}
		tc.waitHostsAssigned(n, topic)
	}
	leaderLog, _ := tc.node(st.Leader).mgr.Partition(topic, p)
	newLog, _ := outsider.mgr.Partition(topic, p)
	for deadline := time.Now().Add(15 * time.Second); newLog.NextOffset() < leaderLog.NextOffset(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the new replica of %s-%d on node %d ends at %d, the leader at %d", topic, p, outsider.id, newLog.NextOffset(), leaderLog.NextOffset())
		}
	}
	if leaderLog.NextOffset() == 0 {
		t.Errorf("%s-%d holds no record: the reassignment copied nothing", topic, p)
	}
	// The old follower now answers as a non-replica, after a restart too
	// (its data dir reopens exactly its replicas).
	old := tc.node(follower)
	checkNotHosted(ctx, t, old, topic, p, st)
	old.stop(false)
	if err := tc.start(old); err != nil {
		t.Fatalf("restart node %d: %v", old.id, err)
	}
	tc.waitHostsAssigned(old, topic)
	tc.waitFor(old, "4 brokers after the restart", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 4 })
	checkNotHosted(ctx, t, old, topic, p, st)
}

// checkNotHosted checks what broker n, which hosts no replica of topic's
// partition p (st), answers for it.
func checkNotHosted(ctx context.Context, t *testing.T, n *clusterTestNode, topic string, p int32, st cluster.PartitionState) {
	t.Helper()
	if l, ok := n.mgr.Partition(topic, p); ok || l != nil {
		t.Fatalf("node %d hosts %s-%d though its replicas are %v", n.id, topic, p, st.Replicas)
	}
	br := mustClient(t, n.addr).SeedBrokers()[0]
	notLeader := func(api string, code int16) {
		t.Helper()
		if code != kerr.NotLeaderForPartition.Code {
			t.Errorf("node %d, %s of %s-%d (replicas %v): %v, want NOT_LEADER_OR_FOLLOWER", n.id, api, topic, p, st.Replicas, kerr.ErrorForCode(code))
		}
	}

	produce := kmsg.NewPtrProduceRequest()
	// kgo sends the broker's newest versions: topics named by ID too.
	id := n.srv.node.snapshot().Topics[topic].ID
	produce.Acks, produce.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = topic, id
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = p, recordbatch.Build(1, 10, time.Now().UnixMilli())
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	if resp, err := produce.RequestWith(ctx, br); err != nil {
		t.Fatalf("produce: %v", err)
	} else {
		notLeader("Produce", resp.Topics[0].Partitions[0].ErrorCode)
	}

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = p, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	if resp, err := fetch.RequestWith(ctx, br); err != nil {
		t.Fatalf("fetch: %v", err)
	} else {
		sp := resp.Topics[0].Partitions[0]
		notLeader("Fetch", sp.ErrorCode)
		if sp.CurrentLeader.LeaderID != st.Leader {
			t.Errorf("node %d, Fetch of %s-%d: current leader hint %d, want %d", n.id, topic, p, sp.CurrentLeader.LeaderID, st.Leader)
		}
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = p, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if resp, err := lo.RequestWith(ctx, br); err != nil {
		t.Fatalf("list offsets: %v", err)
	} else {
		notLeader("ListOffsets", resp.Topics[0].Partitions[0].ErrorCode)
	}

	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofe.ReplicaID = -1
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = topic
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.Partition, op.LeaderEpoch, op.CurrentLeaderEpoch = p, 0, -1
	ot.Partitions = append(ot.Partitions, op)
	ofe.Topics = append(ofe.Topics, ot)
	if resp, err := ofe.RequestWith(ctx, br); err != nil {
		t.Fatalf("offset for leader epoch: %v", err)
	} else {
		notLeader("OffsetForLeaderEpoch", resp.Topics[0].Partitions[0].ErrorCode)
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.TimeoutMillis = 5000
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = topic
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = p, 0
	dt.Partitions = append(dt.Partitions, dp)
	dr.Topics = append(dr.Topics, dt)
	if resp, err := dr.RequestWith(ctx, br); err != nil {
		t.Fatalf("delete records: %v", err)
	} else {
		notLeader("DeleteRecords", resp.Topics[0].Partitions[0].ErrorCode)
	}

	dpr := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = topic, []int32{p}
	dpr.Topics = append(dpr.Topics, dpt)
	if resp, err := dpr.RequestWith(ctx, br); err != nil {
		t.Fatalf("describe producers: %v", err)
	} else {
		notLeader("DescribeProducers", resp.Topics[0].Partitions[0].ErrorCode)
	}

	// DescribeLogDirs: every hosted replica, and none other.
	dl := kmsg.NewPtrDescribeLogDirsRequest()
	dl.Topics = nil
	resp, err := dl.RequestWith(ctx, br)
	if err != nil || len(resp.Dirs) != 1 {
		t.Fatalf("describe log dirs: %v %+v", err, resp)
	}
	described := []int32{}
	for _, dt := range resp.Dirs[0].Topics {
		if len(dt.Partitions) == 0 {
			t.Errorf("node %d: DescribeLogDirs lists topic %s with no replica here", n.id, dt.Topic)
		}
		if dt.Topic == topic {
			for _, dp := range dt.Partitions {
				described = append(described, dp.Partition)
			}
		}
	}
	slices.Sort(described)
	lt2, _ := n.mgr.Topic(topic)
	if hosted := lt2.Hosted(); !slices.Equal(described, hosted) {
		t.Errorf("node %d: DescribeLogDirs lists %v of %s, want its replicas %v", n.id, described, topic, hosted)
	}
	// The partition metrics: the hosted partitions only.
	if got := partitionEndSeries(t, n, topic); !slices.Equal(got, lt2.Hosted()) {
		t.Errorf("node %d exports tributary_partition_log_end_offset for partitions %v of %s, want its replicas %v", n.id, got, topic, lt2.Hosted())
	}

	// Metadata still has the partition, with its leader and replicas.
	m, err := n.metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mt, ok := topicOf(m, topic)
	if !ok || int(p) >= len(mt.Partitions) || mt.Partitions[p].Leader < 1 || len(mt.Partitions[p].Replicas) != 2 {
		t.Errorf("node %d's metadata of %s-%d: %s", n.id, topic, p, describeMetadata(m))
	}
}

// partitionEndSeries lists the partitions of topic that n exports
// tributary_partition_log_end_offset for, ascending.
func partitionEndSeries(t *testing.T, n *clusterTestNode, topic string) []int32 {
	t.Helper()
	mfs, err := n.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	out := []int32{}
	for _, mf := range mfs {
		if mf.GetName() != "tributary_partition_log_end_offset" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var tp string
			p := -1
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "topic":
					tp = lp.GetValue()
				case "partition":
					p, _ = strconv.Atoi(lp.GetValue())
				}
			}
			if tp == topic {
				out = append(out, int32(p))
			}
		}
	}
	slices.Sort(out)
	return out
}
