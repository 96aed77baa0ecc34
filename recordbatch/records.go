package recordbatch

import (
	"encoding/binary"
	"errors"
)

// ErrCompressed is returned by record-level functions on a compressed
// batch: its records can only be read after decompression, which this
// package does not do.
var ErrCompressed = errors.New("recordbatch: records are compressed")

// FirstRecordAtOrAfter walks the records of an uncompressed batch (which
// must have passed ParseHeader) and returns the offset and timestamp of the
// first record whose timestamp is >= ts, as Kafka's ListOffsets answers. It
// reads only each record's length, timestampDelta and offsetDelta varints
// (Kafka record v2, zigzag-encoded) and skips the rest. Under LogAppendTime
// every record has the batch's MaxTimestamp. It does not allocate.
func FirstRecordAtOrAfter(batch []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return 0, 0, false, err
	}
	if h.LogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= ts && h.RecordCount > 0, nil
	}
	if h.Codec() != CodecNone {
		return 0, 0, false, ErrCompressed
	}
	recs := batch[HeaderSize:h.Size()]
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 0 || int64(len(recs)-n) < length {
			return 0, 0, false, corrupt(0, "record %d: bad length", i)
		}
		body := recs[n : n+int(length)]
		recs = recs[n+int(length):]
		if len(body) < 1 {
			return 0, 0, false, corrupt(0, "record %d: empty body", i)
		}
		tsDelta, n1 := binary.Varint(body[1:]) // after the attributes byte
		if n1 <= 0 {
			return 0, 0, false, corrupt(0, "record %d: bad timestampDelta", i)
		}
		offDelta, n2 := binary.Varint(body[1+n1:])
		if n2 <= 0 || offDelta < 0 || offDelta > int64(h.LastOffsetDelta) {
			return 0, 0, false, corrupt(0, "record %d: bad offsetDelta", i)
		}
		if recTs := h.BaseTimestamp + tsDelta; recTs >= ts {
			return h.BaseOffset + offDelta, recTs, true, nil
		}
	}
	return 0, 0, false, nil
}
