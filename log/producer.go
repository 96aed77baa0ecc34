package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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

// producerBatch is the metadata of one appended batch of a producer.
type producerBatch struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
	maxTimestamp           int64
}

// producerEntry is one producer's state: its epoch and its latest batches.
type producerEntry struct {
	// lastAppend is when the producer last appended, in Unix ms by the
	// broker's clock (Config.Now): expiration counts from it.
	lastAppend int64
	epoch      int16
	n          int // batches[:n] are in use, oldest first
	batches    [maxProducerBatches]producerBatch
}

func (e *producerEntry) last() *producerBatch { return &e.batches[e.n-1] }

// push records b as the latest batch, forgetting the oldest if full.
func (e *producerEntry) push(b producerBatch) {
	if e.n == maxProducerBatches {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
}

// find returns the cached batch with exactly this sequence range.
func (e *producerEntry) find(firstSeq, lastSeq int32) (producerBatch, bool) {
	for i := range e.batches[:e.n] {
		if b := e.batches[i]; b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return producerBatch{}, false
}

// producerTable is a partition's producer state. Writes need writeMu and
// pidMu; reads need either. Every change is published in the same pidMu
// section as the log end offset it goes with, so that a reader holding
// pidMu sees a table that covers exactly the batches below NextOffset.
type producerTable struct {
	m       map[int64]*producerEntry
	version uint64 // bumped by every change, so the snapshot writer skips unchanged tables
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
		firstSeq:     h.BaseSequence,
		lastSeq:      seqAdd(h.BaseSequence, h.LastOffsetDelta),
		baseOffset:   h.BaseOffset,
		lastOffset:   h.LastOffset(),
		maxTimestamp: h.MaxTimestamp,
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
		if want := seqAdd(e.last().lastSeq, 1); firstSeq != want {
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
				e := producerEntry{epoch: prev.ProducerEpoch, n: 1}
				e.batches[0] = batchMeta(&prev)
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
// already holds and is skipped, so replaying a log range is harmless.
// Caller holds writeMu and pidMu. It allocates only for a new producer.
func (t *producerTable) apply(h *recordbatch.Header, appendTime int64) {
	e := t.m[h.ProducerID]
	switch {
	case e == nil:
		e = &producerEntry{epoch: h.ProducerEpoch}
		t.m[h.ProducerID] = e
	case e.n > 0 && h.BaseOffset <= e.last().lastOffset:
		return
	case h.ProducerEpoch != e.epoch:
		// A new epoch forgets the old one's batches (sequences restart at 0).
		e.epoch, e.n = h.ProducerEpoch, 0
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

// expire drops the producers that have not appended for expirationMs.
// Caller holds writeMu and pidMu.
func (t *producerTable) expire(now, expirationMs int64) int {
	n := 0
	for pid, e := range t.m {
		if now-e.lastAppend >= expirationMs {
			delete(t.m, pid)
			n++
		}
	}
	if n > 0 {
		t.version++
	}
	return n
}

// expireProducers drops the producer state of producers idle for longer
// than producer.id.expiration.ms; ApplyRetention runs it. Caller holds
// writeMu.
func (l *Log) expireProducers(cfg *Config) {
	if len(l.producers.m) == 0 {
		return
	}
	l.pidMu.Lock()
	n := l.producers.expire(cfg.now().UnixMilli(), cfg.ProducerIDExpirationMs)
	left := len(l.producers.m)
	l.pidMu.Unlock()
	if n > 0 {
		cfg.logger().Debug("log: expired idle producers", "dir", l.dir, "expired", n, "remaining", left)
	}
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
			LastSequence:          last.lastSeq,
			LastTimestamp:         last.maxTimestamp,
			CoordinatorEpoch:      -1,
			CurrentTxnStartOffset: -1,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
