package server

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// ClusterAdmin (kafka-topics --replica-assignment's request) creates a
// topic placed as given, and its refusal of an unregistered broker
// reaches the caller as Kafka's.
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
	err = adm.CreateTopic("sarama-refused", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: map[int32][]int32{0: {1, 4}}}, false)
	var te *sarama.TopicError
	if !errors.As(err, &te) || te.Err != sarama.ErrInvalidReplicaAssignment {
		t.Fatalf("unregistered broker: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}

var _ = kadm.ElectLiveReplica
