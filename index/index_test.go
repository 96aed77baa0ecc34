package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// crash abandons a writable index the way a killed broker does: the mapping
// goes away without Trim, leaving the zero tail of the last block allocated.
func crash(t *testing.T, f *file) {
	t.Helper()
	if err := unmap(f.mm); err != nil {
		t.Fatal(err)
	}
	f.mm = nil
	f.closed.Store(true)
	f.appendable.Store(false)
}

func openOffset(t *testing.T, path string, maxBytes int, writable bool) *OffsetIndex {
	t.Helper()
	x, err := OpenOffsetIndex(path, 100, maxBytes, writable)
	if err != nil {
		t.Fatalf("OpenOffsetIndex(%s, writable=%v): %v", path, writable, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func openTime(t *testing.T, path string, maxBytes int, writable bool) *TimeIndex {
	t.Helper()
	x, err := OpenTimeIndex(path, 100, maxBytes, writable)
	if err != nil {
		t.Fatalf("OpenTimeIndex(%s, writable=%v): %v", path, writable, err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// offsetFixture appends 10→1000, 20→2000, 30→3000, 40→4000.
func offsetFixture(t *testing.T, x *OffsetIndex) {
	t.Helper()
	for k := uint32(10); k <= 40; k += 10 {
		if err := x.Append(k, k*100); err != nil {
			t.Fatalf("Append(%d): %v", k, err)
		}
	}
}

// timeFixture appends 1000→0, 2000→5, 3000→5... with strictly increasing
// timestamps: 1000→0, 2000→5, 3000→9, 4000→12.
var timeFixtureEntries = []struct {
	ts  int64
	rel uint32
}{{1000, 0}, {2000, 5}, {3000, 9}, {4000, 12}}

func timeFixture(t *testing.T, x *TimeIndex) {
	t.Helper()
	for _, e := range timeFixtureEntries {
		if err := x.Append(e.ts, e.rel); err != nil {
			t.Fatalf("Append(%d, %d): %v", e.ts, e.rel, err)
		}
	}
}

func TestOffsetIndexLookup(t *testing.T) {
	x := openOffset(t, filepath.Join(t.TempDir(), "0.index"), DefaultMaxIndexBytes, true)
	if _, _, ok := x.Lookup(10); ok {
		t.Fatal("Lookup on an empty index found an entry")
	}
	offsetFixture(t, x)
	tests := []struct {
		name    string
		key     uint32
		wantKey uint32
		wantPos uint32
		wantOK  bool
	}{
		{"zero", 0, 0, 0, false},
		{"before first", 9, 0, 0, false},
		{"first", 10, 10, 1000, true},
		{"between first and second", 11, 10, 1000, true},
		{"just before second", 19, 10, 1000, true},
		{"second", 20, 20, 2000, true},
		{"between", 35, 30, 3000, true},
		{"last", 40, 40, 4000, true},
		{"after last", 41, 40, 4000, true},
		{"max", ^uint32(0), 40, 4000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, p, ok := x.Lookup(tt.key)
			if k != tt.wantKey || p != tt.wantPos || ok != tt.wantOK {
				t.Errorf("Lookup(%d) = %d, %d, %v; want %d, %d, %v", tt.key, k, p, ok, tt.wantKey, tt.wantPos, tt.wantOK)
			}
		})
	}
	if k, p, ok := x.LastEntry(); k != 40 || p != 4000 || !ok {
		t.Errorf("LastEntry() = %d, %d, %v", k, p, ok)
	}
	if k, p := x.Entry(1); k != 20 || p != 2000 {
		t.Errorf("Entry(1) = %d, %d", k, p)
	}
	if x.Entries() != 4 || x.SizeBytes() != 4*OffsetEntrySize {
		t.Errorf("Entries() = %d, SizeBytes() = %d", x.Entries(), x.SizeBytes())
	}
	if x.BaseOffset() != 100 {
		t.Errorf("BaseOffset() = %d", x.BaseOffset())
	}
}

func TestTimeIndexLookup(t *testing.T) {
	x := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), DefaultMaxIndexBytes, true)
	if _, _, ok := x.Lookup(5000); ok {
		t.Fatal("Lookup on an empty index found an entry")
	}
	timeFixture(t, x)
	tests := []struct {
		name   string
		ts     int64
		wantTs int64
		wantRl uint32
		wantOK bool
	}{
		{"min", -1 << 63, 0, 0, false},
		{"before first", 999, 0, 0, false},
		{"first is not strictly less", 1000, 0, 0, false},
		{"just after first", 1001, 1000, 0, true},
		{"second exact gives first", 2000, 1000, 0, true},
		{"between", 2500, 2000, 5, true},
		{"last exact gives previous", 4000, 3000, 9, true},
		{"after last", 4001, 4000, 12, true},
		{"max", 1<<63 - 1, 4000, 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, rel, ok := x.Lookup(tt.ts)
			if ts != tt.wantTs || rel != tt.wantRl || ok != tt.wantOK {
				t.Errorf("Lookup(%d) = %d, %d, %v; want %d, %d, %v", tt.ts, ts, rel, ok, tt.wantTs, tt.wantRl, tt.wantOK)
			}
		})
	}
	if ts, rel, ok := x.LastEntry(); ts != 4000 || rel != 12 || !ok {
		t.Errorf("LastEntry() = %d, %d, %v", ts, rel, ok)
	}
	if ts, rel := x.Entry(2); ts != 3000 || rel != 9 {
		t.Errorf("Entry(2) = %d, %d", ts, rel)
	}
}

func TestTimeIndexAppendNotAfterLastIsNoop(t *testing.T) {
	x := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), DefaultMaxIndexBytes, true)
	timeFixture(t, x)
	for _, ts := range []int64{4000, 3999, 0, -5} {
		if err := x.Append(ts, 12); err != nil {
			t.Errorf("Append(%d, 12) = %v; want nil (no-op)", ts, err)
		}
		if err := x.AppendFinal(ts, 13); err != nil {
			t.Errorf("AppendFinal(%d, 13) = %v; want nil (no-op)", ts, err)
		}
	}
	if x.Entries() != len(timeFixtureEntries) {
		t.Errorf("Entries() = %d; want %d", x.Entries(), len(timeFixtureEntries))
	}
	// Same relative offset, later timestamp: allowed.
	if err := x.Append(5000, 12); err != nil {
		t.Errorf("Append(5000, 12) = %v", err)
	}
}

