package cluster

import (
	"context"
	"slices"
	"testing"
	"time"
)

// snapshotOf is a snapshot with brokers live and partitions of topic "t"
// numbered from 0, each given as replicas (preferred first), ISR and leader.
func snapshotOf(live []int32, parts ...PartitionState) *Snapshot {
	s := &Snapshot{Brokers: map[int32]Broker{}, Topics: map[string]Topic{}, Partitions: PartitionMap{}}
	for _, b := range live {
		s.Brokers[b] = Broker{NodeID: b}
	}
	for i, p := range parts {
		p.Topic, p.Partition = "t", int32(i)
		s.Partitions = s.Partitions.With(p)
	}
	s.Topics["t"] = Topic{Name: "t", Partitions: int32(len(parts))}
	return s
}

func lpart(replicas []int32, isr []int32, leader int32) PartitionState {
	return PartitionState{Replicas: replicas, ISR: isr, Leader: leader}
}

// reassigning is p with a reassignment to its replicas reversed in
// progress.
func reassigning(p PartitionState) PartitionState {
	p.TargetReplicas = slices.Clone(p.Replicas)
	slices.Reverse(p.TargetReplicas)
	return p
}

func TestImbalancedLeadersElectsOnlyBrokersAboveThePercentage(t *testing.T) {
	r123, r231, r312 := []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2}
	all := []int32{1, 2, 3}
	// Ten partitions prefer broker 1; n of them are led by 2.
	tenPreferring1 := func(n int) []PartitionState {
		var ps []PartitionState
		for i := range 10 {
			leader := int32(1)
			if i < n {
				leader = 2
			}
			ps = append(ps, lpart(r123, all, leader))
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		live    []int32
		parts   []PartitionState
		percent int
		want    []int32 // partitions of t to elect
	}{
		{"balanced", all, []PartitionState{lpart(r123, all, 1), lpart(r231, all, 2), lpart(r312, all, 3)}, 10, nil},
		{"one of three led elsewhere, 0%", all, []PartitionState{lpart(r123, all, 2), lpart(r231, all, 2), lpart(r312, all, 3)}, 0, []int32{0}},
		{"one of one is 100%, above 99", all, []PartitionState{lpart(r123, all, 2), lpart(r231, all, 2), lpart(r312, all, 3)}, 99, []int32{0}},
		{"100% is never above 100", all, []PartitionState{lpart(r123, all, 2)}, 100, nil},
		{"1 of 10 is 10%: not above 10", all, tenPreferring1(1), 10, nil},
		{"2 of 10 is 20%: above 10, both elected", all, tenPreferring1(2), 10, []int32{0, 1}},
		{"preferred replica out of the ISR", all, []PartitionState{lpart(r123, []int32{2, 3}, 2), lpart(r123, all, 2)}, 0, []int32{1}},
		{"preferred replica not live", []int32{2, 3}, []PartitionState{lpart(r123, all, 2)}, 0, nil},
		{"offline partition whose preferred replica is in the ISR", all, []PartitionState{lpart(r123, []int32{1}, NoLeader)}, 0, []int32{0}},
		{"partition being reassigned", all, []PartitionState{reassigning(lpart(r123, all, 2)), lpart(r123, all, 2)}, 0, []int32{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ImbalancedLeaders(snapshotOf(tc.live, tc.parts...), tc.percent)
			var ids []int32
			for _, tp := range got {
				ids = append(ids, tp.Partition)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("elect %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestLeaderImbalancesCountPreferredPartitionsNotLed(t *testing.T) {
	all := []int32{1, 2, 3}
	s := snapshotOf(all,
		lpart([]int32{1, 2, 3}, all, 2),
		lpart([]int32{1, 2, 3}, all, 1),
		lpart([]int32{2, 3, 1}, all, 2),
		lpart([]int32{3, 1, 2}, []int32{3}, NoLeader),
	)
	want := []LeaderImbalance{{1, 2, 1}, {2, 1, 0}, {3, 1, 1}}
	if got := LeaderImbalances(s); !slices.Equal(got, want) {
		t.Errorf("imbalances %+v, want %+v", got, want)
	}
	if got := want[0].Percent(); got != 50 {
		t.Errorf("percent %v, want 50", got)
	}
	if got := PreferredReplicaImbalance(s); got != 2 {
		t.Errorf("preferred replica imbalance %d, want 2", got)
	}
}

// TestRunLeaderBalanceReturnsLeadershipAfterABrokerReturns: a broker is
// fenced, its partitions elect other leaders; once it is back in every
// ISR the balancer, and not an operator, makes it leader of what it
// prefers again, at a new leader epoch, and counts the elections.
func TestRunLeaderBalanceReturnsLeadershipAfterABrokerReturns(t *testing.T) {
	m := clusterOf(3)
	stats := &ElectionStats{}
	c := newTestController(m, 1, Policy{})
	c.stats = stats
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "t", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.RunLeaderBalance(bctx, LeaderBalanceConfig{Interval: 10 * time.Millisecond, Percent: 10})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunLeaderBalance: %v", err)
		}
	}()

	ledBy1 := 0
	for _, p := range m.Snapshot().Partitions.All() {
		if p.Leader == 1 {
			ledBy1++
		}
	}
	m.fence(1)
	waitFor(t, m, "broker 1 leading nothing", func(s *Snapshot) bool {
		for _, p := range s.Partitions.All() {
			if p.Leader == 1 {
				return false
			}
		}
		return true
	})
	m.register(1, "")
	before := map[TopicPartition]int32{}
	for tp, p := range m.Snapshot().Partitions.All() {
		before[tp] = p.LeaderEpoch
	}
	// Broker 1 out of sync: nothing moves to it.
	time.Sleep(50 * time.Millisecond)
	for _, p := range m.Snapshot().Partitions.All() {
		if p.Leader == 1 {
			t.Fatalf("%s-%d elected broker 1 while it is out of the ISR", p.Topic, p.Partition)
		}
	}
	for _, p := range m.Snapshot().Partitions.All() {
		req := ISRChange{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			PartitionEpoch: p.PartitionEpoch, NewISR: append(slices.Clone(p.ISR), 1)}
		if _, err := c.AlterISR(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	s := waitFor(t, m, "every partition led by its preferred replica", func(s *Snapshot) bool {
		return PreferredReplicaImbalance(s) == 0
	})
	moved := 0
	for tp, p := range s.Partitions.All() {
		if p.Replicas[0] == 1 {
			moved++
			if p.LeaderEpoch <= before[tp] {
				t.Errorf("%v: leader epoch %d, was %d", tp, p.LeaderEpoch, before[tp])
			}
		}
	}
	// Counted: the failovers away from broker 1, then the elections
	// back. A write is counted just after the store shows it.
	want := int64(ledBy1 + moved)
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(time.Millisecond) {
		clean, unclean := stats.Counts()
		if clean == want && unclean == 0 && moved > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("elections counted %d clean, %d unclean; want %d clean (%d failovers, %d back)", clean, unclean, want, ledBy1, moved)
		}
	}
	noViolations(t, m)
}
