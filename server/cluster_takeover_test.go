package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/cluster"
)

// holdTakeovers makes n's takeovers of topic's partitions wait until the
// returned release is called (the test's cleanup calls it too); entered
// is closed once one waits.
func holdTakeovers(t *testing.T, n *clusterTestNode, topic string) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var inOnce, outOnce sync.Once
	release = func() { outOnce.Do(func() { close(out) }) }
	t.Cleanup(release)
	rec := n.srv.node.rec
	rec.mu.Lock()
	rec.lead = func(c roleChange) error {
		if c.tp.Topic == topic {
			inOnce.Do(func() { close(in) })
			<-out
		}
		_, err := rec.n.replicas.BecomeLeader(c.log, c.p, c.minISR)
		return err
	}
	rec.mu.Unlock()
	return in, release
}

// elect writes tp's state with leader as its leader under the next leader
// epoch, as a controller's election would, through node via's store.
func elect(ctx context.Context, t *testing.T, via *clusterTestNode, tp cluster.TopicPartition, leader int32) cluster.PartitionState {
	t.Helper()
	st, ok := via.srv.node.snapshot().Partition(tp.Topic, tp.Partition)
	if !ok {
		t.Fatalf("%s-%d is not in node %d's metadata", tp.Topic, tp.Partition, via.id)
	}
	next := st.Clone()
	next.Leader = leader
	next.LeaderEpoch++
	next.PartitionEpoch++
	if err := via.srv.node.store.UpdatePartitions(ctx, []cluster.PartitionUpdate{{Old: st, New: next}}); err != nil {
		t.Fatalf("elect %d leader of %s-%d: %v", leader, tp.Topic, tp.Partition, err)
	}
	return next
}

// waitApplied waits until n's reconciler has applied tp's state at
// version or later.
func waitApplied(t *testing.T, n *clusterTestNode, tp cluster.TopicPartition, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node %d, %s-%d: %s", n.id, tp.Topic, tp.Partition, what)
		}
	}
}

