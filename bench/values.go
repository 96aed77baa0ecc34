package bench

import (
	"encoding/binary"
	"fmt"
	"time"
)

// StampBytes is the size of the send time that a stamped record carries at
// the start of its value (ProduceConfig.StampValues): Unix nanoseconds,
// big-endian.
const StampBytes = stampBytes

// Values is the value stream that Produce writes, for drivers of other
// systems that must send the same bytes: record i of a run with a given
// seed and record size has the same value whoever sends it. Values is
// read-only once made and safe for concurrent use.
type Values struct {
	pool []byte
	size int
}

// NewValues returns the value stream of seed (DefaultSeed if 0) for
// records of size bytes.
func NewValues(seed uint64, size int) (*Values, error) {
	if size < 0 || size > valuePoolBytes {
		return nil, fmt.Errorf("bench: values: record size must be in [0, %d], got %d", valuePoolBytes, size)
	}
	if seed == 0 {
		seed = DefaultSeed
	}
	return &Values{pool: randomBytes(seed, valuePoolBytes), size: size}, nil
}

// Value is record i's value. It aliases the stream's memory: the caller
// must not change it (Stamped returns a copy to change).
func (v *Values) Value(i int64) []byte { return valueAt(v.pool, v.size, i) }

// Stamped is a copy of record i's value with now stamped into its first
// StampBytes bytes, as ProduceConfig.StampValues writes it. The record
// size must be at least StampBytes.
func (v *Values) Stamped(i int64, now time.Time) []byte {
	b := append([]byte(nil), v.Value(i)...)
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	return b
}

// StampedAt is the send time stamped into value, and false if value is too
// short to hold one.
func StampedAt(value []byte) (time.Time, bool) {
	if len(value) < StampBytes {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(value))), true
}

// valueAt is record i's value of size bytes: a window of pool that moves by
// a prime stride, so consecutive records differ.
func valueAt(pool []byte, size int, i int64) []byte {
	span := uint64(len(pool) - size + 1)
	off := int((uint64(i) * 7919) % span) // wraps for huge i, stays in range
	return pool[off : off+size : off+size]
}
