package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// countingStore is a memStore that counts its partition transactions.
type countingStore struct {
	*memStore
	txns atomic.Int32
}

func (s *countingStore) UpdatePartitions(ctx context.Context, updates []PartitionUpdate) error {
	s.txns.Add(1)
	return s.memStore.UpdatePartitions(ctx, updates)
}

// isrExpansions is one ISR expansion per partition of topic t (leader 1,
// broker 3 joining [1 2]).
func isrExpansions(n int) []ISRChange {
	reqs := make([]ISRChange, n)
	for i := range reqs {
		reqs[i] = ISRChange{Topic: "t", Partition: int32(i), Leader: 1, NewISR: ids(1, 2, 3)}
	}
	return reqs
}

func putLaggingTopic(m *memStore, n int) {
	parts := make([]PartitionState, n)
	for i := range parts {
		parts[i] = PartitionState{Topic: "t", Partition: int32(i), Replicas: ids(1, 2, 3), ISR: ids(1, 2), Leader: 1}
	}
	m.put(Topic{Name: "t", Partitions: int32(n)}, parts...)
}

// TestAlterISRsWritesManyPartitionsInFewTransactions: a broker rejoining
// the ISRs of many partitions costs one transaction per MaxUpdatesPerTxn
// of them, not one each, and every expansion is committed.
func TestAlterISRsWritesManyPartitionsInFewTransactions(t *testing.T) {
	m := clusterOf(3)
	n := 3*MaxUpdatesPerTxn + 5
	putLaggingTopic(m, n)
	cs := &countingStore{memStore: m}
	c := NewController(ControllerConfig{NodeID: 1, Store: cs, Seed: 1})
	for i, err := range c.AlterISRs(context.Background(), isrExpansions(n)) {
		if err != nil {
			t.Fatalf("expansion %d: %v", i, err)
		}
	}
	for i := range n {
		p, _ := m.Snapshot().Partition("t", int32(i))
		if !slices.Equal(p.ISR, ids(1, 2, 3)) || p.PartitionEpoch != 1 {
			t.Fatalf("partition %d after the expansions: %+v", i, p)
		}
	}
	want := int32((n + MaxUpdatesPerTxn - 1) / MaxUpdatesPerTxn)
	if got := cs.txns.Load(); got != want {
		t.Fatalf("%d transactions for %d expansions, want %d", got, n, want)
	}
	if m.largestTxn > MaxUpdatesPerTxn {
		t.Fatalf("a transaction of %d updates, limit %d", m.largestTxn, MaxUpdatesPerTxn)
	}
	noViolations(t, m)
}

// TestAlterISRsDecidesEachPartitionOnItsOwn: a request the metadata
// refuses fails alone, and a transaction that loses a race on one of its
// partitions is decided again: that partition gets the stale epoch's
// error, the others of its transaction are committed.
func TestAlterISRsDecidesEachPartitionOnItsOwn(t *testing.T) {
	m := clusterOf(3)
	n := 2 * MaxUpdatesPerTxn
	putLaggingTopic(m, n)
	reqs := isrExpansions(n)
	reqs[3].Leader = 2 // not the leader: INVALID_REQUEST
	const raced = MaxUpdatesPerTxn + 7
	// Just before the first write, the controller moves partition raced
	// on (partition epoch 1): its transaction conflicts.
	var once sync.Once
	m.hook = func() {
		once.Do(func() {
			p, _ := m.snap.Partitions.Get(TopicPartition{"t", raced})
			next := p.Clone()
			next.ISR = ids(1)
			next.PartitionEpoch++
			s := m.next()
			next.Version = s.Revision
			s.Partitions = s.Partitions.With(next)
			m.publish(s)
		})
	}
	c := NewController(ControllerConfig{NodeID: 1, Store: m, Seed: 1})
	errs := c.AlterISRs(context.Background(), reqs)
	for i, err := range errs {
		switch i {
		case 3:
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("request of a broker that does not lead: %v", err)
			}
		case raced:
			if !errors.Is(err, ErrInvalidUpdateVersion) {
				t.Errorf("request at a partition epoch changed meanwhile: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("expansion %d: %v", i, err)
			}
		}
	}
	if _, _, conflicts := m.stats(); conflicts == 0 {
		t.Fatal("the injected write did not make a transaction's CAS fail")
	}
	for i := range n {
		p, _ := m.Snapshot().Partition("t", int32(i))
		want := ids(1, 2, 3)
		switch i {
		case 3:
			want = ids(1, 2)
		case raced:
			want = ids(1)
		}
		if !slices.Equal(p.ISR, want) {
			t.Errorf("partition %d: ISR %v, want %v", i, p.ISR, want)
		}
	}
	noViolations(t, m)
}
