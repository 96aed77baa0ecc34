package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// TestClusterNewTopicIsWritableWithoutFollowerRests pins that a topic is
// writable with acks=all as soon as CreateTopics answers: no follower
// rests a new partition for replica.fetch.backoff.ms because its first
// fetches reached the leader before the leader's broker had opened it.
// The leader holds such a fetch within its MaxWait until it has
// (awaitLeading), and a follower answered UNKNOWN_TOPIC_ID or
// NOT_LEADER_OR_FOLLOWER all the same (the hold ran out: under load, or
// because a fetcher long-polls briefly while partitions are being added
// to it) fetches the partition again after a short wait, not the
// backoff. The backoff is an hour here: a follower that rested a
// partition for it would hold the produce until the leader dropped it
// from the ISR (replica.lag.time.max.ms, 30 s), past newTopicProduceWait.
func TestClusterNewTopicIsWritableWithoutFollowerRests(t *testing.T) {
	// The test clusters' MaxWait of 100 ms is shorter than the time a
	// leader's reconciler may take to open a new partition after the
	// follower's has on a loaded machine (holds timed out after
	// 0.1-0.43 s under -race at a load average of 20-60); 5 s is above
	// any such lag, so that the holds rather than the retries are what
	// is mostly exercised.
	tc := startTestClusterWith(t, func(_ *clusterTestNode, cfg *Config) {
		cfg.Cluster.Config.ReplicaFetchWaitMax = 5 * time.Second
		cfg.replicaFetchBackoff = time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	cl := mustClient(t, tc.node(1).addr, kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	before := leaderNotReadyAnswers(tc)
	const topics, partitions = 4, 3
	for i := range topics {
		topic := fmt.Sprintf("fresh-%d", i)
		// A creation answered with a retriable error (REQUEST_TIMED_OUT:
		// etcd dropped the write on a loaded machine) is retried, as a
		// client would; it may have taken effect all the same.
		for try := 1; ; try++ {
			resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
			if err == nil {
				err = resp.Err // kadm returns the topic's error as err too
			}
			if err == nil || try > 1 && errors.Is(err, kerr.TopicAlreadyExists) {
				break
			}
			if !kerr.IsRetriable(err) || try == 5 {
				t.Fatalf("create %s (try %d): %v", topic, try, err)
			}
		}
		for p := range int32(partitions) {
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("first")}
			pctx, pcancel := context.WithTimeout(ctx, newTopicProduceWait)
			err := cl.ProduceSync(pctx, r).FirstErr()
			pcancel()
			if err != nil {
				t.Fatalf("acks=all produce to new topic %s-%d (%v at most; a follower rested the partition for the backoff?): %v",
					topic, p, newTopicProduceWait, err)
			}
			if r.Offset != 0 {
				t.Fatalf("%s-%d: first record at offset %d, want 0", topic, p, r.Offset)
			}
		}
	}
	t.Logf("followers were answered not-ready %d times, each retried after a short wait", leaderNotReadyAnswers(tc)-before)
}

// newTopicProduceWait bounds an acks=all produce to a new topic's
// partition in TestClusterNewTopicIsWritableWithoutFollowerRests: far
// above a hold or a short retry on a loaded machine, below the 30 s after
// which a leader drops a follower resting the partition from the ISR
// and acknowledges without it.
const newTopicProduceWait = 20 * time.Second

// leaderNotReadyAnswers counts the answers by which leaders told the
// followers of tc that they did not know or lead a partition (the
// fetchers' UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION and
// NOT_LEADER_OR_FOLLOWER), each of which rested a partition.
func leaderNotReadyAnswers(tc *testCluster) int64 {
	var n int64
	for _, node := range tc.nodes {
		errs := node.srv.replicas.FetchStats().Errors()
		for _, e := range []*kerr.Error{kerr.UnknownTopicID, kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition} {
			n += errs[e.Message]
		}
	}
	return n
}

// TestClusterFollowerFetchOfPartitionOpenedWhileResolvingIsServed pins
// that a follower's fetch that found a new topic's partition not open on
// its leader, which opened it before the fetch looked whether to hold it
// (awaitLeading), is resolved again and served, not answered
// NOT_LEADER_OR_FOLLOWER: the follower would rest the partition on an
// answer already stale. The leader's reconciler is held back until a
// follower's fetch has found the partition not open, and that fetch goes
// on only once the partition is open, which makes the race certain.
func TestClusterFollowerFetchOfPartitionOpenedWhileResolvingIsServed(t *testing.T) {
	const topic = "opened-meanwhile"
	tp := cluster.TopicPartition{Topic: topic, Partition: 0}
	const hookWait = 20 * time.Second // bounds each hook's wait, should the other side never come
	var armed atomic.Bool
	release := make(chan struct{}) // closed by the first fetch that found the partition not open
	var releaseOnce sync.Once
	var held, raced atomic.Int64
	tc := startTestClusterWith(t, func(n *clusterTestNode, cfg *Config) {
		cfg.Cluster.Config.ReplicaFetchWaitMax = 5 * time.Second
		cfg.beforeReconcile = func(s *cluster.Snapshot) {
			if !armed.Load() {
				return
			}
			if st, ok := s.Partition(topic, 0); !ok || st.Leader != n.id {
				return
			}
			select {
			case <-release:
				return
			default:
			}
			held.Add(1)
			select {
			case <-release:
			case <-time.After(hookWait):
			}
		}
		cfg.fetchNotOpen = func(follower int32) {
			if !armed.Load() || follower < 0 {
				return
			}
			releaseOnce.Do(func() { close(release) })
			// Go on only once this broker leads the partition: what
			// the fetch resolved is stale by then.
			for end := time.Now().Add(hookWait); time.Now().Before(end); time.Sleep(time.Millisecond) {
				if _, ok := n.srv.replicas.Leader(tp); ok {
					raced.Add(1)
					return
				}
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := leaderNotReadyAnswers(tc)
	armed.Store(true)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	// min.insync.replicas=3: the produce is acknowledged only once both
	// followers fetch the record.
	cl := mustClient(t, tc.node(1).addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatalf("acks=all produce to %s-0: %v", topic, err)
	}
	if held.Load() == 0 || raced.Load() == 0 {
		t.Fatalf("the leader's metadata was held back %d times and a fetch found the partition opened meanwhile %d times; want both", held.Load(), raced.Load())
	}
	if n := leaderNotReadyAnswers(tc) - before; n != 0 {
		t.Fatalf("followers were answered not-ready %d times, want 0", n)
	}
}

// TestClusterFetchNotLedOrUnknownIsAnsweredAtOnce pins what the hold of
// TestClusterNewTopicIsWritableWithoutFollowerRests must leave alone: a
// fetch with a long MaxWait of a partition another broker leads is
// answered NOT_LEADER_OR_FOLLOWER, and of a topic ID the cluster does not
// have UNKNOWN_TOPIC_ID, without waiting out the MaxWait.
func TestClusterFetchNotLedOrUnknownIsAnsweredAtOnce(t *testing.T) {
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n1 := tc.node(1)
	adm := kadm.NewClient(mustClient(t, n1.addr))
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "led"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var id [16]byte
	other := int32(-1)
	tc.waitFor(n1, "a partition of led that another broker leads", func(m *kmsg.MetadataResponse) bool {
		for _, mt := range m.Topics {
			if deref(mt.Topic) != "led" {
				continue
			}
			id = mt.TopicID
			for _, mp := range mt.Partitions {
				if mp.Leader >= 0 && mp.Leader != n1.id {
					other = mp.Partition
					return true
				}
			}
		}
		return false
	})
	cl := mustClient(t, n1.addr)
	tests := []struct {
		name string
		id   [16]byte
		want *kerr.Error
	}{
		{"led by another broker", id, kerr.NotLeaderForPartition},
		{"unknown topic ID", [16]byte{0xde, 0xad}, kerr.UnknownTopicID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxWaitMillis = int32(time.Hour / time.Millisecond)
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "led", tt.id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = other, -1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
			defer rcancel()
			resp, err := req.RequestWith(rctx, cl.SeedBrokers()[0])
			if err != nil {
				t.Fatalf("fetch (max wait 1 h): %v", err)
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("answer %+v, want one partition", resp.Topics)
			}
			if got := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); got != tt.want {
				t.Fatalf("error %v, want %v", got, tt.want)
			}
		})
	}
}
