package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// writeFault is what faultyFS makes the next WriteAt calls do.
type writeFault int

const (
	writeOK         writeFault = iota
	writeHalfENOSPC            // write the first half, then fail with ENOSPC (a short write)
	writeEIO                   // write nothing, fail with EIO
)

// faultyFS wraps every .log file a log opens (Config.WrapFile) and injects
// the faults it is told to. Safe for concurrent use.
type faultyFS struct {
	mu       sync.Mutex
	write    writeFault
	syncErr  error // returned by Sync instead of syncing
	truncErr error // returned by Truncate instead of truncating

	writes    atomic.Int64 // WriteAt calls
	syncs     atomic.Int64 // Sync calls that reached the file
	truncates atomic.Int64 // Truncate calls
}

func (fs *faultyFS) set(w writeFault, syncErr, truncErr error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.write, fs.syncErr, fs.truncErr = w, syncErr, truncErr
}

func (fs *faultyFS) wrap(_ string, f *os.File) segment.File { return &faultyFile{f: f, fs: fs} }

type faultyFile struct {
	f  *os.File
	fs *faultyFS
}

func (ff *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	ff.fs.writes.Add(1)
	ff.fs.mu.Lock()
	w := ff.fs.write
	ff.fs.mu.Unlock()
	switch w {
	case writeHalfENOSPC:
		n, err := ff.f.WriteAt(p[:len(p)/2], off)
		if err != nil {
			return n, err
		}
		return n, &os.PathError{Op: "write", Path: ff.f.Name(), Err: syscall.ENOSPC}
	case writeEIO:
		return 0, &os.PathError{Op: "write", Path: ff.f.Name(), Err: syscall.EIO}
	}
	return ff.f.WriteAt(p, off)
}

func (ff *faultyFile) Truncate(size int64) error {
	ff.fs.truncates.Add(1)
	ff.fs.mu.Lock()
	err := ff.fs.truncErr
	ff.fs.mu.Unlock()
	if err != nil {
		return &os.PathError{Op: "truncate", Path: ff.f.Name(), Err: err}
	}
	return ff.f.Truncate(size)
}

func (ff *faultyFile) Sync() error {
	ff.fs.mu.Lock()
	err := ff.fs.syncErr
	ff.fs.mu.Unlock()
	if err != nil {
		return &os.PathError{Op: "fsync", Path: ff.f.Name(), Err: err}
	}
	ff.fs.syncs.Add(1)
	return ff.f.Sync()
}

// faultyLog opens a log in a new directory whose .log files go through a
// faultyFS.
func faultyLog(t *testing.T, tune func(*log.Config)) (*log.Log, *faultyFS, log.Config) {
	t.Helper()
	fs := &faultyFS{}
	cfg := quietConfig()
	cfg.WrapFile = fs.wrap
	if tune != nil {
		tune(&cfg)
	}
	return openLog(t, t.TempDir(), cfg), fs, cfg
}

// ackedBytes is the total size of batches.
func ackedBytes(batches []storedBatch) int64 {
	var n int64
	for _, b := range batches {
		n += int64(len(b.data))
	}
	return n
}

