package recordbatch

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
)

// Snappy in Kafka comes in two shapes. The Java client wraps snappy blocks in
// the framing of xerial's snappy-java SnappyOutputStream:
//
//	 0                8          12         16
//	+----------------+----------+----------+---------------+----------------+----
//	| "\x82SNAPPY\x00"| version  | compat   | length uint32 | snappy block   | ...
//	|     magic       | int32 =1 | int32 =1 |  big-endian   | (length bytes) |
//	+----------------+----------+----------+---------------+----------------+----
//
// with chunks repeated to the end of the records section. Other clients
// (franz-go, librdkafka, sarama, kafka-go) may instead write one bare snappy
// block. Every client accepts both on read, telling them apart by the magic,
// as we do. The test is unambiguous: in a bare block, the magic would be a
// length varint (10,626) followed by 'N', a copy tag, and a valid block's
// first element cannot be a copy, since there is nothing yet to copy from.
//
// klauspost/compress/snappy/xerial implements this framing but cannot bound
// the output size before allocating, which a broker must, so the framing is
// done here and only the block codec comes from the library.

// Xerial framing constants.
const (
	// xerialHeaderSize is magic, version and compat.
	xerialHeaderSize = 16
	// xerialVersion and xerialCompat are what snappy-java writes (its
	// DEFAULT_VERSION and MINIMUM_COMPATIBLE_VERSION). Readers ignore them.
	xerialVersion = 1
	xerialCompat  = 1
	// xerialChunkSize is how much uncompressed input each chunk holds:
	// snappy-java's default block size, so our output looks like the Java
	// client's. Readers accept any chunk size.
	xerialChunkSize = 32 << 10
	// xerialLengthSize is the size of each chunk's length prefix.
	xerialLengthSize = 4
)

// xerialMagic opens a xerial-framed stream.
var xerialMagic = []byte("\x82SNAPPY\x00")

// xerialAppend appends src as xerial-framed snappy to dst. Each chunk is
// encoded straight into dst's spare capacity.
func xerialAppend(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, xerialVersion)
	dst = binary.BigEndian.AppendUint32(dst, xerialCompat)
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialChunkSize)]
		src = src[len(chunk):]
		bound := s2.MaxEncodedLen(len(chunk)) // >= 0: a chunk is 32 KiB
		dst = growLen(dst, xerialLengthSize+bound)
		body := dst[len(dst)-bound:]
		// s2.EncodeSnappy writes standard snappy blocks at snappy's own
		// speed; snappy.Encode in the same module is its slower "better"
		// mode (1.5-2x slower on record data for 2% smaller output).
		enc := s2.EncodeSnappy(body, chunk) // body is big enough, so enc is its prefix
		binary.BigEndian.PutUint32(dst[len(dst)-bound-xerialLengthSize:], uint32(len(enc)))
		dst = dst[:len(dst)-bound+len(enc)]
	}
	return dst
}

// growLen extends dst by n bytes, reallocating with append's amortised
// growth when the capacity is short.
func growLen(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		dst = append(dst[:cap(dst)], make([]byte, n-(cap(dst)-len(dst)))...)[:len(dst)]
	}
	return dst[:len(dst)+n]
}

// unsnappyAppend appends the decompression of src, xerial-framed or a bare
// snappy block, to dst. Each block states its decompressed size up front, so
// the whole output size is known, and checked against limit, before anything
// is allocated; a block that then decodes to another size is corrupt.
func unsnappyAppend(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return dst, corrupt(0, "snappy records: block header: %v", err)
		}
		if n > limit {
			return dst, tooLarge(CodecSnappy, n, limit)
		}
		return snappyBlockAppend(dst, src, n, 0)
	}
	if len(src) < xerialHeaderSize {
		return dst, corrupt(0, "snappy records: xerial header cut at %d bytes, want %d", len(src), xerialHeaderSize)
	}
	// First pass: check the framing and add up the declared sizes.
	total := 0
	for pos := xerialHeaderSize; pos < len(src); {
		chunk, next, err := xerialChunk(src, pos)
		if err != nil {
			return dst, err
		}
		n, err := snappy.DecodedLen(chunk)
		if err != nil {
			return dst, corrupt(0, "snappy records: block at byte %d: %v", pos, err)
		}
		if n > limit-total { // n <= 2^32-1, limit-total >= 0: no overflow
			return dst, tooLarge(CodecSnappy, "more than "+strconv.Itoa(limit), limit)
		}
		total += n
		pos = next
	}
	start := len(dst)
	dst = growLen(dst, total)[:start]
	for pos := xerialHeaderSize; pos < len(src); {
		chunk, next, _ := xerialChunk(src, pos) // checked above
		n, _ := snappy.DecodedLen(chunk)
		var err error
		if dst, err = snappyBlockAppend(dst, chunk, n, pos); err != nil {
			return dst[:start], err
		}
		pos = next
	}
	return dst, nil
}

// xerialChunk returns the snappy block whose length prefix is at src[pos:]
// and the position of the next prefix.
func xerialChunk(src []byte, pos int) (chunk []byte, next int, err error) {
	if len(src)-pos < xerialLengthSize {
		return nil, 0, corrupt(0, "snappy records: xerial chunk length at byte %d cut after %d bytes", pos, len(src)-pos)
	}
	n := int64(binary.BigEndian.Uint32(src[pos:]))
	body := pos + xerialLengthSize
	if n == 0 || n > int64(len(src)-body) {
		return nil, 0, corrupt(0, "snappy records: xerial chunk at byte %d declares %d bytes, %d remain", pos, n, len(src)-body)
	}
	return src[body : body+int(n)], body + int(n), nil
}

// snappyBlockAppend decodes one snappy block of declared size n into dst's
// spare capacity (growing it if needed). pos is where the block sits in the
// records section, for the error message.
func snappyBlockAppend(dst, block []byte, n, pos int) ([]byte, error) {
	start := len(dst)
	dst = growLen(dst, n)
	out, err := snappy.Decode(dst[start:], block)
	if err != nil {
		return dst[:start], corrupt(0, "snappy records: block at byte %d: %v", pos, err)
	}
	if len(out) != n || (n > 0 && &out[0] != &dst[start]) {
		// Decode uses the buffer it is given when it is big enough, which
		// it is; anything else would be a library change worth knowing of.
		return dst[:start], corrupt(0, "snappy records: block at byte %d decoded to %d bytes elsewhere, declared %d", pos, len(out), n)
	}
	return dst, nil
}
