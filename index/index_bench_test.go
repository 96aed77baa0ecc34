package index

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

const (
	// benchQueries is the number of pre-generated random lookup keys.
	benchQueries = 1 << 16
	// benchPositionStride is the gap between consecutive positions: a full
	// 10 MiB offset index over a log just under 4 GiB.
	benchPositionStride = 3000
	// benchT0 is the first timestamp of the time index benchmarks.
	benchT0 = 1_700_000_000_000
)

// benchSteps are the gaps between consecutive index keys: uniform is what a
// steady producer gives; the others are what interpolation likes least.
var benchSteps = []struct {
	name string
	step func(rng *rand.Rand, i, n int) uint32
}{
	{"uniform", func(_ *rand.Rand, _, _ int) uint32 { return 4 }},
	{"random-gaps", func(rng *rand.Rand, _, _ int) uint32 { return 1 + rng.Uint32N(7) }},
	{"two-phase", func(_ *rand.Rand, i, n int) uint32 { // record size changes mid-segment
		if i < n/2 {
			return 1
		}
		return 5
	}},
}

// BenchmarkIndexLookup looks up random offsets in a full 10 MiB offset index
// (1,310,720 entries). Baselines: plain bisection over the same mapping, and
// slices.BinarySearch over the same keys in a Go slice.
func BenchmarkIndexLookup(b *testing.B) {
	for _, s := range benchSteps {
		x, err := OpenOffsetIndex(filepath.Join(b.TempDir(), "0.index"), 0, DefaultMaxIndexBytes, true)
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		n := x.MaxEntries()
		keys := make([]uint32, n)
		var key uint32
		for i := range n {
			if i > 0 {
				key += s.step(rng, i, n)
			}
			keys[i] = key
			if err := x.Append(key, uint32(i)*benchPositionStride); err != nil {
				b.Fatal(err)
			}
		}
		if !x.IsFull() || x.Entries() != DefaultMaxIndexBytes/OffsetEntrySize {
			b.Fatalf("index has %d entries, IsFull() = %v", x.Entries(), x.IsFull())
		}
		queries := make([]uint32, benchQueries)
		for i := range queries {
			queries[i] = rng.Uint32N(key + 1)
		}

		b.Run("keys="+s.name+"/index", func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for i := 0; b.Loop(); i++ {
				_, p, _ := x.Lookup(queries[i&(benchQueries-1)])
				sink += p
			}
			_ = sink
		})
		b.Run("keys="+s.name+"/baseline=bisect-mapping", func(b *testing.B) {
			b.ReportAllocs()
			mapped := x.file.used()
			var sink int
			for i := 0; b.Loop(); i++ {
				sink += searchOffsetKey(mapped, queries[i&(benchQueries-1)]+1)
			}
			_ = sink
		})
		b.Run("keys="+s.name+"/baseline=slices.BinarySearch", func(b *testing.B) {
			b.ReportAllocs()
			var sink int
			for i := 0; b.Loop(); i++ {
				j, _ := slices.BinarySearch(keys, queries[i&(benchQueries-1)])
				sink += j
			}
			_ = sink
		})
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimeIndexLookup looks up random timestamps in a full 10 MiB time
// index (873,813 entries, the last one written by AppendFinal).
func BenchmarkTimeIndexLookup(b *testing.B) {
	for _, s := range benchSteps {
		b.Run("ts="+s.name, func(b *testing.B) {
			x, err := OpenTimeIndex(filepath.Join(b.TempDir(), "0.timeindex"), 0, DefaultMaxIndexBytes, true)
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			rng := rand.New(rand.NewPCG(3, 4))
			n := x.MaxEntries()
			ts := int64(benchT0)
			for i := range n {
				if i > 0 {
					ts += int64(s.step(rng, i, n))
				}
				appendTs := x.Append
				if i == n-1 {
					appendTs = x.AppendFinal
				}
				if err := appendTs(ts, uint32(i)*4); err != nil {
					b.Fatal(err)
				}
			}
			if x.Entries() != DefaultMaxIndexBytes/TimeEntrySize {
				b.Fatalf("index has %d entries", x.Entries())
			}
			queries := make([]int64, benchQueries)
			for i := range queries {
				queries[i] = benchT0 + rng.Int64N(ts-benchT0+2)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var sink uint32
			for i := 0; b.Loop(); i++ {
				_, r, _ := x.Lookup(queries[i&(benchQueries-1)])
				sink += r
			}
			_ = sink
		})
	}
}
