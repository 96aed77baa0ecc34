package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
)

// castagnoli is the CRC-32C table. hash/crc32 recognises it and uses the
// SSE4.2 / ARMv8 CRC instructions when the CPU has them.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseHeader decodes and structurally checks the batch at the start of b,
// without checking the CRC. On success the whole batch, b[:h.Size()], is in b;
// b may hold more bytes after it.
//
// It fails with ErrCorrupt when magic is not 2, batchLength is below
// MinBatchLength, lastOffsetDelta or recordCount is negative, the codec is
// unknown, or recordCount > 0 and lastOffsetDelta < recordCount-1 (compaction
// may leave gaps, so a larger lastOffsetDelta is fine). It fails with
// ErrTruncated when b ends before the header or before the end batchLength
// announces. Checks that the bytes present can decide come first, so
// ErrTruncated means every byte seen so far is consistent with a valid batch.
//
// ParseHeader does not allocate on success. On error the Header is zero.
func ParseHeader(b []byte) (Header, error) {
	return parseHeader(b, 0)
}

// Validate is ParseHeader plus the CRC check. It does not allocate on success.
func Validate(b []byte) (Header, error) {
	return validate(b, 0)
}

// ComputeCRC returns the CRC-32C of the bytes a batch's crc field covers,
// batch[AttributesPos:size], where size comes from the batch's batchLength.
// It panics if batch is shorter than that; call ParseHeader first on
// untrusted input.
func ComputeCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[AttributesPos:batchSize(batch)], castagnoli)
}

// SetCRC recomputes and stores the crc field of a batch whose covered bytes
// were changed. It panics like ComputeCRC.
func SetCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[CRCPos:], ComputeCRC(batch))
}

// SetBaseOffset rewrites the baseOffset field in place. baseOffset is not
// covered by the CRC, so the batch stays valid. It panics if
// len(batch) < LogOverhead.
func SetBaseOffset(batch []byte, baseOffset int64) {
	binary.BigEndian.PutUint64(batch[BaseOffsetPos:], uint64(baseOffset))
}

// SetPartitionLeaderEpoch rewrites the partitionLeaderEpoch field in place,
// as a leader does on append. The field is not covered by the CRC. It panics
// if len(batch) < PartitionLeaderEpochPos+4.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[PartitionLeaderEpochPos:], uint32(epoch))
}

// ValidateAll validates b as a sequence of back-to-back batches, CRCs
// included. It returns the number of batches, the offset span they claim
// (the sum of lastOffsetDelta+1) and the first error, whose Pos is the
// position of the bad batch in b. Empty input is ErrTruncated. It does not
// allocate on success.
func ValidateAll(b []byte) (batches int, offsetDelta int64, err error) {
	if len(b) == 0 {
		return 0, 0, truncated(0, "empty input, want at least one batch")
	}
	for pos := 0; pos < len(b); {
		h, err := validate(b[pos:], pos)
		if err != nil {
			return batches, offsetDelta, err
		}
		batches++
		offsetDelta += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
	return batches, offsetDelta, nil
}

// Scan walks b batch by batch, checking structure and CRC, and returns the
// length of the longest prefix made of whole valid batches, the number of
// batches in it, and the error that stopped the walk (nil when all of b is
// valid, including when b is empty). When err is non-nil, its Pos equals
// validBytes. Crash recovery truncates a log to validBytes.
func Scan(b []byte) (validBytes int, batches int, err error) {
	for validBytes < len(b) {
		h, err := validate(b[validBytes:], validBytes)
		if err != nil {
			return validBytes, batches, err
		}
		batches++
		validBytes += h.Size()
	}
	return validBytes, batches, nil
}

// validate is Validate with errors positioned at pos.
func validate(b []byte, pos int) (Header, error) {
	h, err := parseHeader(b, pos)
	if err != nil {
		return Header{}, err
	}
	if crc := crc32.Checksum(b[AttributesPos:h.Size()], castagnoli); crc != h.CRC {
		return Header{}, corrupt(pos, "crc mismatch (stored 0x%08x, computed 0x%08x)", h.CRC, crc)
	}
	return h, nil
}

// batchSize reads batchLength and returns the whole batch's size.
func batchSize(b []byte) int {
	return LogOverhead + int(int32(binary.BigEndian.Uint32(b[BatchLengthPos:])))
}

// parseHeader is ParseHeader with errors positioned at pos, the start of b in
// the caller's input.
func parseHeader(b []byte, pos int) (Header, error) {
	if len(b) < LogOverhead {
		return Header{}, truncated(pos, "input has %d bytes, batchLength ends at byte %d", len(b), LogOverhead)
	}
	batchLength := int32(binary.BigEndian.Uint32(b[BatchLengthPos:]))
	if batchLength < MinBatchLength {
		return Header{}, corrupt(pos, "batchLength %d is below the minimum %d", batchLength, MinBatchLength)
	}
	if len(b) > MagicPos && int8(b[MagicPos]) != Magic {
		return Header{}, corrupt(pos, "magic is %d, want %d", int8(b[MagicPos]), Magic)
	}
	if len(b) < HeaderSize {
		return Header{}, truncated(pos, "input has %d bytes, header needs %d", len(b), HeaderSize)
	}
	n := len(b)
	b = b[:HeaderSize:HeaderSize] // one bounds check for all the fields below
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[BaseOffsetPos:])),
		BatchLength:          batchLength,
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[PartitionLeaderEpochPos:])),
		Magic:                int8(b[MagicPos]),
		CRC:                  binary.BigEndian.Uint32(b[CRCPos:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[AttributesPos:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[LastOffsetDeltaPos:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[BaseTimestampPos:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[MaxTimestampPos:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[ProducerIDPos:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[ProducerEpochPos:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[BaseSequencePos:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[RecordCountPos:])),
	}
	switch {
	case h.LastOffsetDelta < 0:
		return Header{}, corrupt(pos, "lastOffsetDelta %d is negative", h.LastOffsetDelta)
	case h.RecordCount < 0:
		return Header{}, corrupt(pos, "recordCount %d is negative", h.RecordCount)
	case h.Codec() > CodecZstd:
		return Header{}, corrupt(pos, "unknown compression codec %d in attributes 0x%04x", h.Codec(), uint16(h.Attributes))
	case h.RecordCount > 0 && h.LastOffsetDelta < h.RecordCount-1:
		return Header{}, corrupt(pos, "lastOffsetDelta %d cannot hold recordCount %d", h.LastOffsetDelta, h.RecordCount)
	}
	// Compare in int64: LogOverhead+batchLength may overflow a 32-bit int.
	if int64(batchLength) > int64(n)-LogOverhead {
		return Header{}, truncated(pos, "batchLength %d needs %d bytes, input has %d", batchLength, LogOverhead+int64(batchLength), n)
	}
	return h, nil
}

// SetLogAppendTime stamps a batch for a topic with
// message.timestamp.type=LogAppendTime: the timestamp-type attribute bit is
// set, MaxTimestamp becomes ts (consumers then read ts as every record's
// timestamp) and the CRC is recomputed, since both fields are covered by it.
// The records themselves are untouched.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[AttributesPos:])
	binary.BigEndian.PutUint16(batch[AttributesPos:], attrs|AttrLogAppendTime)
	binary.BigEndian.PutUint64(batch[MaxTimestampPos:], uint64(ts))
	SetCRC(batch)
}
