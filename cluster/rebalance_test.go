package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// brokersOf is brokers 1..n, with racks[i] the rack of broker i+1 when
// racks is given.
func brokersOf(n int, racks ...string) []Broker {
	out := make([]Broker, n)
	for i := range out {
		out[i] = Broker{NodeID: int32(i + 1)}
		if i < len(racks) {
			out[i].Rack = racks[i]
		}
	}
	return out
}

// partsOf is topic's partitions, one per assignment, each led by its
// first replica.
func partsOf(topic string, assignment ...[]int32) []PartitionState {
	out := make([]PartitionState, len(assignment))
	for i, rs := range assignment {
		out[i] = PartitionState{Topic: topic, Partition: int32(i), Replicas: rs, ISR: rs, Leader: rs[0]}
	}
	return out
}

// placedTopic is a topic placed by PlaceReplicas over brokers, as CreateTopic
// would place it.
func placedTopic(t *testing.T, topic string, brokers []Broker, partitions int32, rf int, seed uint64) []PartitionState {
	t.Helper()
	a, err := PlaceReplicas(brokers, partitions, rf, rand.New(rand.NewPCG(seed, seed)))
	if err != nil {
		t.Fatal(err)
	}
	return partsOf(topic, a...)
}

func spread(loads []BrokerLoad, f func(BrokerLoad) int) int {
	lo, hi := f(loads[0]), f(loads[0])
	for _, l := range loads[1:] {
		lo, hi = min(lo, f(l)), max(hi, f(l))
	}
	return hi - lo
}

func brokerIDs(brokers []Broker) []int32 {
	out := make([]int32, len(brokers))
	for i, b := range brokers {
		out[i] = b.NodeID
	}
	return out
}

