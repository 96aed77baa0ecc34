package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tributary-io/tributary/cluster"
)

// assigned is one entry of a manual replica assignment as sent.
type assigned struct {
	partition int32
	replicas  []int32
}

// createTopicsAssigned is a CreateTopics request of one topic with a
// manual assignment.
func createTopicsAssigned(topic string, partitions int32, rf int16, validateOnly bool, assignment ...assigned) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	for _, a := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = a.partition, a.replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// createPartitionsAssigned is a CreatePartitions request growing topic to
// count with a manual assignment (nil: none).
func createPartitionsAssigned(topic string, count int32, validateOnly bool, assignment [][]int32) *kmsg.CreatePartitionsRequest {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.ValidateOnly = validateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	if assignment != nil {
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{}
		for _, r := range assignment {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: r})
		}
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// codeOf is e's code, 0 for nil.
func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// replicasOf is each partition's replica list as n's Metadata shows it.
func replicasOf(m *kmsg.MetadataResponse, topic string) [][]int32 {
	tp, ok := topicOf(m, topic)
	if !ok {
		return nil
	}
	out := make([][]int32, len(tp.Partitions))
	for _, p := range tp.Partitions {
		if int(p.Partition) < len(out) {
			out[p.Partition] = p.Replicas
		}
	}
	return out
}

// TestClusterManualReplicaAssignments: CreateTopics and CreatePartitions
// with a manual assignment place each partition's replicas as given, the
// first replica leading, and serve records on them; every assignment
// Kafka's controller refuses is refused with its code, validate-only
// included, and nothing refused or only validated is created.
func TestClusterManualReplicaAssignments(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	ctx := testContext(t)
	cl := mustClient(t, tc.node(1).addr)

	for _, c := range []struct {
		name         string
		partitions   int32
		rf           int16
		validateOnly bool
		assignment   []assigned
		want         *kerr.Error
	}{
		{"validated only", -1, -1, true, []assigned{{0, []int32{1, 2}}}, nil},
		{"replication factor given", -1, 2, false, []assigned{{0, []int32{1, 2}}}, kerr.InvalidRequest},
		{"partition count given", 1, -1, false, []assigned{{0, []int32{1, 2}}}, kerr.InvalidRequest},
		{"partition twice", -1, -1, false, []assigned{{0, []int32{1, 2}}, {0, []int32{2, 1}}}, kerr.InvalidReplicaAssignment},
		{"partitions not from 0", -1, -1, false, []assigned{{1, []int32{1, 2}}}, kerr.InvalidReplicaAssignment},
		{"gap", -1, -1, false, []assigned{{0, []int32{1}}, {2, []int32{2}}}, kerr.InvalidReplicaAssignment},
		{"unregistered broker", -1, -1, false, []assigned{{0, []int32{1, 7}}}, kerr.InvalidReplicaAssignment},
		{"unregistered broker, validated only", -1, -1, true, []assigned{{0, []int32{7}}}, kerr.InvalidReplicaAssignment},
		{"broker twice", -1, -1, false, []assigned{{0, []int32{2, 2}}}, kerr.InvalidReplicaAssignment},
		{"empty replica list", -1, -1, false, []assigned{{0, []int32{}}}, kerr.InvalidReplicaAssignment},
		{"uneven replica counts", -1, -1, false, []assigned{{0, []int32{1, 2}}, {1, []int32{3}}}, kerr.InvalidReplicaAssignment},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := fmt.Sprintf("refused-%x", c.name)
			resp, err := createTopicsAssigned(topic, c.partitions, c.rf, c.validateOnly, c.assignment...).RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			st := resp.Topics[0]
			if st.ErrorCode != codeOf(c.want) {
				t.Fatalf("got %v (%s), want %v", kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage), c.want)
			}
			if c.want != nil && st.ErrorMessage == nil {
				t.Error("a refusal without a message")
			}
			if m, err := tc.node(1).metadata(ctx); err != nil {
				t.Fatal(err)
			} else if _, ok := topicOf(m, topic); ok {
				t.Fatalf("a topic was created: %s", describeMetadata(m))
			}
		})
	}

	// Accepted: the replicas as given, each led by its first replica.
	const topic = "assigned"
	want := [][]int32{{2, 3}, {3, 1}, {1, 2}}
	resp, err := createTopicsAssigned(topic, -1, -1, false,
		assigned{2, want[2]}, assigned{0, want[0]}, assigned{1, want[1]}).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 3 || st.ReplicationFactor != 2 {
		t.Fatalf("create: %v (%s), %d partitions, RF %d", kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage), st.NumPartitions, st.ReplicationFactor)
	}
	for _, n := range tc.nodes {
		tc.waitFor(n, topic+" as assigned", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			if !ok || !slices.EqualFunc(replicasOf(m, topic), want, slices.Equal) {
				return false
			}
			for _, p := range tp.Partitions {
				if p.Leader != want[p.Partition][0] || !sameSet(p.ISR, want[p.Partition]) {
					return false
				}
			}
			return true
		})
	}

	// Grown with an assignment: refusals first, then the addition.
	for _, c := range []struct {
		name         string
		count        int32
		validateOnly bool
		assignment   [][]int32
		want         *kerr.Error
	}{
		{"fewer lists than partitions", 5, false, [][]int32{{1, 2}}, kerr.InvalidReplicaAssignment},
		{"more lists than partitions", 4, false, [][]int32{{1, 2}, {2, 3}}, kerr.InvalidReplicaAssignment},
		{"not the topic's replication factor", 4, false, [][]int32{{1, 2, 3}}, kerr.InvalidReplicaAssignment},
		{"unregistered broker", 4, false, [][]int32{{9, 1}}, kerr.InvalidReplicaAssignment},
		{"broker twice", 4, false, [][]int32{{3, 3}}, kerr.InvalidReplicaAssignment},
		{"validated only", 4, true, [][]int32{{3, 2}}, nil},
	} {
		t.Run("grow/"+c.name, func(t *testing.T) {
			resp, err := createPartitionsAssigned(topic, c.count, c.validateOnly, c.assignment).RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			st := resp.Topics[0]
			if st.ErrorCode != codeOf(c.want) {
				t.Fatalf("got %v (%s), want %v", kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage), c.want)
			}
			m, err := tc.node(1).metadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := replicasOf(m, topic); len(got) != 3 {
				t.Fatalf("topic has %d partitions after a refused or validated addition", len(got))
			}
		})
	}
	resp2, err := createPartitionsAssigned(topic, 5, false, [][]int32{{3, 2}, {1, 3}}).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if st := resp2.Topics[0]; st.ErrorCode != 0 {
		t.Fatalf("grow: %v (%s)", kerr.ErrorForCode(st.ErrorCode), deref(st.ErrorMessage))
	}
	want = append(want, []int32{3, 2}, []int32{1, 3})
	for _, n := range tc.nodes {
		tc.waitFor(n, topic+" grown as assigned", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			return ok && slices.EqualFunc(replicasOf(m, topic), want, slices.Equal) &&
				tp.Partitions[3].Leader == 3 && tp.Partitions[4].Leader == 1
		})
	}

	// Each partition's leader takes acks=all records; they read back.
	var seeds []string
	for _, n := range tc.nodes {
		seeds = append(seeds, n.addr)
	}
	pcl := mustClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(100*time.Millisecond))
	for p := range int32(len(want)) {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("p%d", p))}
		if err := pcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	got := map[int32]string{}
	for len(got) < len(want) {
		fs := pcl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = string(r.Value) })
	}
	for p, v := range got {
		if v != fmt.Sprintf("p%d", p) {
			t.Errorf("partition %d read %q", p, v)
		}
	}
}

