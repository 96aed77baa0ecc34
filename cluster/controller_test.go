package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait for the controller to converge; it is a
// hang guard, not a timing assertion.
const waitLimit = 20 * time.Second

// testController is a Controller whose logs a test can read.
type testController struct {
	*Controller
	logs *lockedBuffer
}

func newTestController(m *memStore, node int32, policy Policy) testController {
	return newTestControllerAt(m, node, policy, slog.LevelInfo)
}

// newTestControllerAt is newTestController logging at level and above.
func newTestControllerAt(m *memStore, node int32, policy Policy, level slog.Level) testController {
	logs := &lockedBuffer{}
	c := NewController(ControllerConfig{NodeID: node, Store: m, Policy: policy,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})), Seed: 1})
	return testController{c, logs}
}

// run runs c as the active controller until the test ends, and returns
// once it has read its first snapshot (so later changes reach it as
// changes). At the end it checks Run returned nil once its context was
// cancelled.
func run(t *testing.T, c testController) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context ended")
		}
	})
	waitLog(t, c, "controller active")
}

// waitFor waits until cond holds for the store's snapshot and returns it.
func waitFor(t *testing.T, m *memStore, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		ch := m.Changed()
		s := m.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("never %s; last snapshot:\n%s", what, dump(s))
		}
	}
}

func dump(s *Snapshot) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "revision %d, brokers %v\n", s.Revision, slices.Sorted(func(yield func(int32) bool) {
		for n := range s.Brokers {
			if !yield(n) {
				return
			}
		}
	}))
	var tps []TopicPartition
	for tp := range s.Partitions.All() {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			return map[bool]int{true: -1, false: 1}[a.Topic < b.Topic]
		}
		return int(a.Partition - b.Partition)
	})
	for _, tp := range tps {
		p, _ := s.Partitions.Get(tp)
		fmt.Fprintf(&b, "  %s-%d replicas %v isr %v leader %d epochs %d/%d\n", p.Topic, p.Partition, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch)
	}
	return b.String()
}

// settled is a snapshot the controller has nothing left to do in.
func settled(policy Policy) func(*Snapshot) bool {
	return func(s *Snapshot) bool { return len(Reconcile(s, policy)) == 0 }
}

func noViolations(t *testing.T, m *memStore) {
	t.Helper()
	if v, _, _ := m.stats(); len(v) > 0 {
		t.Fatalf("invariants broken by writes:\n%v", v)
	}
}

// cluster3 is a store with brokers 1..n registered.
func clusterOf(n int) *memStore {
	m := newMemStore()
	for i := int32(1); i <= int32(n); i++ {
		m.register(i, "")
	}
	return m
}

func TestControllerReconcilesEverythingOnStart(t *testing.T) {
	m := clusterOf(3)
	// What a controller that died mid-way could leave: broker 4 gone but
	// still leading and in ISRs, an offline partition whose ISR member is
	// back.
	m.put(Topic{Name: "t", Partitions: 3},
		PartitionState{Topic: "t", Partition: 0, Replicas: ids(4, 1, 2), ISR: ids(4, 1, 2), Leader: 4, LeaderEpoch: 3, PartitionEpoch: 9},
		PartitionState{Topic: "t", Partition: 1, Replicas: ids(1, 4, 2), ISR: ids(1, 4), Leader: 1, LeaderEpoch: 2, PartitionEpoch: 4},
		PartitionState{Topic: "t", Partition: 2, Replicas: ids(4, 3, 1), ISR: ids(3), Leader: NoLeader, LeaderEpoch: 7, PartitionEpoch: 8},
	)
	run(t, newTestController(m, 1, Policy{}))
	s := waitFor(t, m, "reconciled", settled(Policy{}))
	for _, want := range []PartitionState{
		{Topic: "t", Partition: 0, Replicas: ids(4, 1, 2), ISR: ids(1, 2), Leader: 1, LeaderEpoch: 4, PartitionEpoch: 10},
		{Topic: "t", Partition: 1, Replicas: ids(1, 4, 2), ISR: ids(1), Leader: 1, LeaderEpoch: 2, PartitionEpoch: 5},
		{Topic: "t", Partition: 2, Replicas: ids(4, 3, 1), ISR: ids(3), Leader: 3, LeaderEpoch: 8, PartitionEpoch: 9},
	} {
		got, _ := s.Partition("t", want.Partition)
		want.Version = got.Version
		sameStates(t, []PartitionState{got}, []PartitionState{want})
	}
	noViolations(t, m)
}

func TestControllerFailsOverFencedLeadersAndKeepsISRLessPartitionsOffline(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	if _, err := c.CreateTopic(context.Background(), "t", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	before := m.Snapshot()

	m.fence(1)
	s := waitFor(t, m, "broker 1 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader == 1 || p.InISR(1) {
				return false
			}
		}
		return true
	})
	for tp, p := range s.Partitions.All() {
		old, _ := before.Partitions.Get(tp)
		wantLE := old.LeaderEpoch
		if old.Leader == 1 {
			wantLE++
			if want := old.Replicas[slices.IndexFunc(old.Replicas, func(n int32) bool { return n != 1 })]; p.Leader != want {
				t.Errorf("%v: leader %d, want %d (first other replica)", tp, p.Leader, want)
			}
		} else if p.Leader != old.Leader {
			t.Errorf("%v: leader moved %d -> %d though it was live", tp, old.Leader, p.Leader)
		}
		if p.LeaderEpoch != wantLE || p.PartitionEpoch != old.PartitionEpoch+1 {
			t.Errorf("%v: epochs %d/%d, from %d/%d", tp, p.LeaderEpoch, p.PartitionEpoch, old.LeaderEpoch, old.PartitionEpoch)
		}
	}

	m.fence(2)
	waitFor(t, m, "broker 2 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.InISR(2) {
				return false
			}
		}
		return true
	})
	m.fence(3)
	waitFor(t, m, "every partition offline with broker 3 its ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader != NoLeader || !slices.Equal(p.ISR, ids(3)) {
				return false
			}
		}
		return true
	})

	// A replica outside the ISR returning changes nothing (unclean off);
	// the last ISR member returning leads every partition again.
	m.register(2, "")
	m.register(3, "")
	s = waitFor(t, m, "broker 3 leading everything", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader != 3 {
				return false
			}
		}
		return true
	})
	for tp, p := range s.Partitions.All() {
		if !slices.Equal(p.ISR, ids(3)) {
			t.Errorf("%v: ISR %v, want [3] (only the leader expands it)", tp, p.ISR)
		}
	}
	noViolations(t, m)
}

