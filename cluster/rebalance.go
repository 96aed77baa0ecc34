package cluster

// Rebalance and decommission planning (issue 15 item 5): pure functions
// from the brokers and the current assignments to a proposed one, which
// an operator reviews and then applies with AlterPartitionReassignments
// (`tributary cluster rebalance` / `decommission`).
//
// PlanRebalance, in three passes, each a greedy that only ever improves
// what it looks at, so the plan converges and a plan applied and planned
// again proposes nothing:
//
//  1. racks (when every broker has one, as placement.go's rule): a
//     partition with two replicas on one rack while a rack holds none of
//     its replicas moves one of them there, to the least loaded broker;
//  2. replicas: while the most and least loaded brokers differ by more
//     than one replica, a replica moves from the most loaded to the least
//     loaded broker that can take it (does not hold the partition, and
//     does not put two of its replicas on one rack that were not). Each
//     move takes a replica from a broker above the even share to one
//     below it, so the number of moves is the least any plan needs to
//     even the counts out. Among candidates it prefers the topic with the
//     most replicas on the source and fewest on the destination (topics
//     spread too), then a replica that does not lead (no leadership
//     change while it moves);
//  3. preferred leaders: while one broker is the preferred replica
//     (first of the assignment) of two or more partitions more than
//     another, the preference moves along a chain of partitions from it
//     towards a broker with fewer, each step swapping the order of two
//     replicas of one partition. No data moves; a preferred election
//     (or auto.leader.rebalance.enable) then moves the leadership.
//
// Replicas on brokers outside the given set (not live, say) are left
// where they are and not counted: decommissioning a broker is
// PlanDecommission, which moves only that broker's replicas, each into
// its place in the assignment, to the remaining broker that keeps the
// partition on the most racks and holds the fewest replicas.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrUnknownBroker is a decommission of a broker that is neither given
// nor named in any assignment.
var ErrUnknownBroker = errors.New("cluster: unknown broker")

// Reassignment is one partition's proposed change: its replicas now and
// those proposed, each with the preferred leader first.
type Reassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Target    []int32 `json:"target"`
}

// Adding is the brokers Target adds, in Target order: the replicas the
// reassignment copies.
func (r Reassignment) Adding() []int32 {
	var out []int32
	for _, b := range r.Target {
		if !slices.Contains(r.Replicas, b) {
			out = append(out, b)
		}
	}
	return out
}

// Removing is the brokers Target drops, in Replicas order.
func (r Reassignment) Removing() []int32 {
	var out []int32
	for _, b := range r.Replicas {
		if !slices.Contains(r.Target, b) {
			out = append(out, b)
		}
	}
	return out
}

// Plan is a proposed assignment: the partitions it changes, in topic and
// partition order.
type Plan struct {
	Reassignments []Reassignment `json:"reassignments"`
}

// ReplicaMoves is how many replicas the plan copies to a new broker.
func (p Plan) ReplicaMoves() int {
	n := 0
	for _, r := range p.Reassignments {
		n += len(r.Adding())
	}
	return n
}

// BrokerLoad is one broker's replicas and preferred leaderships.
type BrokerLoad struct {
	Broker    int32 `json:"broker"`
	Replicas  int   `json:"replicas"`
	Preferred int   `json:"preferred_leaders"`
}

// Loads counts, for each of brokers (in ID order), the replicas and the
// preferred leaderships (first replicas) assignments give it.
func Loads(brokers []int32, assignments map[TopicPartition][]int32) []BrokerLoad {
	by := map[int32]*BrokerLoad{}
	for _, b := range brokers {
		by[b] = &BrokerLoad{Broker: b}
	}
	for _, rs := range assignments {
		for i, b := range rs {
			if l := by[b]; l != nil {
				l.Replicas++
				if i == 0 {
					l.Preferred++
				}
			}
		}
	}
	out := make([]BrokerLoad, 0, len(by))
	for _, b := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[b])
	}
	return out
}

// Apply returns assignments with the plan's targets in place.
func (p Plan) Apply(assignments map[TopicPartition][]int32) map[TopicPartition][]int32 {
	out := maps.Clone(assignments)
	for _, r := range p.Reassignments {
		out[TopicPartition{Topic: r.Topic, Partition: r.Partition}] = slices.Clone(r.Target)
	}
	return out
}

// Assignments is the replicas of each of parts.
func Assignments(parts []PartitionState) map[TopicPartition][]int32 {
	out := make(map[TopicPartition][]int32, len(parts))
	for _, p := range parts {
		out[p.TP()] = slices.Clone(p.Replicas)
	}
	return out
}

