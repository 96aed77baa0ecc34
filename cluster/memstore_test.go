package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
)

// memStore is an in-memory Store with etcd's compare-and-swap semantics:
// one store-wide revision that every write transaction advances, each key
// written stamped with it as its Version, a transaction refused whole with
// ErrConflict if any key's version moved, and Changed closed on every
// change. It also checks, on every partition write, the invariants every
// writer must keep, and records what breaks them.
type memStore struct {
	mu          sync.Mutex
	snap        *Snapshot
	changed     chan struct{}
	brokerEpoch int64
	violations  []string
	writes      int // partition writes applied
	conflicts   int // UpdatePartitions refused with ErrConflict
	largestTxn  int // most updates in one UpdatePartitions
	// hook, if set, runs at the start of every UpdatePartitions with mu
	// held: a test's way to land a concurrent write just before one.
	hook func()
}

var (
	_ Store          = (*memStore)(nil)
	_ PartitionAdder = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{
		snap: &Snapshot{
			ClusterID:  "test",
			Controller: -1,
			Brokers:    map[int32]Broker{},
			Topics:     map[string]Topic{},
			Partitions: PartitionMap{},
		},
		changed: make(chan struct{}),
	}
}

func (m *memStore) Snapshot() *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap
}

func (m *memStore) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// next returns a copy of the current snapshot to modify, at the next
// revision. Callers hold mu and then publish it.
func (m *memStore) next() *Snapshot {
	s := *m.snap
	s.Revision++
	s.Brokers = maps.Clone(s.Brokers)
	s.Topics = maps.Clone(s.Topics) // Partitions is immutable: every change makes a new one
	return &s
}

func (m *memStore) publish(s *Snapshot) {
	m.snap = s
	close(m.changed)
	m.changed = make(chan struct{})
}

// register registers (or re-registers, with a new broker epoch) node.
func (m *memStore) register(node int32, rack string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.brokerEpoch++
	s := m.next()
	s.Brokers[node] = Broker{NodeID: node, Rack: rack, Epoch: m.brokerEpoch}
	m.publish(s)
}

// fence drops node's registration, as a lapsed lease does.
func (m *memStore) fence(node int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.snap.Brokers[node]; !ok {
		return
	}
	s := m.next()
	delete(s.Brokers, node)
	m.publish(s)
}

// put stores partition states as they are, at the next revision: a test's
// way to set up any state, half-done ones included.
func (m *memStore) put(topic Topic, parts ...PartitionState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.next()
	s.Topics[topic.Name] = topic
	for _, p := range parts {
		p = p.Clone()
		p.Version = s.Revision
		s.Partitions = s.Partitions.With(p)
	}
	m.publish(s)
}

func (m *memStore) CreateTopic(ctx context.Context, t Topic, parts []PartitionState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.snap.Topics[t.Name]; ok {
		return fmt.Errorf("%w: %s", ErrTopicExists, t.Name)
	}
	s := m.next()
	s.Topics[t.Name] = t
	for _, p := range parts {
		m.check(nil, p)
		p = p.Clone()
		p.Version = s.Revision
		s.Partitions = s.Partitions.With(p)
	}
	m.publish(s)
	return nil
}

func (m *memStore) DeleteTopic(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.snap.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	s := m.next()
	delete(s.Topics, name)
	for i := range t.Partitions {
		s.Partitions = s.Partitions.Without(TopicPartition{name, i})
	}
	m.publish(s)
	return nil
}