// TestClusterSaramaCreatesTopicWithReplicaAssignment: sarama's
// ClusterAdmin (kafka-topics --replica-assignment's request) creates and
// grows a topic placed as given, and the refusals of an assignment of the
// wrong replica count or naming an unregistered broker reach the caller
// as Kafka's.
func TestClusterSaramaCreatesTopicWithReplicaAssignment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	adm, err := sarama.NewClusterAdmin([]string{tc.node(2).addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	want := map[int32][]int32{0: {3, 1, 2}, 1: {1, 2, 3}}
	if err := adm.CreateTopic("sarama-assigned", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: want}, false); err != nil {
		t.Fatal(err)
	}
	tc.waitFor(tc.node(1), "sarama-assigned as assigned", func(m *kmsg.MetadataResponse) bool {
		got := replicasOf(m, "sarama-assigned")
		return len(got) == 2 && slices.Equal(got[0], want[0]) && slices.Equal(got[1], want[1])
	})
	if err := adm.CreatePartitions("sarama-assigned", 3, [][]int32{{2, 3, 1}}, false); err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	tc.waitFor(tc.node(1), "sarama-assigned grown as assigned", func(m *kmsg.MetadataResponse) bool {
		got := replicasOf(m, "sarama-assigned")
		return len(got) == 3 && slices.Equal(got[2], []int32{2, 3, 1})
	})
	if err := adm.CreatePartitions("sarama-assigned", 4, [][]int32{{2, 3}}, false); err == nil || !strings.Contains(err.Error(), sarama.ErrInvalidReplicaAssignment.Error()) {
		t.Fatalf("an assignment of 2 replicas to a topic of 3: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	err = adm.CreateTopic("sarama-refused", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: map[int32][]int32{0: {1, 4}}}, false)
	var te *sarama.TopicError
	if !errors.As(err, &te) || te.Err != sarama.ErrInvalidReplicaAssignment {
		t.Fatalf("unregistered broker: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}

// metadataPartition is topic's partition p in m.
func metadataPartition(m *kmsg.MetadataResponse, topic string, p int32) (kmsg.MetadataResponseTopicPartition, bool) {
	tp, ok := topicOf(m, topic)
	if !ok {
		return kmsg.MetadataResponseTopicPartition{}, false
	}
	for _, pp := range tp.Partitions {
		if pp.Partition == p {
			return pp, true
		}
	}
	return kmsg.MetadataResponseTopicPartition{}, false
}

// readPartition reads partition 0 of topic from its start to end (the
// high watermark) through seeds, and returns the values.
func readPartition(t *testing.T, ctx context.Context, seeds []string, topic string, end int64) []string {
	t.Helper()
	cl := mustClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var values []string
	for next := int64(0); next < end; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(values), end, topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Errorf("%s: record at offset %d, want %d", topic, r.Offset, next)
			}
			values = append(values, string(r.Value))
			next = r.Offset + 1
		})
	}
	return values
}

// TestClusterUncleanElectionOnRequestLosesOnlyWhatTheDeadISRHeld: Kafka's
// documented trade-off, end to end. Partition 0 of "unclean" has replicas
// 4 (leader) and 3; broker 3 stops, so records acknowledged afterwards
// (acks=all, the ISR being 4 alone) exist only on 4; then 4 stops. With
// unclean.leader.election.enable off, 3 coming back does not lead (the
// partition stays offline); ElectLeaders UNCLEAN makes it the leader at
// a new epoch with the ISR {3}: the records only 4 acknowledged are not
// there, the records both held are, the partition takes and serves new
// records at the offsets after them, the election is counted, and 4,
// restarted, truncates its divergent tail and follows. A partition with
// a live leader answers ELECTION_NOT_NEEDED, one with no live replica
// ELIGIBLE_LEADERS_NOT_AVAILABLE. (Broker 4 is a fourth, non-voting
// broker, so the etcd quorum of 1-3 survives every stop.)
func TestClusterUncleanElectionOnRequestLosesOnlyWhatTheDeadISRHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	n4 := &clusterTestNode{t: t, id: 4, host: "127.0.0.5", dir: t.TempDir()}
	tc.nodes = append(tc.nodes, n4)
	if err := tc.start(n4); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n4.stop(false) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n1, n3 := tc.node(1), tc.node(3)
	tc.waitFor(n1, "four brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 4 })
	cl := mustClient(t, n1.addr)
	for topic, replicas := range map[string][]int32{"unclean": {4, 3}, "unclean-gone": {4}, "unclean-live": {1, 2}} {
		resp, err := createTopicsAssigned(topic, -1, -1, false, assigned{0, replicas}).RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: %v %v", topic, err, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
		}
	}
	tc.waitFor(n1, "unclean in sync on 4 and 3", func(m *kmsg.MetadataResponse) bool {
		p, ok := metadataPartition(m, "unclean", 0)
		return ok && p.Leader == 4 && sameSet(p.ISR, []int32{4, 3})
	})
	seeds := []string{n1.addr, tc.node(2).addr}
	prod := mustClient(t, n1.addr, kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("unclean"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(prefix string, from int64) {
		t.Helper()
		for i := range int64(10) {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", prefix, i, err)
			}
			if r.Offset != from+i {
				t.Fatalf("%s-%d acknowledged at offset %d, want %d", prefix, i, r.Offset, from+i)
			}
		}
	}
	produce("both", 0) // held by 4 and 3

	n3.stop(true)
	tc.waitFor(n1, "3 out of unclean's ISR", func(m *kmsg.MetadataResponse) bool {
		p, ok := metadataPartition(m, "unclean", 0)
		return ok && p.Leader == 4 && slices.Equal(p.ISR, []int32{4})
	})
	produce("only4", 10) // acknowledged by the ISR {4} alone

	n4.stop(true)
	before := tc.waitFor(n1, "unclean offline", func(m *kmsg.MetadataResponse) bool {
		p, ok := metadataPartition(m, "unclean", 0)
		return ok && p.Leader == -1
	})
	if err := tc.start(n3); err != nil {
		t.Fatalf("restart 3: %v", err)
	}
	tc.waitFor(n1, "3 live again", func(m *kmsg.MetadataResponse) bool {
		return slices.ContainsFunc(m.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == 3 })
	})
	// unclean.leader.election.enable is off: 3 is not in the ISR, the
	// partition stays offline however long it waits.
	time.Sleep(time.Second)
	m, err := n1.metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := metadataPartition(before, "unclean", 0)
	if p, _ := metadataPartition(m, "unclean", 0); p.Leader != -1 {
		t.Fatalf("partition elected %d without an unclean election: %s", p.Leader, describeMetadata(m))
	}

	adm := kadm.NewClient(cl)
	res, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"unclean": {0: {}}, "unclean-gone": {0: {}}, "unclean-live": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]*kerr.Error{"unclean": nil, "unclean-gone": kerr.EligibleLeadersNotAvailable, "unclean-live": kerr.ElectionNotNeeded} {
		var code int16
		if ke := (*kerr.Error)(nil); errors.As(res[topic][0].Err, &ke) {
			code = ke.Code
		} else if res[topic][0].Err != nil {
			t.Fatalf("%s: %v", topic, res[topic][0].Err)
		}
		if code != codeOf(want) {
			t.Errorf("unclean election of %s: %v, want %v", topic, res[topic][0].Err, want)
		}
	}
	m = tc.waitFor(n1, "3 leading unclean alone", func(m *kmsg.MetadataResponse) bool {
		p, ok := metadataPartition(m, "unclean", 0)
		return ok && p.Leader == 3 && slices.Equal(p.ISR, []int32{3})
	})
	if p, _ := metadataPartition(m, "unclean", 0); p.LeaderEpoch <= old.LeaderEpoch {
		t.Errorf("leader epoch %d after the unclean election, %d before", p.LeaderEpoch, old.LeaderEpoch)
	}
	// Counted by the broker whose controller wrote it (kadm sends
	// ElectLeaders to the active controller): once in the cluster.
	var unclean float64
	for _, n := range tc.nodes {
		if n.srv != nil {
			unclean += gatheredCluster(t, n.srv.Registry())[`tributary_cluster_leader_elections_total{kind="unclean"}`]
		}
	}
	if unclean != 1 {
		t.Errorf("the cluster scraped %v unclean elections, want 1", unclean)
	}

	// The records only 4 held are gone; the partition serves on from 10.
	want := make([]string, 0, 20)
	for i := range 10 {
		want = append(want, fmt.Sprintf("both-%d", i))
	}
	if got := readPartition(t, ctx, seeds, "unclean", 10); !slices.Equal(got, want) {
		t.Fatalf("after the unclean election read %v, want %v", got, want)
	}
	produce("after", 10)
	for i := range 10 {
		want = append(want, fmt.Sprintf("after-%d", i))
	}
	if got := readPartition(t, ctx, seeds, "unclean", 20); !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}

	// 4 comes back, truncates the tail only it held, and follows 3.
	if err := tc.start(n4); err != nil {
		t.Fatalf("restart 4: %v", err)
	}
	tc.waitFor(n1, "4 back in unclean's ISR", func(m *kmsg.MetadataResponse) bool {
		p, ok := metadataPartition(m, "unclean", 0)
		return ok && p.Leader == 3 && sameSet(p.ISR, []int32{3, 4})
	})
	l3, _ := n3.mgr.Partition("unclean", 0)
	l4, _ := n4.mgr.Partition("unclean", 0)
	waitSameLog(t, l3, l4)
}

// TestClusterErrorCodesOfAdminRefusals: the cluster package's refusals of
// assignments and elections reach clients with Kafka's codes, wrapped as
// the handlers wrap them.
func TestClusterErrorCodesOfAdminRefusals(t *testing.T) {
	for _, c := range []struct {
		err  error
		want *kerr.Error
	}{
		{cluster.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
		{cluster.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
		{cluster.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
		{cluster.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
		{cluster.ErrFenced, kerr.RequestTimedOut},
		{cluster.ErrInvalidPartitions, kerr.InvalidPartitions},
		// Writes etcd dropped, whose outcome is unknown: retriable.
		{status.Error(codes.Unavailable, "error reading from server: use of closed network connection"), kerr.RequestTimedOut},
		{rpctypes.ErrTimeout, kerr.RequestTimedOut},
		{rpctypes.ErrNoLeader, kerr.RequestTimedOut},
	} {
		err := fmt.Errorf("server: create topic %q: %w", "t", fmt.Errorf("cluster: create topic t: %w", c.err))
		if got := clusterErrorCode(err); got != c.want.Code {
			t.Errorf("%v: %v, want %v", c.err, kerr.ErrorForCode(got), c.want)
		}
	}
}
