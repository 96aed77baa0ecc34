//go:build !race

// The race detector's instrumentation allocates, so allocation counts are
// only meaningful without it.

package log_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

const (
	// allocFillBytes is how far TestAppendReadZeroAlloc fills the first
	// segment before measuring: past the 64 MiB that segment.Open used to
	// reserve, where the old page-by-page remapping started.
	allocFillBytes = 80 << 20
	// allocWarmBytes is the part of the fill appended before counting
	// mallocs (the first appends touch fresh index pages, nothing else).
	allocWarmBytes = 4 << 20
)

// TestAppendReadZeroAlloc holds the hot paths to zero heap allocations: an
// Append of a 16 KiB batch and a 1 MiB Read plus Release, at the log start
// and in the middle of the log (through the offset index), with the default
// 1 GiB segment filled past 64 MiB.
//
// It also pins down the fix for the page-by-page remapping of the active
// segment: testing.AllocsPerRun divides with integer division, so growth
// amortised below one allocation per op reads as 0. The fill is therefore
// counted as a whole with runtime.MemStats, and the mappings of the segment
// file are counted in /proc/self/maps.
func TestAppendReadZeroAlloc(t *testing.T) {
	dir := t.TempDir()
	l, err := log.Open(dir, benchConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := recordbatch.BuildSized(16<<10, benchTs)
	appendBytes := func(n int) {
		for range n / len(batch) {
			if _, err := l.Append(batch); err != nil {
				t.Fatal(err)
			}
		}
	}

	appendBytes(allocWarmBytes)
	waitQuiet(t) // the counts below are the whole process's
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	appendBytes(allocFillBytes - allocWarmBytes)
	runtime.ReadMemStats(&after)
	appends := (allocFillBytes - allocWarmBytes) / len(batch)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Errorf("%d appends of 16 KiB (log %d → %d MiB): %d mallocs, %d bytes in total, want 0 (%s)",
			appends, allocWarmBytes>>20, allocFillBytes>>20, n, after.TotalAlloc-before.TotalAlloc, goroutinesNow())
	}
	if l.Size() < allocFillBytes-int64(len(batch)) {
		t.Fatalf("log holds %d bytes, want about %d", l.Size(), allocFillBytes)
	}
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("%d segments, want 1 (no roll below the default segment.bytes)", n)
	}

	segPath := filepath.Join(dir, fmt.Sprintf("%020d.log", 0))
	if n, err := countMappings(segPath); err != nil {
		t.Logf("not counting mappings: %v", err)
	} else if n != 1 {
		t.Errorf("%s is mapped %d times after %d MiB of appends, want 1 (reserved up front)", segPath, n, allocFillBytes>>20)
	}

	if n := testing.AllocsPerRun(100, func() {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append of a 16 KiB batch: %v allocs, want 0 (%s)", n, goroutinesNow())
	}

	mid := l.NextOffset() / 2
	for _, offset := range []int64{0, mid} {
		if n := testing.AllocsPerRun(100, func() {
			bs, err := l.Read(offset, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs.Data) == 0 {
				t.Fatalf("Read(%d) returned nothing", offset)
			}
			bs.Release()
		}); n != 0 {
			t.Errorf("Read(%d, 1 MiB) + Release: %v allocs, want 0 (%s)", offset, n, goroutinesNow())
		}
	}
}

// TestIdempotentAppendZeroAlloc holds the idempotent producer's hot path to
// zero allocations once its producer is known: an in-sequence Append (a
// map lookup per batch, state updated in place), a retry answered as a
// duplicate, and a plain Append of a log that tracks producers.
func TestIdempotentAppendZeroAlloc(t *testing.T) {
	l, err := log.Open(t.TempDir(), benchConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := recordbatch.BuildSized(16<<10, benchTs)
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	records := h.LastOffsetDelta + 1
	seq := int32(0)
	stamp := func(pid int64, epoch int16, s int32) {
		setProducer(batch, pid, epoch, s)
		recordbatch.SetCRC(batch)
	}
	// Several producers, so the lookup is of one among many.
	for pid := int64(100); pid < 110; pid++ {
		stamp(pid, 0, 0)
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	stamp(7, 3, seq)
	if _, err := l.Append(batch); err != nil {
		t.Fatal(err)
	}
	waitQuiet(t) // the counts below are the whole process's
	if n := testing.AllocsPerRun(100, func() {
		seq += records
		stamp(7, 3, seq)
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("idempotent Append of a 16 KiB batch: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		info, err := l.AppendBatches(batch)
		if err != nil || !info.Duplicate {
			t.Fatalf("retry: %+v, %v", info, err)
		}
	}); n != 0 {
		t.Errorf("retried idempotent Append: %v allocs, want 0", n)
	}
	stamp(-1, -1, -1)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("plain Append next to producers: %v allocs, want 0", n)
	}
}

// countMappings counts the memory mappings of path in /proc/self/maps (Linux
// only). Separate mmaps of one file at offset 0 stay separate entries.
func countMappings(path string) (int, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " "+path) {
			n++
		}
	}
	return n, sc.Err()
}
