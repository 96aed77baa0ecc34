package log

import (
	"sync"
	"sync/atomic"
)

// Long-polling readers (Fetch with MinBytes and MaxWaitMs) wait on a
// Waiter: one per waiting request, registered on every log it reads with
// the offset it reads from. An append adds its bytes to the waiters
// registered on that log and wakes only those whose count reaches what they
// still need, so a thousand fetches long-polling one partition with a large
// MinBytes cost one pass over a list per append, not a thousand wake-ups
// and re-reads. A waiter is also woken, whatever its count, by a change of
// the log that its reader must answer: the log closed (shutdown, topic
// deleted), or its offset no longer between the log start offset and the
// log end (DeleteRecords, retention, truncation).
//
// On a replicated log (hw.go) "appended" means made readable to
// consumers: an append's bytes are counted once the high watermark
// reaches its end (SetHighWatermark), not when they are written, so a
// consumer's long poll wakes when records are committed.
//
// A follower's fetch reads up to the log end, not the high watermark, so
// it waits with WatchEnd: such a registration on a replicated log counts
// the bytes appended to the log end (a counter of their own, ended), which
// is what the follower will read, and nothing that the high watermark
// makes readable. On an unreplicated log the two are the same and WatchEnd
// is Watch. A switch of the log between the two modes wakes every WatchEnd
// registration, whose counter no longer counts.
//
// Bytes are counted against appendedBytes, a counter of the bytes appended
// since the log was opened, so that no append is counted twice or lost
// between a reader's last read and its registration: the reader loads
// AppendedBytes before it reads and passes it to Watch, which credits what
// was appended since at once; an append is credited by the list only when
// it started at or after the counter value Watch saw. An append that the
// read already returned may be counted once more (a wake-up a little
// early, which costs one more read), never one less.
//
// Locking: watchMu guards the registrations of a log and the per-log fields
// of each (watch.*). It is taken last, after any other lock of the log, and
// nothing is taken under it except a non-blocking send.

// watchList is a log's side: the waiters registered on it.
type watchList struct {
	appended atomic.Int64 // bytes appended since open; added before waiting is loaded
	waiting  atomic.Int32 // len(regs): lets appends skip watchMu when nobody waits
	// ended counts the bytes appended to the log end while replicated,
	// and endWaiting the registrations of WatchEnd counting them (a
	// subset of regs): see WatchEnd.
	ended      atomic.Int64
	endWaiting atomic.Int32

	mu   sync.Mutex
	regs []*watch // guarded by mu; each watch's idx is its position
}

// watch is one registration of a Waiter on one log.
type watch struct {
	w   *Waiter
	l   *Log
	idx int // position in l.watchers.regs; guarded by its log's watchers.mu

	offset int64 // the offset the reader reads from
	from   int64 // l.watchers.appended (ended if end) when registered: appends from here are counted
	end    bool  // counts appends to the log end of a replicated log (WatchEnd)
	room   int64 // bytes this log may still add to the count (the partition's max bytes left)
}

// Waiter is one long-polling reader's wait on the logs it reads. The zero
// value is ready to use; a Waiter is reused by one goroutine for wait after
// wait (Reset, Watch each log, wait on Ready, Stop), and allocates only
// while its registrations outgrow every earlier wait.
type Waiter struct {
	ready chan struct{} // buffered (1): woken holds at most one wake-up
	need  int64         // set by Reset before any Watch; read under the logs' watchMu
	got   atomic.Int64  // bytes counted towards need
	woken atomic.Bool   // Ready has been signalled since Reset

	regs []*watch // registered since Reset
	free []*watch // kept for later waits
}

// Reset starts a new wait that is woken once need bytes were appended
// (counted by Watch), or at once if need <= 0. The Waiter must not be
// registered anywhere (Stop first).
func (w *Waiter) Reset(need int64) {
	if w.ready == nil {
		w.ready = make(chan struct{}, 1)
	}
	select { // a wake-up of the last wait that nobody took
	case <-w.ready:
	default:
	}
	w.need = need
	w.got.Store(0)
	w.woken.Store(false)
	if need <= 0 {
		w.wake()
	}
}

// Ready is signalled once the wait is over: enough bytes, or a change of a
// watched log that the reader must answer. Read it, then Stop.
func (w *Waiter) Ready() <-chan struct{} {
	if w.ready == nil {
		w.ready = make(chan struct{}, 1)
	}
	return w.ready
}

// Woken reports whether Ready has been signalled since Reset.
func (w *Waiter) Woken() bool { return w.woken.Load() }

func (w *Waiter) wake() {
	if w.woken.CompareAndSwap(false, true) {
		select {
		case w.ready <- struct{}{}:
		default:
		}
	}
}

// count adds n bytes appended to a watched log. Caller holds that log's
// watchMu.
func (w *Waiter) count(n int64) {
	if w.got.Add(n) >= w.need {
		w.wake()
	}
}

// Watch registers the wait on l for a reader at offset that loaded
// l.AppendedBytes() as from before its last read, and may take at most
// maxBytes more from l (its partition max bytes less what the read got;
// 0 when l cannot add to the response, which still wakes on a change of
// l). Bytes appended since from are counted at once. A log that is closed,
// or whose range no longer holds offset, wakes the wait at once.
func (w *Waiter) Watch(l *Log, offset, from, maxBytes int64) {
	w.watch(l, offset, from, maxBytes, false)
}

