package log_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// errSink collects the first failure of background goroutines, which must
// not call t.Fatal.
type errSink struct {
	mu  sync.Mutex
	err error
}

func (s *errSink) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *errSink) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// waitTimeout waits for wg or fails the test after d.
func waitTimeout(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

// TestConcurrentAppendReadRetention runs one writer (many rolls), retention
// in a loop, DeleteRecordsBefore now and then, random readers that hold their
// views across segment deletions, and a tailing reader, all at once.
func TestConcurrentAppendReadRetention(t *testing.T) {
	const batches = 20_000
	cfg := quietConfig()
	cfg.SegmentBytes = 128 << 10
	cfg.SegmentIndexBytes = 8 << 10
	cfg.IndexIntervalBytes = 1024
	cfg.RetentionBytes = 1 << 20
	l := openLog(t, t.TempDir(), cfg)

	var (
		sink        errSink
		writerDone  = make(chan struct{})
		finalEnd    atomic.Int64
		reads       atomic.Int64
		outOfRange  atomic.Int64
		heldPastDel atomic.Int64 // views whose records left the log while held
		deletedSegs atomic.Int64
		tailRecords atomic.Int64
		wg          sync.WaitGroup
	)
	finalEnd.Store(-1)

	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer close(writerDone)
		next := int64(0)
		for i := range batches {
			records := 1 + i%3
			b := recordbatch.Build(records, 40, tsBase+int64(i))
			base, err := l.Append(b)
			if err != nil {
				sink.fail(err)
				return
			}
			if base != next {
				sink.fail(errors.New("writer: offsets not contiguous"))
				return
			}
			next += int64(records)
		}
		finalEnd.Store(next)
	}()

	wg.Add(1)
	go func() { // retention
		defer wg.Done()
		for {
			select {
			case <-writerDone:
				return
			default:
			}
			n, err := l.ApplyRetention()
			if err != nil {
				sink.fail(err)
				return
			}
			deletedSegs.Add(int64(n))
			time.Sleep(50 * time.Microsecond)
		}
	}()

	wg.Add(1)
	go func() { // DeleteRecordsBefore now and then
		defer wg.Done()
		for {
			select {
			case <-writerDone:
				return
			case <-time.After(2 * time.Millisecond):
			}
			start, end := l.StartOffset(), l.NextOffset()
			target := start + (end-start)/8
			low, err := l.DeleteRecordsBefore(target)
			if err != nil {
				sink.fail(err)
				return
			}
			if low < target {
				sink.fail(errors.New("DeleteRecordsBefore returned a low watermark below its target"))
				return
			}
		}
	}()

	for r := range 4 {
		wg.Add(1)
		go func() { // random reader holding views
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 42))
			for {
				select {
				case <-writerDone:
					return
				default:
				}
				start, end := l.StartOffset(), l.NextOffset()
				if end <= start {
					continue
				}
				off := start + rng.Int64N(end-start)
				if r == 0 {
					off = start // the oldest records: the likeliest to be deleted while held
				}
				b, err := l.Read(off, 4096)
				if errors.Is(err, log.ErrOffsetOutOfRange) {
					if off >= l.StartOffset() {
						sink.fail(errors.New("ErrOffsetOutOfRange for an offset inside the log"))
						return
					}
					outOfRange.Add(1)
					continue
				}
				if err != nil {
					sink.fail(err)
					return
				}
				reads.Add(1)
				h, err := recordbatch.Validate(b.Data)
				if err == nil && (h.BaseOffset > off || h.LastOffset() < off || h.BaseOffset != b.BaseOffset) {
					err = errors.New("read returned a batch that does not contain the offset")
				}
				if err == nil {
					_, _, err = recordbatch.ValidateAll(b.Data)
				}
				if err != nil {
					b.Release()
					sink.fail(err)
					return
				}
				held := bytes.Clone(b.Data)
				time.Sleep(time.Duration(5+rng.IntN(50)) * time.Microsecond)
				if l.StartOffset() > h.LastOffset() {
					heldPastDel.Add(1)
				}
				if !bytes.Equal(b.Data, held) {
					b.Release()
					sink.fail(errors.New("a held view changed before Release"))
					return
				}
				if _, _, err := recordbatch.ValidateAll(b.Data); err != nil {
					b.Release()
					sink.fail(err)
					return
				}
				b.Release()
			}
		}()
	}

	wg.Add(1)
	go func() { // tailing reader: from the end, woken by a Waiter
		defer wg.Done()
		off := l.NextOffset()
		var w log.Waiter
		defer w.Stop()
		for {
			from := l.AppendedBytes()
			// Read can return a batch a moment before NextOffset covers it
			// (TestReadNeverPassesLogEnd); reading only up to the end seen
			// before the Read keeps the tail inside the log.
			end := l.NextOffset()
			b, err := l.Read(off, 64<<10)
			if errors.Is(err, log.ErrOffsetOutOfRange) {
				start := l.StartOffset()
				if off >= start {
					sink.fail(errors.New("tail: ErrOffsetOutOfRange for an offset inside the log"))
					return
				}
				off = start // fell behind retention: skip ahead
				continue
			}
			if err != nil {
				sink.fail(err)
				return
			}
			progressed := false
			for p := 0; p < len(b.Data); {
				h, err := recordbatch.Validate(b.Data[p:])
				if err == nil && (h.LastOffset() < off || (p > 0 && h.BaseOffset != off)) {
					err = errors.New("tail: batches not contiguous")
				}
				if err != nil {
					b.Release()
					sink.fail(err)
					return
				}
				if h.NextOffset() > end {
					break
				}
				tailRecords.Add(h.NextOffset() - max(off, h.BaseOffset))
				off = h.NextOffset()
				p += h.Size()
				progressed = true
			}
			b.Release()
			if progressed {
				continue
			}
			if end := finalEnd.Load(); end >= 0 && off == end {
				return
			}
			w.Reset(1)
			w.Watch(l, off, from, 1<<30)
			wait := time.NewTimer(100 * time.Millisecond)
			select {
			case <-w.Ready():
			case <-wait.C:
				select {
				case <-writerDone:
					if finalEnd.Load() < 0 {
						return // the writer failed
					}
				default:
				}
			}
			wait.Stop()
			w.Stop()
		}
	}()

	waitTimeout(t, &wg, 45*time.Second, "concurrent writer, readers and retention")
	if err := sink.get(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads (%d out of range), %d views held while their records left the log, %d segments deleted, tail saw %d records",
		reads.Load(), outOfRange.Load(), heldPastDel.Load(), deletedSegs.Load(), tailRecords.Load())
	end := finalEnd.Load()
	if l.NextOffset() != end || l.StartOffset() > end {
		t.Fatalf("log [%d, %d), writer ended at %d", l.StartOffset(), l.NextOffset(), end)
	}
	if deletedSegs.Load() == 0 || reads.Load() == 0 {
		t.Fatal("the test exercised neither retention nor reads")
	}
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.Size() > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Errorf("log holds %d bytes after retention, retention.bytes %d, segment.bytes %d", l.Size(), cfg.RetentionBytes, cfg.SegmentBytes)
	}
	readAll(t, l) // everything left is readable and valid
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.NextOffset() != end {
			t.Fatalf("end %d after reopen, want %d", l.NextOffset(), end)
		}
		readAll(t, l)
	})
}

