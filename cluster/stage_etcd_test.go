package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tributary-io/tributary/internal/testetcd"
)

// startDefaultLimitEtcd starts a one-member etcd as an external etcd is
// shipped (--max-txn-ops 128) and returns its client URL.
func startDefaultLimitEtcd(t testing.TB) []string {
	t.Helper()
	return []string{"http://" + testetcd.StartDefaultLimit(t)}
}

// watchWhole records, from every Snapshot of s it sees until stop, a
// topic shown with fewer or more partitions than it counts, or a
// partition shown without its topic.
func watchWhole(t *testing.T, s Store) (stop func() []string) {
	var mu sync.Mutex
	var bad []string
	done, quit := make(chan struct{}), make(chan struct{})
	check := func(snap *Snapshot) {
		perTopic := map[string]int32{}
		for tp := range snap.Partitions.All() {
			t, ok := snap.Topics[tp.Topic]
			if !ok || tp.Partition >= t.Partitions {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("revision %d: partition %s-%d shown, topic %+v", snap.Revision, tp.Topic, tp.Partition, t))
				mu.Unlock()
				return
			}
			perTopic[tp.Topic]++
		}
		for name, tt := range snap.Topics {
			if perTopic[name] != tt.Partitions {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("revision %d: topic %s counts %d partitions, %d shown", snap.Revision, name, tt.Partitions, perTopic[name]))
				mu.Unlock()
				return
			}
		}
	}
	go func() {
		defer close(done)
		for {
			ch := s.Changed()
			check(s.Snapshot())
			select {
			case <-ch:
			case <-quit:
				return
			}
		}
	}()
	return func() []string {
		close(quit)
		<-done
		check(s.Snapshot())
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}

func TestTopicBeyondMaxTxnOpsIsCreatedWholeOnDefaultEtcd(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	writer, reader := openTestStore(t, eps, testTTL), openTestStore(t, eps, testTTL)
	ctx := ctxT(t)
	stop := watchWhole(t, reader)
	topic, parts := testTopic("wide", 300, 1, 2, 3)
	if err := writer.CreateTopic(ctx, topic, parts); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, reader, 5*time.Second, "topic wide with 300 partitions", func(s *Snapshot) bool {
		return s.Topics["wide"].Partitions == 300 && s.Partitions.Len() == 300
	})
	if err := writer.CreateTopic(ctx, topic, parts); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("creating it again: %v, want ErrTopicExists", err)
	}

	// Grown by 300 more, staged too.
	_, more := testTopic("wide", 600, 1, 2, 3)
	if err := writer.AddPartitions(ctx, "wide", more[300:]); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, reader, 5*time.Second, "topic wide with 600 partitions", func(s *Snapshot) bool {
		return s.Topics["wide"].Partitions == 600 && s.Partitions.Len() == 600
	})
	if err := writer.AddPartitions(ctx, "wide", more[300:]); !errors.Is(err, ErrConflict) {
		t.Fatalf("adding from a stale count: %v, want ErrConflict", err)
	}

	// A range delete is one operation whatever the partition count.
	if err := writer.DeleteTopic(ctx, "wide"); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, reader, 5*time.Second, "topic wide deleted", func(s *Snapshot) bool {
		return len(s.Topics) == 0 && s.Partitions.Len() == 0
	})
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("a reader saw a partial topic: %v", bad)
	}
	assertNoKeys(t, writer, keyPartitions, keyStaging)
}

// assertNoKeys fails if any key lies under the store's prefix + each kind.
func assertNoKeys(t *testing.T, s *EtcdStore, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		resp, err := s.Client().Get(ctxT(t), s.prefix+k, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count != 0 {
			t.Fatalf("%d keys left under %s", resp.Count, k)
		}
	}
}

