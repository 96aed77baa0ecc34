package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// testTTL is the shortest lease etcd grants with its default timing
// (1.5 election timeouts, rounded up to whole seconds).
const testTTL = 2 * time.Second

// lapseWait bounds how long a lapsed lease may take to disappear from
// every snapshot: the TTL, plus etcd's lease checker and a loaded machine.
const lapseWait = testTTL + 5*time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// quorumStores starts three members and opens one store on each member
// alone, so each snapshot is that member's watch.
func quorumStores(t *testing.T) (*testQuorum, []*EtcdStore) {
	q := newTestQuorum(t, 3)
	q.startAll()
	var stores []*EtcdStore
	for _, ep := range q.endpoints() {
		stores = append(stores, openTestStore(t, []string{ep}, testTTL))
	}
	return q, stores
}

func TestSnapshotsConvergeOnEveryMember(t *testing.T) {
	_, stores := quorumStores(t)
	ctx := ctxT(t)
	topic, parts := testTopic("events", 4, 1, 2, 3)
	if err := stores[0].CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	// The writer reads its own write at once.
	if _, ok := stores[0].Snapshot().Topics["events"]; !ok {
		t.Fatal("CreateTopic returned before the writer's snapshot showed the topic")
	}
	for i, s := range stores {
		snap := waitSnapshot(t, s, 5*time.Second, "topic events with 4 partitions", func(s *Snapshot) bool {
			return s.Topics["events"].ID == topic.ID && s.Partitions.Len() == 4
		})
		if p, _ := snap.Partition("events", 2); !slices.Equal(p.ISR, []int32{1, 2, 3}) || p.Leader != 1 || p.Version == 0 {
			t.Fatalf("member %d: partition events-2 = %+v", i, p)
		}
		if snap.ClusterID != "test-cluster" {
			t.Fatalf("member %d: cluster id %q", i, snap.ClusterID)
		}
	}

	// A leader change written through the second member shows on all.
	old, _ := stores[1].Snapshot().Partition("events", 2)
	next := old.Clone()
	next.Leader, next.ISR, next.LeaderEpoch, next.PartitionEpoch = 2, []int32{2, 3}, 1, 1
	if err := stores[1].UpdatePartitions(ctx, []PartitionUpdate{{Old: old, New: next}}); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		snap := waitSnapshot(t, s, 5*time.Second, "events-2 led by 2 at epoch 1", func(s *Snapshot) bool {
			p, _ := s.Partition("events", 2)
			return p.Leader == 2 && p.LeaderEpoch == 1
		})
		p, _ := snap.Partition("events", 2)
		if !slices.Equal(p.ISR, []int32{2, 3}) || p.Version <= old.Version {
			t.Fatalf("member %d: events-2 = %+v, want ISR [2 3] and a version above %d", i, p, old.Version)
		}
		if p1, _ := snap.Partition("events", 1); p1.Leader != 1 {
			t.Fatalf("member %d: events-1 changed too: %+v", i, p1)
		}
	}

	if err := stores[2].DeleteTopic(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		waitSnapshot(t, s, 5*time.Second, "events deleted with its partitions", func(s *Snapshot) bool {
			return len(s.Topics) == 0 && s.Partitions.Len() == 0
		})
	}
}

