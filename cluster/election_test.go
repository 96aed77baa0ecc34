package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every partition in these tables starts at leader epoch 5 and partition
// epoch 7, so a bump shows as 6 and 8.
const (
	startLE = 5
	startPE = 7
)

func ids(n ...int32) []int32 { return n }

// part is partition p of topic "t" at the start epochs.
func part(p int32, replicas, isr []int32, leader int32) PartitionState {
	return PartitionState{Topic: "t", Partition: p, Replicas: replicas, ISR: isr, Leader: leader,
		LeaderEpoch: startLE, PartitionEpoch: startPE, Version: 100 + int64(p)}
}

// after is the state wanted after a decision.
func after(p int32, replicas, isr []int32, leader, le, pe int32) PartitionState {
	return PartitionState{Topic: "t", Partition: p, Replicas: replicas, ISR: isr, Leader: leader,
		LeaderEpoch: le, PartitionEpoch: pe, Version: 100 + int64(p)}
}

// snap is a snapshot with live brokers, topic "t" with configs, and parts.
func snap(live []int32, configs map[string]string, parts ...PartitionState) *Snapshot {
	s := &Snapshot{Revision: 1000, Controller: -1, Brokers: map[int32]Broker{}, Topics: map[string]Topic{},
		Partitions: PartitionMap{}}
	for _, n := range live {
		s.Brokers[n] = Broker{NodeID: n, Epoch: 10 + int64(n)}
	}
	s.Topics["t"] = Topic{Name: "t", Partitions: int32(len(parts)), Configs: configs}
	for _, p := range parts {
		s.Partitions = s.Partitions.With(p)
	}
	return s
}

// newStates is what updates write, and checks each keeps the version it
// read (the CAS token).
func newStates(t *testing.T, updates []PartitionUpdate) []PartitionState {
	t.Helper()
	out := make([]PartitionState, 0, len(updates))
	for _, u := range updates {
		if u.New.Version != u.Old.Version {
			t.Errorf("%v: update changes the CAS version %d -> %d", u.Old.TP(), u.Old.Version, u.New.Version)
		}
		out = append(out, u.New)
	}
	return out
}

func sameStates(t *testing.T, got, want []PartitionState) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d updates %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.TP() != w.TP() || g.Leader != w.Leader || !slices.Equal(g.ISR, w.ISR) || !slices.Equal(g.Replicas, w.Replicas) ||
			g.LeaderEpoch != w.LeaderEpoch || g.PartitionEpoch != w.PartitionEpoch {
			t.Errorf("update %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

var uncleanOn = map[string]string{UncleanLeaderElectionConfig: "true"}
var uncleanOff = map[string]string{UncleanLeaderElectionConfig: "false"}

func TestBrokersFencedLeaveISRsAndElectFromISROnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		live    []int32 // live in the snapshot; the fenced ones may still be listed
		fenced  []int32
		policy  Policy
		configs map[string]string
		parts   []PartitionState
		want    []PartitionState
	}{
		{
			name: "follower fenced leaves the ISR, leader and leader epoch stay",
			live: ids(1, 2), fenced: ids(3),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(1, 2), 1, startLE, startPE+1)},
		},
		{
			name: "fenced leader replaced by the next ISR member, both epochs bumped",
			live: ids(2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(2, 3), 2, startLE+1, startPE+1)},
		},
		{
			name: "new leader is the first in assignment order, not ISR order",
			live: ids(2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 3, 2), ids(1, 2, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 3, 2), ids(2, 3), 3, startLE+1, startPE+1)},
		},
		{
			name: "a live replica outside the ISR is not elected",
			live: ids(2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(3), 3, startLE+1, startPE+1)},
		},
		{
			name: "fenced broker still listed in the snapshot is treated as gone",
			live: ids(1, 2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(2, 3), 2, startLE+1, startPE+1)},
		},
		{
			name: "last ISR member fenced, unclean off: offline, it stays the ISR",
			live: ids(2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(1), NoLeader, startLE+1, startPE+1)},
		},
		{
			name: "last ISR member fenced, unclean on by policy: first live replica leads alone",
			live: ids(2, 3), fenced: ids(1), policy: Policy{UncleanLeaderElection: true},
			parts: []PartitionState{part(0, ids(1, 3, 2), ids(1), 1)},
			want:  []PartitionState{after(0, ids(1, 3, 2), ids(3), 3, startLE+1, startPE+1)},
		},
		{
			name: "unclean on by topic config overrides the policy",
			live: ids(2, 3), fenced: ids(1), configs: uncleanOn,
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(2), 2, startLE+1, startPE+1)},
		},
		{
			name: "unclean off by topic config overrides the policy",
			live: ids(2, 3), fenced: ids(1), configs: uncleanOff, policy: Policy{UncleanLeaderElection: true},
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(1), NoLeader, startLE+1, startPE+1)},
		},
		{
			name: "unclean on with no live replica: offline",
			live: ids(4), fenced: ids(1), configs: uncleanOn,
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2), 1)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(1), NoLeader, startLE+1, startPE+1)},
		},
		{
			name: "whole ISR fenced at once keeps the last leader in the ISR",
			live: ids(3), fenced: ids(1, 2),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2), 2)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(2), NoLeader, startLE+1, startPE+1)},
		},
		{
			name: "already offline partition whose ISR member is fenced again: no change",
			live: ids(2, 3), fenced: ids(1),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), NoLeader)},
		},
		{
			name: "partitions without the fenced broker are untouched",
			live: ids(1, 2, 3), fenced: ids(4),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2, 3), 1), part(1, ids(2, 3), ids(3), 3)},
		},
		{
			name: "several partitions, sorted by partition",
			live: ids(1, 3), fenced: ids(2),
			parts: []PartitionState{part(1, ids(2, 3), ids(2, 3), 2), part(0, ids(1, 2), ids(1, 2), 1), part(2, ids(1, 3), ids(1, 3), 1)},
			want: []PartitionState{
				after(0, ids(1, 2), ids(1), 1, startLE, startPE+1),
				after(1, ids(2, 3), ids(3), 3, startLE+1, startPE+1),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap(tc.live, tc.configs, tc.parts...)
			sameStates(t, newStates(t, BrokersFenced(s, tc.policy, tc.fenced...)), tc.want)
		})
	}
}

