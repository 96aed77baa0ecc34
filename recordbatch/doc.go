// Package recordbatch parses and validates the fixed header of a Kafka
// RecordBatch (magic 2), the unit Tributary receives from producers, stores
// verbatim in segment files and hands back to consumers.
//
// The fetch and recovery paths never decode or decompress the records:
// the broker only needs the header to assign offsets, index by offset and
// time, and check integrity. Header parsing is allocation-free on success,
// so it can sit on those paths. The produce path reads the records once,
// because no batch a consumer cannot read may be acknowledged:
// ValidateProduced walks an uncompressed batch in place and streams a
// compressed one through a window with pooled decoders (produced_stream.go).
// Records are otherwise decoded only off the hot path: Records (tools,
// tests), FirstRecordAtOrAfter (ListOffsets by timestamp), Recompress (a
// topic whose compression.type differs from the producer's codec), Filter
// (the log cleaner, keeping a subset of a batch's records under the same
// header) and HasNullKey (the produce check of a compacted topic), with
// Decompress/Compress for gzip, snappy (xerial framing or a bare block),
// lz4 (frame format) and zstd. Every one of them reads a record's fields
// with the same rule (parseRecordBody). Encode builds batches of keyed
// records for tests and tools.
//
// # Byte layout
//
// All integers are big-endian. Offsets are from the start of the batch.
//
//	 0                   8            12                     16    17
//	+-------------------+------------+----------------------+-----+
//	| baseOffset int64  | batchLength| partitionLeaderEpoch |magic|
//	|                   |   int32    |        int32         | =2  |
//	+-------------------+------------+----------------------+-----+
//	 17          21           23                27                 35
//	+-----------+------------+-----------------+------------------+
//	| crc uint32| attributes | lastOffsetDelta | baseTimestamp    |
//	|           |   int16    |      int32      |     int64        |
//	+-----------+------------+-----------------+------------------+
//	 35                 43              51            53             57            61
//	+------------------+---------------+-------------+--------------+-------------+
//	| maxTimestamp     | producerId    |producerEpoch| baseSequence | recordCount |
//	|     int64        |    int64      |    int16    |    int32     |    int32    |
//	+------------------+---------------+-------------+--------------+-------------+
//	 61                                                   12+batchLength
//	+-----------------------------------------------------+
//	| records (possibly compressed, see attributes)       |
//	+-----------------------------------------------------+
//
//	|<-- LogOverhead -->|<------------------ batchLength ------------------->|
//	                                 |<--------- covered by crc ------------>|
//	                                  21                          12+batchLength
//
// batchLength counts the bytes after itself, so a whole batch is
// LogOverhead + batchLength bytes long.
//
// attributes (int16):
//
//	bits 0-2  compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
//	bit  3    timestamp type: 0 CreateTime, 1 LogAppendTime
//	bit  4    transactional
//	bit  5    control batch
//	bits 6-15 not interpreted here (bit 6 is Kafka's delete-horizon flag)
//
// # What the CRC covers
//
// The crc field is a CRC-32C (Castagnoli) over bytes [21, 12+batchLength):
// everything from attributes to the end of the batch. baseOffset,
// batchLength, partitionLeaderEpoch, magic and the crc itself are NOT
// covered, which is what lets the broker assign offsets with SetBaseOffset
// (and stamp the leader epoch with SetPartitionLeaderEpoch) in place without
// recomputing the CRC.
//
// # Versions
//
// Only magic 2 (Kafka 0.11 and later, the format every current client
// produces) is accepted. Magic 0 and 1 message sets are rejected as corrupt;
// Tributary does not convert them.
//
// # Errors
//
// Every error is an *Error whose Pos is the byte position of the start of the
// offending batch in the caller's input, and which wraps exactly one of
// ErrTruncated, ErrCorrupt, ErrInvalidRecords (ValidateProduced), or, from
// the codec functions and ValidateProduced, ErrTooLarge (records decompress
// past the caller's limit) and ErrUnsupportedCodec:
//
//   - ErrTruncated: the bytes present look like the start of a valid batch, but
//     the input ends before the header or before the end batchLength announces;
//     more bytes could make it valid (a torn write).
//   - ErrCorrupt: the bytes can never form a valid batch (bad magic, impossible
//     length or field, unknown codec, CRC mismatch).
//   - ErrInvalidRecords: the CRC checks out but the records disagree with the
//     header (count, framing, offset deltas), or, in a compressed batch, the
//     codec stream does not decode: built wrong, not damaged.
//
// ParseHeader checks structure only; Validate adds the CRC; ValidateProduced
// adds the record checks a producer's batch must pass, in the same pass for
// an uncompressed batch, decompressing a compressed one. ValidateAll and Scan
// walk a buffer of back-to-back batches, as found in a produce request or a
// segment file; Scan returns the longest valid prefix, the truncation point for
// crash recovery.
package recordbatch
