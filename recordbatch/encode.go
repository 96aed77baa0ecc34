package recordbatch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encoding records is off the hot path, like decoding them: Encode serves
// tests and tools that need keyed records, tombstones, codecs and producer
// fields; Filter serves the log cleaner, which rewrites a batch keeping a
// subset of its records; HasNullKey serves the produce check of a
// compacted topic, where Kafka refuses records without a key.

// BatchOptions are the batch-level fields Encode writes. The zero value is
// an uncompressed CreateTime batch at base offset 0 from a producer that is
// not idempotent.
type BatchOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Codec                Codec
	LogAppendTime        bool // attributes bit 3
	Transactional        bool // attributes bit 4
	Control              bool // attributes bit 5
	// Idempotent writes ProducerID, ProducerEpoch and BaseSequence; without
	// it all three are -1, as a plain producer sends them.
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

// Encode appends to dst one RecordBatch v2 holding recs and returns the
// extended slice. Each record's offset delta is its Offset minus
// o.BaseOffset and its timestamp delta its Timestamp minus the first
// record's, which is the batch's baseTimestamp; maxTimestamp is the largest
// record timestamp; lastOffsetDelta is the last record's offset delta.
// Offsets must be strictly increasing from o.BaseOffset on (gaps are
// allowed: a compacted batch has them). recs must not be empty. Every
// record is encoded with attributes 0; header keys are written as given.
// The CRC is computed. On error dst is returned unchanged.
func Encode(dst []byte, o BatchOptions, recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return dst, &Error{Reason: "encode: no records", Err: ErrCorrupt}
	}
	if o.Codec < CodecNone || o.Codec > CodecZstd {
		return dst, unsupported(o.Codec)
	}
	baseTs := recs[0].Timestamp
	maxTs := baseTs
	prev := o.BaseOffset - 1
	var body []byte
	for i, r := range recs {
		delta := r.Offset - o.BaseOffset
		if r.Offset <= prev || delta > math.MaxInt32 {
			return dst, &Error{Reason: fmt.Sprintf("encode: record %d has offset %d after %d (base %d)", i, r.Offset, prev, o.BaseOffset), Err: ErrCorrupt}
		}
		prev = r.Offset
		maxTs = max(maxTs, r.Timestamp)
		body = appendRecord(body, r.Timestamp-baseTs, int32(delta), r.Key, r.Value, r.Headers)
	}

	start := len(dst)
	out := append(dst, make([]byte, HeaderSize)...)
	h := out[start:]
	be := binary.BigEndian
	be.PutUint64(h[BaseOffsetPos:], uint64(o.BaseOffset))
	be.PutUint32(h[PartitionLeaderEpochPos:], uint32(o.PartitionLeaderEpoch))
	h[MagicPos] = Magic
	attrs := uint16(o.Codec)
	if o.LogAppendTime {
		attrs |= AttrLogAppendTime
	}
	if o.Transactional {
		attrs |= AttrTransactional
	}
	if o.Control {
		attrs |= AttrControl
	}
	be.PutUint16(h[AttributesPos:], attrs)
	be.PutUint32(h[LastOffsetDeltaPos:], uint32(int32(prev-o.BaseOffset)))
	be.PutUint64(h[BaseTimestampPos:], uint64(baseTs))
	be.PutUint64(h[MaxTimestampPos:], uint64(maxTs))
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if o.Idempotent {
		pid, epoch, seq = o.ProducerID, o.ProducerEpoch, o.BaseSequence
	}
	be.PutUint64(h[ProducerIDPos:], uint64(pid))
	be.PutUint16(h[ProducerEpochPos:], uint16(epoch))
	be.PutUint32(h[BaseSequencePos:], uint32(seq))
	be.PutUint32(h[RecordCountPos:], uint32(len(recs)))
	out, err := Compress(o.Codec, out, body)
	if err != nil {
		return dst, err
	}
	return finishBatch(dst, out, start)
}

// appendRecord appends one Kafka record v2 (see records_iter.go).
func appendRecord(b []byte, tsDelta int64, offsetDelta int32, key, value []byte, headers []RecordHeader) []byte {
	var scratch []byte
	scratch = append(scratch, 0) // attributes, unused
	scratch = binary.AppendVarint(scratch, tsDelta)
	scratch = binary.AppendVarint(scratch, int64(offsetDelta))
	scratch = appendNullable(scratch, key)
	scratch = appendNullable(scratch, value)
	scratch = binary.AppendVarint(scratch, int64(len(headers)))
	for _, hd := range headers {
		scratch = binary.AppendVarint(scratch, int64(len(hd.Key)))
		scratch = append(scratch, hd.Key...)
		scratch = appendNullable(scratch, hd.Value)
	}
	b = binary.AppendVarint(b, int64(len(scratch)))
	return append(b, scratch...)
}

