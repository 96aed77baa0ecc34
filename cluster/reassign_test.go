package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// reassignSnapshot is a snapshot of brokers 1..4 live and one partition
// t-0 in state p, with min.insync.replicas minISR on the topic.
func reassignSnapshot(p PartitionState, minISR string) *Snapshot {
	s := &Snapshot{Brokers: map[int32]Broker{}, Topics: map[string]Topic{}, Partitions: PartitionMap{}}
	for i := int32(1); i <= 4; i++ {
		s.Brokers[i] = Broker{NodeID: i}
	}
	t := Topic{Name: "t", Partitions: 1}
	if minISR != "" {
		t.Configs = map[string]string{MinInsyncReplicasConfig: minISR}
	}
	s.Topics["t"] = t
	p.Topic = "t"
	s.Partitions = s.Partitions.With(p)
	return s
}

func TestReassignStartsCompletesOrRefusesAsKafkaDoes(t *testing.T) {
	tp := TopicPartition{"t", 0}
	steady := PartitionState{Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7}
	moving := PartitionState{Replicas: ids(1, 2, 3, 4), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 5, PartitionEpoch: 8,
		TargetReplicas: ids(2, 3, 4), AddingReplicas: ids(4), RemovingReplicas: ids(1)}
	for _, tc := range []struct {
		name    string
		from    PartitionState
		minISR  string
		target  []int32
		allowRF bool
		err     error
		changed bool
		want    PartitionState // epochs checked separately
	}{
		{name: "a new broker is added and one removed: the union serves meanwhile", from: steady, target: ids(2, 3, 4), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(1, 2, 3, 4), ISR: ids(1, 2, 3), Leader: 1, TargetReplicas: ids(2, 3, 4), AddingReplicas: ids(4), RemovingReplicas: ids(1)}},
		{name: "the same replicas in another order change the preferred leader only", from: steady, target: ids(3, 1, 2), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(3, 1, 2), ISR: ids(1, 2, 3), Leader: 1}},
		{name: "the same replicas in the same order change nothing", from: steady, target: ids(1, 2, 3), allowRF: true,
			want: steady},
		{name: "dropping a replica completes at once and moves the leader off it", from: steady, target: ids(2, 3), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(2, 3), ISR: ids(2, 3), Leader: 2}},
		{name: "dropping replicas waits while the target keeps fewer in sync than min.insync.replicas",
			from:   PartitionState{Replicas: ids(1, 2, 3), ISR: ids(1, 2), Leader: 1},
			minISR: "2", target: ids(2, 3), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(1, 2, 3), ISR: ids(1, 2), Leader: 1, TargetReplicas: ids(2, 3), RemovingReplicas: ids(1)}},
		{name: "the same target again is nothing new", from: moving, target: ids(2, 3, 4), allowRF: true, want: moving},
		{name: "a new target replaces one in progress, from the current union", from: moving, target: ids(2, 4, 1), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(1, 2, 3, 4), ISR: ids(1, 2, 3), Leader: 1, TargetReplicas: ids(2, 4, 1), AddingReplicas: ids(4), RemovingReplicas: ids(3)}},
		{name: "a new target drops a replica the replaced one was adding", from: moving, target: ids(2, 3, 1), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(2, 3, 1), ISR: ids(1, 2, 3), Leader: 1}},
		{name: "a new target that needs no copy completes at once", from: moving, target: ids(1, 2, 3), allowRF: true, changed: true,
			want: PartitionState{Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1}},
		{name: "an unknown broker", from: steady, target: ids(2, 3, 9), allowRF: true, err: ErrInvalidReplicaAssignment, want: steady},
		{name: "a broker twice", from: steady, target: ids(2, 2, 4), allowRF: true, err: ErrInvalidReplicaAssignment, want: steady},
		{name: "an empty target", from: steady, target: []int32{}, allowRF: true, err: ErrInvalidReplicaAssignment, want: steady},
		{name: "a negative broker id", from: steady, target: ids(-1, 2, 3), allowRF: true, err: ErrInvalidReplicaAssignment, want: steady},
		{name: "a replication factor change when not allowed", from: steady, target: ids(1, 2, 3, 4), err: ErrReplicationFactorChange, want: steady},
		{name: "the same replication factor when changes are not allowed", from: steady, target: ids(2, 3, 4), changed: true,
			want: PartitionState{Replicas: ids(1, 2, 3, 4), ISR: ids(1, 2, 3), Leader: 1, TargetReplicas: ids(2, 3, 4), AddingReplicas: ids(4), RemovingReplicas: ids(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := reassignSnapshot(tc.from, tc.minISR)
			u, changed, err := Reassign(s, Policy{}, tp, tc.target, tc.allowRF)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if changed != tc.changed {
				t.Fatalf("changed %v, want %v", changed, tc.changed)
			}
			got := u.New
			if !slices.Equal(got.Replicas, tc.want.Replicas) || !slices.Equal(got.ISR, tc.want.ISR) || got.Leader != tc.want.Leader ||
				!sameReassignment(got, PartitionState{TargetReplicas: tc.want.TargetReplicas, AddingReplicas: tc.want.AddingReplicas, RemovingReplicas: tc.want.RemovingReplicas}) {
				t.Fatalf("got replicas %v isr %v leader %d target %v adding %v removing %v, want %+v",
					got.Replicas, got.ISR, got.Leader, got.TargetReplicas, got.AddingReplicas, got.RemovingReplicas, tc.want)
			}
			switch {
			case !changed:
			case got.PartitionEpoch != tc.from.PartitionEpoch+1:
				t.Fatalf("partition epoch %d after %d", got.PartitionEpoch, tc.from.PartitionEpoch)
			case (got.Leader != tc.from.Leader) != (got.LeaderEpoch == tc.from.LeaderEpoch+1):
				t.Fatalf("leader %d->%d at leader epoch %d->%d", tc.from.Leader, got.Leader, tc.from.LeaderEpoch, got.LeaderEpoch)
			}
		})
	}
	if _, _, err := Reassign(reassignSnapshot(steady, ""), Policy{}, TopicPartition{"t", 1}, ids(1), true); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