// leastMoves is the fewest replica moves that even out counts over
// brokers: each broker ends with q or q+1, the r most loaded with q+1.
func leastMoves(brokers []int32, a map[TopicPartition][]int32) int {
	loads := Loads(brokers, a)
	total := 0
	for _, l := range loads {
		total += l.Replicas
	}
	q, r := total/len(loads), total%len(loads)
	counts := make([]int, len(loads))
	for i, l := range loads {
		counts[i] = l.Replicas
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	moves := 0
	for i, c := range counts {
		target := q
		if i < r {
			target = q + 1
		}
		moves += max(0, c-target)
	}
	return moves
}

// checkPlan checks what every plan keeps: it names only partitions that
// change, from their current replicas; each target keeps the replication
// factor, names no broker twice and only given brokers for the replicas
// that moved; with racks on every broker, a partition is on as many racks
// as it can be.
func checkPlan(t *testing.T, brokers []Broker, parts []PartitionState, plan Plan) map[TopicPartition][]int32 {
	t.Helper()
	before := Assignments(parts)
	given := map[int32]string{}
	for _, b := range brokers {
		given[b.NodeID] = b.Rack
	}
	racks := map[string]bool{}
	for _, b := range brokers {
		racks[b.Rack] = true
	}
	for i, r := range plan.Reassignments {
		tp := TopicPartition{r.Topic, r.Partition}
		if i > 0 && compareTP(TopicPartition{plan.Reassignments[i-1].Topic, plan.Reassignments[i-1].Partition}, tp) >= 0 {
			t.Errorf("reassignments out of order at %v", tp)
		}
		if !slices.Equal(r.Replicas, before[tp]) {
			t.Errorf("%v: replicas %v, the partition has %v", tp, r.Replicas, before[tp])
		}
		if slices.Equal(r.Replicas, r.Target) {
			t.Errorf("%v: planned without a change", tp)
		}
		if len(r.Target) != len(r.Replicas) {
			t.Errorf("%v: target %v changes the replication factor of %v", tp, r.Target, r.Replicas)
		}
		for j, b := range r.Target {
			if slices.Contains(r.Target[:j], b) {
				t.Errorf("%v: target %v names %d twice", tp, r.Target, b)
			}
		}
		for _, b := range r.Adding() {
			if _, ok := given[b]; !ok {
				t.Errorf("%v: target %v adds broker %d, which is not given", tp, r.Target, b)
			}
		}
	}
	after := plan.Apply(before)
	if racked(brokers) {
		for tp, rs := range after {
			on := map[string]bool{}
			for _, b := range rs {
				on[given[b]] = true
			}
			if want := min(len(rs), len(racks)); len(on) < want {
				t.Errorf("%v: %v on %d racks, want %d", tp, rs, len(on), want)
			}
		}
	}
	return after
}

func TestPlanRebalanceSpreadsReplicasAndLeadersWithTheFewestMoves(t *testing.T) {
	threeTopics := func(t *testing.T) []PartitionState {
		var ps []PartitionState
		for i, name := range []string{"a", "b", "c"} {
			ps = append(ps, placedTopic(t, name, brokersOf(3), 3, 3, uint64(i+1))...)
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		brokers []Broker
		parts   func(t *testing.T) []PartitionState
		// exact: the counts can be evened out and racks do not stand in
		// the way, so the plan must take exactly leastMoves.
		exact bool
		moves int // when >= 0 and not exact, the moves expected
	}{
		{"a fourth broker joins three topics of rf 3", brokersOf(4), threeTopics, true, -1},
		{"two brokers join", brokersOf(5), threeTopics, true, -1},
		{"balanced: nothing to do", brokersOf(3), threeTopics, true, 0},
		{"rf 1 piled on one broker", brokersOf(4), func(t *testing.T) []PartitionState {
			return partsOf("p", []int32{1}, []int32{1}, []int32{1}, []int32{1}, []int32{1}, []int32{1}, []int32{1}, []int32{2})
		}, true, -1},
		{"leaders piled on one broker, replicas even", brokersOf(3), func(t *testing.T) []PartitionState {
			return partsOf("l", []int32{1, 2, 3}, []int32{1, 2, 3}, []int32{1, 3, 2}, []int32{1, 2, 3}, []int32{1, 3, 2}, []int32{1, 2, 3})
		}, true, 0},
		{"a rack with two replicas of a partition and a rack with none", brokersOf(4, "r1", "r1", "r2", "r2"), func(t *testing.T) []PartitionState {
			return partsOf("r", []int32{1, 2}, []int32{3, 4}, []int32{1, 3}, []int32{2, 4})
		}, false, 2},
		{"racks of three and one broker, rf 2: the lone rack holds every partition", brokersOf(4, "a", "a", "a", "b"), func(t *testing.T) []PartitionState {
			return partsOf("u", []int32{1, 2}, []int32{2, 3}, []int32{3, 1}, []int32{4, 1}, []int32{1, 2}, []int32{2, 3})
		}, false, -1},
		{"rf 3 over two racks: both racks, never one", brokersOf(4, "a", "a", "b", "b"), func(t *testing.T) []PartitionState {
			return partsOf("v", []int32{1, 2, 3}, []int32{1, 2, 4}, []int32{1, 2, 3}, []int32{1, 2, 4})
		}, false, -1},
		{"a replica on a broker not given stays", brokersOf(3), func(t *testing.T) []PartitionState {
			return partsOf("x", []int32{9, 1}, []int32{9, 1}, []int32{1, 2}, []int32{1, 2})
		}, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := tc.parts(t)
			plan, err := PlanRebalance(tc.brokers, parts)
			if err != nil {
				t.Fatal(err)
			}
			after := checkPlan(t, tc.brokers, parts, plan)
			loads := Loads(brokerIDs(tc.brokers), after)
			rackFree := !racked(tc.brokers)
			if rackFree || tc.name == "a rack with two replicas of a partition and a rack with none" {
				if s := spread(loads, func(l BrokerLoad) int { return l.Replicas }); s > 1 {
					t.Errorf("replicas per broker %+v: spread %d, want at most 1", loads, s)
				}
				if s := spread(loads, func(l BrokerLoad) int { return l.Preferred }); s > 1 {
					t.Errorf("preferred leaders per broker %+v: spread %d, want at most 1", loads, s)
				}
			}
			if tc.exact {
				if want := leastMoves(brokerIDs(tc.brokers), Assignments(parts)); plan.ReplicaMoves() != want {
					t.Errorf("%d replica moves, want the least, %d", plan.ReplicaMoves(), want)
				}
			}
			if tc.moves >= 0 && plan.ReplicaMoves() != tc.moves {
				t.Errorf("%d replica moves, want %d", plan.ReplicaMoves(), tc.moves)
			}
			for _, p := range parts {
				if rs := after[p.TP()]; p.IsReplica(9) && !slices.Contains(rs, 9) {
					t.Errorf("%v: %v lost the replica on broker 9, which is not given", p.TP(), rs)
				}
			}
			// Planned again over its own result, it proposes nothing.
			var applied []PartitionState
			for _, p := range parts {
				p.Replicas = after[p.TP()]
				applied = append(applied, p)
			}
			if again, err := PlanRebalance(tc.brokers, applied); err != nil || len(again.Reassignments) != 0 {
				t.Errorf("planned again: %+v %v, want nothing", again.Reassignments, err)
			}
		})
	}
}

// TestPlanRebalanceHoldsItsInvariantsOnRandomClusters: seeded random
// assignments over 3-7 brokers, with and without racks: every invariant
// of checkPlan, replica counts within one of each other where racks do
// not constrain them (preferred leaders too where no partition has a
// single replica), and the fewest replica moves.
func TestPlanRebalanceHoldsItsInvariantsOnRandomClusters(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 3 + rng.IntN(5)
		brokers := brokersOf(n)
		aware := seed%3 == 0
		if aware {
			for i := range brokers {
				brokers[i].Rack = fmt.Sprintf("r%d", i%3) // three racks of near equal size
			}
		}
		// Topics placed over the first brokers only: the rest joined later.
		old := brokers[:max(2, n-rng.IntN(3))]
		var parts []PartitionState
		for ti := range 1 + rng.IntN(4) {
			rf := 1 + rng.IntN(min(3, len(old)))
			parts = append(parts, placedTopic(t, fmt.Sprintf("t%d", ti), old, int32(1+rng.IntN(12)), rf, seed*10+uint64(ti))...)
		}
		t.Run(fmt.Sprintf("seed=%d brokers=%d racks=%v", seed, n, aware), func(t *testing.T) {
			plan, err := PlanRebalance(brokers, parts)
			if err != nil {
				t.Fatal(err)
			}
			after := checkPlan(t, brokers, parts, plan)
			loads := Loads(brokerIDs(brokers), after)
			if aware {
				// A move within a rack never breaks the rack rule: the
				// brokers of one rack are even.
				byRack := map[string][]int32{}
				for _, b := range brokers {
					byRack[b.Rack] = append(byRack[b.Rack], b.NodeID)
				}
				for rack, members := range byRack {
					l := Loads(members, after)
					if s := spread(l, func(l BrokerLoad) int { return l.Replicas }); s > 1 {
						t.Errorf("rack %s: replicas per broker %+v: spread %d", rack, l, s)
					}
				}
			}
			if !aware {
				if s := spread(loads, func(l BrokerLoad) int { return l.Replicas }); s > 1 {
					t.Errorf("replicas per broker %+v: spread %d", loads, s)
				}
				if want := leastMoves(brokerIDs(brokers), Assignments(parts)); plan.ReplicaMoves() != want {
					t.Errorf("%d replica moves, want the least, %d", plan.ReplicaMoves(), want)
				}
			}
			// A partition of one replica has the preferred leader it has
			// unless its replica moves; with none, order alone evens
			// them out.
			rf1 := slices.ContainsFunc(parts, func(p PartitionState) bool { return len(p.Replicas) == 1 })
			if s := spread(loads, func(l BrokerLoad) int { return l.Preferred }); s > 1 && !aware && !rf1 {
				t.Errorf("preferred leaders per broker %+v: spread %d", loads, s)
			}
		})
	}
}

