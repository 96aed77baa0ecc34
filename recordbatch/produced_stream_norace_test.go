//go:build !race

package recordbatch

import (
	"bytes"
	"testing"
)

// TestValidateProducedCompressedAllocations: once the pools are warm, a
// compressed batch costs the same few allocations whatever its record
// count: nothing is allocated per record. Not under the race detector,
// whose sync.Pool drops a share of what is put back.
func TestValidateProducedCompressedAllocations(t *testing.T) {
	value := bytes.Repeat([]byte("event payload "), 70) // ~1 KiB
	for _, c := range streamCodecs {
		t.Run(c.name, func(t *testing.T) {
			var allocs []float64
			for _, n := range []int{10, 1000} {
				batch := wrapRecords(c.codec, c.compress(t, rawRecords(deltas(n), value)), int32(n), int32(n-1))
				if _, err := ValidateProduced(batch, DefaultDecompressLimit); err != nil {
					t.Fatal(err)
				}
				allocs = append(allocs, testing.AllocsPerRun(20, func() {
					if _, err := ValidateProduced(batch, DefaultDecompressLimit); err != nil {
						t.Fatal(err)
					}
				}))
			}
			// A garbage collection emptying the pools during a run may add
			// one on average.
			if allocs[1] > allocs[0]+1 || allocs[1] > 4 {
				t.Errorf("%v allocations for 10 records, %v for 1000: want the same few", allocs[0], allocs[1])
			}
		})
	}
}
