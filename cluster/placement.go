package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Placement errors besides ErrNotEnoughBrokers.
var (
	// ErrInvalidReplicationFactor is a replication factor below 1:
	// INVALID_REPLICATION_FACTOR.
	ErrInvalidReplicationFactor = errors.New("cluster: replication factor must be at least 1")
	// ErrInvalidPartitions is a partition count below 1, or one that does
	// not grow a topic: INVALID_PARTITIONS.
	ErrInvalidPartitions = errors.New("cluster: invalid partition count")
	// ErrInvalidReplicaAssignment is a manual replica assignment Kafka's
	// controller refuses: INVALID_REPLICA_ASSIGNMENT.
	ErrInvalidReplicaAssignment = errors.New("cluster: invalid replica assignment")
)

// CheckAssignment validates a manual replica assignment (CreateTopics'
// ReplicaAssignment, CreatePartitions' Assignment) as Kafka's controller
// does, partition by partition: a replica list is not empty, names only
// registered brokers (registered reports which; a fenced broker is not),
// none twice, and holds rf replicas; rf < 1 takes the first list's length,
// so that every partition of a new topic has the same count. first is the
// ID of assignment[0]'s partition, for the messages. Every refusal wraps
// ErrInvalidReplicaAssignment. The first replica of each list is the
// partition's preferred leader.
func CheckAssignment(assignment [][]int32, first int32, rf int, registered func(int32) bool) error {
	for i, replicas := range assignment {
		p := first + int32(i)
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has an empty replica list", ErrInvalidReplicaAssignment, p)
		}
		// In ID order, so the broker named is the lowest at fault,
		// whatever order the list has.
		sorted := slices.Sorted(slices.Values(replicas))
		for j, b := range sorted {
			if !registered(b) {
				return fmt.Errorf("%w: partition %d names broker %d, which is not registered", ErrInvalidReplicaAssignment, p, b)
			}
			if j > 0 && sorted[j-1] == b {
				return fmt.Errorf("%w: partition %d names broker %d more than once", ErrInvalidReplicaAssignment, p, b)
			}
		}
		if rf < 1 {
			rf = len(replicas)
		}
		if len(replicas) != rf {
			return fmt.Errorf("%w: partition %d has %d replica(s), the other partitions %d", ErrInvalidReplicaAssignment, p, len(replicas), rf)
		}
	}
	return nil
}

// PlaceReplicas assigns replicas for a new topic's partitions, numbered from
// 0, as Kafka assigns a new topic's replicas: brokers in node ID order (or,
// when every broker has a rack, in an order that alternates racks), the
// first replica of partition p on broker (p+start) mod n so leaders are
// spread evenly, the other replicas at a shift from it that moves on after
// every n partitions so followers of one leader are spread too. start and
// the shift are drawn from rng, so the same rng seed and brokers give the
// same assignment.
//
// With racks, the replicas of one partition go to distinct racks while
// there are racks without one, and after that to the racks holding the
// fewest of its replicas: with at least rf racks no two replicas share a
// rack, with fewer the spread is as even as the racks' sizes allow. If only
// some brokers have a rack, racks are ignored (Kafka refuses such a
// placement; a broker missing its broker.rack should not make topic
// creation fail cluster-wide).
//
// rf above the number of brokers is ErrNotEnoughBrokers. The result holds
// one replica list per partition, the preferred leader first.
func PlaceReplicas(brokers []Broker, partitions int32, rf int, rng *rand.Rand) ([][]int32, error) {
	if err := checkPlacement(brokers, partitions, rf); err != nil {
		return nil, err
	}
	order := brokerOrder(brokers)
	n := len(order)
	start := rng.IntN(n)
	shift := rng.IntN(n)
	return assign(order, 0, partitions, rf, start, shift)
}

// PlaceAddedPartitions assigns replicas for count partitions added to a
// topic whose partitions are existing (in any order; at least one), as
// Kafka's partition addition does: the same replication factor as
// partition 0, partition IDs continuing after the highest existing one, and the
// round-robin continuing from where partition 0's leader sits in the broker
// order, so the topic's leaders stay spread.
func PlaceAddedPartitions(brokers []Broker, existing []PartitionState, count int32) ([][]int32, error) {
	if len(existing) == 0 {
		return nil, fmt.Errorf("%w: the topic has no partitions to add to", ErrInvalidPartitions)
	}
	first, next := existing[0], existing[0].Partition+1
	for _, p := range existing[1:] {
		if p.Partition < first.Partition {
			first = p
		}
		next = max(next, p.Partition+1)
	}
	rf := len(first.Replicas)
	if err := checkPlacement(brokers, count, rf); err != nil {
		return nil, err
	}
	order := brokerOrder(brokers)
	// Kafka starts at the first broker whose ID is at least partition 0's
	// leader; in rack order, at that leader's position if it is live.
	start := 0
	leader := first.Replicas[0] // rf >= 1: checked
	if i := slices.IndexFunc(order, func(p placed) bool { return p.node == leader }); i >= 0 {
		start = i
	} else if i := slices.IndexFunc(order, func(p placed) bool { return p.node >= leader }); i >= 0 && !racked(brokers) {
		start = i
	}
	return assign(order, next, count, rf, start, start)
}