func appendNullable(b, field []byte) []byte {
	if field == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(field)))
	return append(b, field...)
}

// finishBatch sets batchLength and the CRC of the batch at out[start:].
func finishBatch(dst, out []byte, start int) ([]byte, error) {
	b := out[start:]
	if int64(len(b))-LogOverhead > math.MaxInt32 {
		return dst, &Error{Reason: fmt.Sprintf("a %d-byte batch is past batchLength's int32", len(b)), Err: ErrTooLarge}
	}
	binary.BigEndian.PutUint32(b[BatchLengthPos:], uint32(len(b)-LogOverhead))
	SetCRC(b)
	return out, nil
}

// Filter appends to dst a copy of the one whole batch at the start of
// batch holding only the records keep accepts, and returns the extended
// slice with the number of records kept and removed. The batch must pass
// Validate (a damaged batch is never given a fresh CRC).
//
//   - Every record kept: the batch is appended verbatim.
//   - None kept: nothing is appended (the caller drops the batch).
//   - Otherwise the kept records are appended byte for byte as they were
//     encoded (each keeps its offset delta and timestamp delta), compressed
//     again with the batch's codec, under a copy of the header: base
//     offset, partition leader epoch, attributes, lastOffsetDelta, base and
//     max timestamp, producer id, epoch and base sequence all stay; only
//     recordCount, batchLength and the CRC change.
//
// keep sees each record's Offset, Timestamp, Key and Value, not its
// Headers (nil); Key and Value are valid only during the call. Decompressed records over limit bytes fail with
// ErrTooLarge. On error dst is returned unchanged.
func Filter(dst, batch []byte, limit int, keep func(Record) bool) (out []byte, kept, removed int, err error) {
	h, err := Validate(batch)
	if err != nil {
		return dst, 0, 0, err
	}
	batch = batch[:h.Size()]
	recs := batch[HeaderSize:]
	if h.Codec() != CodecNone && !(h.RecordCount == 0 && len(recs) == 0) {
		buf := getScratch()
		defer putScratch(buf)
		if *buf, err = decompressAppend((*buf)[:0], h.Codec(), recs, limit); err != nil {
			return dst, 0, 0, err
		}
		recs = *buf
	}
	var body []byte
	rd := recordReader{recs: recs, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var raw rawRecord
	for rd.left > 0 {
		before := rd.recs
		if err := rd.next(&raw); err != nil {
			return dst, 0, 0, err
		}
		if keep(raw.record(&h)) {
			kept++
			body = append(body, before[:len(before)-len(rd.recs)]...)
		} else {
			removed++
		}
	}
	if err := rd.finish(); err != nil {
		return dst, 0, 0, err
	}
	switch {
	case removed == 0:
		return append(dst, batch...), kept, 0, nil
	case kept == 0:
		return dst, 0, removed, nil
	}
	start := len(dst)
	out = append(dst, batch[:HeaderSize]...)
	binary.BigEndian.PutUint32(out[start+RecordCountPos:], uint32(kept))
	if out, err = Compress(h.Codec(), out, body); err != nil {
		return dst, 0, 0, err
	}
	out, err = finishBatch(dst, out, start)
	if err != nil {
		return dst, 0, 0, err
	}
	return out, kept, removed, nil
}

// HasNullKey reports whether any record of the one whole batch at the
// start of batch has a null key (Kafka refuses those in a compacted topic:
// the cleaner could never tell which value is the latest). It decompresses
// a compressed batch into a pooled buffer (output over limit bytes fails
// with ErrTooLarge) and checks every record as Records does. It checks the
// header, not the CRC.
func HasNullKey(batch []byte, limit int) (bool, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return false, err
	}
	recs := batch[HeaderSize:h.Size()]
	if h.RecordCount == 0 {
		return false, nil
	}
	if h.Codec() != CodecNone {
		buf := getScratch()
		defer putScratch(buf)
		if *buf, err = decompressAppend((*buf)[:0], h.Codec(), recs, limit); err != nil {
			return false, err
		}
		recs = *buf
	}
	rd := recordReader{recs: recs, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var raw rawRecord
	for rd.left > 0 {
		if err := rd.next(&raw); err != nil {
			return false, err
		}
		if raw.key == nil {
			return true, nil
		}
	}
	return false, rd.finish()
}
