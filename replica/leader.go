package replica

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/log"
)

// DefaultReplicaLagTimeMax is replica.lag.time.max.ms's default: a
// follower that has not caught up to the leader's log end for this long
// leaves the ISR.
const DefaultReplicaLagTimeMax = 30 * time.Second

// LeaderConfig configures a Leader.
type LeaderConfig struct {
	// Self is this broker's node ID; it must be the state's leader.
	Self int32
	// MinISR is min.insync.replicas: acks=all produces are refused and
	// the high watermark stays put while the ISR is smaller. Values
	// below 1 count as 1.
	MinISR int
	// LagTimeMax is replica.lag.time.max.ms; 0 means the default.
	LagTimeMax time.Duration
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// ProposeISR asks for the ISR to become newISR; the caller turns it
	// into a compare-and-swap of the partition's state and, on success,
	// hands the new state back through UpdateState. epochs[i] is the
	// broker epoch newISR[i] fetched under when it joins the ISR with
	// this proposal (KIP-903: the controller refuses it if the broker has
	// registered again since, its progress being a previous
	// incarnation's), -1 for the members that stay or whose fetches did
	// not say. Nil: the ISR never changes from here.
	ProposeISR func(ctx context.Context, newISR []int32, epochs []int64) error
	// CaughtUp, if set, is called (under the leader's lock: it must not
	// block nor call back) when a replica outside the ISR fetched far
	// enough to join it, so that the owner calls MaybeChangeISR soon.
	CaughtUp func()
	// Alive reports whether broker id is live (registered and not
	// fenced): the low watermark counts the log start offsets of live
	// followers only, as Kafka's does, so that a dead replica does not
	// hold DeleteRecords up forever. Called under the leader's lock: it
	// must not block nor call back. Nil: every replica counts.
	Alive func(id int32) bool
	// RegisteredEpoch returns the broker epoch of broker id's current
	// registration as this broker's metadata shows it, 0 when it shows
	// none. A follower whose fetches carried another epoch is not
	// proposed to join the ISR until one under the registered epoch
	// arrives (or the metadata catches up with it): the controller would
	// refuse it (INELIGIBLE_REPLICA), and after a broker's rejoin every
	// idle partition it followed would propose it under its previous
	// incarnation's epoch at every ISR check, thousands of refused
	// writes. Called under the leader's lock: it must not block nor call
	// back. Nil: proposals name the fetches' epoch unchecked.
	RegisteredEpoch func(id int32) int64
}

// followerState is what the leader knows of one follower (Kafka's
// Replica): its log end offset as its last fetch told, and when it was
// last caught up.
type followerState struct {
	leo int64 // log end offset from its last fetch; -1 until it fetches
	// brokerEpoch is the broker epoch its last fetch carried (Fetch
	// v15+ ReplicaState); -1 until a fetch says.
	brokerEpoch int64
	// logStart is the log start offset its last fetch carried; -1 until
	// it fetches (the low watermark waits for it).
	logStart int64
	// lastCaughtUp is the last time the follower had every record the
	// leader had: a fetch at or past the leader's log end of that
	// moment, or at or past the leader's end at its previous fetch
	// (then as of that previous fetch).
	lastCaughtUp time.Time
	lastFetch    time.Time // when its previous fetch arrived
	// lastFetchLeaderLEO is the leader's log end offset when the
	// previous fetch arrived.
	lastFetchLeaderLEO int64
}

// FollowerFetch is the leader's answer to one partition of a follower's
// fetch, besides the records the server then reads with Log.Read from the
// fetch offset (none when Diverging).
type FollowerFetch struct {
	HighWatermark  int64
	LogStartOffset int64
	// Diverging is set when the follower's log diverged from the
	// leader's at DivergingEpoch (KIP-320): the response carries it and
	// no records, and the follower truncates.
	Diverging      bool
	DivergingEpoch DivergingEpoch
}

// DivergingEpoch is Kafka's FetchResponse DivergingEpoch: the largest
// epoch the leader has at or below the follower's last fetched epoch and
// where it ends in the leader's log.
type DivergingEpoch struct {
	Epoch     int32
	EndOffset int64
}

