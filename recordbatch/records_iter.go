package recordbatch

import (
	"encoding/binary"
	"math"
)

// A batch's records section, once decompressed, is recordCount records back
// to back. Each is (Kafka record v2; every varint zigzag-encoded, as
// encoding/binary's Varint reads them):
//
//	length          varint  bytes after this field
//	attributes      int8    unused
//	timestampDelta  varlong from baseTimestamp
//	offsetDelta     varint  from baseOffset
//	keyLength       varint  -1 for a null key
//	key             bytes
//	valueLength     varint  -1 for a null value
//	value           bytes
//	headersCount    varint
//	headers         headersCount times:
//	  keyLength     varint  never negative: header keys are not nullable
//	  key           bytes   UTF-8
//	  valueLength   varint  -1 for a null value
//	  value         bytes
//
// The Java client refuses a record whose fields do not end exactly at
// length, and a records section with bytes after the last record; so do we.

// Record is one record of a batch, as Records hands it out.
type Record struct {
	// Offset is the batch's baseOffset plus the record's offsetDelta.
	Offset int64
	// Timestamp is baseTimestamp plus timestampDelta, or the batch's
	// maxTimestamp when it is LogAppendTime, as Kafka clients report it.
	Timestamp int64
	// Key and Value are nil when null (length -1), and non-nil when empty.
	Key, Value []byte
	// Headers is nil when the record has none.
	Headers []RecordHeader
}

// RecordHeader is one header of a record.
type RecordHeader struct {
	Key string
	// Value is nil when null.
	Value []byte
}

