package cluster

// Partition reassignment (KIP-455): moving a partition's replicas to
// other brokers while it keeps serving. The whole state lives in the
// partition's key (PartitionState's TargetReplicas, AddingReplicas and
// RemovingReplicas), so a reassignment survives any broker, the active
// controller included, and every step is one compare-and-swap:
//
//  1. start (Reassign, any broker serving AlterPartitionReassignments):
//     Replicas becomes the union of the current replicas and the target
//     (current first, then the added ones in target order), with
//     AddingReplicas = target − current and RemovingReplicas = current −
//     target. The leader, ISR and leader epoch stay: the partition serves
//     on, and each broker's reconciler makes the adding brokers host the
//     partition and fetch it from the leader like any follower;
//  2. the leader adds each adding replica to the ISR once it has caught
//     up (its ordinary ISR expansion);
//  3. complete (the active controller, in the rule every partition change
//     goes through, elector.reconcile): once every adding replica is in
//     the ISR and the ISR within the target keeps min.insync.replicas (or
//     the whole target, if smaller), one write sets Replicas to the
//     target, the ISR to ISR ∩ target, moves leadership to the first
//     in-sync live target replica if the leader is being removed (a new
//     leader epoch, which fences the old one) and clears the
//     reassignment. The removed brokers' reconcilers stop their replicas
//     and delete the logs after their grace (server/cluster_hosted.go).
//
// A new reassignment of a partition being reassigned replaces the old
// one, computed from the replicas before it (Replicas − AddingReplicas):
// a broker the old one was adding joins the target only through the
// ISR like any other, never by being counted as a current replica. Cancelling
// (CancelReassignment) reverts to Replicas − AddingReplicas, the replicas
// before the reassignment, in their order. A target of the current
// replicas in another order only reorders them: it changes the preferred
// leader and nothing else.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrNoReassignmentInProgress is a cancellation of a partition that is
// not being reassigned: NO_REASSIGNMENT_IN_PROGRESS.
var ErrNoReassignmentInProgress = errors.New("cluster: no partition reassignment in progress")

// ErrReplicationFactorChange is a reassignment that changes a
// partition's replica count when the request forbids it
// (AllowReplicationFactorChange false, KIP-860):
// INVALID_REPLICATION_FACTOR.
var ErrReplicationFactorChange = errors.New("cluster: reassignment changes the replication factor")

// MinInsyncReplicasConfig is the topic config (and broker default) of the
// smallest ISR acks=all writes need.
const MinInsyncReplicasConfig = "min.insync.replicas"

// minISR is min.insync.replicas of topic: its config, else the broker
// default, at least 1.
func (p Policy) minISR(s *Snapshot, topic string) int {
	if t, ok := s.Topics[topic]; ok {
		if v, ok := t.Configs[MinInsyncReplicasConfig]; ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 1 {
				return n
			}
		}
	}
	return max(p.MinInsyncReplicas, 1)
}

// sameReassignment reports whether a and b describe the same
// reassignment (or none).
func sameReassignment(a, b PartitionState) bool {
	return slices.Equal(a.TargetReplicas, b.TargetReplicas) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) &&
		slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// without is a without the members of b, in a's order.
