package consumergroup

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// partState is where a __consumer_offsets partition stands for a
// coordinator in a cluster (Config.Cluster).
type partState int8

const (
	// partUnowned: not handed to this coordinator, or unloaded; its groups
	// answer ErrNotCoordinatorForGroup.
	partUnowned partState = iota
	// partLoading: LoadPartition's replay runs; its groups answer
	// ErrLoadInProgress.
	partLoading
	// partLoaded: its groups are served.
	partLoaded
	// partFailed: the replay failed; its groups answer
	// ErrCoordinatorNotAvailable until a new LoadPartition.
	partFailed
)

// offsetsPartition is the ownership of one __consumer_offsets partition,
// one per LoadPartition that started a load (a later load makes a new
// one, so a replay that finishes late can tell it was superseded).
type offsetsPartition struct {
	// epoch is the leader epoch of the last LoadPartition or
	// UnloadPartition applied: one with a lower epoch is stale and
	// ignored. Guarded by Coordinator.mu, as are state and loadErr.
	epoch   int32
	state   partState
	loadErr error // with partFailed

	// ctx ends when the partition is unloaded or the coordinator closes:
	// the replay stops, writes waiting for their replicas give up, and
	// appends are refused. Immutable.
	ctx    context.Context
	cancel context.CancelFunc
	// loaded is closed when the replay has finished (or never started:
	// a partition only ever unloaded).
	loaded chan struct{}
	// appendMu is read-held across each append to the partition, the
	// check of ctx included; UnloadPartition write-locks it once ctx is
	// cancelled, so no append is under way or to come once it returns.
	appendMu sync.RWMutex
}

func newOffsetsPartition(parent context.Context, epoch int32, state partState) *offsetsPartition {
	ctx, cancel := context.WithCancel(parent)
	ps := &offsetsPartition{epoch: epoch, state: state, ctx: ctx, cancel: cancel, loaded: make(chan struct{})}
	if state == partUnowned {
		cancel()
		close(ps.loaded)
	}
	return ps
}