// planPart is one partition as the planner changes it.
type planPart struct {
	idx    int // its place in planner.parts
	tp     TopicPartition
	old    []int32
	cur    []int32
	leader int32
}

// planner holds the proposed assignment and the counts it balances.
type planner struct {
	ids   []int32 // the brokers balanced over, in ID order
	rack  map[int32]string
	aware bool // every broker has a rack
	racks int  // distinct racks, when aware
	parts []*planPart
	// replicas and preferred count, per broker of ids, the replicas and
	// first replicas the current proposal gives it; topicOn the replicas
	// of each topic on each broker.
	replicas  map[int32]int
	preferred map[int32]int
	topicOn   map[string]map[int32]int
	// on is, per broker of ids, the partitions with a replica on it, in
	// parts order: a broker's candidates without a scan of every
	// partition.
	on map[int32][]*planPart
}

func newPlanner(brokers []Broker, parts []PartitionState) (*planner, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers to place replicas on", ErrNotEnoughBrokers)
	}
	pl := &planner{rack: map[int32]string{}, aware: racked(brokers),
		replicas: map[int32]int{}, preferred: map[int32]int{}, topicOn: map[string]map[int32]int{}, on: map[int32][]*planPart{}}
	racks := map[string]bool{}
	for _, b := range brokers {
		if _, dup := pl.rack[b.NodeID]; dup {
			return nil, fmt.Errorf("cluster: plan: broker %d given twice", b.NodeID)
		}
		pl.ids = append(pl.ids, b.NodeID)
		pl.rack[b.NodeID] = ""
		if pl.aware {
			pl.rack[b.NodeID] = b.Rack
			racks[b.Rack] = true
		}
		pl.replicas[b.NodeID], pl.preferred[b.NodeID] = 0, 0
	}
	slices.Sort(pl.ids)
	pl.racks = len(racks)
	for _, p := range parts {
		if len(p.Replicas) == 0 {
			return nil, fmt.Errorf("%w: %s-%d has no replicas", ErrInvalidReplicaAssignment, p.Topic, p.Partition)
		}
		for i, b := range p.Replicas {
			if slices.Contains(p.Replicas[:i], b) {
				return nil, fmt.Errorf("%w: %s-%d names broker %d twice", ErrInvalidReplicaAssignment, p.Topic, p.Partition, b)
			}
		}
		pl.parts = append(pl.parts, &planPart{tp: p.TP(), old: slices.Clone(p.Replicas), cur: slices.Clone(p.Replicas), leader: p.Leader})
	}
	slices.SortFunc(pl.parts, func(a, b *planPart) int { return compareTP(a.tp, b.tp) })
	for i, pp := range pl.parts {
		pp.idx = i
		for j, b := range pp.cur {
			pl.count(pp, b, j == 0, 1)
		}
	}
	return pl, nil
}

// in reports whether b is one of the brokers balanced over.
func (pl *planner) in(b int32) bool {
	_, ok := pl.replicas[b]
	return ok
}

// count adds d to b's counts for a replica of p (preferred: its first).
func (pl *planner) count(p *planPart, b int32, preferred bool, d int) {
	if !pl.in(b) {
		return
	}
	pl.replicas[b] += d
	if preferred {
		pl.preferred[b] += d
	}
	on := pl.topicOn[p.tp.Topic]
	if on == nil {
		on = map[int32]int{}
		pl.topicOn[p.tp.Topic] = on
	}
	on[b] += d
	list := pl.on[b]
	i, found := slices.BinarySearchFunc(list, p.idx, func(q *planPart, idx int) int { return cmp.Compare(q.idx, idx) })
	switch {
	case d > 0 && !found:
		pl.on[b] = slices.Insert(list, i, p)
	case d < 0 && found:
		pl.on[b] = slices.Delete(list, i, i+1)
	}
}

// move replaces p's replica on from with to, in its place.
func (pl *planner) move(p *planPart, from, to int32) {
	i := slices.Index(p.cur, from)
	pl.count(p, from, i == 0, -1)
	p.cur[i] = to
	pl.count(p, to, i == 0, 1)
}

// racksOf counts p's replicas per rack, over the balanced brokers.
func (pl *planner) racksOf(p *planPart) map[string]int {
	out := map[string]int{}
	for _, b := range p.cur {
		if pl.in(b) {
			out[pl.rack[b]]++
		}
	}
	return out
}

