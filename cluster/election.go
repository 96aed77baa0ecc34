package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors of leader elections and ISR changes.
var (
	// ErrElectionNotNeeded is a preferred leader election of a partition
	// its preferred replica already leads: ELECTION_NOT_NEEDED.
	ErrElectionNotNeeded = errors.New("cluster: leader election not needed")
	// ErrPreferredLeaderNotAvailable is a preferred leader election whose
	// preferred replica is not live or not in sync:
	// PREFERRED_LEADER_NOT_AVAILABLE.
	ErrPreferredLeaderNotAvailable = errors.New("cluster: preferred leader not available")
	// ErrEligibleLeadersNotAvailable is an unclean leader election of a
	// partition none of whose assigned replicas is live:
	// ELIGIBLE_LEADERS_NOT_AVAILABLE.
	ErrEligibleLeadersNotAvailable = errors.New("cluster: no eligible leader available")
	// ErrUnknownPartition is an operation on a partition the metadata
	// does not hold: UNKNOWN_TOPIC_OR_PARTITION.
	ErrUnknownPartition = errors.New("cluster: unknown partition")
	// ErrInvalidUpdateVersion is an ISR change made against a partition
	// epoch that is no longer current: INVALID_UPDATE_VERSION. The leader
	// re-reads the partition and decides again.
	ErrInvalidUpdateVersion = errors.New("cluster: partition epoch is not current")
	// ErrInvalidRequest is an ISR change from a broker that does not lead
	// the partition, or whose new ISR is not a set of the partition's
	// replicas holding its leader: INVALID_REQUEST.
	ErrInvalidRequest = errors.New("cluster: invalid request")
	// ErrIneligibleReplica is an ISR change naming a broker that is not
	// registered, or not at the epoch given for it: INELIGIBLE_REPLICA.
	ErrIneligibleReplica = errors.New("cluster: replica not eligible to join the ISR")
)

// UncleanLeaderElectionConfig is the topic config (and broker default) that
// lets a partition whose ISR is all gone elect a live replica outside it,
// losing what only the ISR had.
const UncleanLeaderElectionConfig = "unclean.leader.election.enable"

// Policy is what the election rules read besides the metadata: the
// cluster-wide defaults of topic configs that change them.
type Policy struct {
	// UncleanLeaderElection is unclean.leader.election.enable's broker
	// default (Kafka's is false); a topic's config overrides it.
	UncleanLeaderElection bool
	// MinInsyncReplicas is min.insync.replicas' broker default (below 1:
	// 1); a topic's config overrides it. A reassignment completes only
	// when its target keeps that many in-sync replicas (reassign.go).
	MinInsyncReplicas int
}

