package log_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Helpers shared by the log_test files of this package (retention, faults,
// disk full, concurrency, manager).

// tsBase is the first batch timestamp most tests use (Unix ms, 2023).
const tsBase = 1_700_000_000_000

// storedBatch is a batch as Append left it in the caller's buffer: offsets
// assigned (and timestamps under LogAppendTime), so byte for byte what Read
// must return.
type storedBatch struct {
	base int64
	data []byte
}

func (b storedBatch) header() recordbatch.Header {
	h, err := recordbatch.ParseHeader(b.data)
	if err != nil {
		panic(err)
	}
	return h
}

// next is the offset after the batch's last record.
func (b storedBatch) next() int64 {
	h := b.header()
	return h.NextOffset()
}

// quietConfig is Kafka's defaults with small preallocated indexes (so tests
// create many segments cheaply) and logging silenced.
func quietConfig() log.Config {
	c := log.DefaultConfig()
	c.SegmentIndexBytes = 16 << 10
	c.IndexIntervalBytes = 512
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// openLog opens the log in dir and closes it when the test ends.
func openLog(t testing.TB, dir string, cfg log.Config) *log.Log {
	t.Helper()
	l, err := log.Open(dir, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendOne appends b, checks it lands at the log end, and returns it as
// stored.
func appendOne(t testing.TB, l *log.Log, b []byte) storedBatch {
	t.Helper()
	want := l.NextOffset()
	base, err := l.Append(b)
	if err != nil {
		t.Fatalf("append at %d: %v", want, err)
	}
	if base != want {
		t.Fatalf("append got base offset %d, want the log end %d", base, want)
	}
	return storedBatch{base: base, data: bytes.Clone(b)}
}

// appendRecords appends n batches of records records each, with timestamps
// ts, ts+step, ...
func appendRecords(t testing.TB, l *log.Log, n, records int, ts, step int64) []storedBatch {
	t.Helper()
	var out []storedBatch
	for i := range n {
		out = append(out, appendOne(t, l, recordbatch.Build(records, 100, ts+int64(i)*step)))
	}
	return out
}

// readAll reads [StartOffset, NextOffset) and returns every batch, each
// validated (CRC included) and copied out of the mapping.
func readAll(t testing.TB, l *log.Log) []storedBatch {
	t.Helper()
	var out []storedBatch
	off, end := l.StartOffset(), l.NextOffset()
	for off < end {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d (log [%d, %d)): %v", off, l.StartOffset(), end, err)
		}
		if len(b.Data) == 0 {
			b.Release()
			t.Fatalf("read at %d returned nothing, log end is %d", off, end)
		}
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.Validate(b.Data[p:])
			if err != nil {
				b.Release()
				t.Fatalf("read at %d: batch %d bytes into the result: %v", off, p, err)
			}
			if p == 0 && (h.BaseOffset > off || h.LastOffset() < off || h.BaseOffset != b.BaseOffset) {
				b.Release()
				t.Fatalf("read at %d returned a first batch [%d, %d] (BaseOffset field %d)", off, h.BaseOffset, h.LastOffset(), b.BaseOffset)
			}
			if p > 0 && h.BaseOffset != off {
				b.Release()
				t.Fatalf("read: batch at %d follows a batch ending before %d", h.BaseOffset, off)
			}
			out = append(out, storedBatch{base: h.BaseOffset, data: bytes.Clone(b.Data[p : p+h.Size()])})
			off = h.NextOffset()
			p += h.Size()
		}
		b.Release()
	}
	return out
}

// checkContents asserts that l holds exactly the batches of want that end
// after its start offset, byte for byte, and ends where want ends.
func checkContents(t testing.TB, l *log.Log, want []storedBatch) {
	t.Helper()
	start := l.StartOffset()
	var expect []storedBatch
	for _, b := range want {
		if b.next() > start {
			expect = append(expect, b)
		}
	}
	wantEnd := start
	if len(want) > 0 {
		wantEnd = max(want[len(want)-1].next(), start)
	}
	if l.NextOffset() != wantEnd {
		t.Fatalf("log ends at %d, want %d", l.NextOffset(), wantEnd)
	}
	got := readAll(t, l)
	if len(got) != len(expect) {
		t.Fatalf("log [%d, %d) holds %d batches, want %d", start, l.NextOffset(), len(got), len(expect))
	}
	for i := range got {
		if got[i].base != expect[i].base || !bytes.Equal(got[i].data, expect[i].data) {
			t.Fatalf("batch %d: got base %d (%d bytes), want base %d (%d bytes), equal bytes %v",
				i, got[i].base, len(got[i].data), expect[i].base, len(expect[i].data), bytes.Equal(got[i].data, expect[i].data))
		}
	}
}

// crashCopy copies the files of a live log's directory to a new directory,
// which is what a restart after kill -9 finds: every written byte (it is in
// the page cache) but no clean-shutdown checkpoint.
func crashCopy(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(dst, e.Name()))
	}
	return dst
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileSizes maps each regular file in dir to its size.
func fileSizes(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() {
			out[e.Name()] = fi.Size()
		}
	}
	return out
}

