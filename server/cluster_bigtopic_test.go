package server

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/testetcd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startDefaultEtcd starts a one-member etcd with etcd's shipped limits
// (--max-txn-ops 128), standing in for an external etcd, and returns the
// metadata.store URL that names it.
func startDefaultEtcd(t *testing.T) string {
	t.Helper()
	return "etcd://" + testetcd.StartDefaultLimit(t)
}

// partitionCount is topic's partition count in m, -1 if absent.
func partitionCount(m *kmsg.MetadataResponse, topic string) int {
	mt, ok := topicOf(m, topic)
	if !ok || mt.ErrorCode != 0 {
		return -1
	}
	return len(mt.Partitions)
}

// TestClusterCreatesTopicsBeyondOneEtcdTransaction: on an etcd that
// allows 128 operations per transaction, CreateTopics of 500 partitions
// and CreatePartitions to 800 succeed whole, concurrent CreateTopics of
// one name answer TOPIC_ALREADY_EXISTS to all but one, and DeleteTopics
// removes every partition.
func TestClusterCreatesTopicsBeyondOneEtcdTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	store := startDefaultEtcd(t)
	n := &clusterTestNode{t: t, id: 1, host: "127.0.0.2", dir: t.TempDir(), store: store}
	tc := &testCluster{t: t, nodes: []*clusterTestNode{n}}
	t.Cleanup(func() { n.stop(false) })
	if err := tc.start(n); err != nil {
		t.Fatal(err)
	}
	tc.waitFor(n, "a broker and a controller", func(m *kmsg.MetadataResponse) bool {
		return len(m.Brokers) == 1 && m.ControllerID == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, n.addr))

	if resp, err := adm.CreateTopic(ctx, 500, 1, nil, "wide"); err != nil || resp.Err != nil {
		t.Fatalf("create 500 partitions: %v %v", err, resp.Err)
	}
	tc.waitFor(n, "wide with 500 partitions", func(m *kmsg.MetadataResponse) bool { return partitionCount(m, "wide") == 500 })
	if resp, err := adm.CreatePartitions(ctx, 300, "wide"); err != nil || resp["wide"].Err != nil {
		t.Fatalf("add 300 partitions: %v %v", err, resp["wide"].Err)
	}
	tc.waitFor(n, "wide with 800 partitions", func(m *kmsg.MetadataResponse) bool { return partitionCount(m, "wide") == 800 })

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			resp, err := adm.CreateTopic(ctx, 300, 1, nil, "race")
			if err == nil {
				err = resp.Err
			}
			errs[i] = err
		})
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, kerr.TopicAlreadyExists):
			t.Fatalf("concurrent create %d: %v, want TOPIC_ALREADY_EXISTS", i, err)
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent CreateTopics of one name succeeded, want 1: %v", created, errs)
	}
	tc.waitFor(n, "race with 300 partitions", func(m *kmsg.MetadataResponse) bool { return partitionCount(m, "race") == 300 })

	if _, err := adm.DeleteTopics(ctx, "wide", "race"); err != nil {
		t.Fatal(err)
	}
	tc.waitFor(n, "both deleted", func(m *kmsg.MetadataResponse) bool {
		return partitionCount(m, "wide") < 0 && partitionCount(m, "race") < 0
	})
	if snap := n.srv.node.store.Snapshot(); snap.Partitions.Len() != 0 || snap.OrphanPartitions != 0 {
		t.Fatalf("after deleting: %d partitions, %d orphans in the metadata", snap.Partitions.Len(), snap.OrphanPartitions)
	}
}

// TestClusterCreatesTenThousandPartitionTopic: CreateTopics of 10,000
// partitions (log.MaxPartitions) on three in-process brokers: every
// broker's Metadata shows all of them, each with a leader. It opens
// 10,000 logs, minutes on a loaded machine: it runs only with
// TRIBUTARY_BIG_TOPIC_TEST=1. A REQUEST_TIMED_OUT answer is Kafka's for a
// creation that goes on after the request's wait (createWait) ended
// before this broker opened all of its logs; the topic must still appear
// whole.
func TestClusterCreatesTenThousandPartitionTopic(t *testing.T) {
	if os.Getenv("TRIBUTARY_BIG_TOPIC_TEST") != "1" {
		t.Skip("creates 10,000 partitions on three brokers: set TRIBUTARY_BIG_TOPIC_TEST=1")
	}
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	adm.SetTimeoutMillis(60000)
	const parts = 10000
	start := time.Now()
	resp, err := adm.CreateTopic(ctx, parts, 1, nil, "huge")
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("create %d partitions: %v", parts, err)
	}
	t.Logf("CreateTopics of %d partitions answered in %v (%v)", parts, time.Since(start), err)
	led := func(m *kmsg.MetadataResponse) bool {
		mt, ok := topicOf(m, "huge")
		if !ok || len(mt.Partitions) != parts {
			return false
		}
		for _, p := range mt.Partitions {
			if p.Leader < 0 {
				return false
			}
		}
		return true
	}
	for _, n := range tc.nodes {
		for {
			m, err := n.metadata(ctx)
			if err == nil && led(m) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d never showed huge with %d led partitions: %v", n.id, parts, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("every broker shows %d led partitions after %v", parts, time.Since(start))
}
