package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterNewTopicIsWritableWithoutFollowerRests pins that a topic is
// writable with acks=all as soon as CreateTopics answers: a follower whose
// first fetch reaches the leader before the leader's broker has opened
// the partition is held in the long poll until it has, not answered
// UNKNOWN_TOPIC_ID / NOT_LEADER_OR_FOLLOWER and rested.
func TestClusterNewTopicIsWritableWithoutFollowerRests(t *testing.T) {
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	cl := mustClient(t, tc.node(1).addr, kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	notReady := func() int64 {
		var n int64
		for _, node := range tc.nodes {
			errs := node.srv.replicas.FetchStats().Errors()
			for _, e := range []*kerr.Error{kerr.UnknownTopicID, kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition} {
				n += errs[e.Message]
			}
		}
		return n
	}
	before := notReady()
	const topics, partitions = 4, 3
	for i := range topics {
		topic := fmt.Sprintf("fresh-%d", i)
		resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
		if err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, resp.Err)
		}
		for p := range int32(partitions) {
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("first")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("acks=all produce to new topic %s-%d: %v", topic, p, err)
			}
			if r.Offset != 0 {
				t.Fatalf("%s-%d: first record at offset %d, want 0", topic, p, r.Offset)
			}
		}
	}
	if n := notReady() - before; n != 0 {
		t.Fatalf("followers rested partitions of new topics %d times on leader-not-ready answers, want 0", n)
	}
}
