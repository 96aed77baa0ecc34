package log

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/tributary-io/tributary/recordbatch"
)

// Idempotent producers: Kafka's producer state for non-transactional
// idempotent producers, one table per partition. Append checks each batch
// that carries a producer ID against it under writeMu, in the same critical
// section as the append, and the table is persisted in the producer
// snapshot (producer_snapshot.go).

var (
	// ErrInvalidProducerEpoch: a batch's producer epoch is older than the
	// producer's current one, a fenced zombie (Kafka's INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("log: invalid producer epoch")
	// ErrOutOfOrderSequence: a batch's sequence does not follow the
	// producer's last one and is not a retry of a recent batch (Kafka's
	// OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("log: out of order sequence number")
	// ErrUnknownProducerID: a batch with a sequence other than 0 from a
	// producer the partition has no state for, for example because it
	// expired (Kafka's UNKNOWN_PRODUCER_ID; clients reset their sequence).
	ErrUnknownProducerID = errors.New("log: unknown producer id")
)

const (
	// maxProducerBatches is how many of a producer's latest batches are kept
	// to recognise retries: Kafka's limit on in-flight requests per
	// connection for idempotent producers.
	maxProducerBatches = 5
	// noTimestamp stands for "no LogAppendTime" (Kafka's -1).
	noTimestamp = -1
)

// AppendInfo is what AppendBatches did.
type AppendInfo struct {
	// BaseOffset and LastOffset are the first and last offsets of the
	// append; of the original append when Duplicate is set.
	BaseOffset, LastOffset int64
	// Duplicate is set when the append was a retry of a batch of an
	// idempotent producer that is already in the log: nothing was appended
	// and the offsets are the original's (Kafka answers it as a success).
	Duplicate bool
	// LogAppendTime is the timestamp stamped on the batches under
	// message.timestamp.type=LogAppendTime, and -1 under CreateTime.
	LogAppendTime int64
}

// ProducerState is one idempotent producer's state in a partition, as
// Kafka's DescribeProducers reports it.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // sequence of the last record appended
	LastTimestamp int64 // max timestamp of the last batch appended
	// CoordinatorEpoch and CurrentTxnStartOffset are always -1: there are
	// no transactions.
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64
}

// producerBatch is the metadata of one appended batch of a producer, 24
// bytes: its last offset and last sequence are both lastDelta past its
// first (a batch's records have consecutive offsets and sequences).
type producerBatch struct {
	baseOffset   int64
	maxTimestamp int64
	firstSeq     int32
	lastDelta    int32 // the batch's last offset delta, >= 0
}

func (b *producerBatch) lastOffset() int64 { return b.baseOffset + int64(b.lastDelta) }
func (b *producerBatch) lastSeq() int32    { return seqAdd(b.firstSeq, b.lastDelta) }

// producerEntry is one producer's state: its epoch and its latest batches,
// oldest first: the oldest inline, the others in more. A producer that
// appended once (most of a flood of short-lived producers) costs this
// 72-byte struct (an 80-byte allocation) alone; more is allocated at its
// second batch and kept (an epoch bump reuses it).
type producerEntry struct {
	// lastAppend is when the producer last appended, in Unix ms by the
	// broker's clock (Config.Now): expiration counts from it.
	lastAppend int64
	pid        int64 // its key in producerTable.m
	epoch      int16
	n          uint8 // batches in use, 0..maxProducerBatches
	first      producerBatch
	more       *[maxProducerBatches - 1]producerBatch
	// prev and next link the table's producers from the least recently
	// appending to the most (producerTable.lru).
	prev, next *producerEntry
}

// batch returns the i-th cached batch, oldest first; i < n.
func (e *producerEntry) batch(i int) *producerBatch {
	if i == 0 {
		return &e.first
	}
	return &e.more[i-1]
}

func (e *producerEntry) last() *producerBatch { return e.batch(int(e.n) - 1) }