// LoadPartition makes this coordinator (Config.Cluster) the coordinator of
// the groups of __consumer_offsets partition p, which this broker now
// leads at leaderEpoch: the partition is replayed from its local log in
// the background (its groups answer COORDINATOR_LOAD_IN_PROGRESS
// meanwhile), then its groups are served. A call with an epoch lower than
// the last LoadPartition or UnloadPartition of p is stale and ignored, as
// Kafka's group coordinator ignores it; a partition already loading or
// loaded only takes the new epoch. Without Config.Cluster it does nothing:
// a single broker owns every partition from Start.
func (c *Coordinator) LoadPartition(p int32, leaderEpoch int32) {
	if !c.cfg.Cluster {
		return
	}
	// The topic's partition count is the one its groups hash over; a
	// topic created elsewhere with another count than ours wins, as long
	// as no partition is owned yet (the count never changes in Kafka).
	topicPartitions := 0
	if t, ok := c.mgr.Topic(OffsetsTopic); ok {
		topicPartitions = len(t.Partitions)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if topicPartitions > 0 && topicPartitions != c.partitions && c.ownedLocked() == 0 {
		c.logger.Info("consumergroup: the offsets topic's partition count differs from offsets.topic.num.partitions; using the topic's",
			"partitions", topicPartitions, "configured", c.partitions)
		c.partitions = topicPartitions
	}
	if p < 0 || int(p) >= c.partitions {
		n := c.partitions
		c.mu.Unlock()
		c.logger.Warn("consumergroup: load of an offsets partition out of range ignored", "partition", p, "partitions", n)
		return
	}
	old := c.parts[p]
	if old != nil {
		if leaderEpoch < old.epoch {
			c.mu.Unlock()
			c.logger.Info("consumergroup: stale load of an offsets partition ignored", "partition", p, "epoch", leaderEpoch, "current_epoch", old.epoch)
			return
		}
		if old.state == partLoading || old.state == partLoaded {
			old.epoch = leaderEpoch
			c.mu.Unlock()
			return
		}
		old.cancel() // a failed load's, or an unowned one's: done with
	}
	ps := newOffsetsPartition(c.ctx, leaderEpoch, partLoading)
	c.parts[p] = ps
	c.wg.Add(1) // before Close can wait: it sets closed under mu first
	c.mu.Unlock()
	c.logger.Info("consumergroup: loading an offsets partition", "partition", p, "epoch", leaderEpoch)
	go c.loadPartition(p, ps)
}

// loadPartition replays partition p for ps and, unless ps was unloaded or
// superseded meanwhile, installs its groups and serves them.
func (c *Coordinator) loadPartition(p int32, ps *offsetsPartition) {
	defer c.wg.Done()
	defer close(ps.loaded)
	if c.loadHook != nil {
		c.loadHook(p)
	}
	start := time.Now()
	st := make(loadState)
	var err error
	if l, ok := c.mgr.Partition(OffsetsTopic, p); !ok {
		err = fmt.Errorf("consumergroup: no local replica of %s-%d to load", OffsetsTopic, p)
	} else {
		var unknown int
		err = c.replayInto(p, l, ps.ctx.Done(), st, &unknown)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[p] != ps || ps.state != partLoading || c.closed {
		return // unloaded or closed meanwhile: what was read is dropped
	}
	if err != nil {
		ps.state, ps.loadErr = partFailed, err
		c.logger.Error("consumergroup: loading an offsets partition failed; its groups answer COORDINATOR_NOT_AVAILABLE", "partition", p, "epoch", ps.epoch, "err", err)
		return
	}
	n := 0
	for id, lg := range st {
		if lg.meta == nil && lg.offsets.len() == 0 {
			continue
		}
		if c.partitionForLocked(id) != p || c.groups[id] != nil {
			// Written under another partition count: no request for
			// the group can reach this partition.
			c.logger.Warn("consumergroup: skipping a group stored in another partition than its own", "group", id, "partition", p)
			continue
		}
		c.newGroupLocked(id, lg)
		n++
	}
	ps.state = partLoaded
	c.logger.Info("consumergroup: loaded an offsets partition", "partition", p, "epoch", ps.epoch, "groups", n, "took", time.Since(start))
}

// UnloadPartition ends this coordinator's ownership of __consumer_offsets
// partition p (Config.Cluster), whose leadership moved away at
// leaderEpoch: its groups are stopped (members waiting in JoinGroup or
// SyncGroup, and every later request, get ErrNotCoordinatorForGroup), their
// goroutines and a replay still running are waited for, writes waiting for
// their replicas give up, and nothing is written. A call with an epoch
// lower than the last LoadPartition or UnloadPartition of p is stale and
// ignored. Without Config.Cluster it does nothing.
func (c *Coordinator) UnloadPartition(p int32, leaderEpoch int32) {
	if !c.cfg.Cluster {
		return
	}
	c.mu.Lock()
	ps := c.parts[p]
	if ps != nil && leaderEpoch < ps.epoch {
		c.mu.Unlock()
		c.logger.Info("consumergroup: stale unload of an offsets partition ignored", "partition", p, "epoch", leaderEpoch, "current_epoch", ps.epoch)
		return
	}
	if ps == nil || ps.state == partUnowned {
		if ps == nil {
			c.parts[p] = newOffsetsPartition(c.ctx, leaderEpoch, partUnowned)
		} else {
			ps.epoch = leaderEpoch
		}
		c.mu.Unlock()
		return
	}
	ps.epoch = leaderEpoch
	ps.state = partUnowned
	ps.loadErr = nil
	ps.cancel()
	var gs []*group
	for id, g := range c.groups {
		if g.partition == p {
			gs = append(gs, g)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	// A barrier: no append is under way once it is passed, and none
	// starts, the context being cancelled.
	ps.appendMu.Lock()
	//lint:ignore SA2001 the critical section is the wait itself
	ps.appendMu.Unlock()
	for _, g := range gs {
		g.unload()
	}
	<-ps.loaded
	c.logger.Info("consumergroup: unloaded an offsets partition", "partition", p, "epoch", leaderEpoch, "groups", len(gs))
}

// Owns reports whether this coordinator coordinates group: always on a
// single broker; in a cluster, when the group's __consumer_offsets
// partition was loaded (its load may still run, or have failed) and not
// unloaded since.
func (c *Coordinator) Owns(group string) bool {
	if !c.cfg.Cluster {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.parts[c.partitionForLocked(group)]
	return ps != nil && ps.state != partUnowned
}

// ownerErrLocked is the error a request for group gets because of its
// partition's ownership, nil when it is served. Caller holds mu.
func (c *Coordinator) ownerErrLocked(group string) error {
	if !c.cfg.Cluster {
		return nil
	}
	p := c.partitionForLocked(group)
	ps := c.parts[p]
	if ps == nil {
		return fmt.Errorf("%w: %s-%d is not loaded here", ErrNotCoordinatorForGroup, OffsetsTopic, p)
	}
	switch ps.state {
	case partLoaded:
		return nil
	case partLoading:
		return ErrLoadInProgress
	case partFailed:
		return fmt.Errorf("%w: %s-%d: %w", ErrCoordinatorNotAvailable, OffsetsTopic, p, ps.loadErr)
	default:
		return fmt.Errorf("%w: %s-%d is not loaded here", ErrNotCoordinatorForGroup, OffsetsTopic, p)
	}
}

// ownedLocked counts the partitions loading, loaded or failed. Caller
// holds mu.
func (c *Coordinator) ownedLocked() int {
	n := 0
	for _, ps := range c.parts {
		if ps.state != partUnowned {
			n++
		}
	}
	return n
}

// loadingLocked reports whether a partition is loading. Caller holds mu.
func (c *Coordinator) loadingLocked() bool {
	for _, ps := range c.parts {
		if ps.state == partLoading {
			return true
		}
	}
	return false
}

// appendOwner returns, in a cluster, partition p's ownership read-locked
// for an append (the caller unlocks appendMu after it), or the error an
// append to a partition not owned gets; nil, nil on a single broker.
func (c *Coordinator) appendOwner(p int32) (*offsetsPartition, error) {
	if !c.cfg.Cluster {
		return nil, nil
	}
	c.mu.Lock()
	ps := c.parts[p]
	c.mu.Unlock()
	if ps == nil {
		return nil, fmt.Errorf("%w: %s-%d is not loaded here", ErrNotCoordinatorForGroup, OffsetsTopic, p)
	}
	ps.appendMu.RLock()
	if ps.ctx.Err() != nil {
		ps.appendMu.RUnlock()
		return nil, fmt.Errorf("%w: %s-%d was unloaded", ErrNotCoordinatorForGroup, OffsetsTopic, p)
	}
	return ps, nil
}