func TestBrokerRegisteredLeadsOfflinePartitionsWhoseISRHoldsIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		live    []int32
		node    int32
		configs map[string]string
		parts   []PartitionState
		want    []PartitionState
	}{
		{
			name: "last ISR member returns and leads at a new epoch",
			live: ids(1, 2, 3), node: 1,
			parts: []PartitionState{part(0, ids(2, 1, 3), ids(1), NoLeader)},
			want:  []PartitionState{after(0, ids(2, 1, 3), ids(1), 1, startLE+1, startPE+1)},
		},
		{
			name: "a returning replica outside the ISR does not lead, unclean off",
			live: ids(2, 3), node: 2,
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), NoLeader)},
		},
		{
			name: "a returning replica outside the ISR leads alone, unclean on",
			live: ids(2), node: 2, configs: uncleanOn,
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), NoLeader)},
			want:  []PartitionState{after(0, ids(1, 2, 3), ids(2), 2, startLE+1, startPE+1)},
		},
		{
			name: "partitions with a live leader are untouched",
			live: ids(1, 2, 3), node: 3,
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2), 1)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap(tc.live, tc.configs, tc.parts...)
			sameStates(t, newStates(t, BrokerRegistered(s, Policy{}, tc.node)), tc.want)
		})
	}
}

func TestReconcileFinishesHalfDoneWork(t *testing.T) {
	s := snap(ids(1, 2, 3), nil,
		part(0, ids(4, 1, 2), ids(4, 1, 2), 4),     // leader gone, never handled
		part(1, ids(1, 2, 4), ids(1, 2, 4), 1),     // follower gone, still in the ISR
		part(2, ids(4, 2, 3), ids(2), NoLeader),    // offline, yet its ISR member is live
		part(3, ids(1, 2, 3), ids(1, 2, 3), 1),     // fine
		part(4, ids(4, 5, 1), ids(5, 4), 5),        // ISR all gone
		part(5, ids(1, 2, 3), ids(1, 2), NoLeader), // offline with live ISR: the first replica in order leads
	)
	want := []PartitionState{
		after(0, ids(4, 1, 2), ids(1, 2), 1, startLE+1, startPE+1),
		after(1, ids(1, 2, 4), ids(1, 2), 1, startLE, startPE+1),
		after(2, ids(4, 2, 3), ids(2), 2, startLE+1, startPE+1),
		after(4, ids(4, 5, 1), ids(5), NoLeader, startLE+1, startPE+1),
		after(5, ids(1, 2, 3), ids(1, 2), 1, startLE+1, startPE+1),
	}
	updates := Reconcile(s, Policy{})
	sameStates(t, newStates(t, updates), want)
	// Applying the updates leaves nothing to do.
	for _, u := range updates {
		s.Partitions = s.Partitions.With(u.New)
	}
	if again := Reconcile(s, Policy{}); len(again) != 0 {
		t.Fatalf("second reconcile: %+v", again)
	}
}