// push records b as the latest batch, forgetting the oldest if full.
func (e *producerEntry) push(b producerBatch) {
	if e.n == maxProducerBatches {
		e.first = e.more[0]
		copy(e.more[:], e.more[1:])
		e.more[len(e.more)-1] = b
		return
	}
	if e.n > 0 && e.more == nil {
		e.more = new([maxProducerBatches - 1]producerBatch)
	}
	*e.batch(int(e.n)) = b
	e.n++
}

// find returns the cached batch with exactly this sequence range.
func (e *producerEntry) find(firstSeq, lastSeq int32) (producerBatch, bool) {
	for i := range int(e.n) {
		if b := e.batch(i); b.firstSeq == firstSeq && b.lastSeq() == lastSeq {
			return *b, true
		}
	}
	return producerBatch{}, false
}

// producerTable is a partition's producer state. Writes need writeMu and
// pidMu; reads need either. Every change is published in the same pidMu
// section as the log end offset it goes with, so that a reader holding
// pidMu sees a table that covers exactly the batches below NextOffset.
type producerTable struct {
	m map[int64]*producerEntry
	// lru lists the producers of m from the least recently appending to
	// the most: an append moves its producer to the back, and eviction
	// takes from the front, both in constant time.
	lru struct{ front, back *producerEntry }
	// version is bumped by every change, so the snapshot writer skips
	// unchanged tables.
	version uint64
	// limit is max.producers.per.partition as of the last append (0: no
	// limit); a new producer past it evicts the longest idle one.
	limit int
	// evicted counts the producers evicted over limit since Open.
	evicted int64
}

func (t *producerTable) unlink(e *producerEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.lru.front = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.lru.back = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *producerTable) pushBack(e *producerEntry) {
	e.prev, e.next = t.lru.back, nil
	if t.lru.back != nil {
		t.lru.back.next = e
	} else {
		t.lru.front = e
	}
	t.lru.back = e
}

// remove drops producer e from the table.
func (t *producerTable) remove(e *producerEntry) {
	t.unlink(e)
	delete(t.m, e.pid)
}

// reset makes m the table, ordered for eviction by last append (then
// producer ID): after a load or a rebuild, which know only the times.
func (t *producerTable) reset(m map[int64]*producerEntry) {
	all := make([]*producerEntry, 0, len(m))
	for pid, e := range m {
		e.pid = pid
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *producerEntry) int {
		if c := cmp.Compare(a.lastAppend, b.lastAppend); c != 0 {
			return c
		}
		return cmp.Compare(a.pid, b.pid)
	})
	t.m, t.lru.front, t.lru.back = m, nil, nil
	for _, e := range all {
		t.pushBack(e)
	}
}

// seqAdd adds delta to a sequence number; Kafka's sequences wrap from
// math.MaxInt32 to 0. Both arguments are >= 0.
func seqAdd(seq, delta int32) int32 {
	return int32((int64(seq) + int64(delta)) % (math.MaxInt32 + 1))
}

// sequenced reports whether a batch takes part in producer state: it has a
// producer ID and is not a control batch (transaction markers are written by
// a coordinator, not sequenced by a producer). Transactional batches are
// sequenced like idempotent ones.
func sequenced(h *recordbatch.Header) bool {
	return h.ProducerID >= 0 && !h.Control()
}

// batchMeta is the producerBatch of a header whose offsets are assigned.
func batchMeta(h *recordbatch.Header) producerBatch {
	return producerBatch{
		baseOffset:   h.BaseOffset,
		maxTimestamp: h.MaxTimestamp,
		firstSeq:     h.BaseSequence,
		lastDelta:    h.LastOffsetDelta,
	}
}