// TestClusterMetadataAfterATakeoverIsAppliedWhileItRuns: a broker that
// is to lead a partition under a new leader epoch (a takeover, whose
// leader-epoch checkpoint is fsynced) applies the metadata that comes
// after it while it has not finished: it follows another partition's new
// leader at once, which that leader's acks=all produces wait for. Once
// the takeover ends, the broker leads its partition and takes acks=all
// produces on it.
func TestClusterMetadataAfterATakeoverIsAppliedWhileItRuns(t *testing.T) {
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	takeTP := cluster.TopicPartition{Topic: "takeover", Partition: 0}
	followTP := cluster.TopicPartition{Topic: "follow", Partition: 0}
	for _, topic := range []string{takeTP.Topic, followTP.Topic} {
		resp, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	for _, n := range tc.nodes {
		for _, tp := range []cluster.TopicPartition{takeTP, followTP} {
			waitApplied(t, n, tp, "the new topic's role is never taken", func() bool {
				_, led := n.srv.node.replicas.Leader(tp)
				_, follows := n.srv.node.replicas.Following(tp)
				return led || follows
			})
		}
	}

	snap := tc.node(1).srv.node.snapshot()
	takeSt, _ := snap.Partition(takeTP.Topic, takeTP.Partition)
	followSt, _ := snap.Partition(followTP.Topic, followTP.Partition)
	var x, y *clusterTestNode // x takes "takeover" over; y takes "follow" over, x follows it
	for _, n := range tc.nodes {
		if x == nil && n.id != takeSt.Leader {
			x = n
		}
	}
	for _, n := range tc.nodes {
		if n != x && n.id != followSt.Leader {
			y = n
		}
	}
	entered, release := holdTakeovers(t, x, takeTP.Topic)

	took := elect(ctx, t, tc.node(1), takeTP, x.id)
	select {
	case <-entered:
	case <-time.After(15 * time.Second):
		t.Fatalf("node %d never started its takeover of %s-%d", x.id, takeTP.Topic, takeTP.Partition)
	}
	elect(ctx, t, tc.node(1), followTP, y.id)
	waitApplied(t, x, followTP, "the new leader is not followed while a takeover runs", func() bool {
		leader, ok := x.srv.node.replicas.Following(followTP)
		return ok && leader == y.id
	})
	if _, led := x.srv.node.replicas.Leader(takeTP); led {
		t.Fatalf("node %d leads %s-%d while its takeover is held", x.id, takeTP.Topic, takeTP.Partition)
	}
	if x.srv.node.rec.caughtUp.Load() >= tc.node(1).srv.node.snapshot().Revision {
		t.Errorf("node %d counts as caught up with the metadata while a takeover runs", x.id)
	}

	release()
	waitApplied(t, x, takeTP, "not led once its takeover ended", func() bool {
		ld, ok := x.srv.node.replicas.Leader(takeTP)
		return ok && ld.Epoch() == took.LeaderEpoch
	})
	rev := tc.node(1).srv.node.snapshot().Revision
	waitApplied(t, x, takeTP, "the metadata is never caught up with after the takeover", func() bool {
		return x.srv.node.rec.caughtUp.Load() >= rev
	})
	cl := mustClient(t, x.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, tp := range []cluster.TopicPartition{takeTP, followTP} {
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		err := cl.ProduceSync(pctx, &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte("v")}).FirstErr()
		pcancel()
		if err != nil {
			t.Errorf("acks=all produce to %s-%d after its election: %v", tp.Topic, tp.Partition, err)
		}
	}
}

// TestClusterAPartitionChangeIsAppliedWithoutAFullPass: once a broker has
// applied the metadata whole, a change of one partition's state (an ISR
// shrink) is applied by a pass over the partitions the snapshots say
// changed, not over every partition and topic (at 10,000 partitions a
// full pass took seconds on a loaded machine, on every change).
func TestClusterAPartitionChangeIsAppliedWithoutAFullPass(t *testing.T) {
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr))
	tp := cluster.TopicPartition{Topic: "incremental", Partition: 0}
	resp, err := adm.CreateTopic(ctx, 2, 3, nil, tp.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", tp.Topic, err)
	}
	for _, n := range tc.nodes {
		waitApplied(t, n, tp, "the new topic's role is never taken", func() bool {
			_, led := n.srv.node.replicas.Leader(tp)
			_, follows := n.srv.node.replicas.Following(tp)
			return led || follows
		})
	}
	st, _ := tc.node(1).srv.node.snapshot().Partition(tp.Topic, tp.Partition)
	leader := tc.node(st.Leader)
	rec := leader.srv.node.rec
	rev := tc.node(1).srv.node.snapshot().Revision
	waitApplied(t, leader, tp, "the metadata is never caught up with", func() bool { return rec.caughtUp.Load() >= rev })
	passes, full := rec.passes.Load(), rec.fullPasses.Load()

	shrunk := st.Clone()
	shrunk.ISR = []int32{st.Leader}
	for _, id := range st.ISR {
		if id != st.Leader {
			shrunk.ISR = append(shrunk.ISR, id)
			break
		}
	}
	shrunk.PartitionEpoch++
	if err := tc.node(1).srv.node.store.UpdatePartitions(ctx, []cluster.PartitionUpdate{{Old: st, New: shrunk}}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, leader, tp, "the ISR change is never applied", func() bool {
		ld, ok := leader.srv.node.replicas.Leader(tp)
		return ok && slices.Equal(ld.State().ISR, shrunk.ISR)
	})
	if rec.passes.Load() == passes {
		t.Fatal("the ISR change was applied without a pass")
	}
	if got := rec.fullPasses.Load(); got != full {
		t.Errorf("%d full passes to apply one partition's ISR change, want none", got-full)
	}
}
