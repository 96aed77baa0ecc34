package consumergroup

import (
	"cmp"
	"container/heap"
	"slices"
)

// GroupMetrics is what the broker's /metrics shows of the groups: the
// per-partition series of a bounded set of groups, and counts of all.
type GroupMetrics struct {
	// Listed are the groups with per-group series: every group with
	// members, and the groups without members that committed last, as many
	// as Config.MetricsMaxEmptyPartitions of commits allow. Sorted by id.
	Listed []GroupListing
	// Lag holds the listed groups' commits, sorted by group, topic and
	// partition.
	Lag []PartitionLag
	// States counts every group by state (Dead ones are gone).
	States [numStates]int
	// Unlisted counts the groups left out of Listed and Lag.
	Unlisted int
}

// numStates is the number of States (Empty through Dead).
const numStates = int(Dead) + 1

// groupSummary is what the selection needs of one group.
type groupSummary struct {
	g          *group
	listing    GroupListing
	commits    int
	lastCommit int64
}

// Metrics returns the groups' metrics. A scrape must cost the same at
// 100,000 groups as at ten: groups with members (real consumers, each
// holding a session) are always listed, one per-partition series per
// commit; groups without members (simple commits of tools and
// assign()-based consumers, groups whose consumers left) are listed, most
// recently committed first, up to MetricsMaxEmptyPartitions commits in
// all, and only counted beyond. Parked groups are read in place, so a
// scrape starts no goroutines.
func (c *Coordinator) Metrics() GroupMetrics {
	var m GroupMetrics
	if c.ready() != nil {
		return m
	}
	groups := c.groupsUnsorted() // sorting them all would cost more than the rest
	sums := make([]groupSummary, 0, len(groups))
	for _, g := range groups {
		s := groupSummary{g: g}
		if g.run(func() {
			s.listing = GroupListing{Group: g.id, ProtocolType: g.protocolType, State: g.state, Members: len(g.order)}
			s.commits = g.offsets.len()
			s.lastCommit = g.offsets.lastCommit()
		}) != nil {
			continue // gone meanwhile
		}
		m.States[s.listing.State]++
		sums = append(sums, s)
	}
	// Groups without members, newest commit first, fill what the cap
	// leaves; each costs its commits, at least one (its members series).
	// At most cap of them can fit: they are picked with a heap of that
	// size, not by sorting them all.
	limit := c.cfg.MetricsMaxEmptyPartitions
	newer := func(a, b int) bool { // ties by id, so that the set is stable between scrapes
		if sums[a].lastCommit != sums[b].lastCommit {
			return sums[a].lastCommit > sums[b].lastCommit
		}
		return sums[a].listing.Group < sums[b].listing.Group
	}
	listed := make([]bool, len(sums))
	cand := &candidates{newer: newer}
	for i := range sums {
		switch {
		case sums[i].listing.Members > 0:
			listed[i] = true
		case limit == 0:
		case cand.Len() < limit:
			heap.Push(cand, i)
		case newer(i, cand.idx[0]):
			cand.idx[0] = i
			heap.Fix(cand, 0)
		}
	}
	slices.SortFunc(cand.idx, func(a, b int) int {
		if newer(a, b) {
			return -1
		}
		return 1
	})
	left := limit
	for _, i := range cand.idx {
		if cost := max(sums[i].commits, 1); cost <= left {
			left -= cost
			listed[i] = true
		}
	}
	var show []int // indexes into sums, sorted by group id
	for i := range sums {
		if listed[i] {
			show = append(show, i)
		} else {
			m.Unlisted++
		}
	}
	slices.SortFunc(show, func(a, b int) int { return cmp.Compare(sums[a].listing.Group, sums[b].listing.Group) })
	for _, i := range show {
		g := sums[i].g
		m.Listed = append(m.Listed, sums[i].listing)
		_ = g.run(func() {
			for tp, om := range g.offsets.all() {
				m.Lag = append(m.Lag, PartitionLag{Group: g.id, TopicPartition: tp, Committed: om.Offset})
			}
		})
	}
	c.fillLag(m.Lag)
	return m
}

// fillLag sets each commit's log end offset and lag.
func (c *Coordinator) fillLag(lags []PartitionLag) {
	for i := range lags {
		pl := &lags[i]
		l, ok := c.mgr.Partition(pl.Topic, pl.Partition)
		if !ok {
			pl.LogEnd, pl.Lag = -1, -1
			continue
		}
		pl.LogEnd = l.NextOffset()
		pl.Lag = max(pl.LogEnd-pl.Committed, 0)
	}
}

// candidates is a min-heap of indexes into a scrape's groups, the oldest
// commit at the root (container/heap).
type candidates struct {
	idx   []int
	newer func(a, b int) bool
}

func (h *candidates) Len() int           { return len(h.idx) }
func (h *candidates) Less(i, j int) bool { return h.newer(h.idx[j], h.idx[i]) }
func (h *candidates) Swap(i, j int)      { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *candidates) Push(x any)         { h.idx = append(h.idx, x.(int)) }
func (h *candidates) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}