func TestConcurrentCreatesOfOneNameOneWinsWhole(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	reader := openTestStore(t, eps, testTTL)
	stop := watchWhole(t, reader)
	ctx := ctxT(t)
	// Three staged creations and a direct one race for one name, each
	// with replicas of its own, so the winner's partitions are told
	// apart from the losers'.
	counts := []int32{300, 500, 5, 260}
	errs := make([]error, len(counts))
	topics := make([]Topic, len(counts))
	var wg sync.WaitGroup
	for i, n := range counts {
		w := openTestStore(t, eps, testTTL)
		topics[i], _ = testTopic("race", n, 1)
		topics[i].ID[0] = byte(i + 1)
		parts := make([]PartitionState, n)
		for p := range n {
			parts[p] = PartitionState{Topic: "race", Partition: p, Replicas: []int32{int32(i + 1)}, ISR: []int32{int32(i + 1)}, Leader: int32(i + 1)}
		}
		wg.Go(func() { errs[i] = w.CreateTopic(ctx, topics[i], parts) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creators %d and %d both created the topic", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrTopicExists):
			t.Fatalf("creator %d: %v, want ErrTopicExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("nobody created the topic: %v", errs)
	}
	snap := waitSnapshot(t, reader, 5*time.Second, "the winner's topic", func(s *Snapshot) bool {
		return s.Topics["race"].ID == topics[winner].ID && s.Partitions.Len() == int(counts[winner])
	})
	for tp, p := range snap.Partitions.All() {
		if !slices.Equal(p.Replicas, []int32{int32(winner + 1)}) {
			t.Fatalf("partition %v holds a loser's state %+v; creator %d won", tp, p, winner)
		}
	}
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("a reader saw a partial topic: %v", bad)
	}
	// The losers' staged partitions were cleaned up by their writers:
	// nothing past the winner's count is left.
	resp, err := reader.Client().Get(ctx, reader.prefix+partitionsPrefix("race"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != int64(counts[winner]) {
		t.Fatalf("%v keys under the topic's partitions (err %v), want %d", resp.Count, err, counts[winner])
	}
	assertNoKeys(t, reader, keyStaging)
}

func TestStagedCreationThatDiesLeavesNoTopicAndFreesTheName(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	s := openTestStore(t, eps, testTTL)
	reader := openTestStore(t, eps, testTTL)
	stop := watchWhole(t, reader)
	ctx := ctxT(t)

	// A writer claims the name and stages half of 400 partitions, then
	// dies: its lease is never renewed (revoking it is what its lapse
	// does, sooner).
	topic, parts := testTopic("dead", 400, 1)
	g := stageUnderClaim(ctx, t, s, topic, parts[:200])

	// While it is claimed, another creation of the name waits for the
	// claim; the claim's lapse frees it.
	_, small := testTopic("dead", 150, 2)
	again := Topic{Name: "dead", Partitions: 150, ID: [16]byte{9}}
	created := make(chan error, 1)
	go func() { created <- s.CreateTopic(ctx, again, small) }()
	select {
	case err := <-created:
		t.Fatalf("a creation of a claimed name returned at once: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := s.Client().Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, reader, 5*time.Second, "topic dead of 150 partitions", func(s *Snapshot) bool {
		return s.Topics["dead"].ID == again.ID && s.Partitions.Len() == 150
	})
	if p, _ := snap.Partition("dead", 149); !slices.Equal(p.Replicas, []int32{2}) {
		t.Fatalf("dead-149 = %+v, want the new creation's", p)
	}
	// Partitions 150 to 199 of the dead writer are orphans, shown by no
	// reader, and collected.
	waitSnapshot(t, reader, 5*time.Second, "50 orphans", func(s *Snapshot) bool { return s.OrphanPartitions == 50 })
	n, err := s.CollectOrphans(ctx)
	if err != nil || n != 50 {
		t.Fatalf("CollectOrphans = %d, %v; want 50", n, err)
	}
	waitSnapshot(t, reader, 5*time.Second, "no orphans", func(s *Snapshot) bool { return s.OrphanPartitions == 0 })
	resp, err := s.Client().Get(ctx, s.prefix+partitionsPrefix("dead"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 150 {
		t.Fatalf("%v keys under dead's partitions (err %v), want 150", resp.Count, err)
	}
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("a reader saw a partial topic: %v", bad)
	}
}

func TestOrphansOfAnAbsentTopicAreCollectedByTheController(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	s := openTestStore(t, eps, testTTL)
	ctx := ctxT(t)
	topic, parts := testTopic("gone", 300, 1)
	g := stageUnderClaim(ctx, t, s, topic, parts)
	// Claimed: not orphans, and the controller leaves them.
	c := NewController(ControllerConfig{NodeID: 1, Store: s, Logger: testLogger(t), Seed: 1})
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(rctx) })
	defer func() { cancel(); wg.Wait() }()
	if snap := s.Snapshot(); snap.OrphanPartitions != 0 || snap.Partitions.Len() != 0 {
		t.Fatalf("claimed staged partitions: %d orphans, %d shown", snap.OrphanPartitions, snap.Partitions.Len())
	}
	revoked, err := s.Client().Revoke(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Once the snapshot has the claim's end, the 300 are orphans until
	// the controller deletes them.
	if _, err := s.WaitRevision(ctx, revoked.Header.Revision); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, s, 10*time.Second, "orphans collected", func(s *Snapshot) bool { return s.OrphanPartitions == 0 })
	assertNoKeys(t, s, keyPartitions, keyStaging)
}

func TestStagedCreationFencedHalfWayLeavesNothing(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	fenceKey := s.prefix + "test-fence"
	if _, err := s.Client().Put(ctx, fenceKey, "held"); err != nil {
		t.Fatal(err)
	}
	f := fencedStore{EtcdStore: s, fence: []clientv3.Cmp{clientv3.Compare(clientv3.Value(fenceKey), "=", "held")}}
	// The fence goes (a lost registration or controllership) once the
	// first chunk is staged.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	var fenced atomic.Bool
	go func() {
		for wr := range s.Client().Watch(wctx, s.prefix+keyPartitions, clientv3.WithPrefix()) {
			if len(wr.Events) > 0 && fenced.CompareAndSwap(false, true) {
				_, _ = s.Client().Delete(wctx, fenceKey)
				return
			}
		}
	}()
	topic, parts := testTopic("fenced", 10000, 1)
	err := f.CreateTopic(ctx, topic, parts)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("creation that lost its fence: %v, want ErrFenced", err)
	}
	if snap := s.Snapshot(); len(snap.Topics) != 0 || snap.Partitions.Len() != 0 {
		t.Fatalf("a fenced creation shows %d topics, %d partitions", len(snap.Topics), snap.Partitions.Len())
	}
	assertNoKeys(t, s, keyPartitions, keyStaging, keyTopics)
}

// TestHugeTopicsOnTheEmbeddedStore creates topics of 10,000 and 20,000
// partitions, beyond EmbedMaxTxnOps, and deletes them.
func TestHugeTopicsOnTheEmbeddedStore(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 30,000 partitions")
	}
	q := newTestQuorum(t, 1)
	q.startAll()
	// The writer's staging lease lives as long as its session timeout:
	// the 9 s default, not testTTL, lest a loaded machine (-race) miss a
	// renewal in the minute this takes.
	writer := openTestStore(t, q.endpoints(), DefaultSessionTimeout)
	reader := openTestStore(t, q.endpoints(), testTTL)
	stop := watchWhole(t, reader)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range []int32{10000, 20000} {
		name := fmt.Sprintf("huge-%d", n)
		topic, parts := testTopic(name, n, 1, 2, 3)
		start := time.Now()
		if err := writer.CreateTopic(ctx, topic, parts); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d partitions created in %v", n, time.Since(start))
		waitSnapshot(t, reader, 30*time.Second, name, func(s *Snapshot) bool {
			return s.Topics[name].Partitions == n
		})
	}
	if got := reader.Snapshot().Partitions.Len(); got != 30000 {
		t.Fatalf("%d partitions shown, want 30000", got)
	}
	for _, name := range []string{"huge-10000", "huge-20000"} {
		if err := writer.DeleteTopic(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	waitSnapshot(t, reader, 30*time.Second, "both deleted", func(s *Snapshot) bool {
		return len(s.Topics) == 0 && s.Partitions.Len() == 0
	})
	if bad := stop(); len(bad) > 0 {
		t.Fatalf("a reader saw a partial topic: %v", bad[:min(len(bad), 5)])
	}
}

// TestACLRequestsBeyondMaxTxnOpsOnDefaultEtcd: one CreateACLs and one
// DeleteACLs of 300 bindings on an etcd of 128 operations per
// transaction store and remove every binding (each binding is its own
// unit, as in Kafka's per-binding results; the request is split).
func TestACLRequestsBeyondMaxTxnOpsOnDefaultEtcd(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	s := openTestStore(t, eps, testTTL)
	ctx := ctxT(t)
	var acls []ACL
	for i := range 300 {
		acls = append(acls, testACL("t", fmt.Sprintf("User:u%d", i), 3))
	}
	if err := s.CreateACLs(ctx, acls); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Snapshot().ACLs); got != 300 {
		t.Fatalf("%d bindings stored, want 300", got)
	}
	deleted, err := s.DeleteACLs(ctx, func(ACL) bool { return true })
	if err != nil || len(deleted) != 300 {
		t.Fatalf("DeleteACLs: %d reported, %v; want 300", len(deleted), err)
	}
	if got := len(s.Snapshot().ACLs); got != 0 {
		t.Fatalf("%d bindings left", got)
	}
}

// TestSnapshotShowsPartitionsOnlyWhileTheirTopicCountsThem drives the
// watcher's apply with events in the orders a staged creation, a growth,
// an abandoned claim and a deletion produce, and checks what each
// Snapshot shows, and that an earlier Snapshot is never changed.
func TestSnapshotShowsPartitionsOnlyWhileTheirTopicCountsThem(t *testing.T) {
	s := &EtcdStore{prefix: "/r/c/", clusterID: "c", log: testLogger(t), candidates: map[string]candidate{},
		staged: map[string]map[int32]PartitionState{}, staging: map[string]bool{}}
	snap := &Snapshot{Controller: -1, Brokers: map[int32]Broker{}, Topics: map[string]Topic{},
		Partitions: PartitionMap{}, Credentials: map[CredentialKey]ScramCredential{}, ACLs: map[string]ACL{}}
	rev := int64(1)
	put := func(key, val string) *clientv3.Event {
		rev++
		return &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte(s.prefix + key), Value: []byte(val), ModRevision: rev, CreateRevision: rev}}
	}
	del := func(key string) *clientv3.Event {
		rev++
		return &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte(s.prefix + key), ModRevision: rev}}
	}
	topic, parts := testTopic("t", 3, 1)
	partPuts := func(from, to int) []*clientv3.Event {
		var evs []*clientv3.Event
		for _, p := range parts[from:to] {
			evs = append(evs, put(partitionKey("t", p.Partition), encodePartition(p)))
		}
		return evs
	}
	withCount := func(n int32) string {
		t := topic
		t.Partitions = n
		return encodeTopic(t)
	}
	steps := []struct {
		what          string
		evs           []*clientv3.Event
		shown, orphan int
	}{
		{"claimed", []*clientv3.Event{put(stagingKey("t"), encodeStaging(topic.ID, 0, 2))}, 0, 0},
		{"staged under the claim", partPuts(0, 2), 0, 0},
		{"committed", []*clientv3.Event{put(topicKey("t"), withCount(2)), del(stagingKey("t"))}, 2, 0},
		{"a growth staged, its claim gone", partPuts(2, 3), 2, 1},
		{"grown", []*clientv3.Event{put(topicKey("t"), withCount(3))}, 3, 0},
		{"topic key deleted first", []*clientv3.Event{del(topicKey("t"))}, 0, 3},
		{"then its partitions", []*clientv3.Event{del(partitionKey("t", 0)), del(partitionKey("t", 1)), del(partitionKey("t", 2))}, 0, 0},
	}
	for _, st := range steps {
		before := snap
		keep := before.Partitions.Len()
		snap = s.apply(snap, rev, st.evs)
		if snap.Partitions.Len() != st.shown || snap.OrphanPartitions != st.orphan {
			t.Fatalf("%s: %d partitions shown, %d orphans; want %d, %d", st.what, snap.Partitions.Len(), snap.OrphanPartitions, st.shown, st.orphan)
		}
		if before.Partitions.Len() != keep {
			t.Fatalf("%s: the previous snapshot changed: %d partitions, had %d", st.what, before.Partitions.Len(), keep)
		}
		for tp := range snap.Partitions.All() {
			if tp.Partition >= snap.Topics[tp.Topic].Partitions {
				t.Fatalf("%s: %v shown past its topic's count %d", st.what, tp, snap.Topics[tp.Topic].Partitions)
			}
		}
	}
}

