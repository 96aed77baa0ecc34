package recordbatch

import "encoding/binary"

// CheckProduced checks a producer's batch beyond the header and CRC, so
// that a batch whose header lies about its records cannot leave gaps or
// overlaps in the partition's offsets: a positive recordCount equal to
// lastOffsetDelta+1 and, for an uncompressed batch, exactly that many
// records, framed by their lengths, with offset deltas 0, 1, 2, ... and
// nothing after them (Kafka's INVALID_RECORD cases). Only each record's
// length, timestampDelta and offsetDelta are read: keys, values and headers
// are the producer's business, and reading them too doubled the cost per
// record. Compressed batches are checked by header only: the produce path
// never decompresses. It does not allocate.
func CheckProduced(batch []byte) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.RecordCount <= 0 || int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return corrupt(0, "recordCount %d does not match lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
	}
	if h.Codec() != CodecNone {
		return nil
	}
	recs := batch[HeaderSize:h.Size()]
	for want := int32(0); want < h.RecordCount; want++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 1 || length > int64(len(recs)-n) {
			return corrupt(0, "record %d: bad length (%d bytes left in the records)", want, len(recs))
		}
		body := recs[n : n+int(length)]
		recs = recs[n+int(length):]
		// attributes (1 byte), then timestampDelta and offsetDelta.
		_, n1 := binary.Varint(body[1:])
		if n1 <= 0 {
			return corrupt(0, "record %d: bad timestampDelta", want)
		}
		delta, n2 := binary.Varint(body[1+n1:])
		if n2 <= 0 || delta != int64(want) {
			return corrupt(0, "record %d has offsetDelta %d", want, delta)
		}
	}
	if len(recs) != 0 {
		return corrupt(0, "%d bytes after the last of %d records", len(recs), h.RecordCount)
	}
	return nil
}
