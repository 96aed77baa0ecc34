package index

import (
	"encoding/binary"
	"sort"
)

// Lookups are interpolation searches with a guard, finished by bisection.
//
// Index keys grow close to linearly: the segment adds an offset index entry
// every index.interval.bytes of log, and a time index entry as the clock
// advances. So each round probes where the key is expected by linear
// interpolation between the keys bounding the range, plus a guard probe
// interpolationGuard entries further towards the answer, which on steady keys
// brackets it in one cache line. That is one or two cache misses per lookup
// instead of the ~20 of a bisection over a full 10 MiB index.
//
// Skewed keys cannot make it much worse than bisection: a round of two probes
// that shrinks the range to a quarter or less does as well as two bisection
// steps, and after maxInterpolationMisses rounds that do not, bisection alone
// finishes the search. The worst case is 2*maxInterpolationMisses probes more
// than a plain binary search.

const (
	// interpolationGuard is the distance, in entries, from an interpolated
	// probe to its guard probe: one 64-byte cache line of offset entries.
	interpolationGuard = 8

	// interpolationMinSpan is the range size below which bisection, whose
	// probes now fall within a few cache lines, is cheaper than more
	// interpolation.
	interpolationMinSpan = 2 * interpolationGuard

	// maxInterpolationMisses is how many interpolation rounds may shrink the
	// range by less than 4x before bisection takes over.
	maxInterpolationMisses = 2
)

// countOffsetsAtMost returns the number of leading offset index entries of b
// whose relative offset is <= q (keys strictly increase).
func countOffsetsAtMost(b []byte, q uint32) int {
	n := len(b) / OffsetEntrySize
	key := func(i int) uint32 { return binary.BigEndian.Uint32(b[i*OffsetEntrySize+offsetKeyAt:]) }
	if n == 0 || key(0) > q {
		return 0
	}
	lo, hi := 0, n-1
	if key(hi) <= q {
		return n
	}
	// Invariant: key(lo) <= q < key(hi).
	for misses := 0; hi-lo > interpolationMinSpan && misses < maxInterpolationMisses; {
		span := hi - lo
		klo, khi := key(lo), key(hi)
		// (q-klo) < 2^32 and span < 2^31: the product fits in 64 bits,
		// and q < khi keeps m below hi.
		m := lo + int(uint64(q-klo)*uint64(span)/uint64(khi-klo))
		m = min(max(m, lo+1), hi-1)
		if key(m) <= q {
			lo = m
			if g := m + interpolationGuard; g < hi {
				if key(g) <= q {
					lo = g
				} else {
					hi = g
				}
			}
		} else {
			hi = m
			if g := m - interpolationGuard; g > lo {
				if key(g) <= q {
					lo = g
				} else {
					hi = g
				}
			}
		}
		if hi-lo > span/4 {
			misses++ // skewed keys here
		}
	}
	// The answer is the first i in (lo, hi] with key(i) > q.
	i, j := lo+1, hi
	for i < j {
		h := int(uint(i+j) >> 1)
		if key(h) <= q {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// countTimestampsBelow returns the number of leading time index entries of b
// whose timestamp is < q (timestamps strictly increase).
func countTimestampsBelow(b []byte, q int64) int {
	n := len(b) / TimeEntrySize
	ts := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[i*TimeEntrySize+timeTimestampAt:])) }
	if n == 0 || ts(0) >= q {
		return 0
	}
	lo, hi := 0, n-1
	if ts(hi) < q {
		return n
	}
	// Invariant: ts(lo) < q <= ts(hi).
	for misses := 0; hi-lo > interpolationMinSpan && misses < maxInterpolationMisses; {
		span := hi - lo
		tlo, thi := ts(lo), ts(hi)
		// Differences of int64s can exceed int64 but not uint64; the
		// ratio is in (0, 1], so m stays within [lo, hi].
		frac := float64(uint64(q-tlo)) / float64(uint64(thi-tlo))
		m := lo + int(frac*float64(span))
		m = min(max(m, lo+1), hi-1)
		if ts(m) < q {
			lo = m
			if g := m + interpolationGuard; g < hi {
				if ts(g) < q {
					lo = g
				} else {
					hi = g
				}
			}
		} else {
			hi = m
			if g := m - interpolationGuard; g > lo {
				if ts(g) < q {
					lo = g
				} else {
					hi = g
				}
			}
		}
		if hi-lo > span/4 {
			misses++
		}
	}
	// The answer is the first i in (lo, hi] with ts(i) >= q.
	i, j := lo+1, hi
	for i < j {
		h := int(uint(i+j) >> 1)
		if ts(h) < q {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// searchOffsetKey returns the number of leading entries of b with relative
// offset < relOffset. Plain bisection: only truncation uses it.
func searchOffsetKey(b []byte, relOffset uint32) int {
	return sort.Search(len(b)/OffsetEntrySize, func(h int) bool {
		return binary.BigEndian.Uint32(b[h*OffsetEntrySize+offsetKeyAt:]) >= relOffset
	})
}

// searchOffsetPosition returns the number of leading entries of b with
// position < position.
func searchOffsetPosition(b []byte, position uint32) int {
	return sort.Search(len(b)/OffsetEntrySize, func(h int) bool {
		return binary.BigEndian.Uint32(b[h*OffsetEntrySize+offsetPositionAt:]) >= position
	})
}

// searchTimeKey returns the number of leading time index entries of b with
// relative offset < relOffset.
func searchTimeKey(b []byte, relOffset uint32) int {
	return sort.Search(len(b)/TimeEntrySize, func(h int) bool {
		return binary.BigEndian.Uint32(b[h*TimeEntrySize+timeKeyAt:]) >= relOffset
	})
}