func TestWritesThatLoseReturnSentinels(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	topic, parts := testTopic("t", 2, 1)
	if err := s.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTopic(ctx, topic, parts); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second CreateTopic: %v, want ErrTopicExists", err)
	}
	if err := s.DeleteTopic(ctx, "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("DeleteTopic of an unknown topic: %v, want ErrUnknownTopic", err)
	}

	p0, _ := s.Snapshot().Partition("t", 0)
	p1, _ := s.Snapshot().Partition("t", 1)
	bump := func(p PartitionState) PartitionState {
		n := p.Clone()
		n.PartitionEpoch++
		return n
	}
	if err := s.UpdatePartitions(ctx, []PartitionUpdate{{Old: p0, New: bump(p0)}}); err != nil {
		t.Fatal(err)
	}
	// p0 is stale now: the pair must fail whole, p1 untouched.
	err := s.UpdatePartitions(ctx, []PartitionUpdate{{Old: p1, New: bump(p1)}, {Old: p0, New: bump(p0)}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("update with a stale version: %v, want ErrConflict", err)
	}
	if now, _ := s.Snapshot().Partition("t", 1); now.Version != p1.Version || now.PartitionEpoch != p1.PartitionEpoch {
		t.Fatalf("a conflicting transaction changed t-1: %+v → %+v", p1, now)
	}

	for name, tc := range map[string]struct {
		err error
	}{
		"bad topic name":     {s.CreateTopic(ctx, Topic{Name: "a/b", Partitions: 1, ID: topic.ID}, nil)},
		"zero topic id":      {s.CreateTopic(ctx, Topic{Name: "z", Partitions: 1}, []PartitionState{{Topic: "z"}})},
		"count mismatch":     {s.CreateTopic(ctx, Topic{Name: "z", Partitions: 2, ID: topic.ID}, []PartitionState{{Topic: "z"}})},
		"repeated partition": {s.CreateTopic(ctx, Topic{Name: "z", Partitions: 2, ID: topic.ID}, []PartitionState{{Topic: "z"}, {Topic: "z"}})},
		"unversioned old":    {s.UpdatePartitions(ctx, []PartitionUpdate{{Old: PartitionState{Topic: "t"}, New: PartitionState{Topic: "t"}}})},
		"renaming update":    {s.UpdatePartitions(ctx, []PartitionUpdate{{Old: p1, New: PartitionState{Topic: "u"}}})},
		"twice in one call":  {s.UpdatePartitions(ctx, []PartitionUpdate{{Old: p1, New: p1}, {Old: p1, New: p1}})},
	} {
		if tc.err == nil || errors.Is(tc.err, ErrConflict) {
			t.Errorf("%s: err = %v, want a validation error", name, tc.err)
		}
	}
	if _, ok := s.Snapshot().Topics["z"]; ok {
		t.Fatal("a rejected CreateTopic left topic z")
	}
}

func TestWatchResyncsAfterCompaction(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	writer := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)

	// A store whose snapshot is at revision r and whose watch has not
	// started: as if it had been disconnected since r.
	behind := &EtcdStore{client: writer.Client(), prefix: writer.prefix, clusterID: writer.clusterID,
		log: testLogger(t), changed: make(chan struct{}), done: make(chan struct{})}
	snap, err := behind.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	behind.snap.Store(snap)

	topic, parts := testTopic("missed", 2, 1)
	if err := writer.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	reg, err := writer.Register(ctx, testBroker(3))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	rev := writer.Snapshot().Revision
	if _, err := writer.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithCancel(context.Background())
	behind.cancel = cancel
	go behind.watch(wctx, snap.Revision) // compacted: must reload
	defer behind.Close()
	got := waitSnapshot(t, behind, 5*time.Second, "the missed writes", func(s *Snapshot) bool {
		return s.Partitions.Len() == 2 && s.Live(3) && s.Controller == 3
	})
	if got.Revision < rev {
		t.Fatalf("resynced at revision %d, below the compaction at %d", got.Revision, rev)
	}
	if changed, ok := ChangedSince(snap, got); ok {
		t.Fatalf("the changes across a reload are listed (%v): what the missed events changed is unknown", changed)
	}
	// And it keeps watching from there.
	if err := writer.DeleteTopic(ctx, "missed"); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, behind, 5*time.Second, "the delete after the resync", func(s *Snapshot) bool { return len(s.Topics) == 0 })
}

