package log_test

import (
	"runtime"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// TestRecordBytesStayOffTheHeap: record bytes live in the page cache behind
// the segment mappings, never on the Go heap, so the live heap does not grow
// with the amount of data (and GC pauses do not grow with retention). Write
// and read back 192 MiB; the live heap must grow by a small fraction of that.
//
// The growth, not the heap, is held to the bound: what the tests run before
// this one left live (the testing package's records of them, package
// state) is there before the first append and is no record's bytes; it
// took the heap to within a few hundred KiB of the bound on its own.
func TestRecordBytesStayOffTheHeap(t *testing.T) {
	const (
		total    = 192 << 20
		batch    = 64 << 10
		maxGrow  = 4 << 20 // the test's 64 KiB batch buffer and runtime overhead, not the records
		readSize = 1 << 20
	)
	if testing.Short() {
		t.Skip("writes 192 MiB; skipped with -short")
	}
	heapBefore := liveHeap()
	cfg := quietConfig()
	cfg.SegmentBytes = 32 << 20 // several segments, all of them mapped
	l := openLog(t, t.TempDir(), cfg)
	b := recordbatch.BuildSized(batch, tsBase)
	for written := 0; written < total; written += len(b) {
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	heapAfterWrite := liveHeap()
	var sum byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		r, err := l.Read(off, readSize)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(r.Data); i += 4096 {
			sum ^= r.Data[i] // fault every page in: the bytes are really read
		}
		for p := 0; p < len(r.Data); {
			h, err := recordbatch.ParseHeader(r.Data[p:])
			if err != nil {
				t.Fatal(err)
			}
			off, p = h.NextOffset(), p+h.Size()
		}
		r.Release()
	}
	heapAfterRead := liveHeap()
	t.Logf("log %d MiB in %d segments; live heap before %d KiB, after write %d KiB, after read %d KiB (xor %d)",
		l.Size()>>20, l.NumSegments(), heapBefore>>10, heapAfterWrite>>10, heapAfterRead>>10, sum)
	if l.Size() < total {
		t.Fatalf("log holds %d bytes, wrote %d", l.Size(), total)
	}
	grewWrite, grewRead := growth(heapBefore, heapAfterWrite), growth(heapBefore, heapAfterRead)
	if grewWrite > maxGrow || grewRead > maxGrow {
		t.Fatalf("live heap grew by %d / %d bytes with %d bytes of records (from %d): record bytes are on the Go heap",
			grewWrite, grewRead, total, heapBefore)
	}
}

// growth is how much the live heap grew from before to after (0 if it
// shrank: garbage of earlier tests freed meanwhile).
func growth(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	// Twice: the first GC moves sync.Pool contents (codec buffers that
	// earlier tests in the process pooled) to the victim cache, the
	// second frees them; they are not record bytes.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
