//go:build !race

// The race detector's instrumentation allocates, so allocation counts are
// only meaningful without it.

package log_test

import (
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestAppendReadZeroAlloc holds the hot paths to zero heap allocations: an
// Append of a 16 KiB batch (no roll, no remap: those are amortised) and a
// 1 MiB Read plus Release, at the log start and in the middle of the log
// (through the offset index).
func TestAppendReadZeroAlloc(t *testing.T) {
	l, err := log.Open(t.TempDir(), benchConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := recordbatch.BuildSized(16<<10, benchTs)
	for range 256 { // 4 MiB: enough for several index entries and 1 MiB reads
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}

	if n := testing.AllocsPerRun(100, func() {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append of a 16 KiB batch: %v allocs, want 0", n)
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
			t.Errorf("Read(%d, 1 MiB) + Release: %v allocs, want 0", offset, n)
		}
	}
}