// logFileBytes is the total size of the .log files in dir.
func logFileBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for name, size := range fileSizes(t, dir) {
		if filepath.Ext(name) == segment.LogSuffix {
			n += size
		}
	}
	return n
}

// segmentExists reports whether the .log file of the segment at base exists.
func segmentExists(t testing.TB, dir string, base int64) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, segment.FileName(base, segment.LogSuffix)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// fakeClock is a settable Config.Now.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(ms)
	return c
}

func (c *fakeClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) Set(ms int64)   { c.ms.Store(ms) }

// wantOutOfRange asserts that reading offset fails with ErrOffsetOutOfRange.
func wantOutOfRange(t testing.TB, l *log.Log, offset int64) {
	t.Helper()
	b, err := l.Read(offset, 1<<20)
	b.Release()
	if !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("Read(%d) on log [%d, %d) = %d bytes, %v; want ErrOffsetOutOfRange",
			offset, l.StartOffset(), l.NextOffset(), len(b.Data), err)
	}
}

// reopenAll checks the log in dir three ways: after Close (clean), from a
// crash copy taken before Close (unclean, stale checkpoint), and from a copy
// without its checkpoint. check runs on each reopened log. l is closed.
func reopenAll(t *testing.T, l *log.Log, cfg log.Config, check func(t *testing.T, l *log.Log)) {
	t.Helper()
	dir := l.Dir()
	crashed := crashCopy(t, dir)
	noCkpt := crashCopy(t, dir)
	if err := os.Remove(filepath.Join(noCkpt, log.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, c := range []struct{ name, dir string }{{"clean", dir}, {"kill-9", crashed}, {"no-checkpoint", noCkpt}} {
		t.Run(c.name, func(t *testing.T) {
			l := openLog(t, c.dir, cfg)
			if got := l.Recovery().Clean; got != (c.name == "clean") {
				t.Errorf("Recovery().Clean = %v", got)
			}
			check(t, l)
			if err := l.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
}

// buildSegments appends segs segments of perSeg batches of 5 records each
// (the last one left active), batch i of segment s timestamped
// tsBase+s*segStep+i*10. With the defaults, segment s holds offsets
// [s*perSeg*5, (s+1)*perSeg*5).
func buildSegments(t testing.TB, l *log.Log, segs, perSeg int, segStep int64) []storedBatch {
	t.Helper()
	var all []storedBatch
	for s := range segs {
		all = append(all, appendRecords(t, l, perSeg, 5, tsBase+int64(s)*segStep, 10)...)
		if s < segs-1 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if l.NumSegments() != segs {
		t.Fatalf("built %d segments, want %d", l.NumSegments(), segs)
	}
	return all
}