func without(a, b []int32) []int32 {
	out := make([]int32, 0, len(a))
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// clearReassignment ends p's reassignment fields.
func clearReassignment(p *PartitionState) {
	p.TargetReplicas, p.AddingReplicas, p.RemovingReplicas = nil, nil, nil
}

// completeReassignment finishes next's reassignment if it can (step 3 in
// the notes above) and returns the state; next unchanged when there is
// none or it must wait: an adding replica outside the ISR, too few
// in-sync target replicas for min.insync.replicas, or no live in-sync
// target replica to take over from a leader being removed.
func (e elector) completeReassignment(next PartitionState) PartitionState {
	if !next.Reassigning() {
		return next
	}
	for _, r := range next.AddingReplicas {
		if !slices.Contains(next.ISR, r) {
			return next
		}
	}
	target := next.TargetReplicas
	isr := make([]int32, 0, len(next.ISR))
	for _, r := range next.ISR {
		if slices.Contains(target, r) {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 || len(isr) < min(e.policy.minISR(e.s, next.Topic), len(target)) {
		return next
	}
	leader := next.Leader
	if leader != NoLeader && !slices.Contains(target, leader) {
		leader = NoLeader
		for _, r := range target {
			if slices.Contains(isr, r) && e.live(r) {
				leader = r
				break
			}
		}
		if leader == NoLeader {
			return next
		}
	}
	done := next.Clone()
	done.Replicas = slices.Clone(target)
	done.ISR = isr
	done.Leader = leader
	clearReassignment(&done)
	return done
}

// Reassign returns the update that starts reassigning p's partition to
// target (step 1), completing it at once where nothing needs copying
// (the target only drops or reorders replicas and keeps enough of the
// ISR). changed is false when there is nothing to write: the target is
// the current replicas in their order with no reassignment in progress,
// or the reassignment in progress already has this target. Refusals:
// ErrUnknownPartition; ErrInvalidReplicaAssignment for an empty target,
// a broker twice or one not registered (CheckAssignment);
// ErrReplicationFactorChange when allowRFChange is false and the target's
// size is not the partition's replication factor.
func Reassign(s *Snapshot, policy Policy, tp TopicPartition, target []int32, allowRFChange bool) (u PartitionUpdate, changed bool, err error) {
	p, ok := s.Partitions.Get(tp)
	if !ok {
		return u, false, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, tp.Topic, tp.Partition)
	}
	if err := CheckAssignment([][]int32{target}, tp.Partition, 0, s.Live); err != nil {
		return u, false, fmt.Errorf("cluster: reassign %s-%d to %v: %w", tp.Topic, tp.Partition, target, err)
	}
	// The replica count a reassignment compares with is the one before
	// any reassignment in progress, as Kafka's.
	original := without(p.Replicas, p.AddingReplicas)
	if !allowRFChange && len(target) != len(original) {
		return u, false, fmt.Errorf("%w: %s-%d has %d replicas, target %v has %d", ErrReplicationFactorChange,
			tp.Topic, tp.Partition, len(original), target, len(target))
	}
	if p.Reassigning() && slices.Equal(p.TargetReplicas, target) {
		return PartitionUpdate{Old: p, New: p}, false, nil
	}
	next := p.Clone()
	adding := without(target, original)
	removing := without(original, target)
	if len(adding) == 0 && len(removing) == 0 {
		// The same replicas, maybe in another order: only the preferred
		// leader changes.
		next.Replicas = slices.Clone(target)
		clearReassignment(&next)
	} else {
		next.Replicas = append(slices.Clone(original), adding...)
		next.TargetReplicas = slices.Clone(target)
		next.AddingReplicas = adding
		next.RemovingReplicas = removing
	}
	if p.Reassigning() {
		// Replicas the replaced reassignment was adding and this one
		// does not leave the replicas and the ISR.
		next.ISR = slices.DeleteFunc(next.ISR, func(r int32) bool { return !slices.Contains(next.Replicas, r) })
		if len(next.ISR) == 0 {
			return u, false, fmt.Errorf("%w: reassign %s-%d to %v: none of its replicas %v would stay in sync (ISR %v)",
				ErrInvalidReplicaAssignment, tp.Topic, tp.Partition, target, next.Replicas, p.ISR)
		}
		if next.Leader != NoLeader && !slices.Contains(next.Replicas, next.Leader) {
			next.Leader = NoLeader
			for _, r := range next.Replicas {
				if slices.Contains(next.ISR, r) && s.Live(r) {
					next.Leader = r
					break
				}
			}
		}
	}
	next = elector{s: s, policy: policy}.completeReassignment(next)
	next, changed = bump(p, next)
	return PartitionUpdate{Old: p, New: next}, changed, nil
}

// CancelReassignment returns the update that reverts p's reassignment:
// Replicas back to those before it (Replicas − AddingReplicas, in their
// order), the adding replicas out of the ISR, and if one of them leads
// (every original ISR member was lost meanwhile) leadership to the first
// live original replica in the ISR. ErrUnknownPartition,
// ErrNoReassignmentInProgress; ErrInvalidReplicaAssignment when no
// original replica is in the ISR, so reverting would leave none in sync.
func CancelReassignment(s *Snapshot, tp TopicPartition) (PartitionUpdate, error) {
	p, ok := s.Partitions.Get(tp)
	if !ok {
		return PartitionUpdate{}, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, tp.Topic, tp.Partition)
	}
	if !p.Reassigning() {
		return PartitionUpdate{}, fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, tp.Topic, tp.Partition)
	}
	next := p.Clone()
	next.Replicas = without(p.Replicas, p.AddingReplicas)
	next.ISR = without(p.ISR, p.AddingReplicas)
	if len(next.ISR) == 0 {
		return PartitionUpdate{}, fmt.Errorf("%w: cancel the reassignment of %s-%d: none of the replicas %v it would revert to is in sync (ISR %v)",
			ErrInvalidReplicaAssignment, tp.Topic, tp.Partition, next.Replicas, p.ISR)
	}
	if next.Leader != NoLeader && !slices.Contains(next.Replicas, next.Leader) {
		next.Leader = NoLeader
		for _, r := range next.Replicas {
			if slices.Contains(next.ISR, r) && s.Live(r) {
				next.Leader = r
				break
			}
		}
	}
	clearReassignment(&next)
	next, _ = bump(p, next)
	return PartitionUpdate{Old: p, New: next}, nil
}