// checkSequence decides whether a batch with header h may follow producer
// state e (nil: a producer without state). A retry of one of e's cached
// batches returns that batch and dup. It does not allocate unless it fails.
func checkSequence(e *producerEntry, h *recordbatch.Header) (orig producerBatch, dup bool, err error) {
	firstSeq := h.BaseSequence
	lastSeq := seqAdd(firstSeq, h.LastOffsetDelta)
	switch {
	case e == nil:
		if firstSeq != 0 {
			return producerBatch{}, false, fmt.Errorf("%w: producer %d (epoch %d) sent sequence %d, the partition has no state for it",
				ErrUnknownProducerID, h.ProducerID, h.ProducerEpoch, firstSeq)
		}
	case h.ProducerEpoch == e.epoch:
		if b, ok := e.find(firstSeq, lastSeq); ok {
			return b, true, nil
		}
		if want := seqAdd(e.last().lastSeq(), 1); firstSeq != want {
			return producerBatch{}, false, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, firstSeq, want)
		}
	case h.ProducerEpoch < e.epoch:
		return producerBatch{}, false, fmt.Errorf("%w: producer %d sent epoch %d, its current epoch is %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	default: // a new epoch starts at sequence 0
		if firstSeq != 0 {
			return producerBatch{}, false, fmt.Errorf("%w: producer %d sent sequence %d with new epoch %d (current %d), expected 0",
				ErrOutOfOrderSequence, h.ProducerID, firstSeq, h.ProducerEpoch, e.epoch)
		}
	}
	return producerBatch{}, false, nil
}

// checkProducers checks every sequenced batch of an append (validated, offsets
// not yet assigned) against the producer table and against the batches
// before it in the same append, so the append is accepted or refused whole.
// It returns the original batch when the append is a retry of one. Caller
// holds writeMu. It does not allocate unless it fails.
//
// A retry is recognised only as a whole single-batch append, which is what
// Kafka clients send (one batch per partition per request); a retried batch
// inside a multi-batch append is refused as out of order.
func (l *Log) checkProducers(b []byte) (orig producerBatch, dup bool, err error) {
	for p := 0; p < len(b); {
		h, _ := recordbatch.ParseHeader(b[p:]) // validated
		size := h.Size()
		if sequenced(&h) {
			var o producerBatch
			var d bool
			var err error
			if prev, ok := lastBatchOf(b[:p], h.ProducerID); ok {
				// The producer's state after an earlier batch of this append.
				e := producerEntry{epoch: prev.ProducerEpoch, n: 1, first: batchMeta(&prev)}
				_, d, err = checkSequence(&e, &h)
			} else {
				o, d, err = checkSequence(l.producers.m[h.ProducerID], &h)
			}
			if err != nil {
				return producerBatch{}, false, err
			}
			if d {
				if p > 0 || size < len(b) {
					return producerBatch{}, false, fmt.Errorf("%w: producer %d epoch %d resent sequences %d..%d inside a multi-batch append",
						ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, seqAdd(h.BaseSequence, h.LastOffsetDelta))
				}
				return o, true, nil
			}
		}
		p += size
	}
	return producerBatch{}, false, nil
}

// lastBatchOf returns the header of the last sequenced batch of producer pid
// in b (validated batches).
func lastBatchOf(b []byte, pid int64) (recordbatch.Header, bool) {
	var found recordbatch.Header
	ok := false
	for p := 0; p < len(b); {
		size := recordbatch.LogOverhead + int(int32(binary.BigEndian.Uint32(b[p+recordbatch.BatchLengthPos:])))
		if int64(binary.BigEndian.Uint64(b[p+recordbatch.ProducerIDPos:])) == pid {
			if h, err := recordbatch.ParseHeader(b[p:]); err == nil && sequenced(&h) {
				found, ok = h, true
			}
		}
		p += size
	}
	return found, ok
}

// apply records an appended batch (offsets assigned) of a sequenced
// producer. appendTime is the broker's time of the append, in Unix ms. A
// batch at or below the producer's last recorded offset is one the table
// already holds and is skipped, so replaying a log range is harmless. A
// new producer that would take the table past its limit first evicts the
// longest idle producers. Caller holds writeMu and pidMu. It allocates
// only for a new producer and at a producer's second batch.
func (t *producerTable) apply(h *recordbatch.Header, appendTime int64) {
	e := t.m[h.ProducerID]
	switch {
	case e == nil:
		if t.limit > 0 && len(t.m) >= t.limit {
			t.evictTo(t.limit - 1)
		}
		e = &producerEntry{pid: h.ProducerID, epoch: h.ProducerEpoch}
		t.m[h.ProducerID] = e
		t.pushBack(e)
	case e.n > 0 && h.BaseOffset <= e.last().lastOffset():
		return
	case h.ProducerEpoch != e.epoch:
		// A new epoch forgets the old one's batches (sequences restart at 0).
		e.epoch, e.n = h.ProducerEpoch, 0
	}
	if t.lru.back != e {
		t.unlink(e)
		t.pushBack(e)
	}
	e.push(batchMeta(h))
	e.lastAppend = max(e.lastAppend, appendTime)
	t.version++
}

