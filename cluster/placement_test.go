package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// brokersOn returns brokers 1..len(racks), broker i+1 on racks[i].
func brokersOn(racks ...string) []Broker {
	out := make([]Broker, len(racks))
	for i, r := range racks {
		out[i] = Broker{NodeID: int32(i + 1), Rack: r}
	}
	return out
}

func noRacks(n int) []Broker { return brokersOn(make([]string, n)...) }

// TestPlacementWithoutRacksIsKafkasRoundRobin pins the assignment Kafka
// gives five brokers, ten partitions and three replicas when the start
// index and shift are both 0: leaders round-robin, followers shifted by
// one more after every five partitions.
func TestPlacementWithoutRacksIsKafkasRoundRobin(t *testing.T) {
	order := brokerOrder(noRacks(5))
	got, err := assign(order, 0, 10, 3, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{
		{1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {4, 5, 1}, {5, 1, 2},
		{1, 3, 4}, {2, 4, 5}, {3, 5, 1}, {4, 1, 2}, {5, 2, 3},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestPlacementAlternatesRacksInBrokerOrder(t *testing.T) {
	// Brokers 1..6 on racks a,a,b,b,c,c (rack order by name, then ID).
	got := brokerOrder(brokersOn("b", "a", "a", "c", "b", "c"))
	var nodes []int32
	for _, p := range got {
		nodes = append(nodes, p.node)
	}
	if want := []int32{2, 1, 4, 3, 5, 6}; !slices.Equal(nodes, want) {
		t.Fatalf("order %v, want %v", nodes, want)
	}
}

// checkAssignment checks the properties every placement has and returns
// per-broker leader counts.
func checkAssignment(t *testing.T, brokers []Broker, got [][]int32, partitions int32, rf int) map[int32]int {
	t.Helper()
	if int32(len(got)) != partitions {
		t.Fatalf("%d partitions placed, want %d", len(got), partitions)
	}
	rack := map[int32]string{}
	for _, b := range brokers {
		rack[b.NodeID] = b.Rack
	}
	leaders := map[int32]int{}
	for p, replicas := range got {
		if len(replicas) != rf {
			t.Fatalf("partition %d: %d replicas %v, want %d", p, len(replicas), replicas, rf)
		}
		for i, r := range replicas {
			if _, ok := rack[r]; !ok {
				t.Fatalf("partition %d: replica %d is no broker", p, r)
			}
			if slices.Contains(replicas[:i], r) {
				t.Fatalf("partition %d: replicas %v repeat a broker", p, replicas)
			}
		}
		leaders[replicas[0]]++
	}
	return leaders
}

func TestPlacementProperties(t *testing.T) {
	layouts := map[string][]Broker{
		"1 broker":                      noRacks(1),
		"3 brokers":                     noRacks(3),
		"5 brokers":                     noRacks(5),
		"7 brokers":                     noRacks(7),
		"3 racks of 2":                  brokersOn("a", "a", "b", "b", "c", "c"),
		"3 racks of 1":                  brokersOn("x", "y", "z"),
		"2 racks of 3":                  brokersOn("a", "b", "a", "b", "a", "b"),
		"uneven racks 3+1+1":            brokersOn("a", "a", "a", "b", "c"),
		"uneven racks 4+2":              brokersOn("a", "a", "b", "a", "b", "a"),
		"one rack":                      brokersOn("a", "a", "a", "a"),
		"4 racks, 9 brokers":            brokersOn("a", "b", "c", "d", "a", "b", "c", "d", "a"),
		"some racks missing (ignored)":  brokersOn("a", "", "b", "a"),
		"racks in reverse ID order 2+2": brokersOn("z", "z", "y", "y"),
	}
	for name, brokers := range layouts {
		n := len(brokers)
		racks := map[string][]int32{}
		for _, b := range brokers {
			racks[b.Rack] = append(racks[b.Rack], b.NodeID)
		}
		aware := racked(brokers)
		for rf := 1; rf <= n; rf++ {
			for _, partitions := range []int32{1, int32(n), int32(2 * n), 7, 24} {
				for seed := uint64(1); seed <= 5; seed++ {
					t.Run(fmt.Sprintf("%s/rf=%d/partitions=%d/seed=%d", name, rf, partitions, seed), func(t *testing.T) {
						got, err := PlaceReplicas(brokers, partitions, rf, seeded(seed))
						if err != nil {
							t.Fatal(err)
						}
						leaders := checkAssignment(t, brokers, got, partitions, rf)
						lo, hi := int(partitions), 0
						for _, b := range brokers {
							lo, hi = min(lo, leaders[b.NodeID]), max(hi, leaders[b.NodeID])
						}
						if hi-lo > 1 {
							t.Fatalf("leaders per broker %v differ by %d", leaders, hi-lo)
						}
						if partitions%int32(n) == 0 && hi != lo {
							t.Fatalf("leaders per broker %v not equal for %d partitions", leaders, partitions)
						}
						if !aware {
							return
						}
						rackOf := map[int32]string{}
						for _, b := range brokers {
							rackOf[b.NodeID] = b.Rack
						}
						for p, replicas := range got {
							count := map[string]int{}
							used := map[int32]bool{}
							for _, r := range replicas {
								count[rackOf[r]]++
								used[r] = true
							}
							for r1 := range racks {
								for r2, members := range racks {
									full := !slices.ContainsFunc(members, func(b int32) bool { return !used[b] })
									if count[r1] > count[r2]+1 && !full {
										t.Fatalf("partition %d %v: rack %s holds %d replicas, rack %s %d with brokers to spare",
											p, replicas, r1, count[r1], r2, count[r2])
									}
								}
							}
							if len(racks) >= rf && len(count) != rf {
								t.Fatalf("partition %d %v: %d racks for %d replicas", p, replicas, len(count), rf)
							}
						}
					})
				}
			}
		}
	}
}

func TestPlacementIsDeterministicGivenASeed(t *testing.T) {
	brokers := brokersOn("a", "b", "c", "a", "b", "c")
	first, err := PlaceReplicas(brokers, 12, 3, seeded(42))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := PlaceReplicas(brokers, 12, 3, seeded(42))
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("same seed, different placements:\n%v\n%v", first, again)
	}
	// The start is random: some seed places partition 0 elsewhere.
	moved := false
	for seed := uint64(1); seed < 50 && !moved; seed++ {
		other, _ := PlaceReplicas(brokers, 12, 3, seeded(seed))
		moved = other[0][0] != first[0][0]
	}
	if !moved {
		t.Fatal("every seed starts at the same broker")
	}
}

func TestPlacementRefusesBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name       string
		brokers    []Broker
		partitions int32
		rf         int
		want       error
	}{
		{"replication factor above live brokers", noRacks(2), 3, 3, ErrNotEnoughBrokers},
		{"no brokers", nil, 1, 1, ErrNotEnoughBrokers},
		{"replication factor 0", noRacks(3), 3, 0, ErrInvalidReplicationFactor},
		{"zero partitions", noRacks(3), 0, 1, ErrInvalidPartitions},
		{"negative partitions", noRacks(3), -1, 1, ErrInvalidPartitions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PlaceReplicas(tc.brokers, tc.partitions, tc.rf, seeded(1)); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAddedPartitionsContinueTheTopicsSpread(t *testing.T) {
	for name, brokers := range map[string][]Broker{
		"no racks": noRacks(4),
		"racks":    brokersOn("a", "b", "a", "b"),
	} {
		t.Run(name, func(t *testing.T) {
			initial, err := PlaceReplicas(brokers, 4, 2, seeded(7))
			if err != nil {
				t.Fatal(err)
			}
			existing := make([]PartitionState, len(initial))
			for i, r := range initial {
				existing[len(initial)-1-i] = PartitionState{Topic: "t", Partition: int32(i), Replicas: r} // any order
			}
			added, err := PlaceAddedPartitions(brokers, existing, 4)
			if err != nil {
				t.Fatal(err)
			}
			all := append(slices.Clone(initial), added...)
			leaders := checkAssignment(t, brokers, all, 8, 2)
			for _, b := range brokers {
				if leaders[b.NodeID] != 2 {
					t.Fatalf("leaders per broker %v over %v, want 2 each", leaders, all)
				}
			}
		})
	}
	if _, err := PlaceAddedPartitions(noRacks(2), nil, 1); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("no existing partitions: %v", err)
	}
	three := []PartitionState{{Partition: 0, Replicas: ids(1, 2, 3)}}
	if _, err := PlaceAddedPartitions(noRacks(2), three, 1); !errors.Is(err, ErrNotEnoughBrokers) {
		t.Fatalf("RF 3 on 2 brokers: %v", err)
	}
}

func TestCheckAssignmentRefusesWhatKafkasControllerRefuses(t *testing.T) {
	registered := func(n int32) bool { return n >= 1 && n <= 3 }
	for _, tc := range []struct {
		name       string
		assignment [][]int32
		rf         int
		ok         bool
	}{
		{"one partition", [][]int32{{2, 1, 3}}, 0, true},
		{"preferred leaders vary", [][]int32{{1, 2}, {3, 1}, {2, 3}}, 0, true},
		{"rf of the topic", [][]int32{{3}, {1}}, 1, true},
		{"empty list", [][]int32{{1}, {}}, 0, false},
		{"unregistered broker", [][]int32{{1, 4}}, 0, false},
		{"negative broker", [][]int32{{-1}}, 0, false},
		{"broker twice", [][]int32{{2, 1, 2}}, 0, false},
		{"fewer replicas than the first partition", [][]int32{{1, 2}, {3}}, 0, false},
		{"more replicas than the first partition", [][]int32{{1}, {2, 3}}, 0, false},
		{"not the topic's rf", [][]int32{{1, 2}}, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAssignment(tc.assignment, 5, tc.rf, registered)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidReplicaAssignment) {
				t.Fatalf("got %v, want ErrInvalidReplicaAssignment", err)
			}
		})
	}
}