func TestAppendRejectsOutOfOrder(t *testing.T) {
	offsetTests := []struct {
		name     string
		key, pos uint32
	}{
		{"equal key", 40, 5000},
		{"smaller key", 39, 5000},
		{"equal position", 50, 4000},
		{"smaller position", 50, 3999},
		{"both smaller", 0, 0},
	}
	x := openOffset(t, filepath.Join(t.TempDir(), "0.index"), DefaultMaxIndexBytes, true)
	offsetFixture(t, x)
	for _, tt := range offsetTests {
		t.Run("offset/"+tt.name, func(t *testing.T) {
			err := x.Append(tt.key, tt.pos)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Append(%d, %d) = %v; want ErrCorrupt", tt.key, tt.pos, err)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Path != x.Path() || ie.Op != "append" {
				t.Errorf("error %v is not an *Error for %s", err, x.Path())
			}
			if x.Entries() != 4 {
				t.Errorf("Entries() = %d after a rejected append", x.Entries())
			}
		})
	}

	ti := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), DefaultMaxIndexBytes, true)
	timeFixture(t, ti)
	for _, rel := range []uint32{11, 0} {
		if err := ti.Append(5000, rel); !errors.Is(err, ErrCorrupt) {
			t.Errorf("time Append(5000, %d) = %v; want ErrCorrupt", rel, err)
		}
		if err := ti.AppendFinal(5000, rel); !errors.Is(err, ErrCorrupt) {
			t.Errorf("time AppendFinal(5000, %d) = %v; want ErrCorrupt", rel, err)
		}
	}
}