// Reassignments lists the partitions of s being reassigned: those named
// (every partition when nil; named ones unknown or not being reassigned
// are left out, as Kafka's ListPartitionReassignments leaves them).
func Reassignments(s *Snapshot, partitions []TopicPartition) []PartitionState {
	var out []PartitionState
	if partitions == nil {
		for _, p := range s.Partitions.All() {
			if p.Reassigning() {
				out = append(out, p.Clone())
			}
		}
	} else {
		seen := map[TopicPartition]bool{}
		for _, tp := range partitions {
			if p, ok := s.Partitions.Get(tp); ok && p.Reassigning() && !seen[tp] {
				seen[tp] = true
				out = append(out, p.Clone())
			}
		}
	}
	slices.SortFunc(out, func(a, b PartitionState) int {
		switch {
		case a.Topic != b.Topic:
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		default:
			return int(a.Partition) - int(b.Partition)
		}
	})
	return out
}

// ReassignmentCount is how many partitions of s are being reassigned.
func ReassignmentCount(s *Snapshot) int {
	n := 0
	for _, p := range s.Partitions.All() {
		if p.Reassigning() {
			n++
		}
	}
	return n
}

// AlterReassignments starts, replaces or (a nil target) cancels the
// reassignments of the partitions in targets, in one compare-and-swap
// per chunk of partitions, deciding again after a lost race. The map
// holds, per partition refused, why (Reassign's and CancelReassignment's
// errors); written, the states it stored; the error is the store's.
func (c *Controller) AlterReassignments(ctx context.Context, targets map[TopicPartition][]int32, allowRFChange bool) (errs map[TopicPartition]error, written []PartitionState, err error) {
	err = c.retry(ctx, "partition reassignment", func(s *Snapshot) ([]PartitionUpdate, error) {
		errs = map[TopicPartition]error{}
		written = written[:0]
		var updates []PartitionUpdate
		for tp, target := range targets {
			var u PartitionUpdate
			var changed bool
			var err error
			if target == nil {
				u, err = CancelReassignment(s, tp)
				changed = err == nil
			} else {
				u, changed, err = Reassign(s, c.policy, tp, target, allowRFChange)
			}
			if err != nil {
				errs[tp] = err
				continue
			}
			if changed {
				updates = append(updates, u)
				written = append(written, u.New)
			}
		}
		sortUpdates(updates)
		return updates, nil
	})
	return errs, written, err
}
