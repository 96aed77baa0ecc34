package wire

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka primitive encodings the Fetch response framing needs. Integers
// are big-endian; from the first flexible version (KIP-482) lengths and tag
// counts are unsigned varints, and compact lengths store length+1 so that 0
// can mean null. Lengths are truncated to the wire width exactly as kmsg
// truncates them, so even absurd inputs encode identically.

func appendInt16(dst []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(v))
}

func appendInt32(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v))
}

func appendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

// uvarintLen is the encoded width of u: 7 bits per byte.
func uvarintLen(u uint32) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func appendUvarint(dst []byte, u uint32) []byte {
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// putUvarint writes u into b, which must be exactly uvarintLen(u) long.
func putUvarint(b []byte, u uint32) {
	i := 0
	for u >= 0x80 {
		b[i] = byte(u) | 0x80
		u >>= 7
		i++
	}
	b[i] = byte(u)
}

// appendArrayLen writes a non-nullable array length.
func appendArrayLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return appendUvarint(dst, uint32(n)+1)
	}
	return appendInt32(dst, int32(n))
}

// appendNullableArrayLen writes an array length, or null (-1, or compact 0).
func appendNullableArrayLen(dst []byte, n int, isNil, flexible bool) []byte {
	if isNil {
		if flexible {
			return append(dst, 0)
		}
		return appendInt32(dst, -1)
	}
	return appendArrayLen(dst, n, flexible)
}

func appendString(dst []byte, s string, flexible bool) []byte {
	if flexible {
		dst = appendUvarint(dst, uint32(len(s))+1)
	} else {
		dst = appendInt16(dst, int16(len(s)))
	}
	return append(dst, s...)
}

func appendNullableString(dst []byte, s *string, flexible bool) []byte {
	if s == nil {
		if flexible {
			return append(dst, 0)
		}
		return appendInt16(dst, -1)
	}
	return appendString(dst, *s, flexible)
}

// appendNullableBytesLen writes only the length prefix of a nullable bytes
// field; the bytes themselves are the caller's to place.
func appendNullableBytesLen(dst []byte, b []byte, flexible bool) []byte {
	if b == nil {
		if flexible {
			return append(dst, 0)
		}
		return appendInt32(dst, -1)
	}
	if flexible {
		return appendUvarint(dst, uint32(len(b))+1)
	}
	return appendInt32(dst, int32(len(b)))
}

// appendTagsWithCount writes the tag section of a struct that has no tagged
// fields of its own: the count, then each unknown tag in key order.
func appendTagsWithCount(dst []byte, t *kmsg.Tags) []byte {
	n := t.Len()
	if n == 0 {
		return append(dst, 0)
	}
	dst = appendUvarint(dst, uint32(n))
	return t.AppendEach(dst)
}

// beginSized starts a tagged field's value, whose uvarint size precedes it.
// It reserves one byte for the size, enough for any value under 128 bytes;
// endSized fills it in and, for larger values, widens it.
func beginSized(dst []byte) ([]byte, int) {
	return append(dst, 0), len(dst)
}

// endSized fills in the size reserved at sizeAt by beginSized. A value of
// 128 bytes or more needs a wider size, so the value is shifted right in
// place; nothing after sizeAt has been spliced, so no Splice moves.
func endSized(dst []byte, sizeAt int) []byte {
	n := uint32(len(dst) - sizeAt - 1)
	w := uvarintLen(n)
	if w == 1 {
		dst[sizeAt] = byte(n)
		return dst
	}
	end := len(dst)
	for range w - 1 {
		dst = append(dst, 0)
	}
	copy(dst[sizeAt+w:], dst[sizeAt+1:end])
	putUvarint(dst[sizeAt:sizeAt+w], n)
	return dst
}