func TestControllerElectsOutsideTheISRWithUncleanElection(t *testing.T) {
	m := clusterOf(2)
	c := newTestController(m, 1, Policy{})
	if _, err := c.CreateTopic(context.Background(), "t", 2, 2, map[string]string{UncleanLeaderElectionConfig: "true"}); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	m.fence(2)
	m.fence(1)
	waitFor(t, m, "offline", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader != NoLeader {
				return false
			}
		}
		return true
	})
	m.register(2, "") // broker 1 (the last ISR member) stays away
	waitFor(t, m, "broker 2 leading alone", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader != 2 || !slices.Equal(p.ISR, ids(2)) {
				return false
			}
		}
		return true
	})
	noViolations(t, m)
}

func TestControllerFencesAReRegisteredBrokersOldIncarnation(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	if _, err := c.CreateTopic(context.Background(), "t", 3, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	waitFor(t, m, "settled", settled(Policy{}))
	m.register(2, "") // broker 2 restarted: same ID, new broker epoch
	s := waitFor(t, m, "broker 2 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.InISR(2) {
				return false
			}
		}
		return true
	})
	for tp, p := range s.Partitions.All() {
		if p.Leader == 2 || p.Leader == NoLeader {
			t.Errorf("%v: leader %d after broker 2 restarted", tp, p.Leader)
		}
	}
	noViolations(t, m)
}

func TestControllerDecidesAgainAfterLosingACompareAndSwap(t *testing.T) {
	m := clusterOf(3)
	m.put(Topic{Name: "t", Partitions: 1},
		PartitionState{Topic: "t", Partition: 0, Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1})
	// Between the controller's decision (fence 1: leader 2) and its write,
	// leader 1's ISR shrink to [1,3] lands: the decision must be redone,
	// electing 3.
	var once sync.Once
	m.hook = func() {
		once.Do(func() {
			s := m.snap
			p, _ := s.Partitions.Get(TopicPartition{"t", 0})
			next := p.Clone()
			next.ISR = ids(1, 3)
			next.PartitionEpoch++
			s2 := m.next()
			next.Version = s2.Revision
			s2.Partitions = s2.Partitions.With(next)
			m.publish(s2)
		})
	}
	m.fence(1)
	run(t, newTestController(m, 2, Policy{}))
	s := waitFor(t, m, "settled", settled(Policy{}))
	p, _ := s.Partition("t", 0)
	want := PartitionState{Topic: "t", Partition: 0, Replicas: ids(1, 2, 3), ISR: ids(3), Leader: 3, LeaderEpoch: 1, PartitionEpoch: 2}
	sameStates(t, []PartitionState{p}, []PartitionState{want})
	if _, _, conflicts := m.stats(); conflicts == 0 {
		t.Fatal("the injected write did not make the controller's CAS fail")
	}
	noViolations(t, m)
}

func TestControllerUndoesAnISRExpansionDecidedBeforeAFencing(t *testing.T) {
	m := clusterOf(3)
	m.put(Topic{Name: "t", Partitions: 1},
		PartitionState{Topic: "t", Partition: 0, Replicas: ids(1, 2, 3), ISR: ids(1, 2), Leader: 1})
	c := newTestController(m, 2, Policy{})
	run(t, c)
	stale := m.Snapshot() // leader 1's view: broker 3 live
	m.fence(3)
	waitLog(t, c, "broker fenced")
	// The fencing touched no partition, so the expansion's CAS succeeds.
	u, _, err := AlterISR(stale, ISRChange{Topic: "t", Leader: 1, NewISR: ids(1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePartitions(context.Background(), []PartitionUpdate{u}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "broker 3 out of the ISR again", func(s *Snapshot) bool {
		p, _ := s.Partition("t", 0)
		return slices.Equal(p.ISR, ids(1, 2))
	})
	noViolations(t, m)
}

// waitLog waits until c has logged msg.
func waitLog(t *testing.T, c testController, msg string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !slices.ContainsFunc(c.logs.records(t), func(r map[string]any) bool { return r["msg"] == msg }) {
		if time.Now().After(deadline) {
			t.Fatalf("never logged %q", msg)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestControllerSplitsLargeFailoversIntoBoundedTransactions(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 2, Policy{})
	if _, err := c.CreateTopic(context.Background(), "t", 3*MaxUpdatesPerTxn+5, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	m.fence(1)
	waitFor(t, m, "broker 1 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.InISR(1) || p.Leader == 1 {
				return false
			}
		}
		return true
	})
	m.mu.Lock()
	largest := m.largestTxn
	m.mu.Unlock()
	if largest > MaxUpdatesPerTxn {
		t.Fatalf("a transaction of %d updates, limit %d", largest, MaxUpdatesPerTxn)
	}
	noViolations(t, m)
}

// slowStore is a memStore whose partition writes each take delay before
// they apply, and which records how many were in flight at most.
type slowStore struct {
	*memStore
	delay          time.Duration
	inFlight, most atomic.Int32
}

func (s *slowStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		most := s.most.Load()
		if n <= most || s.most.CompareAndSwap(most, n) {
			break
		}
	}
	time.Sleep(s.delay)
	return s.memStore.UpdatePartitions(ctx, updates)
}

// TestControllerWritesAFailoverTransactionsConcurrently: the elections
// after a fencing go out in several transactions at once, not each
// waiting for the one before (with 10,000 partitions the last ones waited
// seconds for the others), and every one is stored.
func TestControllerWritesAFailoverTransactionsConcurrently(t *testing.T) {
	m := clusterOf(3)
	ss := &slowStore{memStore: m, delay: 20 * time.Millisecond}
	logs := &lockedBuffer{}
	c := testController{NewController(ControllerConfig{NodeID: 2, Store: ss,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Seed: 1}), logs}
	if _, err := c.CreateTopic(context.Background(), "t", 4*MaxUpdatesPerTxn, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	m.fence(1)
	waitFor(t, m, "broker 1 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.InISR(1) || p.Leader == 1 {
				return false
			}
		}
		return true
	})
	if most := ss.most.Load(); most < 2 {
		t.Fatalf("at most %d transaction in flight, want several", most)
	}
	noViolations(t, m)
}

