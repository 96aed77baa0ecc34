package log

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Producer ID blocks of a cluster (Options.ProducerIDBlocks, Kafka's
// KIP-730): the Manager hands out the IDs of one block, [nextPID,
// pidLimit), and fetches the next one in the background once
// a tenth of it is left, so that InitProducerId rarely
// waits for the metadata quorum. An allocation that finds the block used
// up and no next one waits for the fetch under way (or starts one), and
// fails with ErrProducerIDBlockUnavailable if it fails. Nothing is stored
// in the data dir: what a block has left when the broker stops is a gap.
const (
	// A block with no more than 1/pidPrefetchShare of it left starts the
	// next block's fetch (Kafka's RPCProducerIdManager prefetches once
	// 90% are handed out too).
	pidPrefetchShare = 10
	// pidPrefetchBackoff is how long after a failed fetch the next
	// prefetch waits; an allocation that needs a block fetches at once.
	pidPrefetchBackoff = time.Second
)

// pidBlockState is the Manager's block allocator state, guarded by
// Manager.pidMu. The current block is [nextPID, pidLimit), taken from
// [pidFirst, pidLimit).
type pidBlockState struct {
	pidFirst int64
	// pidSpare is the next block [first, limit), fetched ahead;
	// pidHasSpare says it is set.
	pidSpare    [2]int64
	pidHasSpare bool
	// pidFloor is the limit of the last block taken: a new block must
	// start at or above it, or it would hand out an ID again.
	pidFloor int64
	// pidFetch is the call of Options.ProducerIDBlocks under way, if any.
	pidFetch *pidFetch
	// pidRetryAt is when a prefetch may follow a failed fetch.
	pidRetryAt time.Time
	// pidFetches counts running fetch goroutines; Close waits for them.
	pidFetches sync.WaitGroup
}

// pidFetch is one call of Options.ProducerIDBlocks.
type pidFetch struct {
	done chan struct{} // closed once the call returned and its block is the spare
	err  error         // why it brought no block; set before done is closed
}

// allocateFromBlocks is AllocateProducerID with Options.ProducerIDBlocks.
// Caller holds pidMu; it is released while waiting for a fetch.
func (m *Manager) allocateFromBlocks() (int64, error) {
	for {
		// Checked in the same pidMu section that may start a fetch, so
		// that none starts once Close waits for them.
		select {
		case <-m.stop:
			return 0, ErrClosed
		default:
		}
		if m.nextPID < m.pidLimit {
			id := m.nextPID
			m.nextPID++
			left, size := m.pidLimit-m.nextPID, m.pidLimit-m.pidFirst
			if !m.pidHasSpare && m.pidFetch == nil && left <= size/pidPrefetchShare && !time.Now().Before(m.pidRetryAt) {
				m.startProducerIDFetch()
			}
			return id, nil
		}
		if m.pidHasSpare {
			m.pidFirst, m.nextPID, m.pidLimit = m.pidSpare[0], m.pidSpare[0], m.pidSpare[1]
			m.pidHasSpare = false
			continue
		}
		f := m.pidFetch
		if f == nil {
			f = m.startProducerIDFetch()
		}
		m.pidMu.Unlock()
		select {
		case <-f.done:
		case <-m.stop:
		}
		m.pidMu.Lock()
		select {
		case <-f.done:
			if f.err != nil {
				return 0, f.err
			}
		default: // stopped: the loop's check returns ErrClosed
		}
	}
}

// startProducerIDFetch calls Options.ProducerIDBlocks in a goroutine that
// makes its block the spare. Caller holds pidMu and has seen m.stop open.
func (m *Manager) startProducerIDFetch() *pidFetch {
	f := &pidFetch{done: make(chan struct{})}
	m.pidFetch = f
	m.pidFetches.Add(1)
	go func() {
		defer m.pidFetches.Done()
		first, last, err := m.opts.ProducerIDBlocks()
		m.pidMu.Lock()
		defer m.pidMu.Unlock()
		if err == nil {
			err = m.checkProducerIDBlock(first, last)
		}
		if err != nil {
			f.err = fmt.Errorf("%w: %w", ErrProducerIDBlockUnavailable, err)
			m.pidRetryAt = time.Now().Add(pidPrefetchBackoff)
			m.logger.Warn("log: fetching a producer id block failed", "err", err)
		} else {
			m.pidSpare, m.pidHasSpare = [2]int64{first, last + 1}, true
			m.pidFloor = last + 1
		}
		m.pidFetch = nil
		close(f.done)
	}()
	return f
}

// checkProducerIDBlock refuses a block that is empty, negative, ends at
// the largest int64 (its limit would overflow) or starts below the end
// of a block taken before (its IDs may have been handed out).
func (m *Manager) checkProducerIDBlock(first, last int64) error {
	switch {
	case first < 0 || last < first || last == math.MaxInt64:
		return fmt.Errorf("log: producer id block [%d, %d] is not a valid range", first, last)
	case first < m.pidFloor:
		return fmt.Errorf("log: producer id block [%d, %d] starts below %d, the end of a block taken before", first, last, m.pidFloor)
	}
	return nil
}

// waitProducerIDFetch waits for a fetch under way, after m.stop is
// closed. Taking pidMu once orders every fetch start (made under pidMu
// with m.stop open) before the Wait.
func (m *Manager) waitProducerIDFetch() {
	m.pidMu.Lock()
	//lint:ignore SA2001 the empty section is the barrier
	m.pidMu.Unlock()
	m.pidFetches.Wait()
}
