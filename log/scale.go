package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/segment"
)

// What a Manager does to open and stop thousands of partitions quickly: a
// bounded pool of workers, and a single file-system barrier (syncfs) in
// place of per-partition fsyncs, with a data-dir-wide clean-shutdown marker.
// See "Clean shutdown of a data dir" in the package comment.

const (
	// CleanShutdownFile is the data-dir-wide clean shutdown marker (Kafka's
	// .kafka_cleanshutdown): an empty file, written by Manager.Close once
	// every partition is closed and durable, removed by OpenManager before
	// anything is served. Only its presence means anything.
	CleanShutdownFile = "clean-shutdown"

	// smallLogBytes is the size below which a log gets no producer
	// snapshot at close (unless it has producers and lost batches to
	// retention or cleaning, see snapshotNeedless): the next open reads
	// its few batch headers instead, and ten thousand small partitions'
	// close creates ten thousand fewer files.
	smallLogBytes = 1 << 20

	// DefaultIOWorkers is how many partitions a Manager opens or closes at
	// once (Options.IOWorkers): the work is mostly system calls and waits
	// on the disk, so more than the cores, but bounded.
	DefaultIOWorkers = 16

	// slowCloseLog is how long a Manager's close of its partitions may
	// take before it logs how long each step took at INFO, not DEBUG.
	slowCloseLog = time.Second
)

// managedOpen is how a Manager opens its partitions, as opposed to a bare
// Open of one log.
type managedOpen struct {
	// dirClean: the data dir's clean-shutdown marker was there. A
	// partition's clean checkpoint flag counts only then (a partition
	// untouched since the last clean stop keeps a clean checkpoint on disk
	// while the broker runs).
	dirClean bool
	// cache bounds the Manager's mapped sealed segments.
	cache *segment.Cache
	// files bounds the Manager's open active segments.
	files *fileCache
}

// clean reports whether a partition opened by the Manager is clean, given
// its recovery checkpoint: the data dir's marker was there (every
// partition was sealed and made durable to its end by the last stop) and
// its checkpoint, if it has one, says clean with the current index
// format. A clean stop creates no checkpoint file for a partition whose
// log starts at its first segment (Log.cleanCheckpointNeedless): without
// one the marker alone counts.
func (mo *managedOpen) clean(ckpt checkpoint, haveCkpt bool) bool {
	return mo.dirClean && (!haveCkpt || ckpt.clean && ckpt.indexFormat == indexFormatVersion)
}