func TestReopenAfterTrim(t *testing.T) {
	for _, writable := range []bool{false, true} {
		name := map[bool]string{false: "read-only", true: "writable"}[writable]
		t.Run("offset/"+name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.index")
			x := openOffset(t, path, 1<<20, true)
			if got := fileSize(t, path); got != 0 {
				t.Fatalf("new index of %d bytes; want 0 until an entry is appended", got)
			}
			offsetFixture(t, x)
			if got := fileSize(t, path); got != 4*OffsetEntrySize {
				t.Fatalf("index of 4 entries has %d bytes; want %d", got, 4*OffsetEntrySize)
			}
			if err := x.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := x.Trim(); err != nil {
				t.Fatal(err)
			}
			if got := fileSize(t, path); got != 4*OffsetEntrySize {
				t.Fatalf("trimmed size = %d; want %d", got, 4*OffsetEntrySize)
			}
			// Still readable through the over-long mapping; no longer writable.
			if k, _, ok := x.Lookup(45); !ok || k != 40 {
				t.Errorf("Lookup after Trim = %d, %v", k, ok)
			}
			if err := x.Append(50, 5000); !errors.Is(err, ErrReadOnly) {
				t.Errorf("Append after Trim = %v; want ErrReadOnly", err)
			}
			if !x.IsFull() || x.Writable() {
				t.Errorf("IsFull() = %v, Writable() = %v after Trim", x.IsFull(), x.Writable())
			}
			if err := x.Sync(); err != nil {
				t.Errorf("Sync after Trim: %v", err)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}

			y := openOffset(t, path, 1<<20, writable)
			if y.Entries() != 4 {
				t.Fatalf("reopened Entries() = %d; want 4", y.Entries())
			}
			for i := range 4 {
				k, p := y.Entry(i)
				if want := uint32(10 * (i + 1)); k != want || p != want*100 {
					t.Errorf("Entry(%d) = %d, %d", i, k, p)
				}
			}
			if err := y.SanityCheck(1 << 20); err != nil {
				t.Errorf("SanityCheck: %v", err)
			}
			err := y.Append(50, 5000)
			if writable && err != nil {
				t.Errorf("Append on reopened writable index: %v", err)
			}
			if !writable && !errors.Is(err, ErrReadOnly) {
				t.Errorf("Append on read-only index = %v; want ErrReadOnly", err)
			}
		})
		t.Run("time/"+name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.timeindex")
			x := openTime(t, path, 1<<20, true)
			timeFixture(t, x)
			if err := x.Close(); err != nil { // Close trims
				t.Fatal(err)
			}
			if got := fileSize(t, path); got != 4*TimeEntrySize {
				t.Fatalf("closed size = %d; want %d", got, 4*TimeEntrySize)
			}
			y := openTime(t, path, 1<<20, writable)
			if y.Entries() != 4 {
				t.Fatalf("reopened Entries() = %d; want 4", y.Entries())
			}
			if ts, rel, ok := y.Lookup(3500); !ok || ts != 3000 || rel != 9 {
				t.Errorf("Lookup(3500) = %d, %d, %v", ts, rel, ok)
			}
			if err := y.SanityCheck(12); err != nil {
				t.Errorf("SanityCheck: %v", err)
			}
			err := y.Append(5000, 20)
			if writable != (err == nil) {
				t.Errorf("Append on reopened index (writable=%v) = %v", writable, err)
			}
		})
	}
}

func TestReadOnlyEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"0.index", "0.timeindex"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	x := openOffset(t, filepath.Join(dir, "0.index"), 0, false)
	if _, _, ok := x.Lookup(5); ok || x.Entries() != 0 {
		t.Error("empty read-only offset index has entries")
	}
	if _, _, ok := x.LastEntry(); ok {
		t.Error("LastEntry on empty index")
	}
	if err := x.SanityCheck(0); err != nil {
		t.Error(err)
	}
	ti := openTime(t, filepath.Join(dir, "0.timeindex"), 0, false)
	if _, _, ok := ti.Lookup(5); ok || ti.Entries() != 0 {
		t.Error("empty read-only time index has entries")
	}
	if err := ti.Append(1, 1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append = %v; want ErrReadOnly", err)
	}
	if _, err := OpenOffsetIndex(filepath.Join(dir, "missing.index"), 0, 0, false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing read-only index = %v; want ErrNotExist", err)
	}
	if _, err := OpenOffsetIndex(filepath.Join(dir, "tiny.index"), 0, OffsetEntrySize-1, true); err == nil {
		t.Error("opening a writable index smaller than one entry succeeded")
	}
}