// raceStore is a memStore on which the first write of one partition
// loses its compare-and-swap (a concurrent writer changed it: a leader's
// ISR change, a topic deleted), and whose other writes, as etcd's do,
// commit once sent even if their writer stops waiting: each waits for
// the lost one, then a moment for its writer to give up, then applies
// and reports the writer's context error, if any.
type raceStore struct {
	*memStore
	raced      TopicPartition
	once       sync.Once
	conflicted chan struct{}
}

func (s *raceStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	if slices.ContainsFunc(updates, func(u PartitionUpdate) bool { return u.Old.TP() == s.raced }) {
		lost := false
		s.once.Do(func() { lost = true })
		if lost {
			s.memStore.mu.Lock()
			next := s.memStore.next()
			p, _ := next.Partitions.Get(s.raced)
			p = p.Clone()
			p.Version = next.Revision // rewritten as it was: only its version moves
			next.Partitions = next.Partitions.With(p)
			s.memStore.publish(next)
			s.memStore.mu.Unlock()
			defer close(s.conflicted)
			return s.memStore.UpdatePartitions(ctx, updates)
		}
		return s.memStore.UpdatePartitions(ctx, updates)
	}
	select {
	case <-s.conflicted:
	case <-time.After(waitLimit):
	}
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
	if err := s.memStore.UpdatePartitions(context.Background(), updates); err != nil {
		return err
	}
	return ctx.Err()
}

// TestControllerLosingOneCompareKeepsTheOtherTransactionsOfAFailover: in
// a failover of several transactions, one loses its compare-and-swap.
// The others, in flight, are not called off (an etcd write once sent
// commits anyway): each is logged and its elections counted, and only
// the lost one's partitions are decided again, so every partition moves
// and every election is logged and counted once.
func TestControllerLosingOneCompareKeepsTheOtherTransactionsOfAFailover(t *testing.T) {
	m := clusterOf(3)
	rs := &raceStore{memStore: m, conflicted: make(chan struct{})}
	logs := &lockedBuffer{}
	var stats ElectionStats
	// Each election's own line is at Debug (one Info line a batch).
	c := testController{NewController(ControllerConfig{NodeID: 2, Store: rs, Elections: &stats,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Seed: 1}), logs}
	if _, err := c.CreateTopic(context.Background(), "t", 6*MaxUpdatesPerTxn, 3, nil); err != nil {
		t.Fatal(err)
	}
	led := 0
	for _, p := range m.Snapshot().Partitions.All() {
		if p.Leader == 1 {
			led++
			if rs.raced.Topic == "" || p.Partition < rs.raced.Partition {
				rs.raced = p.TP()
			}
		}
	}
	if led <= MaxUpdatesPerTxn {
		t.Fatalf("broker 1 leads %d partitions: a failover of one transaction", led)
	}
	run(t, c)
	m.fence(1)
	waitFor(t, m, "broker 1 out of every ISR", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.InISR(1) || p.Leader == 1 {
				return false
			}
		}
		return true
	})
	if _, _, conflicts := m.stats(); conflicts == 0 {
		t.Fatal("no write lost its compare-and-swap")
	}
	// A chunk is logged and counted just after the store shows it.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(time.Millisecond) {
		logged := 0
		for _, r := range logs.records(t) {
			if r["msg"] == "partition leader changed" {
				logged++
			}
		}
		clean, _ := stats.Counts()
		if clean == int64(led) && logged == led {
			break
		}
		if clean > int64(led) || logged > led || time.Now().After(deadline) {
			t.Fatalf("%d partitions elected a new leader; %d elections counted, %d logged", led, clean, logged)
		}
	}
	noViolations(t, m)
}

// TestControllerWritesElectionsBeforeISRChanges: a fenced broker in
// every ISR gives some partitions a new leader and only shrinks the
// others' ISRs; the controller writes the elections first, so that in
// transactions of MaxUpdatesPerTxn the partitions clients wait for do not
// wait behind the shrinks.
func TestControllerWritesElectionsBeforeISRChanges(t *testing.T) {
	var parts []PartitionState
	for p := range int32(30) {
		parts = append(parts, part(p, ids(1, 2, 3), ids(1, 2, 3), 1+p%3))
	}
	updates := electionsFirst(Reconcile(snap(ids(2, 3), nil, parts...), Policy{}))
	if len(updates) != 30 {
		t.Fatalf("%d updates, want one for each of 30 partitions", len(updates))
	}
	elections, shrinks := 0, 0
	for i, u := range updates {
		if u.New.Leader != u.Old.Leader {
			if shrinks > 0 {
				t.Fatalf("update %d elects %s-%d after %d ISR-only changes", i, u.New.Topic, u.New.Partition, shrinks)
			}
			elections++
			continue
		}
		shrinks++
	}
	if elections != 10 {
		t.Fatalf("%d elections, want 10 (the partitions broker 1 led)", elections)
	}
}