func TestCancelReassignmentRevertsToTheOriginalReplicas(t *testing.T) {
	tp := TopicPartition{"t", 0}
	for _, tc := range []struct {
		name string
		from PartitionState
		err  error
		want PartitionState
	}{
		{name: "an adding replica in the ISR leaves it",
			from: PartitionState{Replicas: ids(3, 1, 2, 4), ISR: ids(3, 1, 2, 4), Leader: 3, TargetReplicas: ids(2, 3, 4), AddingReplicas: ids(4), RemovingReplicas: ids(1)},
			want: PartitionState{Replicas: ids(3, 1, 2), ISR: ids(3, 1, 2), Leader: 3}},
		{name: "an adding replica that leads hands leadership back",
			from: PartitionState{Replicas: ids(1, 2, 4), ISR: ids(4, 2), Leader: 4, TargetReplicas: ids(4, 2), AddingReplicas: ids(4), RemovingReplicas: ids(1)},
			want: PartitionState{Replicas: ids(1, 2), ISR: ids(2), Leader: 2}},
		{name: "no original replica in sync", err: ErrInvalidReplicaAssignment,
			from: PartitionState{Replicas: ids(1, 4), ISR: ids(4), Leader: 4, TargetReplicas: ids(4), AddingReplicas: ids(4), RemovingReplicas: ids(1)}},
		{name: "nothing in progress", err: ErrNoReassignmentInProgress,
			from: PartitionState{Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := CancelReassignment(reassignSnapshot(tc.from, ""), tp)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got := u.New
			if !slices.Equal(got.Replicas, tc.want.Replicas) || !slices.Equal(got.ISR, tc.want.ISR) || got.Leader != tc.want.Leader || got.Reassigning() {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if got.PartitionEpoch != tc.from.PartitionEpoch+1 || (got.Leader != tc.from.Leader) != (got.LeaderEpoch == tc.from.LeaderEpoch+1) {
				t.Fatalf("epochs %d/%d after %d/%d", got.LeaderEpoch, got.PartitionEpoch, tc.from.LeaderEpoch, tc.from.PartitionEpoch)
			}
		})
	}
}

// TestControllerCompletesAReassignmentOnceTheNewReplicasAreInSync drives
// a move of {1,2,3} to {2,3,4} through the store: the request starts it,
// the leader's ISR expansion brings 4 in, and the active controller (a
// new one, as after a failover: everything it needs is in the store)
// switches the replicas, moves leadership off 1 at a new epoch and ends
// the reassignment in one write.
func TestControllerCompletesAReassignmentOnceTheNewReplicasAreInSync(t *testing.T) {
	m := clusterOf(4)
	m.put(Topic{Name: "t", Partitions: 1}, PartitionState{Topic: "t", Replicas: ids(1, 2, 3), ISR: ids(1, 2, 3), Leader: 1, LeaderEpoch: 2})
	admin := newTestController(m, 2, Policy{})
	ctx := context.Background()
	tp := TopicPartition{"t", 0}
	errs, _, err := admin.AlterReassignments(ctx, map[TopicPartition][]int32{tp: ids(2, 3, 4)}, true)
	if err != nil || len(errs) != 0 {
		t.Fatalf("start: %v %v", errs, err)
	}
	p, _ := m.Snapshot().Partition("t", 0)
	if !p.Reassigning() || !slices.Equal(p.Replicas, ids(1, 2, 3, 4)) || ReassignmentCount(m.Snapshot()) != 1 {
		t.Fatalf("after start: %+v", p)
	}
	if got := Reassignments(m.Snapshot(), []TopicPartition{tp, {"t", 5}, {"nope", 0}}); len(got) != 1 || got[0].TP() != tp {
		t.Fatalf("listed: %+v", got)
	}
	// The first controller runs while 4 is not in sync: nothing
	// completes.
	first := newTestController(m, 1, Policy{})
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan error, 1)
	go func() { done1 <- first.Run(ctx1) }()
	waitLog(t, first, "controller active")
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Snapshot().Partition("t", 0); !p.Reassigning() {
		t.Fatalf("completed with 4 out of sync: %+v", p)
	}
	// Failover: another controller takes over, then 4 joins the ISR.
	run(t, newTestController(m, 3, Policy{}))
	if _, err := admin.AlterISR(ctx, ISRChange{Topic: "t", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: ids(1, 2, 3, 4)}); err != nil {
		t.Fatal(err)
	}
	done := waitFor(t, m, "the reassignment completed", func(s *Snapshot) bool {
		p, _ := s.Partition("t", 0)
		return !p.Reassigning()
	})
	p, _ = done.Partition("t", 0)
	if !slices.Equal(p.Replicas, ids(2, 3, 4)) || !slices.Equal(p.ISR, ids(2, 3, 4)) || p.Leader != 2 || p.LeaderEpoch != 3 {
		t.Fatalf("after completion: %+v", p)
	}
	if ReassignmentCount(done) != 0 {
		t.Fatal("still counted as reassigning")
	}
	errs, _, err = admin.AlterReassignments(ctx, map[TopicPartition][]int32{tp: nil, {"t", 3}: ids(1)}, true)
	if err != nil || !errors.Is(errs[tp], ErrNoReassignmentInProgress) || !errors.Is(errs[TopicPartition{"t", 3}], ErrUnknownPartition) {
		t.Fatalf("cancel of nothing: %v %v", errs, err)
	}
	noViolations(t, m)
}

func TestReassignmentSurvivesTheStoreCodec(t *testing.T) {
	p := PartitionState{Topic: "t", Partition: 0, Replicas: ids(1, 2, 3, 4), ISR: ids(1, 2), Leader: 1,
		TargetReplicas: ids(2, 3, 4), AddingReplicas: ids(4), RemovingReplicas: ids(1)}
	got, err := decodePartition(partitionKey("t", 0), []byte(encodePartition(p)), 9)
	if err != nil {
		t.Fatal(err)
	}
	if !sameReassignment(p, got) || !slices.Equal(got.Replicas, p.Replicas) {
		t.Fatalf("decoded %+v", got)
	}
	p = PartitionState{Topic: "t", Partition: 0, Replicas: ids(1), ISR: ids(1), Leader: 1}
	got, err = decodePartition(partitionKey("t", 0), []byte(encodePartition(p)), 9)
	if err != nil || got.Reassigning() {
		t.Fatalf("decoded %+v %v", got, err)
	}
}