func TestCrashedIndexRebuild(t *testing.T) {
	t.Run("offset", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "0.index")
		x, err := OpenOffsetIndex(path, 0, 64*OffsetEntrySize, true)
		if err != nil {
			t.Fatal(err)
		}
		offsetFixture(t, x)
		if err := x.Append(50, 5000); err != nil { // a 5th entry: the file doubles to 8
			t.Fatal(err)
		}
		crash(t, &x.file)

		y := openOffset(t, path, 64*OffsetEntrySize, true)
		if y.Entries() != 8 {
			t.Fatalf("crashed index reopened with %d entries; want the 8 its file holds, 3 of them zeros", y.Entries())
		}
		err = y.SanityCheck(1 << 20)
		var ie *Error
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ie) || ie.Path != path {
			t.Fatalf("SanityCheck on crashed index = %v; want *Error(%s) wrapping ErrCorrupt", err, path)
		}
		y.Reset()
		if y.Entries() != 0 {
			t.Fatalf("Entries() after Reset = %d", y.Entries())
		}
		offsetFixture(t, y)
		if err := y.SanityCheck(1 << 20); err != nil {
			t.Fatalf("SanityCheck after rebuild: %v", err)
		}
		if err := y.Close(); err != nil {
			t.Fatal(err)
		}
		z := openOffset(t, path, 64*OffsetEntrySize, false)
		if z.Entries() != 4 || z.SanityCheck(1<<20) != nil {
			t.Fatalf("rebuilt index reopened with %d entries, SanityCheck %v", z.Entries(), z.SanityCheck(1<<20))
		}
	})
	t.Run("time", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "0.timeindex")
		x, err := OpenTimeIndex(path, 0, 64*TimeEntrySize, true)
		if err != nil {
			t.Fatal(err)
		}
		timeFixture(t, x)
		if err := x.Append(5000, 20); err != nil { // a 5th entry: the file doubles to 8
			t.Fatal(err)
		}
		crash(t, &x.file)

		y := openTime(t, path, 64*TimeEntrySize, true)
		if err := y.SanityCheck(100); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("SanityCheck on crashed index = %v; want ErrCorrupt", err)
		}
		y.Reset()
		timeFixture(t, y)
		if err := y.SanityCheck(100); err != nil {
			t.Fatalf("SanityCheck after rebuild: %v", err)
		}
	})
}