func TestCreateTopicPlacesOverLiveBrokersOnly(t *testing.T) {
	m := clusterOf(4)
	m.fence(4)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	topic, err := c.CreateTopic(ctx, "t", 6, 3, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if topic.ID == ([16]byte{}) || topic.Partitions != 6 || topic.Configs["retention.ms"] != "1000" {
		t.Fatalf("topic %+v", topic)
	}
	s := m.Snapshot()
	if s.Topics["t"].ID != topic.ID {
		t.Fatal("stored topic differs from the returned one")
	}
	leaders := map[int32]int{}
	for i := range int32(6) {
		p, ok := s.Partition("t", i)
		if !ok {
			t.Fatalf("partition %d missing", i)
		}
		if len(p.Replicas) != 3 || p.IsReplica(4) || !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] ||
			p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
			t.Fatalf("partition %d: %+v", i, p)
		}
		leaders[p.Leader]++
	}
	if leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Fatalf("leaders per broker %v", leaders)
	}
	if _, err := c.CreateTopic(ctx, "t", 1, 1, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("taken name: %v", err)
	}
	if _, err := c.CreateTopic(ctx, "u", 1, 4, nil); !errors.Is(err, ErrNotEnoughBrokers) {
		t.Fatalf("RF 4 with 3 live brokers: %v", err)
	}
	if _, ok := m.Snapshot().Topics["u"]; ok {
		t.Fatal("a refused topic was stored")
	}
}