func (m *memStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hook != nil {
		m.hook()
	}
	seen := map[TopicPartition]bool{}
	for _, u := range updates {
		tp := u.Old.TP()
		if seen[tp] || u.New.TP() != tp {
			return fmt.Errorf("memstore: update of %v twice or renamed", tp)
		}
		seen[tp] = true
		cur, ok := m.snap.Partitions.Get(tp)
		if !ok || cur.Version != u.Old.Version {
			m.conflicts++
			return fmt.Errorf("memstore: %v at version %d, not %d: %w", tp, cur.Version, u.Old.Version, ErrConflict)
		}
	}
	if len(updates) == 0 {
		return nil
	}
	m.largestTxn = max(m.largestTxn, len(updates))
	s := m.next()
	for _, u := range updates {
		m.check(&u.Old, u.New)
		p := u.New.Clone()
		p.Version = s.Revision
		s.Partitions = s.Partitions.With(p)
		m.writes++
	}
	m.publish(s)
	return nil
}

func (m *memStore) AddPartitions(ctx context.Context, topic string, parts []PartitionState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.snap.Topics[topic]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if len(parts) == 0 || parts[0].Partition != t.Partitions {
		return fmt.Errorf("memstore: %s has %d partitions: %w", topic, t.Partitions, ErrConflict)
	}
	s := m.next()
	t.Partitions += int32(len(parts))
	s.Topics[topic] = t
	for _, p := range parts {
		m.check(nil, p)
		p = p.Clone()
		p.Version = s.Revision
		s.Partitions = s.Partitions.With(p)
	}
	m.publish(s)
	return nil
}

// check records a written state that breaks an invariant: ISR a non-empty
// set of replicas, leader in it or NoLeader, epochs that only grow, the
// partition epoch on every write, the leader epoch on every leader change.
func (m *memStore) check(old *PartitionState, p PartitionState) {
	bad := func(format string, args ...any) {
		m.violations = append(m.violations, fmt.Sprintf("%s-%d: ", p.Topic, p.Partition)+fmt.Sprintf(format, args...))
	}
	if len(p.ISR) == 0 {
		bad("empty ISR")
	}
	for i, n := range p.ISR {
		if !p.IsReplica(n) || slices.Contains(p.ISR[:i], n) {
			bad("ISR %v is not a set of replicas %v", p.ISR, p.Replicas)
		}
	}
	if p.Leader != NoLeader && !p.InISR(p.Leader) {
		bad("leader %d not in ISR %v", p.Leader, p.ISR)
	}
	if old == nil {
		return
	}
	if p.PartitionEpoch <= old.PartitionEpoch {
		bad("partition epoch %d after %d", p.PartitionEpoch, old.PartitionEpoch)
	}
	if p.LeaderEpoch < old.LeaderEpoch {
		bad("leader epoch %d after %d", p.LeaderEpoch, old.LeaderEpoch)
	}
	if p.Leader != old.Leader && p.LeaderEpoch == old.LeaderEpoch {
		bad("leader %d -> %d at the same epoch %d", old.Leader, p.Leader, p.LeaderEpoch)
	}
}

func (m *memStore) stats() (violations []string, writes, conflicts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.violations), m.writes, m.conflicts
}

// TestMemStoreHonoursCompareAndSwap pins the test store's own semantics,
// since every controller test leans on them.
func TestMemStoreHonoursCompareAndSwap(t *testing.T) {
	m := newMemStore()
	m.register(1, "")
	ch := m.Changed()
	ctx := context.Background()
	if err := m.CreateTopic(ctx, Topic{Name: "t", Partitions: 1}, []PartitionState{{Topic: "t", Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by CreateTopic")
	}
	s := m.Snapshot()
	p, _ := s.Partition("t", 0)
	if p.Version != s.Revision {
		t.Fatalf("version %d, revision %d", p.Version, s.Revision)
	}
	next := p.Clone()
	next.PartitionEpoch++
	if err := m.UpdatePartitions(ctx, []PartitionUpdate{{Old: p, New: next}}); err != nil {
		t.Fatal(err)
	}
	if err := m.UpdatePartitions(ctx, []PartitionUpdate{{Old: p, New: next}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if got, _ := m.Snapshot().Partition("t", 0); got.Version <= p.Version {
		t.Fatalf("version did not move: %d", got.Version)
	}
	if err := m.CreateTopic(ctx, Topic{Name: "t"}, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v", err)
	}
}