// rackOK reports whether moving p's replica from from to to keeps the
// rack rule at least as well kept: to is on from's rack, or on a rack
// holding none of p's replicas. Without racks every move is.
func (pl *planner) rackOK(p *planPart, from, to int32) bool {
	if !pl.aware || pl.rack[from] == pl.rack[to] {
		return true
	}
	return pl.racksOf(p)[pl.rack[to]] == 0
}

// fixRacks is pass 1: a partition on fewer racks than it could be moves
// a replica from a rack holding two of it to a rack holding none.
func (pl *planner) fixRacks() {
	if !pl.aware {
		return
	}
	for _, p := range pl.parts {
		for {
			on := pl.racksOf(p)
			if len(on) >= min(len(p.cur), pl.racks) {
				break
			}
			// The replica to move: on a rack holding two or more, on
			// the most loaded broker (the highest ID of equals).
			from := int32(-1)
			for _, b := range p.cur {
				if pl.in(b) && on[pl.rack[b]] > 1 && (from < 0 || pl.replicas[b] > pl.replicas[from] ||
					pl.replicas[b] == pl.replicas[from] && b > from) {
					from = b
				}
			}
			to := pl.leastLoaded(func(b int32) bool { return on[pl.rack[b]] == 0 && !slices.Contains(p.cur, b) }, from == p.cur[0])
			if from < 0 || to < 0 {
				break // unreachable: a rack without a replica has a broker
			}
			pl.move(p, from, to)
		}
	}
}

// leastLoaded is the broker ok accepts with the fewest replicas, then
// (when preferred, for a first replica) the fewest preferred
// leaderships, then the lowest ID; -1 if none.
func (pl *planner) leastLoaded(ok func(int32) bool, preferred bool) int32 {
	best := int32(-1)
	for _, b := range pl.ids {
		if !ok(b) {
			continue
		}
		if best < 0 {
			best = b
			continue
		}
		c := cmp.Compare(pl.replicas[b], pl.replicas[best])
		if c == 0 && preferred {
			c = cmp.Compare(pl.preferred[b], pl.preferred[best])
		}
		if c < 0 {
			best = b
		}
	}
	return best
}

// balanceReplicas is pass 2.
func (pl *planner) balanceReplicas() {
	for {
		byLoad := slices.Clone(pl.ids)
		slices.SortStableFunc(byLoad, func(a, b int32) int { return cmp.Compare(pl.replicas[a], pl.replicas[b]) })
		moved := false
	pairs:
		for i := len(byLoad) - 1; i > 0; i-- {
			src := byLoad[i]
			for _, dst := range byLoad[:i] {
				if pl.replicas[src]-pl.replicas[dst] <= 1 {
					break
				}
				if p := pl.bestMove(src, dst); p != nil {
					pl.move(p, src, dst)
					moved = true
					break pairs
				}
			}
		}
		if !moved {
			return
		}
	}
}

// bestMove is the partition whose replica on src moves best to dst; nil
// if none can.
func (pl *planner) bestMove(src, dst int32) *planPart {
	var best *planPart
	var bestSpread int
	var bestLeads bool
	// on[src] is in topic order: a topic's spread is read once.
	topic, spread := "", 0
	for _, p := range pl.on[src] {
		if slices.Contains(p.cur, dst) || !pl.rackOK(p, src, dst) {
			continue
		}
		if p.tp.Topic != topic {
			on := pl.topicOn[p.tp.Topic]
			topic, spread = p.tp.Topic, on[src]-on[dst]
		}
		leads := p.leader == src || p.cur[0] == src
		if best == nil || spread > bestSpread || spread == bestSpread && bestLeads && !leads {
			best, bestSpread, bestLeads = p, spread, leads
		}
	}
	return best
}