// unclean reports whether topic's partitions may elect a leader outside
// the ISR.
func (p Policy) unclean(s *Snapshot, topic string) bool {
	if t, ok := s.Topics[topic]; ok {
		switch t.Configs[UncleanLeaderElectionConfig] {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return p.UncleanLeaderElection
}

// elector decides partitions' new states against one snapshot, with some
// live brokers treated as gone.
type elector struct {
	s      *Snapshot
	policy Policy
	gone   map[int32]bool // live in s but leaving: shutting down, or fenced ahead of the snapshot
	// unclean allows elections outside the ISR whatever the policy says:
	// an unclean election asked for by an operator (ElectLeaders).
	unclean bool
}

func (e elector) live(node int32) bool { return e.s.Live(node) && !e.gone[node] }

// rejoined reports whether node registered after p was last written
// (PartitionState.WrittenBefore): its place in p's ISR is then its
// previous incarnation's, and its log may have lost what that incarnation
// held (an unflushed tail, in a power loss). A controller that sees a
// broker re-register fences the old incarnation first (onChange); this
// catches the re-registrations no controller saw happen: a restart that
// took over its own registration while the controller moved (the
// restarted broker was the controller), as a new controller's first
// snapshot shows it.
func (e elector) rejoined(p PartitionState, node int32) bool {
	b, ok := e.s.Brokers[node]
	return ok && p.WrittenBefore(b.IncarnationEpoch())
}

// reconcile is the one rule for a partition whose brokers came or went:
// brokers that are not live, or that rejoined since p was written, leave
// the ISR (its last member stays, as Kafka keeps it, so the partition
// knows who to wait for); a leader that is not live, not in the ISR or
// missing is replaced by the first live ISR member in assignment order;
// with none, the partition goes offline (NoLeader), or with unclean
// election its first live replica leads alone. changed is false when the
// state is already right.
func (e elector) reconcile(p PartitionState) (next PartitionState, changed bool) {
	next = p.Clone()
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(n int32) bool { return !e.live(n) || e.rejoined(p, n) })
	if len(isr) == 0 && len(p.ISR) > 0 {
		// Every ISR member is gone: keep the one most likely to hold
		// everything committed, the last leader if it was in sync.
		last := p.ISR[0]
		if p.Leader != NoLeader && p.InISR(p.Leader) {
			last = p.Leader
		}
		isr = []int32{last}
	}
	next.ISR = isr
	leaderOK := p.Leader != NoLeader && e.live(p.Leader) && slices.Contains(isr, p.Leader)
	if !leaderOK {
		next.Leader = NoLeader
		for _, r := range p.Replicas {
			if e.live(r) && slices.Contains(isr, r) {
				next.Leader = r
				break
			}
		}
		if next.Leader == NoLeader && (e.unclean || e.policy.unclean(e.s, p.Topic)) {
			for _, r := range p.Replicas {
				if e.live(r) {
					next.Leader = r
					next.ISR = []int32{r}
					break
				}
			}
		}
	}
	next = e.completeReassignment(next)
	next, changed = bump(p, next)
	if next.Leader != NoLeader && next.Leader == p.Leader && e.rejoined(p, next.Leader) {
		// The last ISR member kept, restarted: it leads again, under a
		// new leader epoch, so that no replica takes the history it
		// has now (maybe shorter) for the one it had at the old epoch,
		// and so that p is written after its registration (it leads
		// only a partition written since, see WrittenBefore).
		next.LeaderEpoch, next.PartitionEpoch = p.LeaderEpoch+1, p.PartitionEpoch+1
		changed = true
	}
	return next, changed
}

// bump stamps next's epochs from p: the partition epoch grows on any
// change, the leader epoch on a change of leader (going offline included,
// which fences the old leader should it come back). changed is false, and
// next is p, when nothing changed.
func bump(p, next PartitionState) (PartitionState, bool) {
	if next.Leader == p.Leader && slices.Equal(next.ISR, p.ISR) && slices.Equal(next.Replicas, p.Replicas) &&
		sameReassignment(p, next) {
		return p, false
	}
	next.PartitionEpoch = p.PartitionEpoch + 1
	next.LeaderEpoch = p.LeaderEpoch
	if next.Leader != p.Leader {
		next.LeaderEpoch = p.LeaderEpoch + 1
	}
	next.Version = p.Version
	return next, true
}

// decide runs rule over the partitions of s that want returns true for,
// in topic and partition order, and returns the changes.
func decide(s *Snapshot, want func(PartitionState) bool, rule func(PartitionState) (PartitionState, bool)) []PartitionUpdate {
	return decideSized(s, want, rule, 0)
}

// decideSized is decide with room for about size updates made first: a
// broker fenced at 10,000 partitions makes 10,000, and growing the
// slice to them copied more than the decisions cost.
func decideSized(s *Snapshot, want func(PartitionState) bool, rule func(PartitionState) (PartitionState, bool), size int) []PartitionUpdate {
	out := make([]PartitionUpdate, 0, size)
	for _, p := range s.Partitions.All() {
		if want != nil && !want(p) {
			continue
		}
		if next, ok := rule(p); ok {
			out = append(out, PartitionUpdate{Old: p, New: next})
		}
	}
	sortUpdates(out)
	return out
}

// sortUpdates orders u by partition. An update is two states (hundreds
// of bytes), so the sort orders their indexes and then moves each update
// once, along the permutation's cycles: sorting the 10,000 updates of a
// fenced broker in place moved each a dozen times.
func sortUpdates(u []PartitionUpdate) {
	idx := make([]int32, len(u))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &u[i].Old, &u[j].Old
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	// Position i takes u[idx[i]]; a position done is marked -1.
	for i := range idx {
		if idx[i] < 0 || int(idx[i]) == i {
			continue
		}
		tmp := u[i]
		j := i
		for {
			k := int(idx[j])
			idx[j] = -1
			if k == i {
				u[j] = tmp
				break
			}
			u[j] = u[k]
			j = k
		}
	}
}

// Reconcile returns every change s needs for its partitions to agree with
// its live brokers: the work a new controller does first, whatever its
// predecessor left half done.
func Reconcile(s *Snapshot, policy Policy) []PartitionUpdate {
	e := elector{s: s, policy: policy}
	return decide(s, nil, e.reconcile)
}

// BrokersFenced returns the changes that follow the loss of nodes (fenced:
// their registration lapsed; or stopped): each leaves every ISR it is in
// (the last member stays), and each partition one of them led elects the
// first live ISR member in assignment order, goes offline, or with unclean
// election takes its first live replica as sole leader and ISR. nodes are
// treated as gone whether or not s still lists them.
func BrokersFenced(s *Snapshot, policy Policy, nodes ...int32) []PartitionUpdate {
	e := elector{s: s, policy: policy, gone: map[int32]bool{}}
	for _, n := range nodes {
		e.gone[n] = true
	}
	return decide(s, func(p PartitionState) bool {
		return e.gone[p.Leader] || slices.ContainsFunc(p.ISR, func(n int32) bool { return e.gone[n] })
	}, e.reconcile)
}

// BrokerRegistered returns the changes that follow node's (re)registration:
// offline partitions whose ISR holds it elect it (it is the first live ISR
// member), and with unclean election offline partitions it is a replica of
// elect it too.
func BrokerRegistered(s *Snapshot, policy Policy, node int32) []PartitionUpdate {
	e := elector{s: s, policy: policy}
	return decide(s, func(p PartitionState) bool {
		return p.Leader == NoLeader && p.IsReplica(node)
	}, e.reconcile)
}

// ControlledShutdown returns the changes that move leadership away from
// node before it stops, as Kafka's controlled shutdown does: each partition
// it leads elects the first other live ISR member in assignment order, and
// node leaves every ISR that keeps another live member. Where node is the
// only live ISR member it keeps the partition (leader or not) until it
// stops; its fencing then takes the partition offline, as in Kafka.
func ControlledShutdown(s *Snapshot, node int32) []PartitionUpdate {
	return decide(s, func(p PartitionState) bool { return p.InISR(node) || p.Leader == node },
		func(p PartitionState) (PartitionState, bool) {
			next := p.Clone()
			next.ISR = slices.DeleteFunc(next.ISR, func(n int32) bool { return n == node })
			if !slices.ContainsFunc(next.ISR, s.Live) {
				return p, false
			}
			if p.Leader == node || p.Leader == NoLeader {
				next.Leader = NoLeader
				for _, r := range p.Replicas {
					if r != node && s.Live(r) && slices.Contains(next.ISR, r) {
						next.Leader = r
						break
					}
				}
			}
			return bump(p, next)
		})
}

// ElectPreferred returns the preferred leader elections of partitions
// (every partition of s when nil): a partition whose first assigned
// replica is live, in the ISR and not its leader elects it. Partitions that
// cannot or need not change get an error each: ErrUnknownPartition,
// ErrElectionNotNeeded or ErrPreferredLeaderNotAvailable (only for the
// partitions named; a nil list reports none).
func ElectPreferred(s *Snapshot, partitions []TopicPartition) ([]PartitionUpdate, map[TopicPartition]error) {
	return electEach(s, partitions, func(p PartitionState) (PartitionState, error) {
		if len(p.Replicas) == 0 {
			return p, fmt.Errorf("%w: %s-%d has no replicas", ErrPreferredLeaderNotAvailable, p.Topic, p.Partition)
		}
		pref := p.Replicas[0]
		if p.Leader == pref {
			return p, fmt.Errorf("%w: %s-%d is led by its preferred replica %d", ErrElectionNotNeeded, p.Topic, p.Partition, pref)
		}
		if !s.Live(pref) || !p.InISR(pref) {
			return p, fmt.Errorf("%w: %s-%d's preferred replica %d is not live and in sync", ErrPreferredLeaderNotAvailable, p.Topic, p.Partition, pref)
		}
		next := p.Clone()
		next.Leader = pref
		next, _ = bump(p, next)
		return next, nil
	})
}

// ElectUnclean returns the unclean leader elections of partitions (every
// partition of s when nil), Kafka's ElectLeaders with ElectionType
// UNCLEAN (KIP-460): a partition whose leader is gone takes a leader by
// the rule every other election follows (reconcile), with unclean
// election allowed whatever unclean.leader.election.enable says: its
// first live ISR member in assignment order if it has one, else its first
// live replica, alone in the ISR at a new leader epoch. What only the lost
// ISR held is gone from the partition (PartitionUpdate.Unclean tells such
// elections apart). Partitions that cannot or need not change get an
// error each, as ElectPreferred's: ErrUnknownPartition,
// ErrElectionNotNeeded (it has a live leader) or
// ErrEligibleLeadersNotAvailable (no assigned replica is live).
func ElectUnclean(s *Snapshot, partitions []TopicPartition) ([]PartitionUpdate, map[TopicPartition]error) {
	e := elector{s: s, unclean: true}
	return electEach(s, partitions, func(p PartitionState) (PartitionState, error) {
		if p.Leader != NoLeader && e.live(p.Leader) {
			return p, fmt.Errorf("%w: %s-%d is led by live broker %d", ErrElectionNotNeeded, p.Topic, p.Partition, p.Leader)
		}
		next, _ := e.reconcile(p)
		if next.Leader == NoLeader {
			return p, fmt.Errorf("%w: %s-%d: none of replicas %v is live", ErrEligibleLeadersNotAvailable, p.Topic, p.Partition, p.Replicas)
		}
		return next, nil
	})
}

// electEach runs elect over partitions (every partition of s when nil)
// and returns the updates of those it elected a leader for, and the
// errors of those named that it did not (a nil list reports none).
func electEach(s *Snapshot, partitions []TopicPartition, elect func(PartitionState) (PartitionState, error)) ([]PartitionUpdate, map[TopicPartition]error) {
	errs := map[TopicPartition]error{}
	if partitions == nil {
		return decide(s, nil, func(p PartitionState) (PartitionState, bool) {
			next, err := elect(p)
			return next, err == nil
		}), errs
	}
	var out []PartitionUpdate
	seen := map[TopicPartition]bool{}
	for _, tp := range partitions {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		p, ok := s.Partitions.Get(tp)
		if !ok {
			errs[tp] = fmt.Errorf("%w: %s-%d", ErrUnknownPartition, tp.Topic, tp.Partition)
			continue
		}
		next, err := elect(p)
		if err != nil {
			errs[tp] = err
			continue
		}
		out = append(out, PartitionUpdate{Old: p, New: next})
	}
	sortUpdates(out)
	return out, errs
}

// ISRChange is a leader's request to shrink or expand its partition's ISR
// (Kafka's AlterPartition), made against the state it last read.
type ISRChange struct {
	Topic     string
	Partition int32
	// Leader and BrokerEpoch name the requesting broker and its current
	// registration; BrokerEpoch 0 skips the registration check.
	Leader      int32
	BrokerEpoch int64
	// LeaderEpoch and PartitionEpoch are the epochs the leader read.
	LeaderEpoch    int32
	PartitionEpoch int32
	NewISR         []int32
	// NewISREpochs, if set, holds the broker epoch of each NewISR member
	// as the leader saw it in its fetches (KIP-903), so a replica that
	// restarted since cannot join on its previous incarnation's
	// progress; 0 or -1 skips the check for that member.
	NewISREpochs []int64
}

// AlterISR validates an ISR change as Kafka's controller validates
// AlterPartition and returns the update the caller applies as a
// compare-and-swap:
//   - ErrConflict if the request is ahead of s (its epochs are newer: s
//     lags the store; re-read and decide again);
//   - ErrFenced if the requester is not registered at BrokerEpoch, or
//     its LeaderEpoch is older than the partition's (a replaced leader):
//     FENCED_LEADER_EPOCH;
//   - ErrInvalidRequest if the requester does not lead the partition, or
//     the new ISR repeats a broker, names one that is not a replica, or
//     leaves the leader out: INVALID_REQUEST;
//   - ErrInvalidUpdateVersion if PartitionEpoch is older than the
//     partition's;
//   - ErrIneligibleReplica if a member of the new ISR is not registered
//     (or not at its NewISREpochs epoch).
//
// changed is false when the ISR already is NewISR (nothing to write).
func AlterISR(s *Snapshot, req ISRChange) (u PartitionUpdate, changed bool, err error) {
	tp := TopicPartition{Topic: req.Topic, Partition: req.Partition}
	p, ok := s.Partitions.Get(tp)
	if !ok {
		return u, false, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, req.Topic, req.Partition)
	}
	name := fmt.Sprintf("ISR change of %s-%d by %d", req.Topic, req.Partition, req.Leader)
	b, live := s.Brokers[req.Leader]
	switch {
	case req.LeaderEpoch > p.LeaderEpoch || req.PartitionEpoch > p.PartitionEpoch:
		return u, false, fmt.Errorf("%w: %s at epochs %d/%d, ahead of metadata revision %d at %d/%d",
			ErrConflict, name, req.LeaderEpoch, req.PartitionEpoch, s.Revision, p.LeaderEpoch, p.PartitionEpoch)
	case !live:
		return u, false, fmt.Errorf("%w: %s: the broker is not registered", ErrFenced, name)
	case req.BrokerEpoch != 0 && req.BrokerEpoch != b.Epoch:
		return u, false, fmt.Errorf("%w: %s: broker epoch %d, registered at %d", ErrFenced, name, req.BrokerEpoch, b.Epoch)
	case req.LeaderEpoch < p.LeaderEpoch:
		return u, false, fmt.Errorf("%w: %s at leader epoch %d, partition at %d (leader %d)", ErrFenced, name, req.LeaderEpoch, p.LeaderEpoch, p.Leader)
	case req.Leader != p.Leader:
		return u, false, fmt.Errorf("%w: %s: the leader is %d", ErrInvalidRequest, name, p.Leader)
	case req.PartitionEpoch < p.PartitionEpoch:
		return u, false, fmt.Errorf("%w: %s at partition epoch %d, partition at %d", ErrInvalidUpdateVersion, name, req.PartitionEpoch, p.PartitionEpoch)
	case req.NewISREpochs != nil && len(req.NewISREpochs) != len(req.NewISR):
		return u, false, fmt.Errorf("%w: %s: %d epochs for %d ISR members", ErrInvalidRequest, name, len(req.NewISREpochs), len(req.NewISR))
	}
	for i, n := range req.NewISR {
		if slices.Contains(req.NewISR[:i], n) {
			return u, false, fmt.Errorf("%w: %s: broker %d twice in ISR %v", ErrInvalidRequest, name, n, req.NewISR)
		}
		if !p.IsReplica(n) {
			return u, false, fmt.Errorf("%w: %s: broker %d is not a replica (replicas %v)", ErrInvalidRequest, name, n, p.Replicas)
		}
	}
	if !slices.Contains(req.NewISR, p.Leader) {
		return u, false, fmt.Errorf("%w: %s: new ISR %v leaves out the leader", ErrInvalidRequest, name, req.NewISR)
	}
	for i, n := range req.NewISR {
		rb, ok := s.Brokers[n]
		if !ok {
			return u, false, fmt.Errorf("%w: %s: broker %d is not registered", ErrIneligibleReplica, name, n)
		}
		if req.NewISREpochs != nil && req.NewISREpochs[i] > 0 && req.NewISREpochs[i] != rb.Epoch {
			return u, false, fmt.Errorf("%w: %s: broker %d at epoch %d, registered at %d", ErrIneligibleReplica, name, n, req.NewISREpochs[i], rb.Epoch)
		}
	}
	next := p.Clone()
	next.ISR = slices.Clone(req.NewISR)
	next, changed = bump(p, next)
	return PartitionUpdate{Old: p, New: next}, changed, nil
}
