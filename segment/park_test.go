package segment

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// mappingsOf counts this process's memory mappings of files whose path
// starts with prefix.
func mappingsOf(t *testing.T, prefix string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '/'); i >= 0 && strings.HasPrefix(line[i:], prefix) {
			n++
		}
	}
	return n
}

// sealedSegment makes a sealed, flushed segment of 30 batches in dir.
func sealedSegment(t *testing.T, dir string, base int64, cache *Cache) (*Segment, [][]byte) {
	t.Helper()
	s, err := Create(dir, base, Config{IndexIntervalBytes: 512, InitialMapBytes: 1 << 20, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, s, 30, 10, 100, 1000)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	return s, want
}

// TestParkUnmapsAndAcquireMapsAgain: a parked segment holds no mapping;
// Acquire maps it again and every batch reads as before. Park refuses a
// segment a reader holds, and Close and Delete of a parked segment work.
func TestParkUnmapsAndAcquireMapsAgain(t *testing.T) {
	dir := t.TempDir()
	s, want := sealedSegment(t, dir, 0, nil)
	if mappingsOf(t, dir) == 0 {
		t.Fatal("the sealed segment has no mapping before Park")
	}
	if !s.Park() {
		t.Fatal("Park of a sealed, flushed, unread segment refused")
	}
	if n := mappingsOf(t, dir); n != 0 {
		t.Errorf("parked segment has %d mappings, want 0", n)
	}
	if s.Park() || !s.Parked() {
		t.Error("second Park succeeded, or the segment is not parked")
	}
	checkBatches(t, s, want) // Acquire maps it again
	if s.Parked() || mappingsOf(t, dir) == 0 {
		t.Error("Acquire did not map the parked segment again")
	}
	if !s.Acquire() {
		t.Fatal("Acquire failed")
	}
	if s.Park() {
		t.Error("Park of a segment a reader holds succeeded")
	}
	s.Release()
	if !s.Park() {
		t.Fatal("Park after the reader released refused")
	}
	if err := s.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := s.AcquireErr(); !errors.Is(err, ErrClosed) {
		t.Errorf("AcquireErr of a deleted parked segment = %v, want ErrClosed", err)
	}

	active, err := Create(dir, 1000, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer active.Close()
	if active.Park() {
		t.Error("Park of the active segment succeeded")
	}
}

// TestCacheBoundsMappedSegments: with a cache of 3, at most 3 of 10 sealed
// segments stay mapped, while concurrent readers read all of them.
func TestCacheBoundsMappedSegments(t *testing.T) {
	dir := t.TempDir()
	cache := NewCache(3)
	var segs []*Segment
	var wants [][][]byte
	for i := range 10 {
		s, want := sealedSegment(t, dir, int64(i)*1000, cache)
		defer s.Close()
		cache.Add(s)
		segs, wants = append(segs, s), append(wants, want)
	}
	if n := cache.Len(); n > 3 {
		t.Errorf("cache holds %d segments, want at most 3", n)
	}
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				i := (r*7 + round*3) % len(segs)
				checkBatches(t, segs[i], wants[i])
			}
		}()
	}
	wg.Wait()
	if n := cache.Len(); n > 3 {
		t.Errorf("after the reads the cache holds %d segments, want at most 3", n)
	}
	// Each mapped segment has three mappings (.log and both indexes).
	if n := mappingsOf(t, dir); n > 3*3 {
		t.Errorf("%d mappings of 10 sealed segments with a cache of 3, want at most 9", n)
	}
}

// TestCacheTrimParksSegmentsFlushedAfterTheirAdd: the cache takes a
// segment when it is sealed, before it is flushed, and cannot park it
// then; once flushed, Trim parks it, down to the capacity, however many
// segments that cannot be parked yet (not flushed) lie in the ring
// between them and however recently they were read.
func TestCacheTrimParksSegmentsFlushedAfterTheirAdd(t *testing.T) {
	dir := t.TempDir()
	const capacity, n = 2, 12
	cache := NewCache(capacity)
	var segs []*Segment
	var wants [][][]byte
	for i := range n {
		s, err := Create(dir, int64(i)*1000, Config{IndexIntervalBytes: 512, InitialMapBytes: 1 << 20, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wants = append(wants, appendN(t, s, 30, 10, 100, 1000))
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		cache.Add(s)
		segs = append(segs, s)
	}
	if got := cache.Len(); got != n {
		t.Fatalf("cache holds %d unflushed segments, want all %d (none can be parked)", got, n)
	}
	// Every other segment is flushed, then read (marked used).
	for i := 0; i < n; i += 2 {
		if err := segs[i].Sync(); err != nil {
			t.Fatal(err)
		}
		checkBatches(t, segs[i], wants[i])
	}
	cache.Trim()
	if got := cache.Len(); got != n/2 {
		t.Errorf("after Trim the cache holds %d segments, want the %d not flushed", got, n/2)
	}
	for i, s := range segs {
		if want := i%2 == 0; s.Parked() != want {
			t.Errorf("segment %d (flushed %v): parked %v", i, want, s.Parked())
		}
	}
	for i := 1; i < n; i += 2 {
		if err := segs[i].Sync(); err != nil {
			t.Fatal(err)
		}
	}
	cache.Trim()
	if got := cache.Len(); got != capacity {
		t.Errorf("once every segment is flushed, Trim leaves %d mapped, want the capacity %d", got, capacity)
	}
	if got := mappingsOf(t, dir); got > 3*capacity {
		t.Errorf("%d mappings, want at most %d (three for each segment the cache keeps)", got, 3*capacity)
	}
	for i, s := range segs {
		checkBatches(t, s, wants[i])
	}
}

// TestParkKeepsAReplacedSegmentsView: once the owner has closed or
// deleted a segment (retention, a cleaner swap, a truncation), the one
// reference left is a reader's: Park must not unmap its view.
func TestParkKeepsAReplacedSegmentsView(t *testing.T) {
	for _, del := range []bool{false, true} {
		dir := t.TempDir()
		s, want := sealedSegment(t, dir, 0, nil)
		if err := s.AcquireErr(); err != nil {
			t.Fatal(err)
		}
		data, _, err := s.Read(0, 1<<20)
		if err != nil || len(data) == 0 {
			t.Fatalf("read: %d bytes, %v", len(data), err)
		}
		if del {
			err = s.Delete()
		} else {
			err = s.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.Park() {
			t.Fatalf("Park unmapped a segment a reader holds after its owner let go (delete %v)", del)
		}
		if string(data[:len(want[0])]) != string(want[0]) { // faults if unmapped
			t.Fatal("the reader's view changed")
		}
		s.Release()
		if n := mappingsOf(t, dir); n != 0 {
			t.Errorf("%d mappings left after the last release (delete %v)", n, del)
		}
	}
}
