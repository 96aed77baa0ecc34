package segment

import (
	"bytes"
	"os"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestSealedSegmentHoldsNoFileDescriptor: an active segment holds one file
// descriptor (its .log's; the indexes hold none), a sealed one none once
// Sync has flushed it, and one opened read-only none at all, while every
// batch stays readable through the mapping, ShrinkMapping included.
func TestSealedSegmentHoldsNoFileDescriptor(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	s, err := Create(dir, 0, Config{IndexIntervalBytes: 512, InitialMapBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := appendN(t, s, 20, 10, 100, 1000)
	if got := openFDs(t) - before; got != 1 {
		t.Errorf("active segment holds %d descriptors, want 1", got)
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - before; got != 0 {
		t.Errorf("sealed, flushed segment holds %d descriptors, want 0", got)
	}
	if err := s.Sync(); err != nil {
		t.Errorf("Sync of a segment without descriptor: %v", err)
	}
	if !s.Oversized() {
		t.Fatal("the sealed segment's mapping is not oversized: ShrinkMapping untested")
	}
	if err := s.ShrinkMapping(); err != nil {
		t.Fatalf("ShrinkMapping without a descriptor: %v", err)
	}
	checkBatches(t, s, want)

	r, err := Open(dir, 0, Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Load(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - before; got != 0 {
		t.Errorf("segment opened read-only holds %d descriptors, want 0", got)
	}
	checkBatches(t, r, want)
}

// checkBatches reads every batch of s and compares it with want.
func checkBatches(t *testing.T, s *Segment, want [][]byte) {
	t.Helper()
	if !s.Acquire() {
		t.Fatal("Acquire failed")
	}
	defer s.Release()
	off := s.BaseOffset()
	for i, w := range want {
		data, _, err := s.Read(off, len(w))
		if err != nil || !bytes.Equal(data, w) {
			t.Fatalf("batch %d at offset %d: %d bytes, %v; want the %d bytes appended", i, off, len(data), err, len(w))
		}
		off += 10
	}
}