// syncCountingFS counts fsyncs of .log files and makes each take a while,
// like a real disk, so that concurrent appenders pile up behind one.
type syncCountingFS struct{ syncs atomic.Int64 }

func (fs *syncCountingFS) wrap(_ string, f *os.File) segment.File {
	return &syncCountingFile{File: f, fs: fs}
}

type syncCountingFile struct {
	*os.File
	fs *syncCountingFS
}

func (f *syncCountingFile) Sync() error {
	f.fs.syncs.Add(1)
	time.Sleep(500 * time.Microsecond)
	return f.File.Sync()
}

func TestGroupCommit(t *testing.T) {
	const (
		writers   = 8
		perWriter = 100
	)
	fs := &syncCountingFS{}
	cfg := quietConfig()
	cfg.FlushMessages = 1
	cfg.SegmentBytes = 64 << 10 // rolls too, so fsyncs span segments
	cfg.WrapFile = fs.wrap
	l := openLog(t, t.TempDir(), cfg)
	before := fs.syncs.Load()

	type appended struct{ base, records int64 }
	results := make([][]appended, writers)
	var sink errSink
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				records := 1 + (w+i)%4
				base, err := l.Append(recordbatch.Build(records, 30, tsBase))
				if err != nil {
					sink.fail(err)
					return
				}
				// flush.messages=1: acknowledged means on stable storage.
				if l.FlushedOffset() < base+int64(records) {
					sink.fail(errors.New("append returned before its records were flushed"))
					return
				}
				results[w] = append(results[w], appended{base, int64(records)})
			}
		}()
	}
	waitTimeout(t, &wg, 30*time.Second, "group commit appenders")
	if err := sink.get(); err != nil {
		t.Fatal(err)
	}
	var all []appended
	for _, r := range results {
		all = append(all, r...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].base < all[j].base })
	next := int64(0)
	for _, a := range all {
		if a.base != next {
			t.Fatalf("offsets not unique and contiguous: batch at %d, expected %d", a.base, next)
		}
		next += a.records
	}
	if len(all) != writers*perWriter || l.NextOffset() != next || l.FlushedOffset() != next {
		t.Fatalf("%d appends, end %d, flushed %d, want %d appends ending at %d", len(all), l.NextOffset(), l.FlushedOffset(), writers*perWriter, next)
	}
	syncs := fs.syncs.Load() - before
	t.Logf("%d appends by %d goroutines took %d fsyncs of .log files over %d segments", len(all), writers, syncs, l.NumSegments())
	if syncs >= int64(len(all)) {
		t.Fatalf("%d fsyncs for %d appends: concurrent appends did not share fsyncs", syncs, len(all))
	}
	if syncs == 0 {
		t.Fatal("flush.messages=1 never fsynced")
	}
}

