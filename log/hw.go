package log

import (
	"sync"
	"sync/atomic"

	"github.com/tributary-io/tributary/recordbatch"
)

// The high watermark: the offset below which records are committed, and
// so visible to consumers.
//
// A log is unreplicated by default: every appended record is committed at
// once, HighWatermark is NextOffset, and nothing on the append path knows
// the high watermark exists (the one extra load is of the replicated flag,
// already in the cache line the append touches). SetReplicated(true) makes
// it a replicated partition's log: the high watermark then moves only by
// SetHighWatermark (the replication layer's min over the ISR), and the
// long-polling readers of watch.go count the bytes that a rise of the high
// watermark makes readable, not the bytes appended. Replica fetches read
// up to the log end with Read; consumers read up to the high watermark
// with ReadTo.
//
// Switching on keeps the high watermark where it was last set: the value
// the recovery checkpoint recorded at Open (see checkpoint.go), or the
// value it had when it was last replicated, or NextOffset() for a log
// without any. So it may start below the log end: records appended while
// unreplicated but not yet known to be replicated wait until
// SetHighWatermark vouches for them, never the other way round.

// hwState is the high watermark's part of a Log.
type hwState struct {
	// replicated: the high watermark moves only by SetHighWatermark.
	replicated atomic.Bool
	// recorded: hw is persisted in the recovery checkpoint (it came from
	// one at Open, or the log was replicated since).
	recorded atomic.Bool
	// hw is the high watermark of a replicated log; stale (and unused)
	// while unreplicated. Stored under hwMu; read with a clamp to the
	// log's range (truncation and the log start offset may pass it).
	hw atomic.Int64

	// hwMu guards pending and orders changes of hw. Taken after writeMu
	// and segMu (Truncate holds both) and before watchMu.
	hwMu sync.Mutex
	// pending are the appends of a replicated log above the high
	// watermark, oldest first: each one's end offset and its bytes, which
	// long-polling readers are credited with once the high watermark
	// reaches its end.
	pending []pendingAppend
	// unknownTo: the records below it and above the high watermark were
	// there when replication was switched on, their bytes not counted
	// for anyone; each rise of the high watermark below it credits
	// unknownBytes (a bound). Guarded by hwMu.
	unknownTo, unknownBytes int64
}

// pendingAppend is an append not yet below the high watermark.
type pendingAppend struct {
	end   int64 // offset after its last batch
	bytes int64
}

// HighWatermark is the offset below which records are committed: in an
// unreplicated log (the default) NextOffset(), in a replicated one the
// last value SetHighWatermark set, clamped to [StartOffset(), NextOffset()].
func (l *Log) HighWatermark() int64 {
	next := l.nextOffset.Load()
	if !l.hws.replicated.Load() {
		return next
	}
	return min(max(l.hws.hw.Load(), l.startOffset.Load()), next)
}

// Replicated reports whether the high watermark moves only by
// SetHighWatermark.
func (l *Log) Replicated() bool { return l.hws.replicated.Load() }

// SetReplicated switches the log between replicated (on: the high
// watermark moves only by SetHighWatermark) and unreplicated (off, the
// default: it follows the log end). Switching on keeps the high watermark
// where it was last set (see above); switching off makes every record
// committed at once and wakes the readers waiting for them.
func (l *Log) SetReplicated(on bool) {
	l.writeMu.Lock() // no append in flight: each one is pending or not
	defer l.writeMu.Unlock()
	size := l.Size() // segMu before hwMu, as under Truncate
	hs := &l.hws
	hs.hwMu.Lock()
	if on == hs.replicated.Load() {
		hs.hwMu.Unlock()
		return
	}
	var credit int64
	if on {
		if !hs.recorded.Load() {
			hs.hw.Store(l.nextOffset.Load())
		}
		next := l.nextOffset.Load()
		hs.hw.Store(min(max(hs.hw.Load(), l.startOffset.Load()), next))
		hs.recorded.Store(true)
		if hs.hw.Load() < next {
			// Records above the high watermark that readers were told of
			// while unreplicated (or never: it was recorded before a
			// restart): each rise of the high watermark among them must
			// wake the readers waiting there. Their bytes are not known
			// without reading the log; the log's size is a bound, and a
			// waiter woken early only reads once more.
			hs.unknownTo, hs.unknownBytes = next, max(size, 1)
		}
	} else {
		for _, p := range hs.pending {
			credit += p.bytes
		}
		hs.pending = hs.pending[:0]
		if hs.hw.Load() < hs.unknownTo {
			credit += hs.unknownBytes
		}
		hs.unknownTo = 0
		hs.recorded.Store(false)
	}
	hs.replicated.Store(on)
	hs.hwMu.Unlock()
	if on {
		l.persistEpochs()
	}
	if credit > 0 {
		l.appended(credit)
	}
	l.wakeEndWatchers()
}

