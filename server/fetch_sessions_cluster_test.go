package server

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionCounts sums a cluster's fetches by kind, and counts the
// followers' (privileged) sessions cached.
func sessionCounts(t *testing.T, tc *testCluster) (full, inc float64, followerSessions int) {
	for _, n := range tc.nodes {
		if n.srv == nil {
			continue
		}
		fc := n.srv.fetchSessions
		full += sessCounter(t, fc.byKind[fetchFull])
		inc += sessCounter(t, fc.byKind[fetchIncremental])
		fc.mu.Lock()
		for _, s := range fc.sessions {
			if s.privileged {
				followerSessions++
			}
		}
		fc.mu.Unlock()
	}
	return full, inc, followerSessions
}

// TestFetchSessionsInCluster: in a three-node cluster the followers
// replicate through fetch sessions (privileged, one per follower and
// leader) and a franz-go consumer of every partition reads through
// sessions with each leader; a follower restarted mid-way (its sessions
// die with it; the leaders' sessions of it are replaced) catches up, and
// every replica of every partition ends with the same log.
func TestFetchSessionsInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	ctx := testContext(t)
	const topic, parts = "sess-rf3", 24
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	if resp, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	for _, n := range tc.nodes {
		tc.waitFor(n, "every partition led, ISR of 3", func(m *kmsg.MetadataResponse) bool {
			tp, ok := topicOf(m, topic)
			if !ok || len(tp.Partitions) != parts {
				return false
			}
			for _, p := range tp.Partitions {
				if p.Leader < 1 || len(p.ISR) != 3 {
					return false
				}
			}
			return true
		})
	}
	seeds := kgo.SeedBrokers(tc.node(1).addr, tc.node(2).addr, tc.node(3).addr)
	prod := mustClient(t, tc.node(1).addr, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cons := mustClient(t, tc.node(1).addr, seeds, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	next := make([]int64, parts)
	round := func(r int) {
		t.Helper()
		var recs []*kgo.Record
		for p := r % 2; p < parts; p += 2 { // half the partitions each round
			for range 4 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("v")})
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("round %d: produce: %v", r, err)
		}
		for _, rec := range consumeN(t, cons, len(recs)) {
			if rec.Offset != next[rec.Partition] {
				t.Fatalf("round %d: partition %d offset %d, want %d", r, rec.Partition, rec.Offset, next[rec.Partition])
			}
			next[rec.Partition]++
		}
	}
	round(0)
	round(1)
	full, inc, followers := sessionCounts(t, tc)
	// Each node follows the other two: six follower sessions in use,
	// and perhaps some a cancelled fetch left behind (evicted once idle).
	if followers < 6 || inc <= full {
		t.Errorf("%v full and %v incremental fetches, %d follower sessions; want mostly incremental fetches and at least 6 follower sessions", full, inc, followers)
	}

	n3 := tc.node(3)
	n3.stop(false)
	if err := tc.start(n3); err != nil {
		t.Fatalf("restart 3: %v", err)
	}
	round(2)
	round(3)
	// Every replica catches up to the same log end, high watermark and
	// leader epoch.
	deadline := time.Now().Add(20 * time.Second)
	for p := range int32(parts) {
		for {
			var ends, hws []int64
			var epochs []int32
			for _, n := range tc.nodes {
				l, ok := n.mgr.Partition(topic, p)
				if !ok {
					ends = append(ends, -1)
					continue
				}
				ends, hws, epochs = append(ends, l.NextOffset()), append(hws, l.HighWatermark()), append(epochs, l.LeaderEpoch())
			}
			same := !slices.Contains(ends, -1) && slices.Min(ends) == slices.Max(ends) && ends[0] == next[p] &&
				slices.Min(hws) == slices.Max(hws) && slices.Min(epochs) == slices.Max(epochs)
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: log ends %v high watermarks %v epochs %v, want all at %d", p, ends, hws, epochs, next[p])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The restarted node's fetchers start new sessions; its old ones on
	// the leaders stay until evicted (idle past the eviction time when a
	// slot is wanted), as in Kafka.
	if _, _, followers := sessionCounts(t, tc); followers < 6 {
		t.Errorf("%d follower sessions after the restart, want at least 6", followers)
	}
}
