package replica

import (
	"context"
	"fmt"
	"slices"
)

// The low watermark of a partition is the lowest log start offset over
// its replicas: the leader's own and that of each live follower as its
// last fetch reported it (Kafka's lowWatermarkIfLeader). A DeleteRecords
// moves the leader's log start offset at once; the followers move theirs
// when their next fetch answer carries it, and report it in the fetch
// after that. The request is answered once the low watermark reaches the
// offset it asked for (Kafka's DelayedDeleteRecords).

// lowWaiter is one DeleteRecords waiting for the low watermark to reach
// offset. Its channel has room for the one result it gets.
type lowWaiter struct {
	offset int64
	ch     chan lowResult
}

// lowResult is a low watermark reached, or why it will not be.
type lowResult struct {
	low int64
	err error
}

// LowWatermark is the partition's low watermark: the lowest log start
// offset over the leader and its live followers; -1 while a live follower
// has not reported one since this broker leads at this epoch. It is
// ErrNotLeaderOrFollower once stopped.
func (ld *Leader) LowWatermark() (int64, error) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.stopped {
		return -1, fmt.Errorf("replica: low watermark of %s-%d: %w", ld.tp.Topic, ld.tp.Partition, ErrNotLeaderOrFollower)
	}
	return ld.lowWatermark(), nil
}

// WaitLowWatermark returns the low watermark once it is at or past
// offset, the offset a DeleteRecords asked for. It returns early with
// ErrNotLeaderOrFollower if leadership moves, or with ctx's error (the
// request timeout) and the low watermark reached so far. The caller's
// goroutine waits; the leader keeps only a registered waiter, completed
// as followers report their log start offsets.
func (ld *Leader) WaitLowWatermark(ctx context.Context, offset int64) (int64, error) {
	ld.mu.Lock()
	if ld.stopped {
		ld.mu.Unlock()
		return -1, fmt.Errorf("replica: wait for the low watermark of %s-%d to reach %d: %w", ld.tp.Topic, ld.tp.Partition, offset, ErrNotLeaderOrFollower)
	}
	if low := ld.lowWatermark(); low >= offset {
		ld.mu.Unlock()
		return low, nil
	}
	w := &lowWaiter{offset: offset, ch: make(chan lowResult, 1)}
	ld.lowWaiters = append(ld.lowWaiters, w)
	ld.mu.Unlock()
	select {
	case r := <-w.ch:
		return r.low, r.err
	case <-ctx.Done():
		ld.mu.Lock()
		ld.lowWaiters = slices.DeleteFunc(ld.lowWaiters, func(x *lowWaiter) bool { return x == w })
		low := ld.lowWatermark()
		ld.mu.Unlock()
		select {
		case r := <-w.ch: // completed meanwhile: its answer stands
			return r.low, r.err
		default:
		}
		return low, fmt.Errorf("replica: wait for the low watermark of %s-%d to reach %d, at %d: %w",
			ld.tp.Topic, ld.tp.Partition, offset, low, ctx.Err())
	}
}

// lowWatermark computes the low watermark. Caller holds mu.
func (ld *Leader) lowWatermark() int64 {
	low := ld.log.StartOffset()
	for id, f := range ld.followers {
		if f.logStart < low && (ld.cfg.Alive == nil || ld.cfg.Alive(id)) {
			low = f.logStart
		}
	}
	return low
}

// completeLowWaiters answers the DeleteRecords whose offset the low
// watermark has reached. Caller holds mu.
func (ld *Leader) completeLowWaiters() {
	if len(ld.lowWaiters) == 0 {
		return
	}
	low := ld.lowWatermark()
	ld.lowWaiters = slices.DeleteFunc(ld.lowWaiters, func(w *lowWaiter) bool {
		if w.offset > low {
			return false
		}
		w.ch <- lowResult{low: low}
		return true
	})
}

// failLowWaiters answers every waiting DeleteRecords with err. Caller
// holds mu.
func (ld *Leader) failLowWaiters(err error) {
	for _, w := range ld.lowWaiters {
		w.ch <- lowResult{low: -1, err: err}
	}
	ld.lowWaiters = nil
}
