package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
)

// ValidateProduced reads a batch once for its CRC and once for the record
// walk, in the order that keeps the second read in cache. The walk reads
// a record's first bytes and jumps to the next record: over small records
// that is a stream the CPU prefetches, and the walk's own work hides the
// loads, so it goes first. Over larger records each jump waits on memory
// (the walk was 11-14% of the broker's CPU producing 1 KiB records, and
// 200-byte records were the worst case), so the CRC, a sequential read,
// runs a chunk ahead and the walk follows in cache.
// BenchmarkValidateProduced measures both sides of the threshold.
const (
	// smallRecordBytes is the average record size, framing included, up
	// to which the walk goes first (measured: walk first is 1.6x faster
	// at 100-150 bytes, CRC first 5x faster at 200 and 2x at 1 KiB).
	smallRecordBytes = 160
	// crcChunk is how far ahead of the walk the CRC runs at most.
	crcChunk = 65536
	// recordLookahead covers what the walk reads of a record: its length,
	// attributes, timestampDelta and offsetDelta (at most 5+1+10+5 bytes).
	recordLookahead = 32
)

// ValidateProduced is Validate (header and CRC) plus the checks a
// producer's batch must pass so that no consumer is ever handed a batch it
// cannot read, and its header cannot lie about its records and leave gaps
// or overlaps in the partition's offsets: a positive recordCount equal to
// lastOffsetDelta+1 and exactly that many records, framed by their
// lengths, with offset deltas 0, 1, 2, ... and nothing after them (Kafka's
// INVALID_RECORD cases). It is the one rule for a batch a producer sends;
// anything that writes such batches to a log (the produce path, a replica
// fetcher) checks them with it.
//
// An uncompressed batch is checked in place in one pass, reading only
// each record's length, timestampDelta and offsetDelta (keys, values and
// headers are framed by the length): it does not allocate, and limit does
// not apply. A compressed batch is decompressed as a stream, a window at a
// time, with pooled decoders, as Kafka's LogValidator does, and each
// record is read whole (key, value and headers framed exactly by its
// length); the codec stream must end with the last record and pass the
// codec's own checksums. More than limit bytes of decompressed records is
// ErrTooLarge. Once the pools are warm a compressed batch costs a few
// allocations, none per record.
//
// A CRC mismatch is ErrCorrupt (the bytes were damaged) and wins over a
// record problem, which is ErrInvalidRecords: for a compressed batch that
// includes a stream its codec cannot decode, since the CRC shows the
// producer built it so. b may hold more bytes after the batch.
func ValidateProduced(b []byte, limit int) (Header, error) {
	h, err := parseHeader(b, 0)
	if err != nil {
		return Header{}, err
	}
	batch := b[:h.Size():h.Size()]
	if h.RecordCount <= 0 || int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return Header{}, invalidOrCorrupt(batch, &h, "recordCount %d does not match lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
	}
	if h.Codec() != CodecNone {
		if crc := ComputeCRC(batch); crc != h.CRC {
			return Header{}, crcMismatch(&h, crc)
		}
		if err := checkCompressedRecords(batch, &h, limit); err != nil {
			return Header{}, err
		}
		return h, nil
	}
	if (len(batch)-HeaderSize)/int(h.RecordCount) <= smallRecordBytes {
		// Small records: the walk streams through memory and is bound
		// by its own work, which overlaps the loads; the CRC then runs
		// over bytes the walk brought into cache.
		pos, want, reason := walkRecords(batch, HeaderSize, len(batch), 0, h.RecordCount)
		if reason != recordsOK {
			return Header{}, invalidOrCorrupt(batch, &h, "record %d: %s", want, reason)
		}
		if want != h.RecordCount || pos != len(batch) {
			return Header{}, invalidOrCorrupt(batch, &h, "%d records framed, %d bytes after them, header says %d records", want, len(batch)-pos, h.RecordCount)
		}
		if crc := ComputeCRC(batch); crc != h.CRC {
			return Header{}, crcMismatch(&h, crc)
		}
		return h, nil
	}
	// Larger records: the walk would wait on memory once per record, so
	// the CRC runs ahead a chunk at a time and the walk follows in cache.
	crc := crc32.Update(0, castagnoli, batch[AttributesPos:HeaderSize])
	summed, pos := HeaderSize, HeaderSize // batch[AttributesPos:summed] is in crc
	var want int32
	for want < h.RecordCount {
		if summed < len(batch) {
			end := min(len(batch), max(summed, pos)+crcChunk)
			crc = crc32.Update(crc, castagnoli, batch[summed:end])
			summed = end
		}
		// Walk the records whose first bytes are summed (all the rest
		// once everything is).
		limit := summed - recordLookahead
		if summed == len(batch) {
			limit = len(batch)
		}
		var reason recordProblem
		pos, want, reason = walkRecords(batch, pos, limit, want, h.RecordCount)
		if reason != recordsOK {
			return Header{}, invalidOrCorrupt(batch, &h, "record %d: %s", want, reason)
		}
		if summed == len(batch) {
			break // every record start has been walked
		}
	}
	if want != h.RecordCount || pos != len(batch) {
		return Header{}, invalidOrCorrupt(batch, &h, "%d records framed, %d bytes after them, header says %d records", want, len(batch)-pos, h.RecordCount)
	}
	if crc = crc32.Update(crc, castagnoli, batch[summed:]); crc != h.CRC {
		return Header{}, crcMismatch(&h, crc)
	}
	return h, nil
}

// recordProblem says why walkRecords stopped early.
type recordProblem string

const (
	recordsOK         recordProblem = ""
	badRecordLength   recordProblem = "bad length"
	badTimestampDelta recordProblem = "bad timestampDelta"
	unexpectedOffset  recordProblem = "offsetDelta out of sequence"
)

// walkRecords checks records want, want+1, ... (up to count) starting at
// batch[pos], while they start before limit, and returns where it stopped.
// It is ValidateProduced's inner loop, kept free of calls so that its
// state stays in registers.
func walkRecords(batch []byte, pos, limit int, want, count int32) (int, int32, recordProblem) {
	for ; want < count && pos < limit; want++ {
		recs := batch[pos:]
		length, n := binary.Varint(recs)
		if n <= 0 || length < 1 || length > int64(len(recs)-n) {
			return pos, want, badRecordLength
		}
		body := recs[n : n+int(length)]
		pos += n + int(length)
		// attributes (1 byte), then timestampDelta and offsetDelta.
		_, n1 := binary.Varint(body[1:])
		if n1 <= 0 {
			return pos, want, badTimestampDelta
		}
		delta, n2 := binary.Varint(body[1+n1:])
		if n2 <= 0 || delta != int64(want) {
			return pos, want, unexpectedOffset
		}
	}
	return pos, want, recordsOK
}

// invalidOrCorrupt is the error for a batch whose records disagree with its
// header: ErrCorrupt if its CRC does not check out either (damaged on the
// way), ErrInvalidRecords if it does (the producer built it so).
func invalidOrCorrupt(batch []byte, h *Header, format string, args ...any) error {
	if crc := ComputeCRC(batch); crc != h.CRC {
		return crcMismatch(h, crc)
	}
	return invalidRecords(0, format, args...)
}

func crcMismatch(h *Header, computed uint32) error {
	return corrupt(0, "crc mismatch (stored 0x%08x, computed 0x%08x)", h.CRC, computed)
}
