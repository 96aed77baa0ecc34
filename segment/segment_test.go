package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// appendN appends n batches of records records each (value size vsize) and
// returns copies of the batches as written.
func appendN(t *testing.T, s *Segment, n, records, vsize int, ts int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := recordbatch.Build(records, vsize, ts+int64(i*records))
		recordbatch.SetBaseOffset(b, s.NextOffset())
		if err := s.Append(b); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out
}

func TestFileNames(t *testing.T) {
	tests := []struct {
		base int64
		suf  string
		want string
	}{
		{0, LogSuffix, "00000000000000000000.log"},
		{368769, IndexSuffix, "00000000000000368769.index"},
		{1<<63 - 1, TimeIndexSuffix, "09223372036854775807.timeindex"},
	}
	for _, tt := range tests {
		got := FileName(tt.base, tt.suf)
		if got != tt.want {
			t.Errorf("FileName(%d, %q) = %q, want %q", tt.base, tt.suf, got, tt.want)
		}
		base, suf, ok := ParseFileName(got)
		if !ok || base != tt.base || suf != tt.suf {
			t.Errorf("ParseFileName(%q) = %d %q %v", got, base, suf, ok)
		}
	}
	for _, bad := range []string{"0.log", "00000000000000000000.txt", "0000000000000000000a.log", "recovery-checkpoint", "-0000000000000000001.log"} {
		if _, _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestAppendReadEveryOffset(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, 100, Config{IndexIntervalBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batches := appendN(t, s, 50, 5, 200, 1000)
	if s.NextOffset() != 100+50*5 {
		t.Fatalf("NextOffset = %d", s.NextOffset())
	}
	if s.offIdx.Entries() == 0 {
		t.Fatal("no sparse index entries written")
	}
	for off := int64(100); off < s.NextOffset(); off++ {
		data, first, err := s.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		i := int(off-100) / 5
		if first != 100+int64(i*5) || !bytes.Equal(data, batches[i]) {
			t.Fatalf("Read(%d) = batch at %d (%d bytes), want batch %d", off, first, len(data), i)
		}
	}
	if data, _, _ := s.Read(s.NextOffset(), 1<<20); data != nil {
		t.Fatalf("Read at end returned %d bytes", len(data))
	}
}

func TestReadMaxBytes(t *testing.T) {
	s, err := Create(t.TempDir(), 0, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batches := appendN(t, s, 10, 1, 1000, 0)
	size := len(batches[0])
	tests := []struct {
		maxBytes, want int
	}{
		{0, 1},            // the first batch always comes whole
		{size - 1, 1},     // even when larger than maxBytes
		{size, 1},         // exactly one
		{2*size - 1, 1},   // never a partial second batch
		{2 * size, 2},     // exactly two
		{100 * size, 10},  // everything there is
		{1 << 30, 10},     // no overflow
		{3*size + 17, 3},  // whole batches only
		{size * 10, 10},   // exactly all
		{size*10 + 1, 10}, // past the end
	}
	for _, tt := range tests {
		data, _, err := s.Read(0, tt.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != tt.want*size {
			t.Errorf("Read(0, %d) = %d bytes, want %d batches (%d bytes)", tt.maxBytes, len(data), tt.want, tt.want*size)
		}
	}
}

func TestAppendRejectsGapsAndOverlaps(t *testing.T) {
	s, err := Create(t.TempDir(), 0, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, 1, 3, 10, 0)
	for _, base := range []int64{0, 2, 4, 100} {
		b := recordbatch.Build(1, 10, 0)
		recordbatch.SetBaseOffset(b, base)
		if err := s.Append(b); err == nil {
			t.Errorf("append at base %d after next offset 3 accepted", base)
		}
	}
	if s.NextOffset() != 3 || s.Size() != int64(len(recordbatch.Build(3, 10, 0))) {
		t.Fatalf("rejected appends changed the segment: next %d size %d", s.NextOffset(), s.Size())
	}
}

// TestMappingGrowsAndOldViewsStayValid makes the mapping remap many times
// while a reader holds a view taken before the first remap.
func TestMappingGrowsAndOldViewsStayValid(t *testing.T) {
	s, err := Create(t.TempDir(), 0, Config{InitialMapBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := appendN(t, s, 1, 1, 100, 0)[0]
	if !s.Acquire() {
		t.Fatal("acquire failed")
	}
	view, _, err := s.Read(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 200, 4, 1000, 10) // ~800 KB: several remaps
	// 4 KiB doubling to ~800 KB is 9 mappings; page-by-page growth would
	// make hundreds (each kept until the segment is freed).
	if len(s.maps) < 3 || len(s.maps) > 12 {
		t.Fatalf("expected a few geometrically grown mappings, got %d", len(s.maps))
	}
	if !bytes.Equal(view, first) {
		t.Fatal("view taken before remaps changed")
	}
	s.Release()
	data, _, err := s.Read(s.NextOffset()-1, 1)
	if err != nil || len(data) == 0 {
		t.Fatalf("read last batch: %v", err)
	}
	if _, err := recordbatch.Validate(data); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteWhileViewHeld(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, 0, Config{})
	if err != nil {
		t.Fatal(err)
	}
	batches := appendN(t, s, 20, 10, 500, 0)
	if !s.Acquire() {
		t.Fatal("acquire failed")
	}
	view, _, err := s.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName(0, LogSuffix))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log file still there after Delete: %v", err)
	}
	if s.Acquire() != true {
		// The reader's reference keeps the segment alive, so a new Acquire
		// still succeeds until the count reaches zero.
		t.Fatal("acquire failed while a reference is held")
	}
	s.Release()
	if !bytes.Equal(view, bytes.Join(batches, nil)) {
		t.Fatal("view changed after Delete")
	}
	s.Release()
	if s.Acquire() {
		t.Fatal("acquire succeeded after the last reference was released")
	}
}

func TestSealReopenLoad(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, 7, Config{IndexIntervalBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	batches := appendN(t, s, 30, 2, 300, 5000)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(batches[0]); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append to sealed segment: %v", err)
	}
	wantNext, wantMax := s.NextOffset(), s.MaxTimestamp()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, writable := range []bool{false, true} {
		r, err := Open(dir, 7, Config{IndexIntervalBytes: 512}, writable)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Load(); err != nil {
			t.Fatalf("Load(writable=%v): %v", writable, err)
		}
		if r.NextOffset() != wantNext || r.MaxTimestamp() != wantMax {
			t.Fatalf("reopened: next %d max ts %d, want %d %d", r.NextOffset(), r.MaxTimestamp(), wantNext, wantMax)
		}
		for i, b := range batches {
			data, _, err := r.Read(7+int64(2*i)+1, 1)
			if err != nil || !bytes.Equal(data, b) {
				t.Fatalf("batch %d after reopen: %v", i, err)
			}
		}
		if writable {
			more := appendN(t, r, 3, 2, 300, 9000)
			data, _, _ := r.Read(wantNext, 1<<20)
			if !bytes.Equal(data, bytes.Join(more, nil)) {
				t.Fatal("appends after reopen do not read back")
			}
		}
		r.Close()
	}
}

func TestFindOffsetByTimestamp(t *testing.T) {
	s, err := Create(t.TempDir(), 0, Config{IndexIntervalBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Batch i holds offsets 4i..4i+3 with timestamps 1000+10i .. +3.
	for i := 0; i < 100; i++ {
		b := recordbatch.Build(4, 10, 1000+int64(10*i))
		recordbatch.SetBaseOffset(b, s.NextOffset())
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ts, start, want int64
		ok              bool
	}{
		{0, 0, 0, true},
		{1000, 0, 0, true},
		{1003, 0, 3, true},   // the record, not the batch: 4th record of batch 0
		{1004, 0, 4, true},   // between batches: first record of the next batch
		{1500, 0, 200, true}, //
		{1993, 0, 399, true}, // the log's last record
		{1994, 0, 0, false},
		{1000, 50, 50, true}, // never before the start offset
	}
	for _, tt := range tests {
		off, _, ok, err := s.FindOffsetByTimestamp(tt.ts, tt.start)
		if err != nil || ok != tt.ok || (ok && off != tt.want) {
			t.Errorf("FindOffsetByTimestamp(%d, %d) = %d %v %v, want %d %v", tt.ts, tt.start, off, ok, err, tt.want, tt.ok)
		}
	}
}

// faultFile fails writes after writing half, to check the rollback.
type faultFile struct {
	*os.File
	fail bool
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fail {
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, errNoSpace
	}
	return f.File.WriteAt(p, off)
}

var errNoSpace = os.NewSyscallError("pwrite", syscall.ENOSPC)

func TestFailedWriteRollsBack(t *testing.T) {
	var ff *faultFile
	cfg := Config{WrapFile: func(_ string, f *os.File) File { ff = &faultFile{File: f}; return ff }}
	dir := t.TempDir()
	s, err := Create(dir, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := appendN(t, s, 3, 2, 100, 0)
	ff.fail = true
	b := recordbatch.Build(2, 100, 0)
	recordbatch.SetBaseOffset(b, s.NextOffset())
	err = s.Append(b)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append with short write: %v, want ErrDiskFull", err)
	}
	fi, _ := os.Stat(s.Path())
	if fi.Size() != int64(len(bytes.Join(good, nil))) || s.Size() != fi.Size() || s.NextOffset() != 6 {
		t.Fatalf("after failed append: file %d bytes, size %d, next %d", fi.Size(), s.Size(), s.NextOffset())
	}
	ff.fail = false
	if err := s.Append(b); err != nil {
		t.Fatalf("append after the fault cleared: %v", err)
	}
}

func TestShrinkMapping(t *testing.T) {
	s, err := Create(t.TempDir(), 0, Config{InitialMapBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batches := appendN(t, s, 10, 3, 500, 0)
	if err := s.ShrinkMapping(); err == nil {
		t.Fatal("ShrinkMapping on an active segment succeeded")
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.ShrinkMapping(); err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	if want := (int(s.Size()) + page - 1) / page * page; len(s.maps) != 1 || len(*s.data.Load()) != want {
		t.Fatalf("after shrink: %d mappings, %d bytes mapped, want 1 of %d", len(s.maps), len(*s.data.Load()), want)
	}
	data, _, err := s.Read(0, 1<<20)
	if err != nil || !bytes.Equal(data, bytes.Join(batches, nil)) {
		t.Fatalf("read after shrink: %v", err)
	}
	if err := s.ShrinkMapping(); err != nil || len(s.maps) != 1 {
		t.Fatalf("second shrink: %v, %d mappings", err, len(s.maps))
	}
}
