package cluster

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"iter"
	"slices"
	"strings"
)

// PartitionMap is Snapshot.Partitions: an immutable map from
// TopicPartition to PartitionState whose changes copy only the buckets
// they touch. A Snapshot is never modified, so each one the watch
// publishes needs its own partitions; with a Go map that was a copy of
// every partition per group of watch responses (10,000 of them, each
// its own allocation: a state is past the size a map stores inline),
// whatever the group changed. Here the new map shares every bucket but
// the changed ones with the old, and copies only its bucket index (a
// pointer per 2 to 8 partitions).
//
// The zero PartitionMap is empty. Iteration order is unspecified.
type PartitionMap struct {
	// buckets has a power-of-two length (nil when the map was never
	// written); a partition lives in the bucket its hash selects. A
	// bucket is shared by every map that has not changed it since, so
	// it is never written once a map holding it is handed out.
	buckets []*partitionBucket
	n       int // partitions held
}

type partitionBucket struct {
	states []PartitionState
	// owner is the edit that copied this bucket and may write it in
	// place until it hands its map out (partitionEdit.done).
	owner *editToken
}

// editToken tells one edit's buckets from every other's.
type editToken struct{ _ byte }

const (
	// minPartitionBuckets is the bucket count of a map's first write.
	minPartitionBuckets = 8
	// partitionsPerBucket is the average bucket size past which the
	// bucket count grows fourfold (so buckets average 2 to 8 states):
	// small enough that a change copies a few states and a lookup scans
	// a few, large enough that the index a change copies whole stays at
	// a pointer per 2 to 8 partitions (16 KiB at 10,000).
	partitionsPerBucket = 8
)

// partitionSeed hashes every PartitionMap of the process, so that maps
// derived from each other agree on where a partition lives.
var partitionSeed = maphash.MakeSeed()

func (m PartitionMap) bucketOf(tp TopicPartition) int {
	h := maphash.String(partitionSeed, tp.Topic) ^ uint64(uint32(tp.Partition))*0x9e3779b97f4a7c15
	h ^= h >> 31
	return int(h & uint64(len(m.buckets)-1))
}

// NewPartitionMap returns a map of states (a later state of the same
// partition wins).
func NewPartitionMap(states ...PartitionState) PartitionMap {
	return PartitionMap{}.With(states...)
}

// Len returns the number of partitions.
func (m PartitionMap) Len() int { return m.n }

// Get returns tp's state.
func (m PartitionMap) Get(tp TopicPartition) (PartitionState, bool) {
	if m.n == 0 {
		return PartitionState{}, false
	}
	if b := m.buckets[m.bucketOf(tp)]; b != nil {
		for i := range b.states {
			if b.states[i].Partition == tp.Partition && b.states[i].Topic == tp.Topic {
				return b.states[i], true
			}
		}
	}
	return PartitionState{}, false
}

// All yields every partition and its state.
func (m PartitionMap) All() iter.Seq2[TopicPartition, PartitionState] {
	return func(yield func(TopicPartition, PartitionState) bool) {
		for _, b := range m.buckets {
			if b == nil {
				continue
			}
			for _, p := range b.states {
				if !yield(p.TP(), p) {
					return
				}
			}
		}
	}
}

// With returns m with states put (m is unchanged).
func (m PartitionMap) With(states ...PartitionState) PartitionMap {
	e := m.edit()
	for _, p := range states {
		e.put(p)
	}
	return e.done()
}

// Without returns m without tps (m is unchanged).
func (m PartitionMap) Without(tps ...TopicPartition) PartitionMap {
	e := m.edit()
	for _, tp := range tps {
		e.delete(tp)
	}
	return e.done()
}

// partitionEdit builds a PartitionMap from another one, copying its
// bucket index on the first write and each bucket on the first write to
// it; done hands the result out, after which the edit copies again.
type partitionEdit struct {
	m         PartitionMap
	tok       *editToken
	ownsIndex bool
}

func (m PartitionMap) edit() *partitionEdit {
	return &partitionEdit{m: m, tok: new(editToken)}
}

// done returns the map edited so far; later writes do not change it.
func (e *partitionEdit) done() PartitionMap {
	e.tok, e.ownsIndex = new(editToken), false
	return e.m
}

// bucket returns tp's bucket index and that bucket, ready to be written.
func (e *partitionEdit) bucket(tp TopicPartition) (int, *partitionBucket) {
	if !e.ownsIndex {
		e.m.buckets = slices.Clone(e.m.buckets)
		e.ownsIndex = true
	}
	i := e.m.bucketOf(tp)
	b := e.m.buckets[i]
	switch {
	case b == nil:
		b = &partitionBucket{owner: e.tok}
		e.m.buckets[i] = b
	case b.owner != e.tok:
		b = &partitionBucket{states: slices.Clone(b.states), owner: e.tok}
		e.m.buckets[i] = b
	}
	return i, b
}

func (e *partitionEdit) put(p PartitionState) {
	if len(e.m.buckets) == 0 {
		e.m.buckets, e.ownsIndex = make([]*partitionBucket, minPartitionBuckets), true
	}
	tp := p.TP()
	_, b := e.bucket(tp)
	for i := range b.states {
		if b.states[i].Partition == tp.Partition && b.states[i].Topic == tp.Topic {
			b.states[i] = p
			return
		}
	}
	b.states = append(b.states, p)
	e.m.n++
	if e.m.n > partitionsPerBucket*len(e.m.buckets) {
		e.grow()
	}
}

func (e *partitionEdit) delete(tp TopicPartition) {
	if _, ok := e.m.Get(tp); !ok {
		return
	}
	i, b := e.bucket(tp)
	for j := range b.states {
		if b.states[j].Partition == tp.Partition && b.states[j].Topic == tp.Topic {
			b.states = slices.Delete(b.states, j, j+1)
			break
		}
	}
	if len(b.states) == 0 {
		e.m.buckets[i] = nil
	}
	e.m.n--
}

// grow rehashes every partition into four times the buckets (all new,
// owned by the edit).
func (e *partitionEdit) grow() {
	old := e.m.buckets
	e.m.buckets = make([]*partitionBucket, 4*len(old))
	for _, b := range old {
		if b == nil {
			continue
		}
		for _, p := range b.states {
			i := e.m.bucketOf(p.TP())
			nb := e.m.buckets[i]
			if nb == nil {
				nb = &partitionBucket{owner: e.tok}
				e.m.buckets[i] = nb
			}
			nb.states = append(nb.states, p)
		}
	}
	e.ownsIndex = true
}

// String prints the states in topic and partition order (so two maps of
// equal contents print the same).
func (m PartitionMap) String() string {
	states := make([]PartitionState, 0, m.n)
	for _, p := range m.All() {
		states = append(states, p)
	}
	slices.SortFunc(states, func(a, b PartitionState) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return fmt.Sprint(states)
}