// TestImportBeyondMaxTxnOpsIsRefusedWhole: an import stays one
// transaction (a cluster never holds part of one); beyond the etcd's
// max-txn-ops it is refused with the reason, and stores nothing.
func TestImportBeyondMaxTxnOpsIsRefusedWhole(t *testing.T) {
	eps := startDefaultLimitEtcd(t)
	s := openTestStore(t, eps, testTTL)
	ctx := ctxT(t)
	var acls []ACL
	for i := range 200 {
		acls = append(acls, testACL("t", fmt.Sprintf("User:u%d", i), 3))
	}
	ok, err := s.ImportACLs(ctx, acls)
	if ok || err == nil || !strings.Contains(err.Error(), "max-txn-ops") {
		t.Fatalf("ImportACLs of 200 = %v, %v; want a refusal naming max-txn-ops", ok, err)
	}
	assertNoKeys(t, s, keyACLs, keyAuthImported)
	if ok, err := s.ImportACLs(ctx, acls[:100]); !ok || err != nil {
		t.Fatalf("ImportACLs of 100 = %v, %v; want it imported", ok, err)
	}
}

// stageUnderClaim claims topic's name under a new lease and stages parts
// under that claim, as a staged creation does before its commit; the
// caller ends the lease to play the writer's death.
func stageUnderClaim(ctx context.Context, t *testing.T, s *EtcdStore, topic Topic, parts []PartitionState) *clientv3.LeaseGrantResponse {
	t.Helper()
	g, err := s.Client().Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	claimRev, err := s.claimTopic(ctx, nil, topic, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	guard := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.prefix+stagingKey(topic.Name)), "=", claimRev)}
	if err := s.putChunks(ctx, nil, guard, parts); err != nil {
		t.Fatal(err)
	}
	return g
}
