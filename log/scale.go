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
	"sync/atomic"
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

// closeLogs closes every log, each made durable on its own (in
// parallel, on the Manager's workers): its active segment sealed, an
// fsync of each segment holding data not yet flushed and of the indexes
// the seal trimmed, of its directory if entries changed, of its leader
// epoch file if replaced, and then its clean checkpoint and producer
// snapshot, each written and fsynced if it changed. A log untouched since
// the last flush costs no fsync at all. Only then are the data dir's
// entries synced and the clean-shutdown marker written. A crash anywhere
// before the marker is durable recovers every partition from its
// recovery point at the next open.
//
// Not syncfs(2): it flushes every dirty page of the file system, other
// processes' too, and a broker sharing its disk with a writer of
// gigabytes waited tens of seconds at every stop for bytes it never
// wrote.
func (m *Manager) closeLogs() error {
	logs := m.logs()
	t0 := time.Now()        // a slow stop says why
	var synced atomic.Int64 // partitions that had anything to fsync
	errs := parallel(len(logs), m.ioWorkers(), func(i int) error {
		n, err := logs[i].closeDurable()
		if n > 0 {
			synced.Add(1)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t1 := time.Now()
	// The partition directories created since the last start are
	// entries of the data dir.
	err := syncDir(m.dir)
	if err != nil {
		err = fmt.Errorf("log: close %s: %w", m.dir, err)
	} else {
		err = m.writeCleanShutdown()
	}
	took := time.Since(t0)
	level := slog.LevelDebug
	if took >= slowCloseLog {
		level = slog.LevelInfo
	}
	m.logger.Log(context.Background(), level, "log: partitions closed", "partitions", len(logs), "took", took,
		"partitions_synced", synced.Load(), "logs", t1.Sub(t0), "marker", time.Since(t1))
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
// CRC-checked files (checkpoint, producer snapshot) that the caller then
// fsyncs (closeDurable), and with the directory if dirChanged (the file
// was created, or renamed into place). A file of the same size, or a new
// one, is written in place, with one pwrite of a few dozen bytes at offset
// 0 (within one disk sector, so never torn by a crash; a kill -9 cannot
// tear it at all): creating a temp file and renaming it over the old one
// in ten thousand directories took seconds. Otherwise it goes through a
// temp file and a rename. Whatever a crash leaves is read as the old file,
// the new one, or (a CRC that does not match) as absent, which is safe for
// both files.
func writeFileDeferred(path string, data []byte) (dirChanged bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("log: write %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil && (fi.Size() == 0 || fi.Size() == int64(len(data))) {
		_, err = f.WriteAt(data, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, fmt.Errorf("log: write %s: %w", path, err)
		}
		// An empty file may be the one just created.
		return fi.Size() == 0, nil
	}
	f.Close()
	tmp := path + ".tmp"
	err = os.WriteFile(tmp, data, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("log: write %s: %w", path, err)
	}
	return true, nil
}

// closeUnsynced closes the log without any fsync, for a log about to be
// deleted (removeAll): it stops taking writes, its active segment is
// sealed (indexes trimmed) and its segments closed.
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
	l.releaseFiles()
	if err != nil {
		return fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	return nil
}

// releaseFiles gives back the log's open files and unmaps its
// segments: the last step of both closes, Close and closeDurable.
func (l *Log) releaseFiles() {
	l.files.remove(l)
	l.segMu.Lock()
	for _, s := range l.segs {
		s.Close()
	}
	l.segMu.Unlock()
}

// closeDurable is a Manager's close of the log: Close with only the
// fsyncs its unflushed state needs. It returns how many files it
// fsynced (0 for a log untouched since its last flush). Whatever it
// wrote is durable when it returns nil.
func (l *Log) closeDurable() (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if !l.markClosed() {
		return 0, nil
	}
	defer l.wakeWatchers()
	synced := 0
	err := l.stickyErr()
	if err == nil {
		err = l.active().Seal()
	}
	if err == nil {
		err = l.syncForClose(&synced)
	}
	l.releaseFiles()
	if err != nil {
		return synced, fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	if err := l.writeCloseFiles(&synced); err != nil {
		return synced, err
	}
	return synced, nil
}

// syncForClose makes every byte of the sealed log durable: the segments
// holding data past the last flush, the active segment's indexes (the
// seal trimmed them and wrote the closing time index entry), and the
// directory if a segment file came or went since it was last synced.
// Caller holds writeMu.
func (l *Log) syncForClose(synced *int) error {
	before := l.flushedOffset.Load() < l.nextOffset.Load() || l.sealedSynced.Load() < l.sealedEnd.Load()
	if err := l.syncTo(l.nextOffset.Load()); err != nil {
		return err
	}
	if before {
		*synced++
	}
	if act := l.active(); act.SealWrote() {
		// The seal wrote the indexes after the data's last flush.
		if err := act.Sync(); err != nil {
			return l.poison(fmt.Errorf("log: fsync %s: %w", l.dir, err))
		}
		*synced++
	}
	if l.dirDirty.Swap(false) {
		if err := syncDir(l.dir); err != nil {
			l.dirDirty.Store(true)
			return fmt.Errorf("log: fsync %s: %w", l.dir, err)
		}
		*synced++
	}
	return nil
}

// writeCloseFiles writes, once the log's data is durable, the producer
// snapshot and the clean checkpoint (each if it changed), each fsynced,
// with its directory when the write created or renamed the file; the
// leader epoch file first if it was replaced since it was last synced
// (see syncEpochs). A snapshot a checkpoint pass wrote but could not
// make durable is fsynced too. Caller holds writeMu.
func (l *Log) writeCloseFiles(synced *int) error {
	l.flushedOffset.Store(l.nextOffset.Load())
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if l.epochs.unsynced.Load() {
		if err := l.syncEpochs(); err != nil {
			return fmt.Errorf("log: close %s: %w", l.dir, err)
		}
		*synced++
	}
	end := l.nextOffset.Load()
	version := l.producers.version
	snap := snapshotMark{written: true, offset: end, version: version}
	snapPath := filepath.Join(l.dir, ProducerSnapshotFile)
	if l.lastSnap.sameAs(snap) && l.lastSnap.pending {
		// Written by a checkpoint pass whose barrier did not return.
		if err := syncWritten(snapPath, true); err != nil {
			l.cfg.Load().logger().Warn("log: could not sync the producer snapshot at close; a longer scan at the next open",
				"dir", l.dir, "err", err)
			l.lastSnap = snapshotMark{}
		} else {
			l.lastSnap = snap
			*synced++
		}
	}
	if !l.lastSnap.sameAs(snap) && !l.snapshotNeedless() {
		l.fileGen++
		data := encodeProducerSnapshot(end, l.producers.m)
		dirChanged, err := writeFileDeferred(snapPath, data)
		if err == nil {
			err = syncWritten(snapPath, dirChanged)
		}
		if err != nil {
			// The previous snapshot stays, valid, or one that fails its
			// CRC: a longer scan at the next open, not an unclean close.
			l.cfg.Load().logger().Warn("log: could not write the producer snapshot at close; keeping the previous one",
				"dir", l.dir, "err", err)
		} else {
			l.lastSnap = snap
			*synced++
		}
	}
	c := checkpoint{clean: true, indexFormat: indexFormatVersion,
		recoveryOffset: l.flushedOffset.Load(), logStartOffset: l.startOffset.Load()}
	l.recordHighWatermark(&c)
	if l.lastCkptSet && c == l.lastCkpt && !l.lastCkptPending || l.cleanCheckpointNeedless(c) {
		return nil
	}
	l.fileGen++
	path := filepath.Join(l.dir, CheckpointFile)
	dirChanged, err := writeFileDeferred(path, encodeCheckpoint(c))
	if err != nil {
		if !isNoSpace(err) {
			return fmt.Errorf("log: close %s: %w", l.dir, err)
		}
		// No room for a new file: writeCheckpoint overwrites it in place,
		// durably.
		if err := writeCheckpoint(l.dir, c); err != nil {
			return fmt.Errorf("log: close %s: %w", l.dir, err)
		}
	} else if err := syncWritten(path, dirChanged); err != nil {
		return fmt.Errorf("log: close %s: %w", l.dir, err)
	}
	*synced++
	l.lastCkpt, l.lastCkptSet, l.lastCkptPending = c, true, false
	return nil
}

// syncWritten fsyncs the file at path, and its directory if withDir (the
// file was created or renamed into place).
func syncWritten(path string, withDir bool) error {
	observeSync(syncOpFsync, path)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("log: fsync %s: %w", path, err)
	}
	err = syncjournal.Sync(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && withDir {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("log: fsync %s: %w", path, err)
	}
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