// Leader is the leader side of one partition this broker leads: its
// followers' progress, the ISR, the high watermark and the acks=all
// produces waiting on it. Safe for concurrent use.
type Leader struct {
	log  Log
	tp   cluster.TopicPartition
	self int32
	cfg  LeaderConfig

	// appendMu is Kafka's leaderIsrUpdateLock: an append as leader
	// (Append) holds it shared from its leadership check to the end of
	// its write to the log; a step-down (Stop) and a change of the
	// partition's state (UpdateState: a new epoch, an ISR change) hold
	// it exclusively. So once Stop returns no append of this leadership
	// is in flight and none starts, and an append is stamped with the
	// epoch it was checked at. Taken before mu.
	appendMu sync.RWMutex

	mu sync.Mutex // guards every field below; stopped and state are also only written under appendMu
	// state is the partition's state as committed in the metadata.
	state cluster.PartitionState
	// pending is an ISR proposed and not yet seen committed, nil if none:
	// one proposal at a time, as Kafka's AlterPartition.
	pending []int32
	// epochStart is the log end offset when this broker became leader at
	// state.LeaderEpoch: a follower joins the ISR only once it holds the
	// records of earlier epochs up to there.
	epochStart int64
	followers  map[int32]*followerState
	waiters    waitHeap
	// lowWaiters are the DeleteRecords waiting for the low watermark,
	// checked as followers report their log start offsets.
	lowWaiters []*lowWaiter
	stopped    bool
}