// Records calls fn for each record of batch, in order, decompressing the
// records first (output over limit bytes fails with ErrTooLarge). It checks
// the header with ParseHeader, not the CRC: call Validate first for that.
// Every length and varint is checked against the bytes present and the
// record count, so garbage gives ErrCorrupt, never a panic.
//
// Key, Value and header values alias batch (uncompressed) or a buffer private
// to this call (compressed): they stay valid after fn returns, as long as
// batch is not modified. An error from fn stops the walk and is returned
// as is.
func Records(batch []byte, limit int, fn func(Record) error) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	recs := batch[HeaderSize:h.Size()]
	if h.Codec() != CodecNone && !(h.RecordCount == 0 && len(recs) == 0) {
		if recs, err = decompressAppend(nil, h.Codec(), recs, limit); err != nil {
			return err
		}
	}
	rd := recordReader{recs: recs, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var raw rawRecord
	for rd.left > 0 {
		if err := rd.next(&raw); err != nil {
			return err
		}
		rec := raw.record(&h)
		if raw.headerCount > 0 {
			rec.Headers = make([]RecordHeader, 0, raw.headerCount)
			for hb := raw.headers; len(hb) > 0; {
				var k, v []byte
				k, v, hb, _ = nextHeader(hb) // validated by next
				rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rd.finish()
}

// rawRecord is one record's fields as views into the records section.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte // nil when null
	headerCount    int
	headers        []byte // the encoded, already checked headers
}

// record is raw as Records hands it out, without its headers: offset
// and timestamp made absolute by the batch header h.
func (raw *rawRecord) record(h *Header) Record {
	rec := Record{
		Offset:    h.BaseOffset + int64(raw.offsetDelta),
		Timestamp: h.BaseTimestamp + raw.timestampDelta,
		Key:       raw.key,
		Value:     raw.value,
	}
	if h.LogAppendTime() {
		rec.Timestamp = h.MaxTimestamp
	}
	return rec
}

// recordReader walks a decompressed records section, checking each record.
// It is a value type with no callbacks so that walking an uncompressed batch
// allocates nothing.
type recordReader struct {
	recs            []byte // not yet read
	left            int32  // records still to read
	read            int32  // records read, for error messages
	lastOffsetDelta int32
}

// next reads the next record into r. Call it only while rd.left > 0.
func (rd *recordReader) next(r *rawRecord) error {
	i := rd.read
	length, rest, ok := varint(rd.recs, math.MaxInt32)
	if !ok || length < 0 || length > int64(len(rest)) {
		return corrupt(0, "record %d: bad length (%d bytes left in the records)", i, len(rd.recs))
	}
	body := rest[:length]
	rd.recs = rest[length:]
	rd.left--
	rd.read++
	if p := parseRecordBody(body, r, rd.lastOffsetDelta); p != recordsOK {
		return corrupt(0, "record %d: %s", i, p)
	}
	return nil
}

// Why parseRecordBody refuses a record.
const (
	noAttributes     recordProblem = "no attributes"
	badOffsetDelta   recordProblem = "offsetDelta outside [0, lastOffsetDelta]"
	badKeyLength     recordProblem = "bad key length"
	badValueLength   recordProblem = "bad value length"
	badHeaderCount   recordProblem = "bad header count"
	badHeaderLength  recordProblem = "bad header length"
	bytesAfterFields recordProblem = "bytes after the last field"
)

// parseRecordBody reads into r the fields of one record, body being the
// bytes its length announces, and checks that they end exactly at its
// end, as the Java client does. It is the one record rule: Records,
// Recompress and the produce check of compressed batches all read records
// through it.
func parseRecordBody(body []byte, r *rawRecord, lastOffsetDelta int32) recordProblem {
	if len(body) < 1 {
		return noAttributes
	}
	body = body[1:] // attributes: unused
	var v int64
	var ok bool
	if r.timestampDelta, body, ok = varint(body, math.MaxInt64); !ok {
		return badTimestampDelta
	}
	if v, body, ok = varint(body, math.MaxInt32); !ok || v < 0 || v > int64(lastOffsetDelta) {
		return badOffsetDelta
	}
	r.offsetDelta = int32(v)
	if r.key, body, ok = nullableBytes(body); !ok {
		return badKeyLength
	}
	if r.value, body, ok = nullableBytes(body); !ok {
		return badValueLength
	}
	// Each header takes at least two bytes, which bounds the count before
	// anyone allocates for it.
	if v, body, ok = varint(body, math.MaxInt32); !ok || v < 0 || v > int64(len(body)/2) {
		return badHeaderCount
	}
	r.headerCount, r.headers = int(v), body
	for range r.headerCount {
		if _, _, body, ok = nextHeader(body); !ok {
			return badHeaderLength
		}
	}
	if len(body) != 0 {
		return bytesAfterFields
	}
	return recordsOK
}

// finish checks, after every record was read, that nothing follows them.
func (rd *recordReader) finish() error {
	if len(rd.recs) != 0 {
		return corrupt(0, "%d bytes after the last of %d records", len(rd.recs), rd.read)
	}
	return nil
}

// varint reads a zigzag varint no larger in magnitude than max.
func varint(b []byte, max int64) (v int64, rest []byte, ok bool) {
	v, n := binary.Varint(b)
	if n <= 0 || v > max || v < -max-1 {
		return 0, nil, false
	}
	return v, b[n:], true
}

// nullableBytes reads a varint length (-1 for null) and that many bytes.
func nullableBytes(b []byte) (field, rest []byte, ok bool) {
	n, b, ok := varint(b, math.MaxInt32)
	switch {
	case !ok || n < -1 || n > int64(len(b)):
		return nil, nil, false
	case n == -1:
		return nil, b, true
	}
	return b[:n:n], b[n:], true
}

// nextHeader reads one record header.
func nextHeader(b []byte) (key, value, rest []byte, ok bool) {
	n, b, ok := varint(b, math.MaxInt32)
	if !ok || n < 0 || n > int64(len(b)) {
		return nil, nil, nil, false
	}
	key, b = b[:n:n], b[n:]
	if value, b, ok = nullableBytes(b); !ok {
		return nil, nil, nil, false
	}
	return key, value, b, true
}