func TestControlledShutdownMovesLeadershipToOtherISRMembers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		live  []int32
		parts []PartitionState
		want  []PartitionState
	}{
		{
			name:  "leader hands over to the next live ISR member in assignment order",
			live:  ids(1, 2, 3),
			parts: []PartitionState{part(0, ids(1, 3, 2), ids(1, 2, 3), 1)},
			want:  []PartitionState{after(0, ids(1, 3, 2), ids(2, 3), 3, startLE+1, startPE+1)},
		},
		{
			name:  "follower leaves the ISR, leader epoch stays",
			live:  ids(1, 2, 3),
			parts: []PartitionState{part(0, ids(2, 1, 3), ids(2, 1), 2)},
			want:  []PartitionState{after(0, ids(2, 1, 3), ids(2), 2, startLE, startPE+1)},
		},
		{
			name:  "sole ISR member keeps its partition until it stops",
			live:  ids(1, 2, 3),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1), 1)},
		},
		{
			name:  "other ISR members that are not live do not count",
			live:  ids(1, 3),
			parts: []PartitionState{part(0, ids(1, 2, 3), ids(1, 2), 1)},
		},
		{
			name:  "partitions without the broker are untouched",
			live:  ids(1, 2, 3),
			parts: []PartitionState{part(0, ids(2, 3), ids(2, 3), 2)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := snap(tc.live, nil, tc.parts...)
			sameStates(t, newStates(t, ControlledShutdown(s, 1)), tc.want)
		})
	}
}

func TestElectPreferredMovesLeadershipOnlyToALiveInSyncPreferredReplica(t *testing.T) {
	tp := func(p int32) TopicPartition { return TopicPartition{"t", p} }
	s := snap(ids(1, 2, 3), nil,
		part(0, ids(1, 2, 3), ids(1, 2, 3), 2), // movable
		part(1, ids(1, 2, 3), ids(1, 2, 3), 1), // already
		part(2, ids(1, 2, 3), ids(2, 3), 2),    // preferred out of sync
		part(3, ids(4, 2, 3), ids(4, 2, 3), 2), // preferred not live (ISR not yet shrunk)
	)
	updates, errs := ElectPreferred(s, []TopicPartition{tp(0), tp(1), tp(2), tp(3), tp(9), tp(0)})
	sameStates(t, newStates(t, updates), []PartitionState{after(0, ids(1, 2, 3), ids(1, 2, 3), 1, startLE+1, startPE+1)})
	for tpp, want := range map[TopicPartition]error{
		tp(1): ErrElectionNotNeeded, tp(2): ErrPreferredLeaderNotAvailable,
		tp(3): ErrPreferredLeaderNotAvailable, tp(9): ErrUnknownPartition,
	} {
		if !errors.Is(errs[tpp], want) {
			t.Errorf("%v: %v, want %v", tpp, errs[tpp], want)
		}
	}
	if len(errs) != 4 {
		t.Errorf("errors %v", errs)
	}

	all, errs := ElectPreferred(s, nil)
	sameStates(t, newStates(t, all), []PartitionState{after(0, ids(1, 2, 3), ids(1, 2, 3), 1, startLE+1, startPE+1)})
	if len(errs) != 0 {
		t.Errorf("all partitions: errors %v", errs)
	}
}