func TestSanityCheck(t *testing.T) {
	t.Run("offset position past log", func(t *testing.T) {
		x := openOffset(t, filepath.Join(t.TempDir(), "0.index"), 1024, true)
		offsetFixture(t, x)
		if err := x.SanityCheck(4001); err != nil {
			t.Errorf("SanityCheck(4001) = %v", err)
		}
		if err := x.SanityCheck(4000); !errors.Is(err, ErrCorrupt) {
			t.Errorf("SanityCheck(4000) = %v; want ErrCorrupt", err)
		}
	})
	t.Run("time offset past segment", func(t *testing.T) {
		x := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), 1024, true)
		timeFixture(t, x)
		if err := x.SanityCheck(12); err != nil {
			t.Errorf("SanityCheck(12) = %v", err)
		}
		if err := x.SanityCheck(11); !errors.Is(err, ErrCorrupt) {
			t.Errorf("SanityCheck(11) = %v; want ErrCorrupt", err)
		}
	})
	sizeTests := []struct {
		name    string
		content []byte
		wantErr bool
	}{
		{"one entry", []byte{0, 0, 0, 1, 0, 0, 0, 2}, false},
		{"torn entry", []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}, true},
		{"keys not increasing", []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3}, true},
		{"positions not increasing", []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2}, true},
	}
	for _, tt := range sizeTests {
		t.Run("offset file/"+tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.index")
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			x := openOffset(t, path, 0, false)
			if err := x.SanityCheck(100); (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Errorf("SanityCheck = %v; want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestOffsetIndexTruncate(t *testing.T) {
	tests := []struct {
		name     string
		truncate func(x *OffsetIndex)
		want     int // entries left of 10→1000 20→2000 30→3000 40→4000
	}{
		{"to 0", func(x *OffsetIndex) { x.TruncateTo(0) }, 0},
		{"to first key", func(x *OffsetIndex) { x.TruncateTo(10) }, 0},
		{"just after first", func(x *OffsetIndex) { x.TruncateTo(11) }, 1},
		{"to third key", func(x *OffsetIndex) { x.TruncateTo(30) }, 2},
		{"past last", func(x *OffsetIndex) { x.TruncateTo(41) }, 4},
		{"to last key", func(x *OffsetIndex) { x.TruncateTo(40) }, 3},
		{"position 0", func(x *OffsetIndex) { x.TruncateToPosition(0) }, 0},
		{"position of second", func(x *OffsetIndex) { x.TruncateToPosition(2000) }, 1},
		{"position inside second", func(x *OffsetIndex) { x.TruncateToPosition(2001) }, 2},
		{"position past last", func(x *OffsetIndex) { x.TruncateToPosition(4001) }, 4},
		{"reset", func(x *OffsetIndex) { x.Reset() }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.index")
			x := openOffset(t, path, 1024, true)
			offsetFixture(t, x)
			tt.truncate(x)
			if x.Entries() != tt.want {
				t.Fatalf("Entries() = %d; want %d", x.Entries(), tt.want)
			}
			// The freed slots are reused, and the next key may be any key
			// above the kept ones.
			next := uint32(10*tt.want + 5)
			if err := x.Append(next, next*100); err != nil {
				t.Fatalf("Append(%d) after truncation: %v", next, err)
			}
			if k, _, ok := x.LastEntry(); !ok || k != next {
				t.Errorf("LastEntry() = %d, %v; want %d", k, ok, next)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if got := fileSize(t, path); got != int64(tt.want+1)*OffsetEntrySize {
				t.Errorf("file size after Close = %d; want %d", got, (tt.want+1)*OffsetEntrySize)
			}
		})
	}
}

func TestTimeIndexTruncate(t *testing.T) {
	tests := []struct {
		rel  uint32
		want int // entries left of 1000→0 2000→5 3000→9 4000→12
	}{{0, 0}, {1, 1}, {5, 1}, {6, 2}, {12, 3}, {13, 4}}
	for _, tt := range tests {
		x := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), 1024, true)
		timeFixture(t, x)
		x.TruncateTo(tt.rel)
		if x.Entries() != tt.want {
			t.Errorf("TruncateTo(%d): Entries() = %d; want %d", tt.rel, x.Entries(), tt.want)
		}
	}
}

func TestIndexFull(t *testing.T) {
	tests := []struct {
		maxBytes    int
		wantEntries int
	}{
		{4 * OffsetEntrySize, 4},
		{4*OffsetEntrySize + OffsetEntrySize - 1, 4}, // rounded down
		{OffsetEntrySize, 1},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "0.index")
		x := openOffset(t, path, tt.maxBytes, true)
		if x.MaxEntries() != tt.wantEntries {
			t.Errorf("maxBytes %d: MaxEntries() = %d; want %d", tt.maxBytes, x.MaxEntries(), tt.wantEntries)
		}
		for i := range tt.wantEntries {
			if x.IsFull() {
				t.Fatalf("maxBytes %d: IsFull() with %d entries", tt.maxBytes, i)
			}
			if err := x.Append(uint32(i), uint32(i)); err != nil {
				t.Fatalf("maxBytes %d: Append #%d: %v", tt.maxBytes, i, err)
			}
		}
		// Growth stops at the maximum size, not at the next block.
		if got := fileSize(t, path); got != int64(tt.wantEntries*OffsetEntrySize) {
			t.Errorf("maxBytes %d: full file of %d bytes; want %d", tt.maxBytes, got, tt.wantEntries*OffsetEntrySize)
		}
		if !x.IsFull() {
			t.Errorf("maxBytes %d: not IsFull() with %d entries", tt.maxBytes, tt.wantEntries)
		}
		if err := x.Append(1000, 1000); !errors.Is(err, ErrIndexFull) {
			t.Errorf("maxBytes %d: Append on full index = %v; want ErrIndexFull", tt.maxBytes, err)
		}
		if x.MaxEntries() != tt.wantEntries {
			t.Errorf("MaxEntries() = %d; want %d", x.MaxEntries(), tt.wantEntries)
		}
	}
}