// ioWorkers is the size of the Manager's pool.
func (m *Manager) ioWorkers() int {
	if m.opts.IOWorkers > 0 {
		return m.opts.IOWorkers
	}
	return max(DefaultIOWorkers, 4*runtime.GOMAXPROCS(0))
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns each
// call's error, by index. It returns when every call has.
func parallel(n, workers int, fn func(i int) error) []error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// openLogs opens the partition logs in dirs with cfgs[i], in parallel. On
// any failure it closes what opened and returns the first error.
func (m *Manager) openLogs(dirs []string, cfgs []*Config, mo *managedOpen) ([]*Log, error) {
	logs := make([]*Log, len(dirs))
	errs := parallel(len(dirs), m.ioWorkers(), func(i int) error {
		l, err := open(dirs[i], *cfgs[i], mo)
		logs[i] = l
		if err == nil && !m.opts.ReplicatedLeadership {
			err = l.BecomeLeader(max(l.LeaderEpoch(), 0)) // a single broker (see Options)
		}
		return err
	})
	if err := firstErr(errs); err != nil {
		for _, l := range logs {
			if l != nil {
				l.Close()
			}
		}
		return nil, m.storageErr(err)
	}
	return logs, nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// markDurable makes the data of logs opened after an unclean shutdown
// durable with one syncfs, instead of an fsync per partition, and lets
// their recovery points advance to their log ends (written at the next
// checkpoint). Without syncfs (other systems) each log is flushed.
func (m *Manager) markDurable(logs []*Log) error {
	if err := syncFS(m.dir); err == nil {
		for _, l := range logs {
			l.epochs.unsynced.Store(false) // rewritten by Open, if at all: nothing else runs yet
			l.flushedOffset.Store(l.nextOffset.Load())
			for _, s := range l.segs[:len(l.segs)-1] {
				s.Flushed() // recovered and sealed: durable now
			}
		}
		return nil
	} else if !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("log: syncfs %s: %w", m.dir, err)
	}
	return firstErr(parallel(len(logs), m.ioWorkers(), func(i int) error {
		return logs[i].syncTo(logs[i].nextOffset.Load())
	}))
}

// takeCleanShutdown reports whether the clean-shutdown marker is there and
// removes it durably: from now on a crash must recover.
func (m *Manager) takeCleanShutdown() (bool, error) {
	path := filepath.Join(m.dir, CleanShutdownFile)
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err == nil {
		err = syncDir(m.dir)
	}
	if err != nil {
		return false, fmt.Errorf("log: remove clean shutdown marker %s: %w", path, err)
	}
	return true, nil
}

// closeLogs closes every log. With syncfs: every log is sealed and its
// segments closed without fsync (in parallel), one syncfs makes all of it
// durable, then each writes its clean checkpoint and producer snapshot
// without fsync, a second syncfs makes those durable, and only then is
// the clean-shutdown marker written. A crash anywhere before the marker is
// durable recovers every partition from its recovery point at the next
// open. Without syncfs each log is closed with its own fsyncs.
func (m *Manager) closeLogs() error {
	logs := m.logs()
	workers := m.ioWorkers()
	if err := syncFS(m.dir); errors.Is(err, errors.ErrUnsupported) {
		err := errors.Join(parallel(len(logs), workers, func(i int) error { return logs[i].Close() })...)
		if err == nil {
			err = m.writeCleanShutdown()
		}
		return err
	}
	t0 := time.Now() // each step's time is logged: a slow stop says why
	errs := parallel(len(logs), workers, func(i int) error { return logs[i].closeUnsynced() })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t1 := time.Now()
	if err := syncFS(m.dir); err != nil {
		return fmt.Errorf("log: syncfs %s at close: %w", m.dir, err)
	}
	t2 := time.Now()
	errs = parallel(len(logs), workers, func(i int) error { return logs[i].closeFinish() })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t3 := time.Now()
	if err := syncFS(m.dir); err != nil {
		return fmt.Errorf("log: syncfs %s at close: %w", m.dir, err)
	}
	t4 := time.Now()
	err := m.writeCleanShutdown()
	took := time.Since(t0)
	level := slog.LevelDebug
	if took >= slowCloseLog {
		level = slog.LevelInfo
	}
	m.logger.Log(context.Background(), level, "log: partitions closed", "partitions", len(logs), "took", took,
		"seal", t1.Sub(t0), "syncfs", t2.Sub(t1), "checkpoints", t3.Sub(t2), "syncfs2", t4.Sub(t3))
	return err
}

// writeCleanShutdown writes the marker durably.
func (m *Manager) writeCleanShutdown() error {
	path := filepath.Join(m.dir, CleanShutdownFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		err = syncjournal.Sync(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = syncDir(m.dir)
	}
	if err != nil {
		return fmt.Errorf("log: write clean shutdown marker %s: %w", path, err)
	}
	return nil
}

// writeFileDeferred replaces path with data, with no fsync: for the small
// CRC-checked files (checkpoint, producer snapshot) whose durability a
// later syncfs provides (closeFinish). A file of the same size, or a new
// one, is written in place, with one pwrite of a few dozen bytes at offset
// 0 (within one disk sector, so never torn by a crash; a kill -9 cannot
// tear it at all): creating a temp file and renaming it over the old one
// in ten thousand directories took seconds. Otherwise it goes through a
// temp file and a rename. Whatever a crash leaves is read as the old file,
// the new one, or (a CRC that does not match) as absent, which is safe for
// both files.
func writeFileDeferred(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil && (fi.Size() == 0 || fi.Size() == int64(len(data))) {
		_, err = f.WriteAt(data, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("log: write %s: %w", path, err)
		}
		return nil
	}
	f.Close()
	tmp := path + ".tmp"
	err = os.WriteFile(tmp, data, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	return nil
}

// closeUnsynced is the first half of a Manager's close of the log: Close
// without any fsync (the Manager's syncfs follows). The log stops taking
// writes, its active segment is sealed (indexes trimmed) and its segments
// closed.
func (l *Log) closeUnsynced() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if !l.markClosed() {
		return nil
	}
	defer l.wakeWatchers()
	err := l.stickyErr()
	if serr := l.active().Seal(); err == nil {
		err = serr
	}
	l.files.remove(l)
	l.segMu.Lock()
	for _, s := range l.segs {
		s.Close()
	}
	l.segMu.Unlock()
	if err != nil {
		l.closeErr = err
		return fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	return nil
}

// closeFinish is the second half, once a syncfs has made every byte of the
// log durable: the producer snapshot and the clean checkpoint are written
// (if they changed), without fsync (the Manager's second syncfs follows).
func (l *Log) closeFinish() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closeErr != nil {
		return nil // closed unclean: the checkpoint stays as it was
	}
	l.flushedOffset.Store(l.nextOffset.Load())
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	end := l.nextOffset.Load()
	version := l.producers.version
	snap := snapshotMark{written: true, offset: end, version: version}
	if l.lastSnap.sameAs(snap) {
		// Written by a checkpoint pass: this close's syncfs makes it
		// durable.
		l.lastSnap = snap
	}
	if l.lastSnap != snap && !l.snapshotNeedless() {
		l.fileGen++
		data := encodeProducerSnapshot(end, l.producers.m)
		if err := writeFileDeferred(filepath.Join(l.dir, ProducerSnapshotFile), data); err != nil {
			// The previous snapshot stays, valid: a longer scan at the
			// next open, not an unclean close.
			l.cfg.Load().logger().Warn("log: could not write the producer snapshot at close; keeping the previous one",
				"dir", l.dir, "err", err)
		} else {
			l.lastSnap = snap
		}
	}
	c := checkpoint{clean: true, indexFormat: indexFormatVersion,
		recoveryOffset: l.flushedOffset.Load(), logStartOffset: l.startOffset.Load()}
	l.recordHighWatermark(&c)
	if l.lastCkptSet && c == l.lastCkpt || l.cleanCheckpointNeedless(c) {
		return nil
	}
	l.fileGen++
	if err := writeFileDeferred(filepath.Join(l.dir, CheckpointFile), encodeCheckpoint(c)); err != nil {
		if !isNoSpace(err) {
			return fmt.Errorf("log: close %s: %w", l.dir, err)
		}
		// No room for a new file: writeCheckpoint overwrites it in place.
		if err := writeCheckpoint(l.dir, c); err != nil {
			return fmt.Errorf("log: close %s: %w", l.dir, err)
		}
	}
	l.lastCkpt, l.lastCkptSet, l.lastCkptPending = c, true, false
	return nil
}

// cleanCheckpointNeedless reports a Manager's log whose clean checkpoint
// c need not be written at close: one with no checkpoint file whose log
// starts at its first segment. After a clean stop the data dir's marker,
// not the file, says the log is clean, and the recovery offset is then
// the log end (see managedOpen.clean); the next open learns the log start
// from the segments. Creating a checkpoint file in each of ten thousand
// new partitions was most of a stop's time. A file already there is
// rewritten in place (writeFileDeferred), so it never says anything stale
// after a clean stop. Caller holds ckptMu.
func (l *Log) cleanCheckpointNeedless(c checkpoint) bool {
	return l.managed && !l.lastCkptSet && c.logStartOffset == l.segs[0].BaseOffset()
}

// snapshotNeedless reports a log whose producer snapshot is not worth a
// file: a log small enough to rebuild the table from its batch headers at
// the next open, no snapshot on disk (an old one would bring back
// producers expired since), and no producers, or producers whose every
// batch is still in the log (nothing deleted or cleaned from it), so that
// the rebuild finds them all, as it does after a crash. Ten thousand
// partitions written by idempotent producers (franz-go's default) would
// otherwise create ten thousand files at a stop. Caller holds writeMu.
func (l *Log) snapshotNeedless() bool {
	if l.Size() >= smallLogBytes {
		return false
	}
	if len(l.producers.m) > 0 && (l.startOffset.Load() != 0 || l.segs[0].BaseOffset() != 0 || l.cfg.Load().Compacted()) {
		return false
	}
	_, err := os.Stat(filepath.Join(l.dir, ProducerSnapshotFile))
	return errors.Is(err, os.ErrNotExist)
}