// SetHighWatermark moves the high watermark of a replicated log up to off,
// clamped to [StartOffset(), NextOffset()], and reports whether it rose.
// It never moves it down (only truncation below it does). The readers
// waiting for records below the new high watermark are woken. On an
// unreplicated log it does nothing and reports false.
func (l *Log) SetHighWatermark(off int64) (advanced bool) {
	hs := &l.hws
	hs.hwMu.Lock()
	if !hs.replicated.Load() {
		hs.hwMu.Unlock()
		return false
	}
	off = min(max(off, l.startOffset.Load()), l.nextOffset.Load())
	if off <= hs.hw.Load() {
		hs.hwMu.Unlock()
		return false
	}
	var credit int64
	if hs.hw.Load() < hs.unknownTo {
		credit = hs.unknownBytes
	}
	hs.hw.Store(off)
	n := 0
	for ; n < len(hs.pending) && hs.pending[n].end <= off; n++ {
		credit += hs.pending[n].bytes
	}
	if n > 0 {
		hs.pending = append(hs.pending[:0], hs.pending[n:]...)
	}
	hs.hwMu.Unlock()
	if credit > 0 {
		l.appended(credit)
	}
	return true
}

// appendedReplicated records the bytes of an append ending at end to a
// replicated log: readers are credited with them once the high watermark
// reaches end. Caller holds writeMu.
func (l *Log) appendedReplicated(end, n int64) {
	hs := &l.hws
	hs.hwMu.Lock()
	hs.pending = append(hs.pending, pendingAppend{end: end, bytes: n})
	hs.hwMu.Unlock()
}

// truncateHighWatermark drops what truncation to next took from the high
// watermark and the pending appends. Caller holds writeMu.
func (l *Log) truncateHighWatermark(next int64) {
	hs := &l.hws
	hs.hwMu.Lock()
	if hs.hw.Load() > next {
		hs.hw.Store(next)
	}
	n := len(hs.pending)
	for n > 0 && hs.pending[n-1].end > next {
		n--
	}
	hs.pending = hs.pending[:n]
	hs.unknownTo = min(hs.unknownTo, next)
	hs.hwMu.Unlock()
}

// resetHighWatermark sets the high watermark to next, up or down, and
// drops the pending appends: the log restarted empty at next
// (TruncateFullyAndStartAt). Caller holds writeMu.
func (l *Log) resetHighWatermark(next int64) {
	hs := &l.hws
	hs.hwMu.Lock()
	hs.hw.Store(next)
	hs.pending = hs.pending[:0]
	hs.unknownTo, hs.unknownBytes = 0, 0
	hs.hwMu.Unlock()
}

// recordHighWatermark puts the high watermark in the recovery checkpoint
// c, if it is recorded (an unreplicated log's checkpoint stays as it
// always was).
func (l *Log) recordHighWatermark(c *checkpoint) {
	if l.hws.recorded.Load() {
		c.highWatermark = min(max(l.hws.hw.Load(), l.startOffset.Load()), l.nextOffset.Load())
		c.hasHW = true
	}
}

// loadHighWatermark sets the high watermark from the recovery checkpoint
// c at Open, if it records one, at most the recovered log end. Caller is
// Open.
func (l *Log) loadHighWatermark(c checkpoint) {
	if !c.hasHW {
		return
	}
	l.hws.hw.Store(min(max(c.highWatermark, l.startOffset.Load()), l.nextOffset.Load()))
	l.hws.recorded.Store(true)
}

// ReadTo is Read, but returns only whole batches that end at or before
// end: a consumer passes HighWatermark(), so that it never sees a record
// that is not committed (a replica fetch uses Read). An offset at or past
// end, up to the log end, gets an empty result; past the log end,
// ErrOffsetOutOfRange.
func (l *Log) ReadTo(offset int64, maxBytes int, end int64) (Batches, error) {
	next := l.nextOffset.Load()
	b, err := l.readBefore(offset, maxBytes, min(end, next), next)
	if err != nil || end >= next || len(b.Data) == 0 {
		return b, err
	}
	// The log end is at a batch boundary; end may be inside a batch (a
	// high watermark is not, but a caller's end may be): drop the batches
	// that reach past it.
	keep := wholeBatchesBefore(b.Data, end)
	if keep == 0 {
		b.Release()
		return Batches{}, nil
	}
	b.Data = b.Data[:keep]
	return b, nil
}

// wholeBatchesBefore is the length of the leading whole batches of data
// that end at or before end (headers only).
func wholeBatchesBefore(data []byte, end int64) int {
	p := 0
	for p < len(data) {
		h, err := recordbatch.ParseHeader(data[p:])
		if err != nil || p+h.Size() > len(data) || h.NextOffset() > end {
			break
		}
		p += h.Size()
	}
	return p
}