func TestFaultShortWriteENOSPC(t *testing.T) {
	l, fs, cfg := faultyLog(t, nil)
	acked := appendRecords(t, l, 5, 10, tsBase, 10)

	fs.set(writeHalfENOSPC, nil, nil)
	next := l.NextOffset()
	for i := range 3 {
		// A multi-batch append: nothing of any of its batches may stay.
		in := append(recordbatch.Build(20, 200, tsBase), recordbatch.Build(3, 10, tsBase)...)
		_, err := l.Append(in)
		if !errors.Is(err, log.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append %d with a short write: %v, want ErrDiskFull wrapping ENOSPC", i, err)
		}
		if errors.Is(err, log.ErrStorage) {
			t.Fatalf("a rolled-back short write poisoned the log: %v", err)
		}
		if l.NextOffset() != next || l.Size() != ackedBytes(acked) {
			t.Fatalf("short write left data: end %d→%d, size %d, acked %d", next, l.NextOffset(), l.Size(), ackedBytes(acked))
		}
		if got := logFileBytes(t, l.Dir()); got != ackedBytes(acked) {
			t.Fatalf("short write not cut back: .log files hold %d bytes, acked %d", got, ackedBytes(acked))
		}
	}
	if fs.truncates.Load() == 0 {
		t.Fatal("no rollback Truncate reached the file")
	}
	checkContents(t, l, acked)
	// A crash now finds no half batch either.
	crashed := crashCopy(t, l.Dir())

	fs.set(writeOK, nil, nil)
	acked = append(acked, appendOne(t, l, recordbatch.Build(4, 100, tsBase)))
	if acked[len(acked)-1].base != next {
		t.Fatalf("append after the fault at %d, want %d", acked[len(acked)-1].base, next)
	}
	checkContents(t, l, acked)

	l2 := openLog(t, crashed, quietConfig())
	if l2.Recovery().TruncatedBytes != 0 {
		t.Errorf("recovery after the rolled-back write truncated %d bytes", l2.Recovery().TruncatedBytes)
	}
	checkContents(t, l2, acked[:len(acked)-1])
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		checkContents(t, l, acked)
	})
}

func TestFaultWriteEIO(t *testing.T) {
	l, fs, cfg := faultyLog(t, nil)
	acked := appendRecords(t, l, 3, 10, tsBase, 10)
	next, size := l.NextOffset(), l.Size()

	fs.set(writeEIO, nil, nil)
	_, err := l.Append(recordbatch.Build(5, 100, tsBase))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with EIO: %v, want an error wrapping EIO", err)
	}
	if errors.Is(err, log.ErrDiskFull) {
		t.Fatalf("EIO reported as disk full: %v", err)
	}
	if l.NextOffset() != next || l.Size() != size || logFileBytes(t, l.Dir()) != size {
		t.Fatalf("failed write moved the log: end %d→%d, size %d→%d", next, l.NextOffset(), size, l.Size())
	}
	checkContents(t, l, acked)

	// The write was rolled back, so the log still takes appends.
	fs.set(writeOK, nil, nil)
	acked = append(acked, appendOne(t, l, recordbatch.Build(5, 100, tsBase)))
	if acked[len(acked)-1].base != next {
		t.Fatalf("append after EIO at %d, want %d", acked[len(acked)-1].base, next)
	}
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		checkContents(t, l, acked)
	})
}

func TestFaultFsyncPoisons(t *testing.T) {
	l, fs, cfg := faultyLog(t, func(c *log.Config) { c.FlushMessages = 1 })
	acked := appendRecords(t, l, 3, 10, tsBase, 10)
	if fs.syncs.Load() < 3 {
		t.Fatalf("flush.messages=1 made %d fsyncs for 3 appends", fs.syncs.Load())
	}

	fs.set(writeOK, syscall.EIO, nil)
	_, first := l.Append(recordbatch.Build(2, 10, tsBase))
	if !errors.Is(first, log.ErrStorage) {
		t.Fatalf("append whose fsync failed: %v, want ErrStorage", first)
	}
	if !errors.Is(first, syscall.EIO) {
		t.Errorf("ErrStorage does not carry the fsync error: %v", first)
	}
	// Sticky: every later write fails the same way, even once fsync works.
	for i, fault := range []error{syscall.EIO, nil, nil} {
		fs.set(writeOK, fault, nil)
		next := l.NextOffset()
		_, err := l.Append(recordbatch.Build(2, 10, tsBase))
		if !errors.Is(err, log.ErrStorage) || err.Error() != first.Error() {
			t.Fatalf("append %d on a poisoned log: %v, want the sticky %v", i, err, first)
		}
		if l.NextOffset() != next {
			t.Fatalf("append %d on a poisoned log moved the end %d→%d", i, next, l.NextOffset())
		}
	}
	if err := l.Sync(); !errors.Is(err, log.ErrStorage) {
		t.Errorf("Sync on a poisoned log: %v, want ErrStorage", err)
	}
	// Reads still work, for every acknowledged batch.
	got := readAll(t, l)
	if len(got) < len(acked) {
		t.Fatalf("read %d batches from the poisoned log, %d acknowledged", len(got), len(acked))
	}
	for i := range acked {
		if got[i].base != acked[i].base || string(got[i].data) != string(acked[i].data) {
			t.Fatalf("batch %d differs on the poisoned log", i)
		}
	}
	if err := l.Close(); err == nil {
		t.Error("Close of a poisoned log reported success")
	}

	// Reopening recovers: the acknowledged batches are there (the one whose
	// fsync failed may be too: it was written, just not acknowledged) and
	// appends work again.
	l = openLog(t, l.Dir(), cfg)
	if l.Recovery().Clean {
		t.Error("reopen after a failed fsync claims a clean shutdown")
	}
	got = readAll(t, l)
	if len(got) < len(acked) || len(got) > len(acked)+1 {
		t.Fatalf("after reopen: %d batches, acknowledged %d", len(got), len(acked))
	}
	for i := range acked {
		if got[i].base != acked[i].base || string(got[i].data) != string(acked[i].data) {
			t.Fatalf("batch %d differs after reopen", i)
		}
	}
	acked = got
	acked = append(acked, appendOne(t, l, recordbatch.Build(2, 10, tsBase)))
	checkContents(t, l, acked)
}