func TestPlanDecommissionMovesEveryReplicaOffTheBrokerAndNothingElse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		brokers []Broker
		parts   []PartitionState
		node    int32
		err     error
	}{
		{"rf 3 over four brokers", brokersOf(4), nil, 2, nil},
		{"rf 2 with racks: the replica goes to the rack the partition is missing", brokersOf(4, "a", "a", "b", "b"),
			partsOf("r", []int32{1, 3}, []int32{3, 1}, []int32{2, 4}, []int32{4, 2}, []int32{1, 4}), 1, nil},
		{"rf 3 over three brokers cannot shrink", brokersOf(3), partsOf("t", []int32{1, 2, 3}), 3, ErrNotEnoughBrokers},
		{"a broker no longer live still holding replicas", brokersOf(3), partsOf("d", []int32{4, 1}, []int32{2, 4}, []int32{1, 2}), 4, nil},
		{"an unknown broker", brokersOf(3), partsOf("t", []int32{1, 2}), 7, ErrUnknownBroker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := tc.parts
			if parts == nil {
				parts = placedTopic(t, "a", tc.brokers, 12, 3, 1)
			}
			plan, err := PlanDecommission(tc.brokers, parts, tc.node)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || len(plan.Reassignments) != 0 {
					t.Fatalf("plan %+v, err %v; want %v", plan, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rest := slices.DeleteFunc(slices.Clone(tc.brokers), func(b Broker) bool { return b.NodeID == tc.node })
			after := checkPlan(t, rest, parts, plan)
			held := 0
			for _, p := range parts {
				if p.IsReplica(tc.node) {
					held++
				}
			}
			if len(plan.Reassignments) != held || plan.ReplicaMoves() != held {
				t.Errorf("%d reassignments moving %d replicas, want %d: one per replica on %d", len(plan.Reassignments), plan.ReplicaMoves(), held, tc.node)
			}
			for _, r := range plan.Reassignments {
				if !slices.Equal(r.Removing(), []int32{tc.node}) || len(r.Adding()) != 1 {
					t.Errorf("%s-%d: %v -> %v, want only %d replaced", r.Topic, r.Partition, r.Replicas, r.Target, tc.node)
				}
				i := slices.Index(r.Replicas, tc.node)
				if r.Target[i] != r.Adding()[0] {
					t.Errorf("%s-%d: %v -> %v, want the new replica in %d's place", r.Topic, r.Partition, r.Replicas, r.Target, tc.node)
				}
			}
			for tp, rs := range after {
				if slices.Contains(rs, tc.node) {
					t.Errorf("%v: %v still on %d", tp, rs, tc.node)
				}
			}
			if !racked(rest) {
				loads := Loads(brokerIDs(rest), after)
				if s := spread(loads, func(l BrokerLoad) int { return l.Replicas }); s > 1 {
					t.Errorf("replicas per remaining broker %+v: spread %d", loads, s)
				}
			}
		})
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		brokers []Broker
		parts   []PartitionState
		want    error
	}{
		{"no brokers", nil, partsOf("t", []int32{1}), ErrNotEnoughBrokers},
		{"a replica named twice", brokersOf(3), partsOf("t", []int32{1, 1}), ErrInvalidReplicaAssignment},
		{"no replicas", brokersOf(3), []PartitionState{{Topic: "t"}}, ErrInvalidReplicaAssignment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PlanRebalance(tc.brokers, tc.parts); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := PlanRebalance(append(brokersOf(2), Broker{NodeID: 1}), nil); err == nil {
		t.Error("a broker given twice was accepted")
	}
	// Loads of an empty plan over no partitions: every broker at zero.
	if got := Loads([]int32{2, 1}, nil); !slices.Equal(got, []BrokerLoad{{1, 0, 0}, {2, 0, 0}}) {
		t.Errorf("loads %+v", got)
	}
}
