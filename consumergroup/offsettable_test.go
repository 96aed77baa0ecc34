package consumergroup

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// The compact table behaves as the map it replaced: random sets and
// deletes, checked against a map after every step, and iterated in topic
// then partition order.
func TestOffsetTableMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	topics := []string{"b", "a", "c", "a-long-topic-name"}
	var tab offsetTable
	ref := map[TopicPartition]OffsetAndMetadata{}
	for step := 0; step < 5000; step++ {
		tp := TopicPartition{Topic: topics[rng.IntN(len(topics))], Partition: int32(rng.IntN(6))}
		if rng.IntN(3) == 0 {
			_, had := ref[tp]
			if got := tab.delete(tp); got != had {
				t.Fatalf("step %d: delete %v = %v, want %v", step, tp, got, had)
			}
			delete(ref, tp)
		} else {
			om := OffsetAndMetadata{Offset: rng.Int64(), LeaderEpoch: rng.Int32N(5) - 1,
				Metadata: []string{"", "m", "meta"}[rng.IntN(3)], CommitTime: rng.Int64N(1e13), ExpireTime: -1}
			tab.set(tp, om)
			ref[tp] = om
		}
		if tab.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
		}
		if om, ok := tab.get(tp); ok != (ref[tp] != OffsetAndMetadata{}) || om != ref[tp] {
			t.Fatalf("step %d: get %v = %+v %v, want %+v", step, tp, om, ok, ref[tp])
		}
	}
	var order []TopicPartition
	var last int64
	for tp, om := range tab.all() {
		if om != ref[tp] {
			t.Fatalf("all: %v = %+v, want %+v", tp, om, ref[tp])
		}
		order = append(order, tp)
		last = max(last, om.CommitTime)
	}
	want := slices.SortedFunc(maps.Keys(ref), func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	if !slices.Equal(order, want) {
		t.Fatalf("all yields %v, want %v", order, want)
	}
	if tab.lastCommit() != last {
		t.Fatalf("lastCommit %d, want %d", tab.lastCommit(), last)
	}
	for tp := range ref {
		tab.delete(tp)
	}
	if tab != nil {
		t.Fatalf("emptied table is %v, want nil", tab)
	}
}

// The same at scale, where TestOffsetTableMatchesAMap's four topics and six
// partitions cannot reach: many topics inserted and emptied at every
// position of the table, partitions far apart, and after every few steps
// the whole table (not only the key just touched) against the map, in
// order, with no empty topic left behind.
func TestOffsetTableMatchesAMapOverManyTopics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	topics := make([]string, 60)
	for i := range topics {
		topics[i] = fmt.Sprintf("topic-%03d", rng.IntN(1000))
	}
	var tab offsetTable
	ref := map[TopicPartition]OffsetAndMetadata{}
	check := func(step int) {
		t.Helper()
		n := 0
		var prev *TopicPartition
		for tp, om := range tab.all() {
			if om != ref[tp] {
				t.Fatalf("step %d: %v = %+v, want %+v", step, tp, om, ref[tp])
			}
			if prev != nil && (prev.Topic > tp.Topic || prev.Topic == tp.Topic && prev.Partition >= tp.Partition) {
				t.Fatalf("step %d: %v yielded after %v", step, tp, *prev)
			}
			p := tp
			prev = &p
			n++
		}
		if n != len(ref) || tab.len() != len(ref) {
			t.Fatalf("step %d: table yields %d and counts %d commits, want %d", step, n, tab.len(), len(ref))
		}
		for _, e := range tab {
			if len(e.parts) == 0 {
				t.Fatalf("step %d: topic %q left with no commit", step, e.topic.Value())
			}
		}
		for tp, want := range ref {
			if om, ok := tab.get(tp); !ok || om != want {
				t.Fatalf("step %d: get %v = %+v %v, want %+v", step, tp, om, ok, want)
			}
		}
	}
	for step := 0; step < 20000; step++ {
		tp := TopicPartition{Topic: topics[rng.IntN(len(topics))], Partition: int32(rng.IntN(300)) * 7}
		if rng.IntN(100) < 45 {
			_, had := ref[tp]
			if got := tab.delete(tp); got != had {
				t.Fatalf("step %d: delete %v = %v, want %v", step, tp, got, had)
			}
			delete(ref, tp)
		} else {
			om := OffsetAndMetadata{Offset: rng.Int64(), LeaderEpoch: rng.Int32N(5) - 1,
				Metadata: fmt.Sprint(rng.IntN(4)), CommitTime: rng.Int64N(1e13), ExpireTime: rng.Int64N(3) - 1}
			tab.set(tp, om)
			ref[tp] = om
		}
		if _, ok := tab.get(TopicPartition{Topic: tp.Topic, Partition: tp.Partition + 1}); ok {
			t.Fatalf("step %d: a partition never committed is found", step)
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
}