// applyAll records every sequenced batch of an append. Caller holds writeMu
// and pidMu.
func (t *producerTable) applyAll(b []byte, appendTime int64) {
	for p := 0; p < len(b); {
		h, _ := recordbatch.ParseHeader(b[p:]) // validated
		if sequenced(&h) {
			t.apply(&h, appendTime)
		}
		p += h.Size()
	}
}

// evictTo drops the least recently appending producers until at most n
// are left, and returns how many it dropped. Kafka has no such limit; a
// producer evicted here is answered as one whose state expired:
// UNKNOWN_PRODUCER_ID for a sequence other than 0, a fresh start at
// sequence 0. Caller holds writeMu and pidMu.
func (t *producerTable) evictTo(n int) int {
	dropped := 0
	for len(t.m) > max(n, 0) && t.lru.front != nil {
		t.remove(t.lru.front)
		dropped++
	}
	if dropped > 0 {
		t.evicted += int64(dropped)
		t.version++
	}
	return dropped
}

// expire drops the producers that have not appended for expirationMs.
// Caller holds writeMu and pidMu.
func (t *producerTable) expire(now, expirationMs int64) int {
	n := 0
	for _, e := range t.m {
		if now-e.lastAppend >= expirationMs {
			t.remove(e)
			n++
		}
	}
	if n > 0 {
		t.version++
	}
	return n
}

// expireProducers drops the producer state of producers idle for longer
// than producer.id.expiration.ms, and of the longest idle ones past
// max.producers.per.partition (which may have been lowered since the last
// append); ApplyRetention runs it. It logs the evictions appends made
// since its last run. Caller holds writeMu.
func (l *Log) expireProducers(cfg *Config) {
	if len(l.producers.m) == 0 && l.producers.evicted == l.evictedLogged {
		return
	}
	l.pidMu.Lock()
	n := l.producers.expire(cfg.now().UnixMilli(), cfg.ProducerIDExpirationMs)
	l.producers.limit = cfg.MaxProducersPerPartition
	if l.producers.limit > 0 {
		l.producers.evictTo(l.producers.limit)
	}
	left, evicted := len(l.producers.m), l.producers.evicted
	l.pidMu.Unlock()
	if n > 0 {
		cfg.logger().Debug("log: expired idle producers", "dir", l.dir, "expired", n, "remaining", left)
	}
	if evicted != l.evictedLogged {
		cfg.logger().Warn("log: evicted the longest idle producers over max.producers.per.partition; "+
			"a producer evicted while still producing gets UNKNOWN_PRODUCER_ID and starts a new sequence",
			"dir", l.dir, "evicted", evicted-l.evictedLogged, "remaining", left,
			"max.producers.per.partition", cfg.MaxProducersPerPartition)
		l.evictedLogged = evicted
	}
}

// ProducersEvicted is how many producers this partition evicted over
// max.producers.per.partition since it was opened.
func (l *Log) ProducersEvicted() int64 {
	l.pidMu.Lock()
	defer l.pidMu.Unlock()
	return l.producers.evicted
}

// Producers returns the state of every idempotent producer the partition
// tracks, by producer ID (Kafka's DescribeProducers).
func (l *Log) Producers() []ProducerState {
	l.pidMu.Lock()
	defer l.pidMu.Unlock()
	out := make([]ProducerState, 0, len(l.producers.m))
	for pid, e := range l.producers.m {
		last := e.last()
		out = append(out, ProducerState{
			ProducerID:            pid,
			ProducerEpoch:         e.epoch,
			LastSequence:          last.lastSeq(),
			LastTimestamp:         last.maxTimestamp,
			CoordinatorEpoch:      -1,
			CurrentTxnStartOffset: -1,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