func checkPlacement(brokers []Broker, partitions int32, rf int) error {
	if partitions < 1 {
		return fmt.Errorf("%w: %d partitions", ErrInvalidPartitions, partitions)
	}
	if rf < 1 {
		return fmt.Errorf("%w: %d", ErrInvalidReplicationFactor, rf)
	}
	if rf > len(brokers) {
		return fmt.Errorf("%w: replication factor %d, %d live brokers", ErrNotEnoughBrokers, rf, len(brokers))
	}
	return nil
}

// racked reports whether every broker has a rack (and so placement is
// rack-aware).
func racked(brokers []Broker) bool {
	for _, b := range brokers {
		if b.Rack == "" {
			return false
		}
	}
	return len(brokers) > 0
}

// placed is a broker in placement order with its rack ("" when placement
// ignores racks).
type placed struct {
	node int32
	rack string
}

// brokerOrder is the order the round-robin walks: node IDs ascending, or,
// when placement is rack-aware, racks taken in turn (racks by name, each
// rack's brokers by ID), so consecutive positions sit on different racks.
func brokerOrder(brokers []Broker) []placed {
	ids := make([]placed, 0, len(brokers))
	aware := racked(brokers)
	for _, b := range brokers {
		p := placed{node: b.NodeID}
		if aware {
			p.rack = b.Rack
		}
		ids = append(ids, p)
	}
	slices.SortFunc(ids, func(a, b placed) int { return int(a.node) - int(b.node) })
	if !aware {
		return ids
	}
	byRack := map[string][]placed{}
	var racks []string
	for _, p := range ids {
		if _, ok := byRack[p.rack]; !ok {
			racks = append(racks, p.rack)
		}
		byRack[p.rack] = append(byRack[p.rack], p)
	}
	slices.Sort(racks)
	out := make([]placed, 0, len(ids))
	for i := 0; len(out) < len(ids); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// shifted is the position of a partition's j-th follower candidate: a
// shift of 1..n-1 from its leader, so it is never the leader itself.
func shifted(first, shift, j, n int) int {
	return (first + 1 + (shift+j)%(n-1)) % n
}

// assign is the round-robin: partitions firstID..firstID+count-1 over
// order, leader of partition p at (p+start) mod n, followers at a shift
// that grows by one every n partitions (by the rack count every n
// partitions when rack-aware, so a leader's followers move to other racks'
// brokers too).
func assign(order []placed, firstID, count int32, rf int, start, shift int) ([][]int32, error) {
	n := len(order)
	racks := map[string]bool{}
	for _, p := range order {
		racks[p.rack] = true
	}
	out := make([][]int32, 0, count)
	for id := firstID; id < firstID+count; id++ {
		if id > 0 && int(id)%n == 0 {
			shift++
		}
		first := (int(id) + start) % n
		replicas := make([]int32, 1, rf)
		replicas[0] = order[first].node
		if len(racks) == 1 {
			for j := 0; j < rf-1; j++ {
				replicas = append(replicas, order[shifted(first, shift, j, n)].node)
			}
			out = append(out, replicas)
			continue
		}
		perRack := map[string]int{order[first].rack: 1}
		used := map[int32]bool{order[first].node: true}
		k := 0
		for len(replicas) < rf {
			// Among the racks that still have an unused broker, a
			// replica goes to one holding the fewest of this
			// partition's replicas: distinct racks while there are
			// any, then an even spread.
			least := -1
			for _, p := range order {
				if !used[p.node] && (least < 0 || perRack[p.rack] < least) {
					least = perRack[p.rack]
				}
			}
			found := false
			for tries := 0; tries < n; tries++ {
				p := order[shifted(first, shift*len(racks), k, n)]
				k++
				if !used[p.node] && perRack[p.rack] == least {
					replicas = append(replicas, p.node)
					used[p.node] = true
					perRack[p.rack]++
					found = true
					break
				}
			}
			if !found {
				// Unreachable: n-1 consecutive shifts visit every
				// broker but the leader.
				return nil, fmt.Errorf("cluster: placement found no broker for partition %d's replica %d", id, len(replicas))
			}
		}
		out = append(out, replicas)
	}
	return out, nil
}