func TestElectUncleanElectsALiveReplicaOnlyWhereTheLeaderIsGone(t *testing.T) {
	tp := func(p int32) TopicPartition { return TopicPartition{"t", p} }
	// Broker 1 is gone; 2 and 3 live, 4 never was.
	s := snap(ids(2, 3), uncleanOff,
		part(0, ids(1, 2, 3), ids(1), NoLeader),    // ISR gone: 2 leads alone
		part(1, ids(1, 3, 2), ids(1), 1),           // leader still listed, not live: 3 leads alone
		part(2, ids(1, 2, 3), ids(1, 3), NoLeader), // a live ISR member: a clean election of 3
		part(3, ids(2, 3), ids(2, 3), 2),           // a live leader
		part(4, ids(1, 4), ids(1), NoLeader),       // no assigned replica live
	)
	updates, errs := ElectUnclean(s, []TopicPartition{tp(0), tp(1), tp(2), tp(3), tp(4), tp(9)})
	want := []PartitionState{
		after(0, ids(1, 2, 3), ids(2), 2, startLE+1, startPE+1),
		after(1, ids(1, 3, 2), ids(3), 3, startLE+1, startPE+1),
		after(2, ids(1, 2, 3), ids(3), 3, startLE+1, startPE+1),
	}
	sameStates(t, newStates(t, updates), want)
	for i, u := range updates {
		if wantUnclean := i < 2; u.Unclean() != wantUnclean {
			t.Errorf("%v: Unclean() = %v, want %v", u.New.TP(), u.Unclean(), wantUnclean)
		}
	}
	for tpp, want := range map[TopicPartition]error{
		tp(3): ErrElectionNotNeeded, tp(4): ErrEligibleLeadersNotAvailable, tp(9): ErrUnknownPartition,
	} {
		if !errors.Is(errs[tpp], want) {
			t.Errorf("%v: %v, want %v", tpp, errs[tpp], want)
		}
	}
	if len(errs) != 3 {
		t.Errorf("errors %v", errs)
	}
	all, errs := ElectUnclean(s, nil)
	sameStates(t, newStates(t, all), want)
	if len(errs) != 0 {
		t.Errorf("all partitions: errors %v", errs)
	}
}

func TestAlterISRFollowsAlterPartitionRules(t *testing.T) {
	// Partition 0: replicas 1,2,3,4; leader 1; ISR 1,2; broker 4 not live.
	s := snap(ids(1, 2, 3), nil, part(0, ids(1, 2, 3, 4), ids(1, 2), 1))
	ok := ISRChange{Topic: "t", Partition: 0, Leader: 1, BrokerEpoch: 11, LeaderEpoch: startLE, PartitionEpoch: startPE}
	with := func(f func(*ISRChange)) ISRChange { r := ok; f(&r); return r }
	for _, tc := range []struct {
		name    string
		req     ISRChange
		want    []int32 // new ISR
		err     error
		noWrite bool
	}{
		{name: "shrink", req: with(func(r *ISRChange) { r.NewISR = ids(1) }), want: ids(1)},
		{name: "a member that is not registered is ineligible", req: with(func(r *ISRChange) { r.NewISR = ids(1, 2, 4) }), err: ErrIneligibleReplica},
		{name: "member epochs that match", req: with(func(r *ISRChange) { r.NewISR = ids(1, 3); r.NewISREpochs = []int64{11, 13} }), want: ids(1, 3)},
		{name: "member epoch -1 skips the check", req: with(func(r *ISRChange) { r.NewISR = ids(1, 3); r.NewISREpochs = []int64{-1, -1} }), want: ids(1, 3)},
		{name: "a member at an old broker epoch is ineligible", req: with(func(r *ISRChange) { r.NewISR = ids(1, 3); r.NewISREpochs = []int64{11, 12} }), err: ErrIneligibleReplica},
		{name: "member epochs not one per member", req: with(func(r *ISRChange) { r.NewISR = ids(1, 3); r.NewISREpochs = []int64{11} }), err: ErrInvalidRequest},
		{name: "expand with a live replica", req: with(func(r *ISRChange) { r.NewISR = ids(1, 2, 3) }), want: ids(1, 2, 3)},
		{name: "unchanged ISR writes nothing", req: with(func(r *ISRChange) { r.NewISR = ids(1, 2) }), want: ids(1, 2), noWrite: true},
		{name: "BrokerEpoch 0 skips the registration check", req: with(func(r *ISRChange) { r.BrokerEpoch = 0; r.NewISR = ids(1) }), want: ids(1)},
		{name: "stale leader epoch is fenced", req: with(func(r *ISRChange) { r.LeaderEpoch--; r.NewISR = ids(1) }), err: ErrFenced},
		{name: "newer leader epoch: the snapshot lags, decide again", req: with(func(r *ISRChange) { r.LeaderEpoch++; r.NewISR = ids(1) }), err: ErrConflict},
		{name: "newer partition epoch: the snapshot lags, decide again", req: with(func(r *ISRChange) { r.PartitionEpoch++; r.NewISR = ids(1) }), err: ErrConflict},
		{name: "a broker that is not the leader at the current epoch", req: with(func(r *ISRChange) { r.Leader = 2; r.BrokerEpoch = 12; r.NewISR = ids(2) }), err: ErrInvalidRequest},
		{name: "a fenced broker is fenced", req: with(func(r *ISRChange) { r.Leader = 4; r.BrokerEpoch = 0; r.NewISR = ids(4) }), err: ErrFenced},
		{name: "stale broker epoch is fenced", req: with(func(r *ISRChange) { r.BrokerEpoch = 3; r.NewISR = ids(1) }), err: ErrFenced},
		{name: "stale partition epoch", req: with(func(r *ISRChange) { r.PartitionEpoch--; r.NewISR = ids(1) }), err: ErrInvalidUpdateVersion},
		{name: "ISR without the leader", req: with(func(r *ISRChange) { r.NewISR = ids(2) }), err: ErrInvalidRequest},
		{name: "empty ISR", req: with(func(r *ISRChange) { r.NewISR = nil }), err: ErrInvalidRequest},
		{name: "ISR with a non-replica", req: with(func(r *ISRChange) { r.NewISR = ids(1, 5) }), err: ErrInvalidRequest},
		{name: "ISR with a duplicate", req: with(func(r *ISRChange) { r.NewISR = ids(1, 2, 1) }), err: ErrInvalidRequest},
		{name: "unknown partition", req: with(func(r *ISRChange) { r.Partition = 7; r.NewISR = ids(1) }), err: ErrUnknownPartition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.Partitions.Get(TopicPartition{"t", 0})
			u, changed, err := AlterISR(s, tc.req)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changed == tc.noWrite {
				t.Fatalf("changed %v", changed)
			}
			wantPE := int32(startPE + 1)
			if tc.noWrite {
				wantPE = startPE
			}
			sameStates(t, []PartitionState{u.New}, []PartitionState{after(0, ids(1, 2, 3, 4), tc.want, 1, startLE, wantPE)})
			if u.Old.Version != before.Version || u.New.Version != before.Version {
				t.Fatalf("CAS token %d/%d, read %d", u.Old.Version, u.New.Version, before.Version)
			}
			if now, _ := s.Partitions.Get(TopicPartition{"t", 0}); !slices.Equal(now.ISR, before.ISR) {
				t.Fatal("AlterISR modified the snapshot")
			}
		})
	}
}

