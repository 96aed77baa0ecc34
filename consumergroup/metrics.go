package consumergroup

import (
	"cmp"
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
	groups := c.allGroups()
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
	// Groups without members, newest commit first (ties by id, so the
	// set is stable between scrapes), fill what the cap leaves.
	empty := make([]int, 0, len(sums)) // indexes into sums
	listed := make([]bool, len(sums))
	for i := range sums {
		if sums[i].listing.Members > 0 {
			listed[i] = true
		} else {
			empty = append(empty, i)
		}
	}
	slices.SortStableFunc(empty, func(a, b int) int { return cmp.Compare(sums[b].lastCommit, sums[a].lastCommit) })
	left := c.cfg.MetricsMaxEmptyPartitions
	for _, i := range empty {
		if sums[i].commits <= left {
			left -= sums[i].commits
			listed[i] = true
		}
	}
	for i := range sums {
		if !listed[i] {
			m.Unlisted++
			continue
		}
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