// balancePreferred is pass 3.
func (pl *planner) balancePreferred() {
	for {
		byLoad := slices.Clone(pl.ids)
		slices.SortStableFunc(byLoad, func(a, b int32) int { return cmp.Compare(pl.preferred[b], pl.preferred[a]) })
		moved := false
		for _, src := range byLoad {
			if path := pl.preferencePath(src); path != nil {
				for _, st := range path {
					pl.swapFirst(st.p, st.to)
				}
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// step hands p's preferred leadership to replica to.
type step struct {
	p  *planPart
	to int32
}

// preferencePath is the shortest chain of partitions that hands one
// preferred leadership from src to a broker with at least two fewer
// (breadth first over "src is first of p, b a replica of p"): along it
// every broker but the two ends keeps its count. nil when there is none.
func (pl *planner) preferencePath(src int32) []step {
	type via struct {
		from int32
		p    *planPart
	}
	prev := map[int32]via{src: {from: -1}}
	queue := []int32{src}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, p := range pl.on[x] {
			if p.cur[0] != x {
				continue
			}
			// The current leader first: preferring it changes no
			// leadership.
			order := slices.Clone(p.cur[1:])
			slices.SortStableFunc(order, func(a, b int32) int {
				return cmp.Compare(b2i(a != p.leader), b2i(b != p.leader))
			})
			for _, y := range order {
				if _, seen := prev[y]; seen || !pl.in(y) {
					continue
				}
				prev[y] = via{from: x, p: p}
				if pl.preferred[y] <= pl.preferred[src]-2 {
					var path []step
					for b := y; b != src; b = prev[b].from {
						path = append(path, step{p: prev[b].p, to: b})
					}
					slices.Reverse(path)
					return path
				}
				queue = append(queue, y)
			}
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// swapFirst makes replica to p's first, swapping it with the first.
func (pl *planner) swapFirst(p *planPart, to int32) {
	i := slices.Index(p.cur, to)
	first := p.cur[0]
	pl.preferred[first]--
	pl.preferred[to]++
	p.cur[0], p.cur[i] = to, first
}

// plan is the partitions whose proposal differs from what they had.
func (pl *planner) plan() Plan {
	var out Plan
	for _, p := range pl.parts {
		if !slices.Equal(p.old, p.cur) {
			out.Reassignments = append(out.Reassignments, Reassignment{
				Topic: p.tp.Topic, Partition: p.tp.Partition, Replicas: p.old, Target: slices.Clone(p.cur)})
		}
	}
	return out
}

// PlanRebalance proposes an assignment of parts over brokers that spreads
// replicas and preferred leaders evenly, racks respected, moving as few
// replicas as it can (see the notes at the top of this file). It changes
// only partitions it must; a partition's replication factor is kept.
func PlanRebalance(brokers []Broker, parts []PartitionState) (Plan, error) {
	pl, err := newPlanner(brokers, parts)
	if err != nil {
		return Plan{}, fmt.Errorf("cluster: rebalance: %w", err)
	}
	pl.fixRacks()
	pl.balanceReplicas()
	pl.balancePreferred()
	return pl.plan(), nil
}

// PlanDecommission proposes moving every replica off node onto the other
// brokers given, each into node's place in its partition's assignment
// (so a partition node was preferred leader of gets a new preferred
// leader), and changes nothing else. Each replica goes to the broker,
// not already a replica of the partition, that keeps the partition on
// the most racks, then holds the fewest replicas (and, for a first
// replica, the fewest preferred leaderships), then has the lowest ID. A
// partition with more replicas than the other brokers can hold is
// ErrNotEnoughBrokers: nothing is planned. A node neither given nor
// named in any assignment is ErrUnknownBroker.
func PlanDecommission(brokers []Broker, parts []PartitionState, node int32) (Plan, error) {
	known := slices.ContainsFunc(brokers, func(b Broker) bool { return b.NodeID == node }) ||
		slices.ContainsFunc(parts, func(p PartitionState) bool { return p.IsReplica(node) })
	if !known {
		return Plan{}, fmt.Errorf("cluster: decommission %d: %w: not live and holding no replica", node, ErrUnknownBroker)
	}
	rest := slices.DeleteFunc(slices.Clone(brokers), func(b Broker) bool { return b.NodeID == node })
	pl, err := newPlanner(rest, parts)
	if err != nil {
		return Plan{}, fmt.Errorf("cluster: decommission %d: %w", node, err)
	}
	for _, p := range pl.parts {
		if slices.Contains(p.cur, node) && len(p.cur) > len(pl.ids) {
			return Plan{}, fmt.Errorf("cluster: decommission %d: %w: %s-%d has %d replicas, %d brokers would remain",
				node, ErrNotEnoughBrokers, p.tp.Topic, p.tp.Partition, len(p.cur), len(pl.ids))
		}
	}
	for _, p := range pl.parts {
		i := slices.Index(p.cur, node)
		if i < 0 {
			continue
		}
		on := pl.racksOf(p)
		most := -1
		for _, b := range pl.ids {
			if !slices.Contains(p.cur, b) {
				if n := len(on) + b2i(on[pl.rack[b]] == 0); n > most {
					most = n
				}
			}
		}
		to := pl.leastLoaded(func(b int32) bool {
			return !slices.Contains(p.cur, b) && len(on)+b2i(on[pl.rack[b]] == 0) == most
		}, i == 0)
		p.cur[i] = to
		pl.count(p, to, i == 0, 1)
	}
	return pl.plan(), nil
}
