package recordbatch

import "strconv"

// Sizes of the fixed parts of a RecordBatch v2.
const (
	// HeaderSize is the size of the fixed RecordBatch v2 header, from
	// baseOffset through recordCount. Records start right after it.
	HeaderSize = 61
	// LogOverhead is the size of baseOffset and batchLength, the two fields
	// that batchLength does not count.
	LogOverhead = 12
	// MinBatchLength is the smallest legal batchLength: a header with no
	// record bytes.
	MinBatchLength = HeaderSize - LogOverhead
	// Magic is the only record format version this package accepts.
	Magic = 2
)

// Field positions, in bytes from the start of the batch.
const (
	BaseOffsetPos           = 0  // int64, assigned by the broker, not covered by the CRC
	BatchLengthPos          = 8  // int32, bytes after this field
	PartitionLeaderEpochPos = 12 // int32, set by the broker, not covered by the CRC
	MagicPos                = 16 // int8, must be Magic
	CRCPos                  = 17 // uint32, CRC-32C of [AttributesPos, end of batch)
	AttributesPos           = 21 // int16, first byte covered by the CRC
	LastOffsetDeltaPos      = 23 // int32, offset of the last record relative to baseOffset
	BaseTimestampPos        = 27 // int64, timestamp of the first record
	MaxTimestampPos         = 35 // int64, largest timestamp in the batch
	ProducerIDPos           = 43 // int64, -1 when not idempotent
	ProducerEpochPos        = 51 // int16, -1 when not idempotent
	BaseSequencePos         = 53 // int32, -1 when not idempotent
	RecordCountPos          = 57 // int32, number of records in the batch
)

// Bits of the attributes field.
const (
	// AttrCodecMask selects the compression codec (a Codec) in attributes.
	AttrCodecMask = 0x07
	// AttrLogAppendTime is set when timestamps are LogAppendTime (the broker's
	// clock) rather than CreateTime (the producer's).
	AttrLogAppendTime = 0x08
	// AttrTransactional is set on batches written inside a transaction.
	AttrTransactional = 0x10
	// AttrControl is set on control batches (transaction commit/abort markers).
	AttrControl = 0x20
)

// Codec is the compression codec of a batch's records, attributes bits 0-2.
type Codec int8

// The codecs Kafka defines. Values 5-7 are invalid.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the codec's name as Kafka's compression.type spells it.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// Header is the decoded fixed header of a RecordBatch v2. Field names follow
// Kafka's.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the whole batch's length in bytes, LogOverhead included.
func (h *Header) Size() int { return LogOverhead + int(h.BatchLength) }

// LastOffset is the offset of the batch's last record. It can be past the
// last record actually present when compaction removed records at the end.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset the batch after this one starts at.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression codec of the records.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCodecMask) }

// LogAppendTime reports whether the timestamps are the broker's append time
// rather than the producer's create time.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch was written inside a transaction.
func (h *Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch is a control batch (a transaction marker).
func (h *Header) Control() bool { return h.Attributes&AttrControl != 0 }