func TestClustersSharingOneEtcdStayApart(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	ctx := ctxT(t)
	// An external etcd named by metadata.store, shared by two clusters
	// and, under another root, by another tenant.
	u, err := ParseStoreURL("etcd://" + q.endpoints()[0] + "/tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	open := func(c EtcdStoreConfig) *EtcdStore {
		s, err := OpenEtcdStore(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open(u.StoreConfig("a"))
	b := open(u.StoreConfig("b"))
	other := open(EtcdStoreConfig{ClusterID: "a", Endpoints: u.Endpoints}) // default root
	topic, parts := testTopic("same-name", 1, 1)
	if err := a.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatalf("cluster b could not create a name cluster a holds: %v", err)
	}
	if err := b.DeleteTopic(ctx, "same-name"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Snapshot().Topics["same-name"]; !ok {
		t.Fatal("deleting cluster b's topic removed cluster a's")
	}
	if len(other.Snapshot().Topics) != 0 {
		t.Fatal("a store under the default root sees the tenant's topics")
	}
	resp, err := a.Client().Get(ctx, "/tenant-a/a/topics/same-name")
	if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"v":1`) {
		t.Fatalf("key /tenant-a/a/topics/same-name: %v, %v; want one value with its format version", resp, err)
	}
}

func TestAddPartitionsGrowsTopicInOneTransaction(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	topic, parts := testTopic("grow", 2, 1)
	if err := s.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	_, more := testTopic("grow", 5, 1)
	if err := s.AddPartitions(ctx, "grow", more[2:]); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if got := snap.Topics["grow"]; got.Partitions != 5 || got.ID != topic.ID || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("topic after adding = %+v", got)
	}
	if _, ok := snap.Partition("grow", 4); !ok || snap.Partitions.Len() != 5 {
		t.Fatalf("%d partitions after adding, want 5", snap.Partitions.Len())
	}
	// A second adder that read the old count loses.
	if err := s.AddPartitions(ctx, "grow", more[2:]); !errors.Is(err, ErrConflict) {
		t.Fatalf("adding from a stale count: %v, want ErrConflict", err)
	}
	if err := s.AddPartitions(ctx, "absent", more[2:]); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("adding to an unknown topic: %v, want ErrUnknownTopic", err)
	}
	_, gap := testTopic("grow", 8, 1)
	if err := s.AddPartitions(ctx, "grow", []PartitionState{gap[5], gap[7]}); err == nil || errors.Is(err, ErrConflict) {
		t.Fatalf("adding partitions with a gap: %v, want a validation error", err)
	}
}

func TestControllerRunsOnTheEtcdStore(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	var regs []*Registration
	for id := int32(1); id <= 3; id++ {
		r, err := s.Register(ctx, testBroker(id))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		regs = append(regs, r)
	}
	lead, err := regs[0].Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := NewController(ControllerConfig{NodeID: 1, Store: lead.Store(), Logger: testLogger(t), Seed: 1})
	if _, err := c.CreateTopic(ctx, "placed", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions(ctx, "placed", 8); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	// Broker 2's lease lapses: the controller moves its leaderships away
	// and takes it out of every ISR, through the fenced store.
	regs[1].session.Orphan()
	waitSnapshot(t, s, lapseWait, "broker 2 out of every ISR and leadership", func(s *Snapshot) bool {
		if s.Live(2) || s.Partitions.Len() != 8 {
			return false
		}
		for _, p := range s.Partitions.All() {
			if p.InISR(2) || p.Leader == 2 || p.Leader == NoLeader {
				return false
			}
		}
		return true
	})
}

// TestSnapshotChangesNameWhatEachWatchResponseChanged: a reader that
// applied one snapshot finds every partition a later one changed (put,
// shown by its topic's creation, deleted with its topic) from the
// snapshots' change lists, without comparing all of them.
func TestSnapshotChangesNameWhatEachWatchResponseChanged(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	set := func(tps []TopicPartition) []TopicPartition {
		slices.SortFunc(tps, func(a, b TopicPartition) int { return int(a.Partition - b.Partition) })
		return slices.Compact(tps)
	}
	tp := func(ps ...int32) []TopicPartition {
		var out []TopicPartition
		for _, p := range ps {
			out = append(out, TopicPartition{Topic: "t", Partition: p})
		}
		return out
	}
	s0 := s.Snapshot()
	topic, parts := testTopic("t", 3, 1, 2)
	if err := s.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	s1 := s.Snapshot()
	if got, ok := ChangedSince(s0, s1); !ok || !slices.Equal(set(got), tp(0, 1, 2)) {
		t.Fatalf("changed by the creation: %v (known %v), want every partition", got, ok)
	}
	p1, _ := s1.Partition("t", 1)
	next := p1.Clone()
	next.ISR = []int32{1}
	next.PartitionEpoch++
	if err := s.UpdatePartitions(ctx, []PartitionUpdate{{Old: p1, New: next}}); err != nil {
		t.Fatal(err)
	}
	s2 := s.Snapshot()
	if got, ok := ChangedSince(s1, s2); !ok || !slices.Equal(set(got), tp(1)) {
		t.Fatalf("changed by the ISR change: %v (known %v), want t-1", got, ok)
	}
	if got, ok := ChangedSince(s0, s2); !ok || !slices.Equal(set(got), tp(0, 1, 2)) {
		t.Fatalf("changed since before the creation: %v (known %v), want every partition", got, ok)
	}
	if got, ok := ChangedSince(s2, s2); !ok || len(got) != 0 {
		t.Fatalf("changed since itself: %v (known %v), want nothing", got, ok)
	}
	if err := s.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if got, ok := ChangedSince(s2, s.Snapshot()); !ok || !slices.Equal(set(got), tp(0, 1, 2)) {
		t.Fatalf("changed by the deletion: %v (known %v), want every partition", got, ok)
	}
	if _, ok := ChangedSince(s2, s0); ok {
		t.Fatal("changes listed from a snapshot back to an older one")
	}
}
