package cluster

// partitionsByBroker indexes a Snapshot's partitions by the brokers they
// name (replicas, ISR, leader), carried from one Snapshot to the next by
// what changed in between (ChangedSince), so that the controller finds
// the partitions of a broker that came or went without visiting every
// partition of the cluster on every change of the metadata.
type partitionsByBroker struct {
	snap  *Snapshot // the Snapshot indexed; nil: none yet
	nodes map[int32]map[TopicPartition]struct{}
}

// advance makes the index s's: from the Snapshot it holds by the
// partitions changed since, when the store can tell, else rebuilt.
func (x *partitionsByBroker) advance(s *Snapshot) {
	if x.snap == s {
		return
	}
	if changed, ok := ChangedSince(x.snap, s); ok {
		// Repeats are harmless: each undoes the old state and adds the
		// new one again.
		for _, tp := range changed {
			if p, ok := x.snap.Partitions.Get(tp); ok {
				x.index(p, false)
			}
			if p, ok := s.Partitions.Get(tp); ok {
				x.index(p, true)
			}
		}
		x.snap = s
		return
	}
	x.snap, x.nodes = s, map[int32]map[TopicPartition]struct{}{}
	for _, p := range s.Partitions.All() {
		x.index(p, true)
	}
}

// index adds p under every broker it names, or removes it.
func (x *partitionsByBroker) index(p PartitionState, add bool) {
	tp := p.TP()
	one := func(n int32) {
		m := x.nodes[n]
		if !add {
			delete(m, tp)
			return
		}
		if m == nil {
			m = map[TopicPartition]struct{}{}
			x.nodes[n] = m
		}
		m[tp] = struct{}{}
	}
	for _, n := range p.Replicas {
		one(n)
	}
	for _, n := range p.ISR {
		one(n)
	}
	if p.Leader != NoLeader {
		one(p.Leader)
	}
}

// decideSince is decide(cur, want, rule) for a want that only partitions
// written since prev or naming a broker of touched can meet: it visits
// those alone when the store tells what changed since prev, and every
// partition when it cannot.
func (x *partitionsByBroker) decideSince(prev, cur *Snapshot, touched map[int32]bool, want func(PartitionState) bool, rule func(PartitionState) (PartitionState, bool)) []PartitionUpdate {
	changed, ok := ChangedSince(prev, cur)
	if !ok {
		return decide(cur, want, rule)
	}
	x.advance(cur)
	visits := len(changed)
	for n := range touched {
		visits += len(x.nodes[n])
	}
	if visits >= cur.Partitions.Len()/2 {
		// A broker of most partitions came or went (three brokers
		// name every partition of replication factor 3): a scan is
		// cheaper than a set of visited partitions as large.
		return decideSized(cur, want, rule, visits)
	}
	seen := make(map[TopicPartition]bool, visits)
	var out []PartitionUpdate
	visit := func(tp TopicPartition) {
		if seen[tp] {
			return
		}
		seen[tp] = true
		if p, ok := cur.Partitions.Get(tp); ok && want(p) {
			if next, ok := rule(p); ok {
				out = append(out, PartitionUpdate{Old: p, New: next})
			}
		}
	}
	for _, tp := range changed {
		visit(tp)
	}
	for n := range touched {
		for tp := range x.nodes[n] {
			visit(tp)
		}
	}
	sortUpdates(out)
	return out
}
