package index

import (
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentAppendLookup has one writer append 100k entries to each index
// while four readers look up random keys. Entries follow fixed formulas
// (offset index: key 3i → position 4096·key; time index: ts 1000+5i → rel
// 3i), so every answer can be checked exactly against the entry count the
// reader saw before its lookup: entries below that count must all be visible
// and whole.
func TestConcurrentAppendLookup(t *testing.T) {
	const (
		entries = 100_000
		readers = 4
		stride  = 3
	)
	dir := t.TempDir()
	ox := openOffset(t, filepath.Join(dir, "0.index"), DefaultMaxIndexBytes, true)
	tx := openTime(t, filepath.Join(dir, "0.timeindex"), DefaultMaxIndexBytes, true)

	var done atomic.Bool
	var wg, started sync.WaitGroup
	started.Add(readers)
	errs := make(chan string, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			lookups := 0
			for !done.Load() || lookups < 1000 {
				lookups++
				if n := ox.Entries(); n > 0 {
					maxKey := uint32(stride * (n - 1))
					q := rng.Uint32N(maxKey + stride)
					k, p, ok := ox.Lookup(q)
					want := min(q/stride*stride, maxKey)
					// Entries above n may have appeared since; they
					// can only move the answer up, never break it.
					if !ok || k < want || k > q || k%stride != 0 || p != 4096*k {
						errs <- "offset index: inconsistent lookup"
						return
					}
					if lk, lp, ok := ox.LastEntry(); !ok || lk < maxKey || lp != 4096*lk {
						errs <- "offset index: inconsistent last entry"
						return
					}
				}
				if n := tx.Entries(); n > 0 {
					maxTs := int64(1000 + 5*(n-1))
					q := 1001 + rng.Int64N(maxTs-1000+5)
					ts, rel, ok := tx.Lookup(q)
					want := 1000 + (q-1001)/5*5
					want = min(want, maxTs)
					if !ok || ts < want || ts >= q || (ts-1000)%5 != 0 || int64(rel) != (ts-1000)/5*stride {
						errs <- "time index: inconsistent lookup"
						return
					}
				}
			}
		}()
	}

	started.Wait() // readers run throughout the appends
	for i := range uint32(entries) {
		if err := ox.Append(stride*i, 4096*stride*i); err != nil {
			t.Fatal(err)
		}
		if err := tx.Append(1000+5*int64(i), stride*i); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if ox.Entries() != entries || tx.Entries() != entries {
		t.Errorf("Entries() = %d, %d; want %d", ox.Entries(), tx.Entries(), entries)
	}
}
