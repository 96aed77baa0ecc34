package recordbatch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Recompress appends to dst a copy of batch whose records are re-encoded with
// codec to (CodecNone: uncompressed) and returns the extended slice. batch
// must start with one whole batch, which must pass Validate; bytes after it
// are ignored.
//
// The copy keeps every header field (baseOffset, partitionLeaderEpoch,
// lastOffsetDelta, baseTimestamp, maxTimestamp, producerId, producerEpoch,
// baseSequence, recordCount) and every attribute bit but the codec's;
// batchLength and the CRC are recomputed. The records are checked as Records
// checks them before being re-encoded, so a batch whose records do not parse
// is refused with ErrCorrupt rather than passed on. Decompressed records over
// limit bytes fail with ErrTooLarge.
//
// A batch already using codec to, and a control batch (a transaction marker,
// which Kafka always writes uncompressed and clients read as such), are
// appended unchanged. On error dst is returned unchanged.
func Recompress(dst, batch []byte, to Codec, limit int) ([]byte, error) {
	if to < CodecNone || to > CodecZstd {
		return dst, unsupported(to)
	}
	h, err := Validate(batch)
	if err != nil {
		return dst, err
	}
	batch = batch[:h.Size()]
	from := h.Codec()
	if from == to || h.Control() {
		return append(dst, batch...), nil
	}

	start := len(dst)
	out := append(dst, batch[:HeaderSize]...)
	recs := batch[HeaderSize:]
	switch {
	case h.RecordCount == 0 && len(recs) == 0:
		// Emptied by compaction: there is nothing to encode, and readers
		// look at no record bytes when recordCount is 0.
	case from == CodecNone:
		if err := checkRecords(&h, recs); err != nil {
			return dst, err
		}
		out, err = Compress(to, out, recs)
	case to == CodecNone:
		if out, err = decompressAppend(out, from, recs, limit); err == nil {
			err = checkRecords(&h, out[start+HeaderSize:])
		}
	default:
		buf := getScratch()
		if *buf, err = decompressAppend((*buf)[:0], from, recs, limit); err == nil {
			if err = checkRecords(&h, *buf); err == nil {
				out, err = Compress(to, out, *buf)
			}
		}
		putScratch(buf)
	}
	if err != nil {
		return dst, err
	}

	b := out[start:]
	if int64(len(b))-LogOverhead > math.MaxInt32 {
		return dst, &Error{Reason: fmt.Sprintf("%v records make a %d-byte batch, past batchLength's int32", to, len(b)), Err: ErrTooLarge}
	}
	binary.BigEndian.PutUint32(b[BatchLengthPos:], uint32(len(b)-LogOverhead))
	attrs := uint16(h.Attributes)&^AttrCodecMask | uint16(to)
	binary.BigEndian.PutUint16(b[AttributesPos:], attrs)
	SetCRC(b)
	return out, nil
}

// checkRecords checks that recs holds exactly the header's recordCount
// well-formed records.
func checkRecords(h *Header, recs []byte) error {
	rd := recordReader{recs: recs, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var r rawRecord
	for rd.left > 0 {
		if err := rd.next(&r); err != nil {
			return err
		}
	}
	return rd.finish()
}