// TestDecisionsNeverModifyTheSnapshot guards the Snapshot contract: the
// decisions build new states and share no slices with the ones they read.
func TestDecisionsNeverModifyTheSnapshot(t *testing.T) {
	mk := func() *Snapshot {
		return snap(ids(2, 3), nil, part(0, ids(1, 2, 3), ids(1, 2, 3), 1), part(1, ids(3, 1, 2), ids(3, 1), 3))
	}
	s, orig := mk(), mk()
	for _, updates := range [][]PartitionUpdate{
		Reconcile(s, Policy{}), BrokersFenced(s, Policy{}, 3), ControlledShutdown(s, 3),
	} {
		for _, u := range updates {
			u.New.ISR = append(u.New.ISR[:0], 99)
		}
	}
	if fmt.Sprint(s.Partitions) != fmt.Sprint(orig.Partitions) {
		t.Fatalf("snapshot changed:\n%v\n%v", s.Partitions, orig.Partitions)
	}
}

// sortUpdates moves whole updates into partition order, whatever order
// they came in (it permutes by index: an update must not lose its pair).
func TestSortUpdatesOrdersWholeUpdatesByPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for n := range 200 {
		var want []PartitionUpdate
		for i := range n {
			tp := TopicPartition{Topic: fmt.Sprintf("t%d", i/7), Partition: int32(i % 7)}
			want = append(want, PartitionUpdate{
				Old: PartitionState{Topic: tp.Topic, Partition: tp.Partition, Leader: int32(i), Version: int64(i + 1)},
				New: PartitionState{Topic: tp.Topic, Partition: tp.Partition, Leader: int32(-i), LeaderEpoch: int32(i)},
			})
		}
		slices.SortFunc(want, func(a, b PartitionUpdate) int {
			return cmp.Or(strings.Compare(a.Old.Topic, b.Old.Topic), cmp.Compare(a.Old.Partition, b.Old.Partition))
		})
		got := slices.Clone(want)
		rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		sortUpdates(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d updates: sorted %v, want %v", n, got, want)
		}
	}
}
