package cluster

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// checkPartitionMap fails unless m holds exactly want.
func checkPartitionMap(t *testing.T, what string, m PartitionMap, want map[TopicPartition]PartitionState) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("%s: Len %d, want %d", what, m.Len(), len(want))
	}
	seen := 0
	for tp, p := range m.All() {
		seen++
		if w, ok := want[tp]; !ok || w.PartitionEpoch != p.PartitionEpoch || p.TP() != tp {
			t.Fatalf("%s: All yields %v at epoch %d, want %v (present %v)", what, tp, p.PartitionEpoch, w.PartitionEpoch, ok)
		}
	}
	if seen != len(want) {
		t.Fatalf("%s: All yields %d partitions, want %d", what, seen, len(want))
	}
	for tp, w := range want {
		if p, ok := m.Get(tp); !ok || p.PartitionEpoch != w.PartitionEpoch {
			t.Fatalf("%s: Get(%v) = epoch %d, %v; want %d", what, tp, p.PartitionEpoch, ok, w.PartitionEpoch)
		}
	}
}

// TestPartitionMapMatchesAGoMapAndNeverChangesOnceHandedOut applies
// random puts and deletes, in edits of random sizes, to a PartitionMap
// and to a Go map side by side; every map handed out must keep holding
// what it held then, whatever the edits after it did.
func TestPartitionMapMatchesAGoMapAndNeverChangesOnceHandedOut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var m PartitionMap
	want := map[TopicPartition]PartitionState{}
	type handedOut struct {
		m    PartitionMap
		want map[TopicPartition]PartitionState
	}
	var old []handedOut
	epoch := int32(0)
	for round := range 300 {
		e := m.edit()
		for range rng.IntN(80) {
			tp := TopicPartition{Topic: fmt.Sprintf("t%d", rng.IntN(20)), Partition: int32(rng.IntN(100))}
			if rng.IntN(4) == 0 {
				e.delete(tp)
				delete(want, tp)
				continue
			}
			epoch++
			p := PartitionState{Topic: tp.Topic, Partition: tp.Partition, PartitionEpoch: epoch}
			e.put(p)
			want[tp] = p
		}
		m = e.done()
		// Writes after done must not reach the map handed out.
		e.put(PartitionState{Topic: "after-done", Partition: int32(round)})
		checkPartitionMap(t, fmt.Sprintf("round %d", round), m, want)
		if round%10 == 0 {
			old = append(old, handedOut{m, maps.Clone(want)})
		}
	}
	for i, o := range old {
		checkPartitionMap(t, fmt.Sprintf("map handed out %d", i), o.m, o.want)
	}
}

func TestPartitionMapWithAndWithoutLeaveTheOriginal(t *testing.T) {
	a := NewPartitionMap(PartitionState{Topic: "t", Partition: 0, PartitionEpoch: 1}, PartitionState{Topic: "t", Partition: 1, PartitionEpoch: 1})
	b := a.With(PartitionState{Topic: "t", Partition: 0, PartitionEpoch: 2})
	c := b.Without(TopicPartition{"t", 1}, TopicPartition{"absent", 0})
	checkPartitionMap(t, "a", a, map[TopicPartition]PartitionState{{"t", 0}: {PartitionEpoch: 1}, {"t", 1}: {PartitionEpoch: 1}})
	checkPartitionMap(t, "b", b, map[TopicPartition]PartitionState{{"t", 0}: {PartitionEpoch: 2}, {"t", 1}: {PartitionEpoch: 1}})
	checkPartitionMap(t, "c", c, map[TopicPartition]PartitionState{{"t", 0}: {PartitionEpoch: 2}})
	var zero PartitionMap
	if _, ok := zero.Get(TopicPartition{"t", 0}); ok || zero.Len() != 0 || zero.Without(TopicPartition{"t", 0}).Len() != 0 {
		t.Fatal("the zero PartitionMap is not empty")
	}
}

// TestSnapshotApplyCopiesOnlyWhatChanged pins the point of PartitionMap:
// a watch response changing one partition of 10,000 shares every other
// bucket with the previous Snapshot, which keeps its own states.
func TestSnapshotApplyCopiesOnlyWhatChanged(t *testing.T) {
	s := benchStore()
	old := s.build(1, benchMetadata(s, 10000, 3))
	p, _ := old.Partition("topic-7", 42)
	next := p
	next.Leader, next.LeaderEpoch = p.Replicas[1], p.LeaderEpoch+1
	snap := s.apply(old, 2, partitionPuts(s, 2, next))
	if got, _ := snap.Partition("topic-7", 42); got.Leader != next.Leader || got.Version != 2 {
		t.Fatalf("new snapshot has %+v, want leader %d at version 2", got, next.Leader)
	}
	if got, _ := old.Partition("topic-7", 42); got.Leader != p.Leader || got.Version != 1 {
		t.Fatalf("old snapshot changed to %+v", got)
	}
	copied := 0
	for i, b := range snap.Partitions.buckets {
		if b != old.Partitions.buckets[i] {
			copied++
		}
	}
	if copied != 1 {
		t.Fatalf("%d of %d buckets copied from the previous snapshot; one partition changed", copied, len(snap.Partitions.buckets))
	}
	if cs, ok := ChangedSince(old, snap); !ok || len(cs) != 1 || cs[0] != (TopicPartition{"topic-7", 42}) {
		t.Fatalf("ChangedSince = %v, %v; want [topic-7 42]", cs, ok)
	}
}