func TestTimeIndexAppendFinalUsesReservedSlot(t *testing.T) {
	const slots = 4
	x := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), slots*TimeEntrySize, true)
	for i := range slots - 1 {
		if x.IsFull() {
			t.Fatalf("IsFull() with %d of %d slots used", i, slots)
		}
		if err := x.Append(int64(i+1)*10, uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !x.IsFull() {
		t.Fatal("IsFull() is false with only the reserved slot left")
	}
	if err := x.Append(100, 10); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("Append into reserved slot = %v; want ErrIndexFull", err)
	}
	if err := x.AppendFinal(100, 10); err != nil {
		t.Fatalf("AppendFinal: %v", err)
	}
	if ts, rel, ok := x.LastEntry(); !ok || ts != 100 || rel != 10 || x.Entries() != slots {
		t.Fatalf("LastEntry() = %d, %d, %v with %d entries", ts, rel, ok, x.Entries())
	}
	if err := x.AppendFinal(200, 11); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("second AppendFinal = %v; want ErrIndexFull", err)
	}
}

func TestGrowWithoutFallocate(t *testing.T) {
	saved := fallocate
	t.Cleanup(func() { fallocate = saved })
	fallocate = func(int, int64, int64) error { return errors.ErrUnsupported }

	path := filepath.Join(t.TempDir(), "0.index")
	x := openOffset(t, path, 200<<10, true)
	offsetFixture(t, x)
	// The zeros written instead allocate the block: no hole behind it.
	if size, alloc := fileSize(t, path), allocatedSize(t, path); size != 4*OffsetEntrySize || alloc < size {
		t.Fatalf("size %d with %d bytes allocated; want %d, all allocated", size, alloc, 4*OffsetEntrySize)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y := openOffset(t, path, 200<<10, true)
	if y.Entries() != 4 || y.SanityCheck(1<<20) != nil {
		t.Fatalf("reopened with %d entries, SanityCheck %v", y.Entries(), y.SanityCheck(1<<20))
	}
	// Growing again from the trimmed size must not touch the entries.
	for i := range uint32(1000) {
		if err := y.Append(50+i, 5000+i); err != nil {
			t.Fatal(err)
		}
	}
	if err := y.SanityCheck(1 << 20); err != nil || y.Entries() != 1004 {
		t.Fatalf("after growing: %d entries, SanityCheck %v", y.Entries(), err)
	}
	if k, p := y.Entry(3); k != 40 || p != 4000 {
		t.Errorf("Entry(3) = %d, %d after growing; want 40, 4000", k, p)
	}
}

// allocatedSize is the disk allocated to path (st_blocks * 512).
func allocatedSize(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestWritableIndexAllocatesAsItFills: a writable index takes no disk until
// its first entry, then grows to what it needs and doubles from there, by
// steps of at most 256 KiB (every byte of the file allocated, no hole a
// store could hit), never past its maximum size.
func TestWritableIndexAllocatesAsItFills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.index")
	const maxBytes = 1 << 20
	x := openOffset(t, path, maxBytes, true)
	if size, alloc := fileSize(t, path), allocatedSize(t, path); size != 0 || alloc != 0 {
		t.Fatalf("empty index: %d bytes, %d allocated; want none", size, alloc)
	}
	if x.MaxEntries() != maxBytes/OffsetEntrySize {
		t.Fatalf("MaxEntries() = %d; want %d", x.MaxEntries(), maxBytes/OffsetEntrySize)
	}
	sizes := map[int64]bool{}
	for i := range uint32(maxBytes / OffsetEntrySize) {
		if err := x.Append(i, i); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		size := fileSize(t, path)
		if size < int64(x.Entries())*OffsetEntrySize || size > maxBytes {
			t.Fatalf("after %d entries the file has %d bytes", x.Entries(), size)
		}
		sizes[size] = true
	}
	if size, alloc := fileSize(t, path), allocatedSize(t, path); size != maxBytes || alloc < size {
		t.Fatalf("full index: %d bytes, %d allocated; want %d, all allocated", size, alloc, maxBytes)
	}
	for _, want := range []int64{8, 16, 4 << 10, 8 << 10, 256 << 10, 512 << 10} {
		if !sizes[want] {
			t.Errorf("the file never had %d bytes (sizes seen: %v)", want, sizes)
		}
	}
	if err := x.Append(maxBytes, maxBytes); !errors.Is(err, ErrIndexFull) {
		t.Errorf("Append past the maximum size = %v; want ErrIndexFull", err)
	}
	if len(sizes) > 20 {
		t.Errorf("the file grew %d times; want blocks that double", len(sizes))
	}
}

// TestIndexHoldsNoFileDescriptor: open indexes, writable or not, keep no
// file descriptor (the mapping holds the file).
func TestIndexHoldsNoFileDescriptor(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	dir := t.TempDir()
	before := fds()
	for i := range 50 {
		x := openOffset(t, filepath.Join(dir, fmt.Sprint(i, ".index")), 1<<20, true)
		offsetFixture(t, x)
		ti := openTime(t, filepath.Join(dir, fmt.Sprint(i, ".timeindex")), 1<<20, true)
		timeFixture(t, ti)
		if err := ti.Trim(); err != nil {
			t.Fatal(err)
		}
		openTime(t, filepath.Join(dir, fmt.Sprint(i, ".timeindex")), 0, false)
	}
	if after := fds(); after > before {
		t.Errorf("150 open indexes hold %d file descriptors; want none", after-before)
	}
}

// TestTrimLeavesReplacedFileAlone: an index whose file was deleted and
// replaced by a new one at the same path (a segment created again at the
// same base offset) never trims or grows the new file.
func TestTrimLeavesReplacedFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.index")
	old := openOffset(t, path, 1<<20, true)
	offsetFixture(t, old)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	x := openOffset(t, path, 1<<20, true)
	offsetFixture(t, x)
	if err := old.Sync(); err != nil {
		t.Errorf("Sync of the deleted index: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Errorf("Close of the deleted index: %v", err)
	}
	if got := fileSize(t, path); got != 4*OffsetEntrySize {
		t.Fatalf("the new index has %d bytes after the old one closed; want %d", got, 4*OffsetEntrySize)
	}
	if err := x.Append(50, 5000); err != nil {
		t.Fatal(err)
	}
	if k, p, ok := x.LastEntry(); !ok || k != 50 || p != 5000 {
		t.Errorf("LastEntry() = %d, %d, %v", k, p, ok)
	}
}

func TestClosed(t *testing.T) {
	x := openOffset(t, filepath.Join(t.TempDir(), "0.index"), 1024, true)
	offsetFixture(t, x)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := x.Append(50, 5000); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v; want ErrClosed", err)
	}
	if err := x.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v; want ErrClosed", err)
	}
	if _, _, ok := x.Lookup(40); ok {
		t.Error("Lookup after Close found an entry")
	}
}

func TestLookupAllocs(t *testing.T) {
	x := openOffset(t, filepath.Join(t.TempDir(), "0.index"), 1<<16, true)
	ti := openTime(t, filepath.Join(t.TempDir(), "0.timeindex"), 1<<16, true)
	for i := range uint32(1000) {
		if err := x.Append(i*3, i*4096); err != nil {
			t.Fatal(err)
		}
		if err := ti.Append(int64(i)*7, i*3); err != nil {
			t.Fatal(err)
		}
	}
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() {
		_, p, _ := x.Lookup(1501)
		_, r, _ := ti.Lookup(3501)
		sink += p + r
	}); n != 0 {
		t.Errorf("Lookup allocates %v times per call", n)
	}
	_ = sink
}
