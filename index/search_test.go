package index

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// keyDistributions generate n strictly increasing keys below 2^32, shaped
// to defeat interpolation in different ways.
var keyDistributions = []struct {
	name string
	gen  func(rng *rand.Rand, n int) []uint64
}{
	{"uniform", func(rng *rand.Rand, n int) []uint64 { return stepKeys(n, func(int) uint64 { return 4 }) }},
	{"random gaps", func(rng *rand.Rand, n int) []uint64 {
		return stepKeys(n, func(int) uint64 { return 1 + rng.Uint64N(100) })
	}},
	{"quadratic", func(rng *rand.Rand, n int) []uint64 {
		return stepKeys(n, func(i int) uint64 { return 1 + uint64(i)*uint64(i)/uint64(n) })
	}},
	{"one huge jump", func(rng *rand.Rand, n int) []uint64 {
		return stepKeys(n, func(i int) uint64 {
			if i == n/2 {
				return 1 << 31
			}
			return 1
		})
	}},
	{"exponential tail", func(rng *rand.Rand, n int) []uint64 {
		return stepKeys(n, func(i int) uint64 {
			if i > n-30 {
				return 1 << 26
			}
			return 1
		})
	}},
	{"clusters", func(rng *rand.Rand, n int) []uint64 {
		return stepKeys(n, func(i int) uint64 {
			if i%1000 == 0 {
				return 1 + rng.Uint64N(1<<20)
			}
			return 1
		})
	}},
}

func stepKeys(n int, step func(i int) uint64) []uint64 {
	keys := make([]uint64, n)
	var k uint64
	for i := range keys {
		if i > 0 {
			k += step(i)
		}
		keys[i] = k
	}
	if keys[n-1] > math.MaxUint32 {
		panic("keys overflow uint32")
	}
	return keys
}

// TestInterpolationSearchMatchesBisection checks both lookups against
// sort.Search on every distribution and many sizes, at every key, around
// every key and at random points.
func TestInterpolationSearchMatchesBisection(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, d := range keyDistributions {
		for _, n := range []int{1, 2, 3, 17, 18, 100, 1000, 20000} {
			keys := d.gen(rng, n)
			ob := make([]byte, n*OffsetEntrySize)
			tb := make([]byte, n*TimeEntrySize)
			// Time keys are shifted negative and scaled so that the
			// int64 differences are exercised too.
			tsOf := func(k uint64) int64 { return int64(k)<<31 - 1<<62 }
			for i, k := range keys {
				binary.BigEndian.PutUint32(ob[i*OffsetEntrySize:], uint32(k))
				binary.BigEndian.PutUint32(ob[i*OffsetEntrySize+4:], uint32(i))
				binary.BigEndian.PutUint64(tb[i*TimeEntrySize:], uint64(tsOf(k)))
			}
			queries := []uint64{0, math.MaxUint32}
			for _, k := range keys {
				queries = append(queries, k, k+1, max(k, 1)-1)
			}
			for range 1000 {
				queries = append(queries, rng.Uint64N(keys[n-1]+2))
			}
			for _, q := range queries {
				if q > math.MaxUint32 {
					continue
				}
				want := sort.Search(n, func(i int) bool { return keys[i] > q })
				if got := countOffsetsAtMost(ob, uint32(q)); got != want {
					t.Fatalf("%s n=%d: countOffsetsAtMost(%d) = %d; want %d", d.name, n, q, got, want)
				}
				qt := tsOf(q)
				want = sort.Search(n, func(i int) bool { return tsOf(keys[i]) >= qt })
				if got := countTimestampsBelow(tb, qt); got != want {
					t.Fatalf("%s n=%d: countTimestampsBelow(%d) = %d; want %d", d.name, n, qt, got, want)
				}
			}
			for _, qt := range []int64{math.MinInt64, math.MaxInt64} {
				want := sort.Search(n, func(i int) bool { return tsOf(keys[i]) >= qt })
				if got := countTimestampsBelow(tb, qt); got != want {
					t.Fatalf("%s n=%d: countTimestampsBelow(%d) = %d; want %d", d.name, n, qt, got, want)
				}
			}
		}
	}
}