// NewLeader makes this broker the leader of state's partition on l: it
// marks l replicated and opens the leader epoch in it. state.Leader must
// be cfg.Self.
func NewLeader(l Log, state cluster.PartitionState, cfg LeaderConfig) (*Leader, error) {
	if state.Leader != cfg.Self {
		return nil, fmt.Errorf("replica: lead %s-%d: leader is %d, not this broker %d: %w",
			state.Topic, state.Partition, state.Leader, cfg.Self, ErrNotLeaderOrFollower)
	}
	if cfg.MinISR < 1 {
		cfg.MinISR = 1
	}
	if cfg.LagTimeMax <= 0 {
		cfg.LagTimeMax = DefaultReplicaLagTimeMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l.SetReplicated(true)
	if err := l.BecomeLeader(state.LeaderEpoch); err != nil {
		return nil, fmt.Errorf("replica: lead %s-%d at epoch %d: %w", state.Topic, state.Partition, state.LeaderEpoch, err)
	}
	ld := &Leader{
		log:        l,
		tp:         state.TP(),
		self:       cfg.Self,
		cfg:        cfg,
		state:      state.Clone(),
		epochStart: l.NextOffset(),
		followers:  make(map[int32]*followerState),
	}
	ld.resetFollowers(cfg.Now())
	// A leader whose ISR is itself alone commits what it holds at once,
	// not at its first append: until then ListOffsets would answer
	// OFFSET_NOT_AVAILABLE and consumers would see nothing.
	ld.maybeAdvanceHW()
	return ld, nil
}

// resetFollowers starts every follower's tracking afresh, as Kafka does
// on a leader change: ISR members count as caught up now, the others as
// never. Caller holds mu (or owns ld alone).
func (ld *Leader) resetFollowers(now time.Time) {
	leo := ld.log.NextOffset()
	fs := make(map[int32]*followerState, len(ld.state.Replicas))
	for _, id := range ld.state.Replicas {
		if id == ld.self {
			continue
		}
		f := &followerState{leo: -1, brokerEpoch: -1, logStart: -1, lastFetch: now, lastFetchLeaderLEO: leo}
		if ld.state.InISR(id) {
			f.lastCaughtUp = now
		}
		fs[id] = f
	}
	ld.followers = fs
}

// TP is the partition's name.
func (ld *Leader) TP() cluster.TopicPartition { return ld.tp }

// State returns the partition's committed state as this leader knows it.
func (ld *Leader) State() cluster.PartitionState {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.state.Clone()
}

// Epoch is the leader epoch this broker leads at.
func (ld *Leader) Epoch() int32 {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.state.LeaderEpoch
}

// UpdateState hands the leader a newer committed state of its partition
// (an ISR change it proposed or another writer made, a new leader epoch
// with this broker still leader). Older states are ignored. An ISR below
// min.insync.replicas fails the waiting acks=all produces with
// ErrNotEnoughReplicasAfterAppend. It waits for the appends in flight: a
// new epoch is opened in the log between appends, never under one.
func (ld *Leader) UpdateState(state cluster.PartitionState) error {
	if state.TP() != ld.tp {
		return fmt.Errorf("replica: update %s-%d with the state of %s-%d", ld.tp.Topic, ld.tp.Partition, state.Topic, state.Partition)
	}
	ld.appendMu.Lock()
	defer ld.appendMu.Unlock()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped {
		return fmt.Errorf("replica: update %s-%d: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	}
	if state.Leader != ld.self {
		return fmt.Errorf("replica: update %s-%d: leader is now %d: %w", ld.tp.Topic, ld.tp.Partition, state.Leader, ErrNotLeaderOrFollower)
	}
	if state.LeaderEpoch < ld.state.LeaderEpoch ||
		(state.LeaderEpoch == ld.state.LeaderEpoch && state.PartitionEpoch <= ld.state.PartitionEpoch) {
		return nil // stale or the same
	}
	newEpoch := state.LeaderEpoch > ld.state.LeaderEpoch
	if newEpoch {
		if err := ld.log.BecomeLeader(state.LeaderEpoch); err != nil {
			return fmt.Errorf("replica: update %s-%d to epoch %d: %w", ld.tp.Topic, ld.tp.Partition, state.LeaderEpoch, err)
		}
	}
	ld.state = state.Clone()
	ld.pending = nil
	now := ld.cfg.Now()
	if newEpoch {
		ld.epochStart = ld.log.NextOffset()
		ld.resetFollowers(now)
	} else {
		// Keep what is known of the followers; add new replicas, drop
		// removed ones.
		leo := ld.log.NextOffset()
		for _, id := range state.Replicas {
			if _, ok := ld.followers[id]; !ok && id != ld.self {
				ld.followers[id] = &followerState{leo: -1, brokerEpoch: -1, logStart: -1, lastFetch: now, lastFetchLeaderLEO: leo}
			}
		}
		for id := range ld.followers {
			if !state.IsReplica(id) {
				delete(ld.followers, id)
			}
		}
		// A replica moved away no longer holds the low watermark back.
		ld.completeLowWaiters()
	}
	if len(ld.state.ISR) < ld.cfg.MinISR {
		ld.waiters.failAll(fmt.Errorf("replica: %s-%d: ISR %v below min.insync.replicas %d: %w",
			ld.tp.Topic, ld.tp.Partition, ld.state.ISR, ld.cfg.MinISR, ErrNotEnoughReplicasAfterAppend))
		return nil
	}
	ld.maybeAdvanceHW()
	return nil
}

// Stop ends this broker's leadership of the partition. It waits for the
// appends in flight (Append) to finish, so that once it returns nothing
// is appended as this leader any more; then every acks=all produce and
// DeleteRecords waiting fails at once with ErrNotLeaderOrFollower, as
// every later call does.
func (ld *Leader) Stop() {
	ld.appendMu.Lock()
	defer ld.appendMu.Unlock()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped {
		return
	}
	ld.stopped = true
	err := fmt.Errorf("replica: %s-%d: leadership moved: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	ld.waiters.failAll(err)
	ld.failLowWaiters(err)
}

// Append appends batches to the partition's log as its leader with
// appendFn (the log's AppendProduced or AppendBatches), and moves the
// high watermark as Appended does. The leadership check and the append
// happen under the leader's append lock held shared (Kafka's
// appendRecordsToLeader under leaderIsrUpdateLock): it answers
// ErrNotLeaderOrFollower without appending once Stop has begun, and, for
// acksAll, ErrNotEnoughReplicas without appending while the committed ISR
// is smaller than min.insync.replicas; a Stop or a new leader epoch waits
// for an append that passed the check, whose batches are stamped with
// the epoch it was checked at. appendFn's error is returned as it is.
func (ld *Leader) Append(appendFn func([]byte) (log.AppendInfo, error), batches []byte, acksAll bool) (log.AppendInfo, error) {
	ld.appendMu.RLock()
	defer ld.appendMu.RUnlock()
	// stopped is written under appendMu too: the shared hold reads it.
	if ld.stopped {
		return log.AppendInfo{}, fmt.Errorf("replica: produce to %s-%d: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	}
	if acksAll {
		if err := ld.CheckProduce(); err != nil {
			return log.AppendInfo{}, err
		}
	}
	info, err := appendFn(batches)
	if err != nil {
		return info, err
	}
	ld.mu.Lock()
	ld.maybeAdvanceHW()
	ld.mu.Unlock()
	return info, nil
}

// CheckProduce is the check before an acks=all append: ErrNotEnoughReplicas
// while the committed ISR is smaller than min.insync.replicas (nothing
// may be appended then), ErrNotLeaderOrFollower once stopped.
func (ld *Leader) CheckProduce() error {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped {
		return fmt.Errorf("replica: produce to %s-%d: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	}
	if len(ld.state.ISR) < ld.cfg.MinISR {
		return fmt.Errorf("replica: produce to %s-%d: ISR %v, min.insync.replicas %d: %w",
			ld.tp.Topic, ld.tp.Partition, ld.state.ISR, ld.cfg.MinISR, ErrNotEnoughReplicas)
	}
	return nil
}

// SetMinISR changes min.insync.replicas (a topic config change). An ISR
// now below it fails the waiting acks=all produces.
func (ld *Leader) SetMinISR(n int) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.cfg.MinISR = max(n, 1)
	if ld.stopped {
		return
	}
	if len(ld.state.ISR) < ld.cfg.MinISR {
		ld.waiters.failAll(fmt.Errorf("replica: %s-%d: ISR %v below min.insync.replicas %d: %w",
			ld.tp.Topic, ld.tp.Partition, ld.state.ISR, ld.cfg.MinISR, ErrNotEnoughReplicasAfterAppend))
		return
	}
	ld.maybeAdvanceHW()
}

// Appended tells the leader its log grew (any produce, whatever its
// acks): with an ISR of the leader alone, that alone moves the high
// watermark.
func (ld *Leader) Appended() {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if !ld.stopped {
		ld.maybeAdvanceHW()
	}
}

// WaitCommitted returns nil once the high watermark is past offset, the
// last offset of an acks=all produce. It returns early with
// ErrNotEnoughReplicasAfterAppend if the ISR is or falls below
// min.insync.replicas before that, ErrNotLeaderOrFollower if leadership
// moves, or ctx's error (the request timeout). The caller's goroutine
// waits; the leader keeps only a registered waiter, completed as the high
// watermark advances.
func (ld *Leader) WaitCommitted(ctx context.Context, offset int64) error {
	ld.mu.Lock()
	if ld.stopped {
		ld.mu.Unlock()
		return fmt.Errorf("replica: wait for %s-%d offset %d: %w", ld.tp.Topic, ld.tp.Partition, offset, ErrNotLeaderOrFollower)
	}
	ld.maybeAdvanceHW()
	if ld.log.HighWatermark() > offset {
		ld.mu.Unlock()
		return nil
	}
	if len(ld.state.ISR) < ld.cfg.MinISR {
		isr := slices.Clone(ld.state.ISR)
		ld.mu.Unlock()
		return fmt.Errorf("replica: wait for %s-%d offset %d: ISR %v, min.insync.replicas %d: %w",
			ld.tp.Topic, ld.tp.Partition, offset, isr, ld.cfg.MinISR, ErrNotEnoughReplicasAfterAppend)
	}
	w := &waiter{offset: offset, ch: make(chan error, 1)}
	heap.Push(&ld.waiters, w)
	ld.mu.Unlock()
	select {
	case err := <-w.ch:
		return err
	case <-ctx.Done():
		ld.mu.Lock()
		ld.waiters.remove(w)
		ld.mu.Unlock()
		select {
		case err := <-w.ch: // completed meanwhile: its answer stands
			return err
		default:
		}
		return fmt.Errorf("replica: wait for %s-%d offset %d: %w", ld.tp.Topic, ld.tp.Partition, offset, ctx.Err())
	}
}

// HandleFollowerFetch handles one partition of a replica fetch from
// follower: it checks the follower's current leader epoch, looks for a
// diverging history (KIP-320: the end of lastFetchedEpoch in the leader's
// log is before fetchOffset), and otherwise records that the follower's
// log ends at fetchOffset, which may move its ISR standing and the high
// watermark. Without divergence the server then reads records with
// Log.Read from fetchOffset. logStartOffset is the follower's log start
// offset as its fetch carries it, which the low watermark counts (-1:
// not carried). lastFetchedEpoch and currentLeaderEpoch are -1 when the
// request does not carry them. brokerEpoch is the follower's broker epoch
// (ReplicaState.ReplicaEpoch, Fetch v15+; -1 or 0 when not carried): a
// fetch under a new one is a new incarnation of the follower, whose log
// may have lost a tail its previous one had (a power loss), so what was
// known of its progress is dropped, and an ISR expansion names the epoch
// it was seen under (ProposeISR).
func (ld *Leader) HandleFollowerFetch(follower int32, brokerEpoch, fetchOffset, logStartOffset int64, lastFetchedEpoch, currentLeaderEpoch int32) (FollowerFetch, error) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped {
		return FollowerFetch{}, fmt.Errorf("replica: fetch %s-%d: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	}
	if err := checkEpoch(currentLeaderEpoch, ld.state.LeaderEpoch); err != nil {
		return FollowerFetch{}, fmt.Errorf("replica: fetch %s-%d by replica %d: %w", ld.tp.Topic, ld.tp.Partition, follower, err)
	}
	f, ok := ld.followers[follower]
	if !ok {
		return FollowerFetch{}, fmt.Errorf("replica: fetch %s-%d by replica %d, not in replicas %v: %w",
			ld.tp.Topic, ld.tp.Partition, follower, ld.state.Replicas, ErrNotLeaderOrFollower)
	}
	if brokerEpoch > 0 && brokerEpoch != f.brokerEpoch {
		if f.brokerEpoch > 0 {
			// Another incarnation: nothing its predecessor fetched
			// counts, not even having been caught up (and there is
			// no previous fetch of its own to have caught up with).
			f.leo, f.lastCaughtUp, f.lastFetchLeaderLEO = -1, time.Time{}, math.MaxInt64
		}
		f.brokerEpoch = brokerEpoch
	}
	out := FollowerFetch{HighWatermark: ld.log.HighWatermark(), LogStartOffset: ld.log.StartOffset()}
	start, leo := out.LogStartOffset, ld.log.NextOffset()
	// At or below the leader's log start there is no history left to
	// compare: the follower fetches from there as from an empty log.
	if lastFetchedEpoch >= 0 && fetchOffset > start {
		epoch, end := ld.log.EndOffsetForEpoch(lastFetchedEpoch)
		switch {
		case epoch < 0:
			// The leader knows no epoch this old: every record it holds
			// is of a later epoch, so the follower's diverge from where
			// the leader's log starts.
			out.Diverging, out.DivergingEpoch = true, DivergingEpoch{Epoch: lastFetchedEpoch, EndOffset: start}
			return out, nil
		case epoch < lastFetchedEpoch || end < fetchOffset:
			out.Diverging, out.DivergingEpoch = true, DivergingEpoch{Epoch: epoch, EndOffset: end}
			return out, nil
		}
	}
	if fetchOffset < start || fetchOffset > leo {
		return out, fmt.Errorf("replica: fetch %s-%d by replica %d at %d, log has [%d, %d): %w",
			ld.tp.Topic, ld.tp.Partition, follower, fetchOffset, start, leo, ErrOffsetOutOfRange)
	}
	now := ld.cfg.Now()
	// Kafka's rule: caught up now if the fetch reaches the leader's end
	// now, or as of the previous fetch if it reaches the leader's end of
	// then (a steady stream of small produces keeps a prompt follower
	// always a little behind, yet in sync).
	if fetchOffset >= leo {
		f.lastCaughtUp = later(f.lastCaughtUp, now)
	} else if fetchOffset >= f.lastFetchLeaderLEO {
		f.lastCaughtUp = later(f.lastCaughtUp, f.lastFetch)
	}
	f.leo = fetchOffset
	f.lastFetchLeaderLEO = leo
	f.lastFetch = now
	if logStartOffset != f.logStart {
		f.logStart = logStartOffset
		if len(ld.lowWaiters) > 0 {
			ld.completeLowWaiters()
		}
	}
	ld.maybeAdvanceHW()
	out.HighWatermark = ld.log.HighWatermark()
	if ld.cfg.CaughtUp != nil && ld.pending == nil && !ld.state.InISR(follower) &&
		f.leo >= out.HighWatermark && f.leo >= ld.epochStart {
		ld.cfg.CaughtUp()
	}
	return out, nil
}

// checkEpoch compares a request's current leader epoch with the
// partition's; -1 means the request does not say.
func checkEpoch(requested, current int32) error {
	switch {
	case requested < 0 || requested == current:
		return nil
	case requested < current:
		return fmt.Errorf("request epoch %d, partition epoch %d: %w", requested, current, ErrFencedLeaderEpoch)
	default:
		return fmt.Errorf("request epoch %d, partition epoch %d: %w", requested, current, ErrUnknownLeaderEpoch)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// maximalISR is the ISR the high watermark is computed over: the committed
// one together with a pending proposal, so that neither a shrink nor an
// expansion in flight lets it count fewer replicas than may be committed
// (Kafka's maximal ISR). Caller holds mu.
func (ld *Leader) maximalISR() []int32 {
	if ld.pending == nil {
		return ld.state.ISR
	}
	isr := slices.Clone(ld.state.ISR)
	for _, id := range ld.pending {
		if !slices.Contains(isr, id) {
			isr = append(isr, id)
		}
	}
	return isr
}

// maybeAdvanceHW moves the high watermark to the lowest log end offset of
// the maximal ISR, unless the committed ISR is below min.insync.replicas
// (strict min ISR: nothing held by fewer replicas becomes committed), and
// completes the waiters it passes. Caller holds mu.
func (ld *Leader) maybeAdvanceHW() {
	if len(ld.state.ISR) < ld.cfg.MinISR {
		return
	}
	hw := ld.log.NextOffset()
	for _, id := range ld.maximalISR() {
		if id == ld.self {
			continue
		}
		f, ok := ld.followers[id]
		if !ok || f.leo < 0 {
			return // an ISR member not heard from: nothing is known committed
		}
		hw = min(hw, f.leo)
	}
	ld.log.SetHighWatermark(hw)
	ld.waiters.completeBelow(ld.log.HighWatermark())
}

// isrChange is the ISR the followers' progress calls for: the committed
// ISR without the followers that lag (not at the leader's end and not
// caught up for LagTimeMax), with the live replicas that caught up (at or past
// the high watermark and the start of this leader's epoch). ok is false
// when it is the committed ISR. Caller holds mu.
func (ld *Leader) isrChange(now time.Time) (newISR []int32, ok bool) {
	leo, hw := ld.log.NextOffset(), ld.log.HighWatermark()
	newISR = make([]int32, 0, len(ld.state.Replicas))
	for _, id := range ld.state.ISR {
		f := ld.followers[id]
		if id != ld.self && f != nil && f.leo != leo && now.Sub(f.lastCaughtUp) > ld.cfg.LagTimeMax {
			continue
		}
		newISR = append(newISR, id)
	}
	for _, id := range ld.state.Replicas {
		if slices.Contains(newISR, id) || id == ld.self || ld.state.InISR(id) {
			continue
		}
		if ld.cfg.Alive != nil && !ld.cfg.Alive(id) {
			// A fenced broker cannot join (Kafka's KIP-841): the
			// metadata would refuse it, and while its last fetch
			// looks caught up the refusals would keep every other
			// replica out too (a new one of a reassignment).
			continue
		}
		f := ld.followers[id]
		if f == nil || f.leo < 0 || f.leo < hw || f.leo < ld.epochStart {
			continue
		}
		if f.brokerEpoch > 0 && ld.cfg.RegisteredEpoch != nil && ld.cfg.RegisteredEpoch(id) != f.brokerEpoch {
			continue // progress of another registration than the one the metadata shows
		}
		newISR = append(newISR, id)
	}
	if !slices.Contains(newISR, ld.self) {
		newISR = append(newISR, ld.self) // the leader is always in sync with itself
	}
	return newISR, !sameSet(newISR, ld.state.ISR)
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// MaybeChangeISR proposes the ISR the followers' progress calls for, if it
// differs from the committed one and no proposal is in flight. It returns
// the proposed ISR (nil if none) and the proposal's error. The Manager
// calls it periodically and when a follower may have caught up; it must
// not be called with any lock of the caller's held that UpdateState needs.
func (ld *Leader) MaybeChangeISR(ctx context.Context) ([]int32, error) {
	if ld.cfg.ProposeISR == nil {
		return nil, nil
	}
	prop, ok := ld.beginISRChange()
	if !ok {
		return nil, nil
	}
	err := ld.cfg.ProposeISR(ctx, prop.NewISR, prop.NewISREpochs)
	return prop.NewISR, ld.endISRChange(prop, err)
}

// ISRProposal is one partition's ISR change as its leader proposes it:
// the partition's state as the leader knows it (the compare of the
// compare-and-swap), the ISR it asks for, and each new member's broker
// epoch as its fetches carried it (-1 for members already in the ISR).
type ISRProposal struct {
	Old          cluster.PartitionState
	NewISR       []int32
	NewISREpochs []int64
}

// beginISRChange returns the ISR change the followers' progress calls
// for, marked in flight, if there is one and none is in flight already.
// The caller proposes it and hands the outcome to endISRChange.
func (ld *Leader) beginISRChange() (ISRProposal, bool) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped || ld.pending != nil {
		return ISRProposal{}, false
	}
	newISR, ok := ld.isrChange(ld.cfg.Now())
	if !ok {
		return ISRProposal{}, false
	}
	ld.pending = slices.Clone(newISR)
	epochs := make([]int64, len(newISR))
	for i, id := range newISR {
		epochs[i] = -1
		if f := ld.followers[id]; f != nil && !ld.state.InISR(id) {
			epochs[i] = f.brokerEpoch
		}
	}
	return ISRProposal{Old: ld.state.Clone(), NewISR: newISR, NewISREpochs: epochs}, true
}

// endISRChange takes the outcome of prop (beginISRChange): a failed
// proposal is no longer in flight, so the next check proposes again; a
// committed one stays pending until the committed state comes back
// (UpdateState). It returns err with the partition named.
func (ld *Leader) endISRChange(prop ISRProposal, err error) error {
	if err == nil {
		return nil
	}
	ld.mu.Lock()
	if slices.Equal(ld.pending, prop.NewISR) {
		ld.pending = nil
	}
	ld.mu.Unlock()
	return fmt.Errorf("replica: %s-%d: propose ISR %v: %w", ld.tp.Topic, ld.tp.Partition, prop.NewISR, err)
}

// FollowerLag is one follower's standing, for metrics and status.
type FollowerLag struct {
	Replica      int32
	LogEndOffset int64 // -1 until it fetched
	LastCaughtUp time.Time
	InISR        bool
}

// Followers reports every follower's standing.
func (ld *Leader) Followers() []FollowerLag {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	out := make([]FollowerLag, 0, len(ld.followers))
	for _, id := range ld.state.Replicas {
		if f, ok := ld.followers[id]; ok {
			out = append(out, FollowerLag{Replica: id, LogEndOffset: f.leo, LastCaughtUp: f.lastCaughtUp, InISR: ld.state.InISR(id)})
		}
	}
	return out
}
