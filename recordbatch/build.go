package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Build and BuildSized exist for tests, benchmarks and tools (in this package
// and others): the broker itself never builds batches, it stores what
// producers send.

// buildValueSize is the value size BuildSized fills its batches with.
const buildValueSize = 1000

// Build returns a valid, uncompressed RecordBatch v2 holding n records, each
// with a value of valueSize bytes, a null key and no headers. The batch has
// base offset 0, partition leader epoch -1 and producer id, epoch and base
// sequence -1 (not idempotent), as a plain producer sends it. Record i has
// offset delta i and timestamp ts+i, so MaxTimestamp is ts+n-1. For n == 0 it
// returns an empty batch with lastOffsetDelta 0 and MaxTimestamp ts. The
// records are encoded as Kafka records v2, so any Kafka client can decode
// them. It panics if n or valueSize is negative or the batch would not fit an
// int32 length.
func Build(n int, valueSize int, ts int64) []byte {
	if n < 0 || valueSize < 0 {
		panic(fmt.Sprintf("recordbatch: Build(%d, %d): negative argument", n, valueSize))
	}
	return build(n, func(int) int { return valueSize }, ts)
}

// BuildSized returns a batch like Build's of exactly totalSize bytes when
// possible (a byte less in rare cases where varint widths make the exact size
// unreachable), made of records with values of about 1 KiB and timestamps
// starting at ts. Sizes below what one record needs give an empty batch of
// HeaderSize bytes. For benchmarks: BuildSized(16<<10, ts).
func BuildSized(totalSize int, ts int64) []byte {
	var values []int
	rem := totalSize - HeaderSize
	for i := 0; rem > 0; i++ {
		full := recordSize(i, buildValueSize)
		if rem >= 2*full {
			values = append(values, buildValueSize)
			rem -= full
			continue
		}
		// Last record: it takes everything left, between one and two full
		// records' worth (or less than one if it is also the first).
		v, ok := fitValue(i, rem)
		if !ok {
			break // not even an empty record fits
		}
		if got := recordSize(i, v); got < rem && i > 0 {
			// A varint width jump skipped rem exactly; move the missing
			// byte into the previous record, whose value is far from any
			// varint boundary.
			values[i-1]++
			if v2, ok := fitValue(i, rem-1); ok {
				v = v2
			}
		}
		values = append(values, v)
		break
	}
	return build(len(values), func(i int) int { return values[i] }, ts)
}

// fitValue returns the largest value size v such that record i is at most
// size bytes long, and whether any fits.
func fitValue(i, size int) (int, bool) {
	if recordSize(i, 0) > size {
		return 0, false
	}
	v := size // recordSize(i, v) > v, so start above the answer and walk down
	for recordSize(i, v) > size {
		v -= recordSize(i, v) - size
	}
	// The step above can overshoot by the bytes a narrower varint saves.
	for recordSize(i, v+1) <= size {
		v++
	}
	return v, true
}

// build encodes a batch of n records, record i having a value of valueSize(i)
// bytes.
func build(n int, valueSize func(i int) int, ts int64) []byte {
	size := HeaderSize
	for i := range n {
		size += recordSize(i, valueSize(i))
		if size-LogOverhead > 1<<31-1 {
			panic("recordbatch: Build: batch too large for an int32 batchLength")
		}
	}
	lastOffsetDelta, maxTimestamp := int32(0), ts
	if n > 0 {
		lastOffsetDelta, maxTimestamp = int32(n-1), ts+int64(n-1)
	}

	b := make([]byte, HeaderSize, size)
	be := binary.BigEndian
	be.PutUint64(b[BaseOffsetPos:], 0)
	be.PutUint32(b[BatchLengthPos:], uint32(size-LogOverhead))
	be.PutUint32(b[PartitionLeaderEpochPos:], 0xffffffff) // -1: not yet appended by a leader
	b[MagicPos] = Magic
	be.PutUint16(b[AttributesPos:], 0) // uncompressed, CreateTime, not transactional
	be.PutUint32(b[LastOffsetDeltaPos:], uint32(lastOffsetDelta))
	be.PutUint64(b[BaseTimestampPos:], uint64(ts))
	be.PutUint64(b[MaxTimestampPos:], uint64(maxTimestamp))
	be.PutUint64(b[ProducerIDPos:], 0xffffffffffffffff) // -1
	be.PutUint16(b[ProducerEpochPos:], 0xffff)          // -1
	be.PutUint32(b[BaseSequencePos:], 0xffffffff)       // -1
	be.PutUint32(b[RecordCountPos:], uint32(n))

	// Kafka record v2; every varint is zigzag-encoded, as binary.AppendVarint does.
	for i := range n {
		v := valueSize(i)
		b = binary.AppendVarint(b, int64(recordBodySize(i, v))) // length
		b = append(b, 0)                                        // attributes, unused
		b = binary.AppendVarint(b, int64(i))                    // timestampDelta
		b = binary.AppendVarint(b, int64(i))                    // offsetDelta
		b = binary.AppendVarint(b, -1)                          // keyLength: null key
		b = binary.AppendVarint(b, int64(v))                    // valueLength
		for j := range v {
			b = append(b, byte('a'+(i+j)%26)) // printable, so kcat output is readable
		}
		b = binary.AppendVarint(b, 0) // headers count
	}
	SetCRC(b)
	return b
}

// recordBodySize is the size of record i after its length varint.
func recordBodySize(i, valueSize int) int {
	return 1 + 2*varintLen(int64(i)) + varintLen(-1) + varintLen(int64(valueSize)) + valueSize + varintLen(0)
}

// recordSize is the encoded size of record i, length varint included.
func recordSize(i, valueSize int) int {
	body := recordBodySize(i, valueSize)
	return varintLen(int64(body)) + body
}

// varintLen is the size of x as a zigzag varint.
func varintLen(x int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], x)
}