func TestAddPartitionsGrowsATopic(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "t", 3, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPartitions(ctx, "t", 6); err != nil {
		t.Fatal(err)
	}
	s := m.Snapshot()
	if s.Topics["t"].Partitions != 6 {
		t.Fatalf("topic has %d partitions", s.Topics["t"].Partitions)
	}
	leaders := map[int32]int{}
	for i := range int32(6) {
		p, ok := s.Partition("t", i)
		if !ok || len(p.Replicas) != 2 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %d: %+v", i, p)
		}
		leaders[p.Leader]++
	}
	if leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Fatalf("leaders per broker %v", leaders)
	}
	if err := c.AddPartitions(ctx, "t", 6); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("no growth: %v", err)
	}
	if err := c.AddPartitions(ctx, "nope", 6); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestManualAssignmentsAreStoredAsGivenAndCheckedAgainstLiveBrokers(t *testing.T) {
	m := clusterOf(3)
	m.fence(3)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	if _, err := c.CreateTopicAssigned(ctx, "t", [][]int32{{2, 1}, {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	s := m.Snapshot()
	if s.Topics["t"].Partitions != 2 {
		t.Fatalf("topic has %d partitions", s.Topics["t"].Partitions)
	}
	for i, want := range [][]int32{{2, 1}, {1, 2}} {
		p, _ := s.Partition("t", int32(i))
		if !slices.Equal(p.Replicas, want) || !slices.Equal(p.ISR, want) || p.Leader != want[0] || p.LeaderEpoch != 0 {
			t.Fatalf("partition %d: %+v, want replicas %v led by the first", i, p, want)
		}
	}
	for _, tc := range []struct {
		name       string
		assignment [][]int32
	}{
		{"fenced broker", [][]int32{{1, 3}}},
		{"unknown broker", [][]int32{{7}}},
		{"uneven", [][]int32{{1, 2}, {1}}},
		{"none", nil},
	} {
		if _, err := c.CreateTopicAssigned(ctx, "u", tc.assignment, nil); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, ok := m.Snapshot().Topics["u"]; ok {
		t.Fatal("a refused topic was stored")
	}
	if _, err := c.CreateTopicAssigned(ctx, "t", [][]int32{{1}}, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("taken name: %v", err)
	}

	if err := c.AddPartitionsAssigned(ctx, "t", 4, [][]int32{{1, 2}, {2, 1}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Snapshot().Partition("t", 3); !slices.Equal(p.Replicas, ids(2, 1)) || p.Leader != 2 {
		t.Fatalf("added partition 3: %+v", p)
	}
	for _, tc := range []struct {
		name       string
		total      int32
		assignment [][]int32
	}{
		{"fewer lists than partitions", 6, [][]int32{{1, 2}}},
		{"more lists than partitions", 5, [][]int32{{1, 2}, {2, 1}}},
		{"not the topic's replication factor", 5, [][]int32{{1}}},
		{"fenced broker", 5, [][]int32{{3, 1}}},
		{"broker twice", 5, [][]int32{{1, 1}}},
	} {
		if err := c.AddPartitionsAssigned(ctx, "t", tc.total, tc.assignment); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if n := m.Snapshot().Topics["t"].Partitions; n != 4 {
		t.Fatalf("refused additions left %d partitions", n)
	}
	noViolations(t, m)
}

// TestElectUncleanLeadersOnRequestBumpsTheEpochAndIsCounted: an offline
// partition takes a live replica outside its ISR as sole leader at a
// higher leader epoch (the fencing token), written as a compare-and-swap
// and logged at Warn and counted; a partition with a live leader is
// ELECTION_NOT_NEEDED, one without a live replica
// ELIGIBLE_LEADERS_NOT_AVAILABLE.
func TestElectUncleanLeadersOnRequestBumpsTheEpochAndIsCounted(t *testing.T) {
	m := clusterOf(3)
	logs := &lockedBuffer{}
	var stats ElectionStats
	c := testController{NewController(ControllerConfig{NodeID: 1, Store: m, Policy: Policy{},
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Seed: 1, Elections: &stats}), logs}
	ctx := context.Background()
	if _, err := c.CreateTopicAssigned(ctx, "t", [][]int32{{1, 2}, {2, 3}}, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	// Broker 2 falls out of partition 0's ISR, then its leader 1 dies:
	// the ISR is gone and unclean election is off, so it stays offline.
	p0, _ := m.Snapshot().Partition("t", 0)
	if _, err := c.AlterISR(ctx, ISRChange{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: p0.LeaderEpoch,
		PartitionEpoch: p0.PartitionEpoch, NewISR: ids(1)}); err != nil {
		t.Fatal(err)
	}
	m.fence(1)
	before := waitFor(t, m, "partition 0 offline", func(s *Snapshot) bool {
		p, _ := s.Partition("t", 0)
		return p.Leader == NoLeader
	})
	old, _ := before.Partition("t", 0)
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	errs, err := c.ElectUncleanLeaders(ctx, []TopicPartition{tp0, tp1})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !errors.Is(errs[tp1], ErrElectionNotNeeded) {
		t.Fatalf("errors %v, want only partition 1's ELECTION_NOT_NEEDED", errs)
	}
	p, _ := m.Snapshot().Partition("t", 0)
	if p.Leader != 2 || !slices.Equal(p.ISR, ids(2)) || p.LeaderEpoch != old.LeaderEpoch+1 {
		t.Fatalf("after the unclean election: %+v (before %+v)", p, old)
	}
	if _, unclean := stats.Counts(); unclean != 1 {
		t.Fatalf("unclean elections counted %d, want 1", unclean)
	}
	waitLog(t, c, "UNCLEAN leader election: the new leader was not in sync; records only the old ISR held are lost")
	// With no assigned replica live, no leader can be elected.
	m.fence(3)
	m.fence(2)
	waitFor(t, m, "partition 0 offline again", func(s *Snapshot) bool {
		p, _ := s.Partition("t", 0)
		return p.Leader == NoLeader
	})
	errs, err = c.ElectUncleanLeaders(ctx, []TopicPartition{tp0})
	if err != nil || !errors.Is(errs[tp0], ErrEligibleLeadersNotAvailable) {
		t.Fatalf("no live replica: %v %v", errs, err)
	}
	noViolations(t, m)
}

func TestControlledShutdownLeavesTheBrokerLeadingOnlyWhatNoOneElseCan(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "t", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	m.put(Topic{Name: "solo", Partitions: 1}, PartitionState{Topic: "solo", Replicas: ids(2), ISR: ids(2), Leader: 2})
	run(t, c)
	remaining, err := c.ControlledShutdown(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if remaining != 1 {
		t.Fatalf("remaining %d, want 1 (solo-0)", remaining)
	}
	s := m.Snapshot()
	for tp, p := range s.Partitions.All() {
		if tp.Topic == "solo" {
			if p.Leader != 2 {
				t.Fatalf("solo-0 lost its only possible leader: %+v", p)
			}
			continue
		}
		if p.Leader == 2 || p.InISR(2) {
			t.Fatalf("%v still has broker 2: %+v", tp, p)
		}
	}
	// The active controller must not hand anything back while 2 is
	// still registered.
	if u := Reconcile(s, Policy{}); len(u) != 0 {
		t.Fatalf("the controller would undo the shutdown: %+v", u)
	}
	// Once it stops, its last partition goes offline.
	m.fence(2)
	waitFor(t, m, "solo-0 offline", func(s *Snapshot) bool {
		p, _ := s.Partition("solo", 0)
		return p.Leader == NoLeader && slices.Equal(p.ISR, ids(2))
	})
	noViolations(t, m)
}

func TestElectPreferredLeadersRestoresLeadershipAfterFailover(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "t", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	m.fence(1)
	waitFor(t, m, "broker 1 leading nothing", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader == 1 {
				return false
			}
		}
		return true
	})
	m.register(1, "")
	// Broker 1 is not preferred back while out of sync.
	errs, err := c.ElectPreferredLeaders(ctx, []TopicPartition{{"t", 0}})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Snapshot().Partition("t", 0); p.Replicas[0] == 1 && !errors.Is(errs[TopicPartition{"t", 0}], ErrPreferredLeaderNotAvailable) {
		t.Fatalf("out-of-sync preferred leader: %v", errs)
	}
	// Each leader takes broker 1 back into its ISR.
	for _, p := range m.Snapshot().Partitions.All() {
		if p.InISR(1) {
			continue
		}
		req := ISRChange{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			PartitionEpoch: p.PartitionEpoch, NewISR: append(slices.Clone(p.ISR), 1)}
		if _, err := c.AlterISR(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	errs, err = c.ElectPreferredLeaders(ctx, nil)
	if err != nil || len(errs) != 0 {
		t.Fatalf("elect all: %v %v", errs, err)
	}
	for tp, p := range m.Snapshot().Partitions.All() {
		if p.Leader != p.Replicas[0] {
			t.Fatalf("%v: leader %d, preferred %d", tp, p.Leader, p.Replicas[0])
		}
	}
	errs, _ = c.ElectPreferredLeaders(ctx, []TopicPartition{{"t", 0}})
	if !errors.Is(errs[TopicPartition{"t", 0}], ErrElectionNotNeeded) {
		t.Fatalf("second election: %v", errs)
	}
	noViolations(t, m)
}

func TestAlterISRAcceptsOnlyTheFirstOfTwoRequestsAtOneEpoch(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	ctx := context.Background()
	m.put(Topic{Name: "t", Partitions: 1}, PartitionState{Topic: "t", Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1})
	req := ISRChange{Topic: "t", Leader: 1, NewISR: ids(1, 2)}
	got, err := c.AlterISR(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ISR, ids(1, 2)) || got.PartitionEpoch != 1 || got.LeaderEpoch != 0 {
		t.Fatalf("after shrink: %+v", got)
	}
	req.NewISR = ids(1)
	if _, err := c.AlterISR(ctx, req); !errors.Is(err, ErrInvalidUpdateVersion) {
		t.Fatalf("stale partition epoch: %v", err)
	}
	// A leader replaced meanwhile is fenced by its epoch.
	m.fence(1)
	run(t, c)
	waitFor(t, m, "new leader", func(s *Snapshot) bool { p, _ := s.Partition("t", 0); return p.Leader == 2 })
	m.register(1, "")
	if _, err := c.AlterISR(ctx, ISRChange{Topic: "t", Leader: 1, PartitionEpoch: 1, NewISR: ids(1)}); !errors.Is(err, ErrFenced) {
		t.Fatalf("old leader: %v", err)
	}
	noViolations(t, m)
}

func TestAlterISRAheadOfTheSnapshotWaitsForItToCatchUp(t *testing.T) {
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	m.put(Topic{Name: "t", Partitions: 1}, PartitionState{Topic: "t", Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1})
	// The leader has seen partition epoch 1; this broker's snapshot has not.
	req := ISRChange{Topic: "t", Leader: 1, PartitionEpoch: 1, NewISR: ids(1, 2)}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.AlterISR(short, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request ahead of a snapshot that never catches up: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.AlterISR(context.Background(), req)
		done <- err
	}()
	m.put(Topic{Name: "t", Partitions: 1}, PartitionState{Topic: "t", Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, PartitionEpoch: 1})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Snapshot().Partition("t", 0); !slices.Equal(p.ISR, ids(1, 2)) || p.PartitionEpoch != 2 {
		t.Fatalf("after catching up: %+v", p)
	}
}

// lockedBuffer is a log sink several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestControllerLogsEveryLeadershipAndISRChangeAtDebug(t *testing.T) {
	m := clusterOf(3)
	c := newTestControllerAt(m, 1, Policy{}, slog.LevelDebug)
	m.put(Topic{Name: "t", Partitions: 2},
		PartitionState{Topic: "t", Partition: 0, Replicas: ids(3, 1), ISR: ids(3, 1), Leader: 3, LeaderEpoch: 4, PartitionEpoch: 6},
		PartitionState{Topic: "t", Partition: 1, Replicas: ids(1, 3), ISR: ids(1, 3), Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2},
	)
	run(t, c)
	m.fence(3)
	waitFor(t, m, "settled", func(s *Snapshot) bool {
		p, _ := s.Partition("t", 1)
		return settled(Policy{})(s) && !p.InISR(3)
	})
	want := map[string]map[string]any{
		"partition leader changed": {"topic": "t", "partition": 0.0, "old_leader": 3.0, "leader": 1.0, "leader_epoch": 5.0,
			"partition_epoch": 7.0, "old_isr": []any{3.0, 1.0}, "isr": []any{1.0}, "node": 1.0},
		"partition ISR changed": {"topic": "t", "partition": 1.0, "old_leader": 1.0, "leader": 1.0, "leader_epoch": 2.0,
			"partition_epoch": 3.0, "old_isr": []any{1.0, 3.0}, "isr": []any{1.0}},
		"broker fenced": {"broker": 3.0},
	}
	// The store shows a change before its writer logs it: wait for the
	// records too.
	deadline := time.Now().Add(waitLimit)
	for {
		found := map[string]bool{}
		var mismatch []string
		for _, r := range c.logs.records(t) {
			msg, _ := r["msg"].(string)
			w, ok := want[msg]
			if !ok {
				continue
			}
			found[msg] = true
			for k, v := range w {
				if fmt.Sprint(r[k]) != fmt.Sprint(v) {
					mismatch = append(mismatch, fmt.Sprintf("%q: %s=%v, want %v (record %v)", msg, k, r[k], v, r))
				}
			}
		}
		if len(mismatch) > 0 {
			t.Fatal(mismatch)
		}
		if len(found) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log records found %v of %v", found, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestControllerConvergesUnderConcurrentConflictingWriters runs two
// controllers at once (an old one not yet stopped and its successor),
// leaders shrinking and expanding ISRs (some from a stale view of the
// brokers), preferred elections and controlled shutdowns, while brokers
// are fenced and come back. Every write must keep the partition
// invariants, and once the brokers are all back the metadata must settle
// with every partition led.
func TestControllerConvergesUnderConcurrentConflictingWriters(t *testing.T) {
	const brokers = 5
	m := clusterOf(brokers)
	c1 := newTestController(m, 1, Policy{})
	c2 := newTestController(m, 2, Policy{})
	ctx := context.Background()
	for i, name := range []string{"a", "b"} {
		if _, err := c1.CreateTopic(ctx, name, 12, 3-i, nil); err != nil {
			t.Fatal(err)
		}
	}
	run(t, c1)
	run(t, c2)

	expected := func(err error) bool {
		return err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrFenced) ||
			errors.Is(err, ErrInvalidUpdateVersion) || errors.Is(err, ErrIneligibleReplica)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	// Leaders changing their ISRs.
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for range 300 {
				s := m.Snapshot()
				var led []PartitionState
				for _, p := range s.Partitions.All() {
					if p.Leader != NoLeader {
						led = append(led, p)
					}
				}
				if len(led) == 0 {
					continue
				}
				p := led[rng.IntN(len(led))]
				isr := []int32{p.Leader}
				for _, r := range p.Replicas {
					if r != p.Leader && rng.IntN(2) == 0 {
						isr = append(isr, r)
					}
				}
				req := ISRChange{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, BrokerEpoch: s.Brokers[p.Leader].Epoch,
					LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: isr}
				if rng.IntN(2) == 0 {
					if _, err := c1.AlterISR(ctx, req); !expected(err) {
						fail(fmt.Errorf("AlterISR: %w", err))
					}
					continue
				}
				// Decided on s, written after the brokers may have
				// changed: the CAS is all that guards it.
				for range rng.IntN(20) {
					m.Snapshot()
				}
				u, changed, err := AlterISR(s, req)
				if err == nil && changed {
					err = m.UpdatePartitions(ctx, []PartitionUpdate{u})
				}
				if !expected(err) {
					fail(fmt.Errorf("stale AlterISR: %w", err))
				}
			}
		})
	}
	// Preferred elections and controlled shutdowns from other brokers.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		for range 100 {
			var err error
			if rng.IntN(2) == 0 {
				_, err = c2.ElectPreferredLeaders(ctx, nil)
			} else {
				_, err = c2.ControlledShutdown(ctx, int32(1+rng.IntN(brokers)))
			}
			if err != nil {
				fail(err)
			}
		}
	})
	// Brokers fenced and coming back.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 3))
		for range 200 {
			n := int32(1 + rng.IntN(brokers))
			if m.Snapshot().Live(n) {
				m.fence(n)
			} else {
				m.register(n, "")
			}
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for n := int32(1); n <= brokers; n++ {
		if !m.Snapshot().Live(n) {
			m.register(n, "")
		}
	}
	waitFor(t, m, "every partition led by an in-sync live broker", func(s *Snapshot) bool {
		if !settled(Policy{})(s) {
			return false
		}
		for _, p := range s.Partitions.All() {
			if p.Leader == NoLeader || !s.Live(p.Leader) || slices.ContainsFunc(p.ISR, func(n int32) bool { return !s.Live(n) }) {
				return false
			}
		}
		return true
	})
	noViolations(t, m)
	_, writes, conflicts := m.stats()
	t.Logf("%d partition writes, %d lost compare-and-swaps", writes, conflicts)
}

// lagStore is a memStore whose writes commit at once but, while held,
// show in its Snapshot only once shown: a watch that is behind, which
// the etcd store's UpdatePartitions waits for.
type lagStore struct {
	*memStore
	commits atomic.Int32

	mu      sync.Mutex
	held    *Snapshot // non-nil: what Snapshot returns
	changed chan struct{}
}

func (l *lagStore) Snapshot() *Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held != nil {
		return l.held
	}
	return l.memStore.Snapshot()
}

// hold freezes what Snapshot returns; show lets it follow the writes
// again.
func (l *lagStore) hold() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held, l.changed = l.memStore.Snapshot(), make(chan struct{})
}

func (l *lagStore) show() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = nil
	close(l.changed)
}

func (l *lagStore) commitUnsettled(ctx context.Context, updates []PartitionUpdate) (int64, error) {
	if err := l.memStore.UpdatePartitions(ctx, updates); err != nil {
		return 0, err
	}
	l.commits.Add(1)
	return l.memStore.Snapshot().Revision, nil
}

func (l *lagStore) WaitRevision(ctx context.Context, rev int64) (*Snapshot, error) {
	for {
		l.mu.Lock()
		s, ch := l.held, l.changed
		l.mu.Unlock()
		if s == nil {
			s = l.memStore.Snapshot()
		}
		if s.Revision >= rev || ch == nil {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// UpdatePartitions waits for the write to show, as the etcd store's.
func (l *lagStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	rev, err := l.commitUnsettled(ctx, updates)
	if err != nil {
		return err
	}
	_, err = l.WaitRevision(ctx, rev)
	return err
}

// TestControllerCommitsWithoutWaitingForEachToShow: a failover's
// transactions are each committed without waiting for the store's
// snapshot to show the one before (its watch may be seconds behind under
// load, and each in-flight slot would wait for it), while the decision as
// a whole returns only once the snapshot shows all of them, so the
// controller next decides from its own writes.
func TestControllerCommitsWithoutWaitingForEachToShow(t *testing.T) {
	m := clusterOf(3)
	l := &lagStore{memStore: m}
	c := NewController(ControllerConfig{NodeID: 2, Store: l, Logger: slog.New(slog.DiscardHandler), Seed: 1})
	chunks := txnsInFlight + 8
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := c.CreateTopic(ctx, "t", int32(chunks*MaxUpdatesPerTxn), 3, nil); err != nil {
		t.Fatal(err)
	}
	m.fence(1)
	l.hold()
	updates := Reconcile(l.Snapshot(), Policy{})
	if len(updates) != chunks*MaxUpdatesPerTxn {
		t.Fatalf("%d updates after fencing broker 1, want one per partition, %d", len(updates), chunks*MaxUpdatesPerTxn)
	}
	done := make(chan error, 1)
	go func() { done <- c.apply(ctx, updates, "test") }()
	for deadline := time.Now().Add(waitLimit); int(l.commits.Load()) < chunks; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions committed while the snapshot lags: each waits for it", l.commits.Load(), chunks)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("apply returned (%v) before the snapshot showed its writes", err)
	default:
	}
	l.show()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Snapshot().Partitions.All() {
		if p.InISR(1) || p.Leader == 1 {
			t.Fatalf("%s-%d still has broker 1: leader %d, ISR %v", p.Topic, p.Partition, p.Leader, p.ISR)
		}
	}
	noViolations(t, m)
}

// TestControllerLogsOneInfoLinePerBatchOfChanges: a broker's fencing
// elects new leaders for every partition it led; at Info the controller
// says so in one line per batch (the counts, a few examples, the time
// taken), not one per partition: ten thousand partitions made ten
// thousand lines at every failover. The per-partition lines are Debug.
func TestControllerLogsOneInfoLinePerBatchOfChanges(t *testing.T) {
	const partitions = 60
	m := clusterOf(3)
	c := newTestController(m, 1, Policy{})
	states := make([]PartitionState, partitions)
	for i := range states {
		states[i] = PartitionState{Topic: "t", Partition: int32(i), Replicas: ids(3, 1, 2), ISR: ids(3, 1, 2), Leader: 3,
			LeaderEpoch: 1, PartitionEpoch: 1}
	}
	m.put(Topic{Name: "t", Partitions: partitions}, states...)
	run(t, c)
	m.fence(3)
	waitFor(t, m, "every partition led by another broker", func(s *Snapshot) bool {
		for i := range partitions {
			if p, _ := s.Partition("t", int32(i)); p.Leader == 3 || p.InISR(3) {
				return false
			}
		}
		return true
	})
	deadline := time.Now().Add(waitLimit)
	for {
		elected, lines := 0, 0
		for _, r := range c.logs.records(t) {
			switch r["msg"] {
			case "partition leader changed", "partition ISR changed", "partition offline":
				t.Fatalf("a per-partition line at Info: %v", r)
			case "partitions changed":
				lines++
				elected += int(r["leaders_elected"].(float64))
				if ex, _ := r["examples"].([]any); len(ex) == 0 || len(ex) > summaryExamples {
					t.Fatalf("summary line with %d examples, want 1 to %d: %v", len(ex), summaryExamples, r)
				}
				if _, ok := r["took"]; !ok {
					t.Fatalf("summary line without the time taken: %v", r)
				}
			}
		}
		if elected == partitions {
			if lines > 3 {
				t.Fatalf("%d summary lines for one fencing, want one per batch", lines)
			}
			return
		}
		if elected > partitions || time.Now().After(deadline) {
			t.Fatalf("summary lines count %d elections, want %d", elected, partitions)
		}
		time.Sleep(time.Millisecond)
	}
}

// orderStore is a memStore whose partition writes each take delay, and
// which records, for every write of ISR-only changes, how many writes of
// changes of leader had not yet been stored when it was sent.
type orderStore struct {
	*memStore
	delay time.Duration

	mu sync.Mutex
	// electing counts the writes of changes of leader sent and not yet
	// stored; early, the writes of ISR-only changes sent while it was
	// not zero. Both guarded by mu.
	electing, early int
}

func (o *orderStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	elects := slices.ContainsFunc(updates, func(u PartitionUpdate) bool { return u.New.Leader != u.Old.Leader })
	o.mu.Lock()
	if elects {
		o.electing++
	} else if o.electing > 0 {
		o.early++
	}
	o.mu.Unlock()
	time.Sleep(o.delay)
	err := o.memStore.UpdatePartitions(ctx, updates)
	if elects {
		o.mu.Lock()
		o.electing--
		o.mu.Unlock()
	}
	return err
}

// TestControllerStoresEveryElectionBeforeSendingAnyISRShrink: the
// transactions of a failover go out several at once, and those that
// only shrink ISRs (the partitions that kept their leader) are sent only
// once every change of leader is stored: they would otherwise take
// in-flight slots and commits from the elections clients wait for.
func TestControllerStoresEveryElectionBeforeSendingAnyISRShrink(t *testing.T) {
	m := clusterOf(3)
	o := &orderStore{memStore: m, delay: 10 * time.Millisecond}
	c := NewController(ControllerConfig{NodeID: 2, Store: o, Logger: slog.New(slog.DiscardHandler), Seed: 1})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := c.CreateTopic(ctx, "t", 9*MaxUpdatesPerTxn, 3, nil); err != nil {
		t.Fatal(err)
	}
	m.fence(1)
	updates := Reconcile(o.Snapshot(), Policy{})
	if err := c.apply(ctx, updates, "test"); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	early := o.early
	o.mu.Unlock()
	if early > 0 {
		t.Fatalf("%d transactions of ISR shrinks sent while elections were still in flight", early)
	}
	for _, p := range o.Snapshot().Partitions.All() {
		if p.InISR(1) || p.Leader == 1 {
			t.Fatalf("%s-%d still has broker 1: leader %d, ISR %v", p.Topic, p.Partition, p.Leader, p.ISR)
		}
	}
	noViolations(t, m)
}

// The batch summary and the election counts are the same whether the
// per-partition Debug lines are written or not (they are not built
// when Debug is off).
func TestControllerCountsChangesAlikeWithAndWithoutDebugLines(t *testing.T) {
	old := PartitionState{Topic: "t", Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Version: 1}
	with := func(f func(*PartitionState)) PartitionUpdate {
		n := old.Clone()
		f(&n)
		return PartitionUpdate{Old: old, New: n}
	}
	updates := []PartitionUpdate{
		with(func(p *PartitionState) { p.Leader, p.ISR = 2, ids(2, 3) }),
		with(func(p *PartitionState) { p.ISR = ids(1, 2) }),
		with(func(p *PartitionState) { p.Replicas, p.ISR = ids(1, 2, 3, 4), ids(1, 2, 3) }),
		with(func(p *PartitionState) { p.Leader = NoLeader }),
		{Old: PartitionState{Topic: "u", Replicas: ids(1, 2), ISR: ids(1), Leader: 1, Version: 1},
			New: PartitionState{Topic: "u", Replicas: ids(1, 2), ISR: ids(2), Leader: 2, LeaderEpoch: 1}},
	}
	type result struct {
		leaders, offline, isr, replicas, unclean int
		clean, uncleanStat                       int64
		debugLines                               int
	}
	count := func(level slog.Level) result {
		logs := &lockedBuffer{}
		var stats ElectionStats
		c := NewController(ControllerConfig{NodeID: 1, Elections: &stats,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))})
		sum := &updateSummary{}
		c.logUpdates(updates, "test", sum)
		r := result{leaders: sum.leaders, offline: sum.offline, isr: sum.isr, replicas: sum.replicas, unclean: sum.unclean}
		r.clean, r.uncleanStat = stats.Counts()
		for _, rec := range logs.records(t) {
			if rec["level"] == "DEBUG" {
				r.debugLines++
			}
		}
		return r
	}
	debug, info := count(slog.LevelDebug), count(slog.LevelInfo)
	want := result{leaders: 2, offline: 1, isr: 1, replicas: 1, unclean: 1, clean: 1, uncleanStat: 1}
	if debug.debugLines != 4 {
		t.Errorf("%d Debug lines at Debug, want 4", debug.debugLines)
	}
	debug.debugLines = 0
	if debug != want || info != want {
		t.Fatalf("counted %+v at Debug, %+v at Info, want %+v", debug, info, want)
	}
}