// TestReadAfterClose: a reader racing Close (a fetch in flight while its
// topic is deleted) must get an error, not touch unmapped memory. A crash
// would take the test binary down, so the reads run in a child process.
func TestReadAfterClose(t *testing.T) {
	const env = "TRIBUTARY_TEST_READ_AFTER_CLOSE"
	if os.Getenv(env) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReadAfterClose$", "-test.v")
		cmd.Env = append(os.Environ(), env+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if len(out) > 2000 {
				out = out[:2000]
			}
			t.Fatalf("reading a closed log: child process %v:\n%s", err, out)
		}
		return
	}
	l := openLog(t, t.TempDir(), quietConfig())
	appendRecords(t, l, 20, 5, tsBase, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := l.Read(0, 1<<20)
	if !errors.Is(err, log.ErrClosed) {
		t.Errorf("Read after Close = %d bytes, %v; want ErrClosed", len(b.Data), err)
	}
	if len(b.Data) > 0 {
		_ = bytes.Clone(b.Data) // touch the view
	}
	b.Release()
	if _, _, err := l.OffsetForTimestamp(tsBase); !errors.Is(err, log.ErrClosed) {
		t.Errorf("OffsetForTimestamp after Close: %v, want ErrClosed", err)
	}
	if _, _, err := l.MaxTimestamp(); !errors.Is(err, log.ErrClosed) {
		t.Errorf("MaxTimestamp after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Append(recordbatch.Build(1, 10, tsBase)); !errors.Is(err, log.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
}

// TestReadNeverPassesLogEnd: Read must not return batches past NextOffset.
// A tailing consumer fetches next from the end of what it got; if that is
// past NextOffset it gets ErrOffsetOutOfRange (and a Kafka client resets its
// position: records skipped or read twice).
func TestReadNeverPassesLogEnd(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.Append(recordbatch.Build(1, 10, tsBase)); err != nil {
				return
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()
	deadline := time.Now().Add(2 * time.Second)
	off, reads := int64(0), 0
	for time.Now().Before(deadline) {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("tail read at %d (log end now %d): %v", off, l.NextOffset(), err)
		}
		reads++
		if len(b.Data) == 0 {
			b.Release()
			continue
		}
		end := off
		for p := 0; p < len(b.Data); {
			h, _ := recordbatch.ParseHeader(b.Data[p:])
			end = h.NextOffset()
			p += h.Size()
		}
		b.Release()
		if n := l.NextOffset(); end > n {
			t.Fatalf("after %d reads: Read(%d) returned batches up to %d, past NextOffset %d (loaded after the read)", reads, off, end, n)
		}
		off = end
	}
	t.Logf("%d reads, tail at %d", reads, off)
}