func TestFaultRollbackFailurePoisons(t *testing.T) {
	l, fs, cfg := faultyLog(t, nil)
	acked := appendRecords(t, l, 3, 10, tsBase, 10)
	next := l.NextOffset()

	// A short write whose rollback fails leaves half a batch in the file.
	fs.set(writeHalfENOSPC, nil, syscall.EIO)
	_, first := l.Append(recordbatch.Build(20, 200, tsBase))
	if !errors.Is(first, log.ErrStorage) {
		t.Fatalf("append whose rollback failed: %v, want ErrStorage", first)
	}
	fs.set(writeOK, nil, nil)
	for i := range 3 {
		if _, err := l.Append(recordbatch.Build(1, 10, tsBase)); !errors.Is(err, log.ErrStorage) || err.Error() != first.Error() {
			t.Fatalf("append %d after a failed rollback: %v, want the sticky %v", i, err, first)
		}
	}
	if l.NextOffset() != next {
		t.Fatalf("log end moved %d→%d", next, l.NextOffset())
	}
	if got := logFileBytes(t, l.Dir()); got <= ackedBytes(acked) {
		t.Fatalf("expected the half batch on disk (%d bytes, acked %d): the fault did not happen", got, ackedBytes(acked))
	}
	checkContents(t, l, acked) // readers never see the half batch
	crashed := crashCopy(t, l.Dir())
	l.Close()

	// Recovery cuts the half batch, after Close and after kill -9 alike.
	for _, dir := range []string{l.Dir(), crashed} {
		l := openLog(t, dir, cfg)
		if l.Recovery().TruncatedBytes == 0 {
			t.Errorf("%s: recovery truncated nothing", dir)
		}
		if got := logFileBytes(t, dir); got != ackedBytes(acked) {
			t.Errorf("%s: .log files hold %d bytes after recovery, acked %d", dir, got, ackedBytes(acked))
		}
		checkContents(t, l, acked)
		more := append(append([]storedBatch(nil), acked...), appendOne(t, l, recordbatch.Build(1, 10, tsBase)))
		checkContents(t, l, more)
	}
}

func TestFaultFsyncOnExplicitSync(t *testing.T) {
	// Without flush.messages=1 the failure shows at the next Sync; it
	// poisons all the same.
	l, fs, _ := faultyLog(t, nil)
	acked := appendRecords(t, l, 2, 10, tsBase, 10)
	fs.set(writeOK, syscall.EIO, nil)
	if err := l.Sync(); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("Sync with a failing fsync: %v, want ErrStorage", err)
	}
	fs.set(writeOK, nil, nil)
	if _, err := l.Append(recordbatch.Build(1, 10, tsBase)); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("append after a failed Sync: %v, want ErrStorage", err)
	}
	checkContents(t, l, acked)
	if _, err := os.Stat(filepath.Join(l.Dir(), log.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
}