// WatchEnd is Watch for a reader that reads up to the log end (a
// follower's fetch on a leader) rather than up to the high watermark:
// on a replicated log it counts the bytes appended, whether committed or
// not, from from, which the reader loaded with EndAppendedBytes before
// its last read. On an unreplicated log it is Watch.
func (w *Waiter) WatchEnd(l *Log, offset, from, maxBytes int64) {
	w.watch(l, offset, from, maxBytes, l.hws.replicated.Load())
}

func (w *Waiter) watch(l *Log, offset, from, maxBytes int64, end bool) {
	var r *watch
	if n := len(w.free); n > 0 {
		r, w.free = w.free[n-1], w.free[:n-1]
	} else {
		r = new(watch)
	}
	*r = watch{w: w, l: l, offset: offset, room: max(maxBytes, 0), end: end}
	w.regs = append(w.regs, r)

	wl := &l.watchers
	wl.mu.Lock()
	defer wl.mu.Unlock()
	// waiting before appended: an append that adds to appended after the
	// load below sees waiting > 0 and finds r in the list (see appended).
	wl.waiting.Add(1)
	if end {
		wl.endWaiting.Add(1)
		r.from = wl.ended.Load()
	} else {
		r.from = wl.appended.Load()
	}
	r.idx = len(wl.regs)
	wl.regs = append(wl.regs, r)
	if l.isClosed.Load() || !l.holds(offset) {
		w.wake()
		return
	}
	if since := r.from - from; since > 0 {
		r.credit(since)
	}
}

// credit counts up to n more bytes of r's log towards its waiter. Caller
// holds r's log's watchMu.
func (r *watch) credit(n int64) {
	n = min(n, r.room)
	if n <= 0 || r.w.woken.Load() {
		return
	}
	r.room -= n
	r.w.count(n)
}

// Stop removes every registration of the wait. After Stop no append
// touches the Waiter, so it may be Reset or dropped.
func (w *Waiter) Stop() {
	for i, r := range w.regs {
		wl := &r.l.watchers
		wl.mu.Lock()
		last := len(wl.regs) - 1
		moved := wl.regs[last]
		wl.regs[r.idx], moved.idx = moved, r.idx
		wl.regs[last] = nil
		wl.regs = wl.regs[:last]
		wl.waiting.Add(-1)
		if r.end {
			wl.endWaiting.Add(-1)
		}
		wl.mu.Unlock()
		*r = watch{}
		w.free = append(w.free, r)
		w.regs[i] = nil
	}
	w.regs = w.regs[:0]
}

// AppendedBytes is the number of bytes appended to the log since it was
// opened (on a replicated log, those below the high watermark): a reader
// loads it before a read and passes it to Waiter.Watch.
func (l *Log) AppendedBytes() int64 { return l.watchers.appended.Load() }

// EndAppendedBytes is AppendedBytes for a reader that waits with
// WatchEnd: on a replicated log, the bytes appended to its log end since
// it was opened (while replicated), committed or not.
func (l *Log) EndAppendedBytes() int64 {
	if l.hws.replicated.Load() {
		return l.watchers.ended.Load()
	}
	return l.watchers.appended.Load()
}

// Waiting is the number of Waiter registrations on the log: long-polling
// readers waiting for its appends.
func (l *Log) Waiting() int { return int(l.watchers.waiting.Load()) }

// Closed reports whether the log has been closed (broker stopping, topic
// deleted): a reader at its end that was woken learns why from it, since
// Read at the log end of a closed log returns nothing and no error.
func (l *Log) Closed() bool { return l.isClosed.Load() }

// holds reports whether a reader at offset has something to wait for: the
// offset is within [log start offset, log end offset].
func (l *Log) holds(offset int64) bool {
	return offset >= l.startOffset.Load() && offset <= l.nextOffset.Load()
}

// appended counts n bytes just appended (after nextOffset is stored) and
// wakes the waiters that now have enough. With nobody waiting it costs two
// atomics and no lock.
func (l *Log) appended(n int64) {
	wl := &l.watchers
	start := wl.appended.Add(n) - n
	if wl.waiting.Load() == 0 {
		return
	}
	wl.mu.Lock()
	for _, r := range wl.regs {
		// Registered after this append started: Watch counted it.
		if !r.end && start >= r.from {
			r.credit(n)
		}
	}
	wl.mu.Unlock()
}

// appendedEnd counts n bytes just appended to the log end of a
// replicated log for the WatchEnd registrations. Caller does not hold
// writeMu. With nobody waiting so it costs two atomics and no lock.
func (l *Log) appendedEnd(n int64) {
	wl := &l.watchers
	start := wl.ended.Add(n) - n
	if wl.endWaiting.Load() == 0 {
		return
	}
	wl.mu.Lock()
	for _, r := range wl.regs {
		if r.end && start >= r.from {
			r.credit(n)
		}
	}
	wl.mu.Unlock()
}

// wakeEndWatchers wakes every WatchEnd registration: the log switched
// between replicated and not, and their counter no longer counts.
func (l *Log) wakeEndWatchers() {
	wl := &l.watchers
	if wl.endWaiting.Load() == 0 {
		return
	}
	wl.mu.Lock()
	for _, r := range wl.regs {
		if r.end {
			r.w.wake()
		}
	}
	wl.mu.Unlock()
}

// wakeWatchers wakes the waiters whose offset the log no longer holds, or
// all of them once the log is closed. Called after a change of the log
// start offset or log end offset other than an append, and by Close.
func (l *Log) wakeWatchers() {
	wl := &l.watchers
	if wl.waiting.Load() == 0 {
		return
	}
	closed := l.isClosed.Load()
	wl.mu.Lock()
	for _, r := range wl.regs {
		if closed || !l.holds(r.offset) {
			r.w.wake()
		}
	}
	wl.mu.Unlock()
}
