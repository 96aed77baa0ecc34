package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// The Manager's periodic checkpoint pass (log.flush.offset.checkpoint.
// interval.ms): every partition whose recovery checkpoint or producer
// snapshot changed gets the new file, with one or two syncfs(2) barriers
// for the whole data dir instead of two fsyncs per changed file (forty
// thousand a minute at ten thousand partitions, each a device flush on a
// file system without a journal). See "Checkpoint pass" in the package
// comment for the steps and why a crash anywhere in them is safe.

// slowCheckpointPass is how long a checkpoint pass may take before it
// logs how long each step took at INFO, not DEBUG.
const slowCheckpointPass = 5 * time.Second

// Sync operations reported to syncObserver.
const (
	syncOpReplace = "replace" // an atomic replace: fsync of the temp file and of the directory
	syncOpFsync   = "fsync"   // an fsync of one file and of its directory
	syncOpSyncFS  = "syncfs"  // a syncfs of the data dir's file system
	syncOpFlush   = "flush"   // fsyncs of a log's segments with unflushed data (path: the log's dir)
	syncOpMkdir   = "mkdir"   // an fsync of a directory that new directories were made in
)

// syncObserver, if set (by tests), is told of each durable write of the
// recovery checkpoint, producer snapshot and leader epoch checkpoint, of
// each flush of a log's segments, and of each syncfs, with the path synced.
var syncObserver atomic.Pointer[func(op, path string)]

func observeSync(op, path string) {
	if f := syncObserver.Load(); f != nil {
		(*f)(op, path)
	}
}

// stagedCheckpoint is what a pass's first step did for one log.
type stagedCheckpoint struct {
	l *Log
	// gen is l.fileGen when the temp files were written: they are
	// renamed only if no other write of the files happened since.
	gen uint64
	// ckptTmp, snapTmp: a temp file holds ckpt, or the snapshot of snap.
	ckptTmp, snapTmp bool
	ckpt             checkpoint
	snap             snapshotMark
	// inPlace: the checkpoint changed and its file is overwritten in
	// place after the first barrier.
	inPlace bool
	// wrote: what the second step wrote, made durable by the second
	// barrier.
	wroteCkpt, wroteSnap bool
}

// checkpointPass writes every changed recovery checkpoint and producer
// snapshot of logs with at most two syncfs barriers (syncFSSupported
// only). Errors are logged.
func (m *Manager) checkpointPass(logs []*Log) {
	workers := m.ioWorkers()
	t0 := time.Now() // each step's time is logged: a slow pass says why
	// 1. Temp files for the snapshots and the checkpoints that cannot be
	// overwritten in place; retries of failed epoch writes.
	staged := make([]stagedCheckpoint, len(logs))
	parallel(len(logs), workers, func(i int) error {
		s, err := logs[i].stageCheckpoint()
		staged[i] = s
		if err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("log: checkpoint failed", "dir", logs[i].dir, "err", m.storageErr(err))
		}
		return nil
	})
	// 2. One barrier makes the temp files and every leader epoch file
	// replaced since the last pass durable (role changes write them
	// without fsync).
	t1 := time.Now()
	tmpsDurable := true
	if marks := epochMarks(logs); len(marks) > 0 || anyTemp(staged) {
		if err := syncFS(m.dir); err != nil {
			m.logger.Error("log: syncfs before the checkpoints failed", "dir", m.dir, "err", m.storageErr(err))
			tmpsDurable = false
		} else {
			epochsSynced(marks)
		}
	}
	t2 := time.Now()
	// 3. Renames, and checkpoints overwritten in place (a pwrite within
	// one sector).
	parallel(len(staged), workers, func(i int) error {
		if err := staged[i].commit(tmpsDurable); err != nil && !staged[i].l.isClosed.Load() {
			m.logger.Error("log: checkpoint failed", "dir", staged[i].l.dir, "err", m.storageErr(err))
		}
		return nil
	})
	// 4. One barrier makes them durable.
	t3 := time.Now()
	marks := epochMarks(logs)
	if len(marks) == 0 && !anyWritten(staged) {
		return // nothing changed since the last pass
	}
	err := syncFS(m.dir)
	t4 := time.Now()
	level := slog.LevelDebug
	if t4.Sub(t0) >= slowCheckpointPass {
		level = slog.LevelInfo
	}
	m.logger.Log(context.Background(), level, "log: checkpoint pass", "partitions", len(logs), "took", t4.Sub(t0),
		"stage", t1.Sub(t0), "syncfs", t2.Sub(t1), "commit", t3.Sub(t2), "syncfs2", t4.Sub(t3))
	if err != nil {
		m.logger.Error("log: syncfs after the checkpoints failed", "dir", m.dir, "err", m.storageErr(err))
	} else {
		epochsSynced(marks)
	}
	for i := range staged {
		staged[i].settle(err == nil)
	}
}

func anyWritten(staged []stagedCheckpoint) bool {
	for _, s := range staged {
		if s.wroteCkpt || s.wroteSnap {
			return true
		}
	}
	return false
}

func anyTemp(staged []stagedCheckpoint) bool {
	for _, s := range staged {
		if s.ckptTmp || s.snapTmp {
			return true
		}
	}
	return false
}

// stageCheckpoint is a pass's first step for l: it writes, without
// fsync, the temp file of a changed producer snapshot and of a changed
// recovery checkpoint that cannot be overwritten in place.
func (l *Log) stageCheckpoint() (stagedCheckpoint, error) {
	s := stagedCheckpoint{l: l}
	if l.isClosed.Load() {
		return s, ErrClosed
	}
	if err := l.saveEpochsIfDirty(); err != nil {
		return s, err
	}
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	s.gen = l.fileGen
	var errs []error
	c := l.currentCheckpoint(false)
	if !l.checkpointUnchanged(c) {
		if l.lastCkptSet && !l.ckptViaTmp && c.hasHW == l.lastCkpt.hasHW {
			s.inPlace = true // the file has the size of c's frame
		} else {
			// Its recovery offset is read before the barrier that
			// makes the epoch files durable (see syncEpochs).
			s.ckpt = c
			if err := writeTemp(filepath.Join(l.dir, CheckpointFile), encodeCheckpoint(c)); err != nil {
				errs = append(errs, err)
			} else {
				s.ckptTmp = true
			}
		}
	}
	l.pidMu.Lock()
	snap := snapshotMark{written: true, offset: l.nextOffset.Load(), version: l.producers.version}
	if l.lastSnap.sameAs(snap) {
		l.pidMu.Unlock()
		return s, errors.Join(errs...)
	}
	data := encodeProducerSnapshot(snap.offset, l.producers.m)
	l.pidMu.Unlock()
	s.snap = snap
	path := filepath.Join(l.dir, ProducerSnapshotFile)
	// In place when the size is unchanged, as Close writes it: creating
	// and renaming a file in each of ten thousand directories costs more
	// than the fsyncs this pass saves. A power loss before the pass's
	// syncfs may leave it torn, which reads as no snapshot: the producers
	// are rebuilt from the batch headers, as after a crash with none.
	ok, err := overwriteSameSize(path, data)
	switch {
	case err != nil:
		errs = append(errs, err)
	case ok:
		s.snap.pending = true
		l.lastSnap, s.wroteSnap = s.snap, true
	default:
		if err := writeTemp(path, data); err != nil {
			errs = append(errs, err)
		} else {
			s.snapTmp = true
		}
	}
	return s, errors.Join(errs...)
}

// commit is a pass's third step for one log, after the barrier that made
// its temp files durable (tmpsDurable; otherwise they are removed): each
// is renamed over its file unless the file was written by someone else
// meanwhile (a truncation, a close: theirs is newer), and a checkpoint
// to overwrite in place is taken afresh and written.
func (s *stagedCheckpoint) commit(tmpsDurable bool) error {
	l := s.l
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if l.isClosed.Load() || l.fileGen != s.gen || !tmpsDurable {
		s.discard()
		if l.isClosed.Load() {
			return nil // Close wrote the files it needed
		}
		if !tmpsDurable && s.inPlace {
			return l.commitInPlace(s) // it syncs the epochs itself
		}
		return nil // the next pass writes them
	}
	var errs []error
	if s.snapTmp {
		path := filepath.Join(l.dir, ProducerSnapshotFile)
		if err := os.Rename(path+framedfile.TempSuffix, path); err != nil {
			errs = append(errs, fmt.Errorf("log: replace producer snapshot: %w", err))
		} else {
			s.snap.pending = true
			l.lastSnap, s.wroteSnap = s.snap, true
		}
	}
	if s.ckptTmp {
		path := filepath.Join(l.dir, CheckpointFile)
		if err := os.Rename(path+framedfile.TempSuffix, path); err != nil {
			errs = append(errs, fmt.Errorf("log: replace checkpoint: %w", err))
		} else {
			l.lastCkpt, l.lastCkptSet, l.lastCkptPending, l.ckptViaTmp = s.ckpt, true, true, false
			s.wroteCkpt = true
		}
	}
	if s.inPlace {
		errs = append(errs, l.commitInPlace(s))
	}
	return errors.Join(errs...)
}

// commitInPlace overwrites the checkpoint with the log's current one.
// Caller holds ckptMu.
func (l *Log) commitInPlace(s *stagedCheckpoint) error {
	c := l.currentCheckpoint(false)
	if l.checkpointUnchanged(c) {
		return nil
	}
	// An epoch replaced since the barrier (a role change meanwhile).
	if err := l.syncEpochs(); err != nil {
		return err
	}
	ok, err := overwriteSameSize(filepath.Join(l.dir, CheckpointFile), encodeCheckpoint(c))
	if err != nil {
		return err
	}
	if !ok {
		l.ckptViaTmp = true // the next pass replaces it
		return nil
	}
	l.lastCkpt, l.lastCkptSet, l.lastCkptPending = c, true, true
	s.ckpt, s.wroteCkpt = c, true
	return nil
}

// settle is a pass's last step for one log: what it wrote is durable if
// the barrier succeeded; otherwise it is forgotten, so that the next pass
// and every write that must be durable write it again.
func (s *stagedCheckpoint) settle(durable bool) {
	if !s.wroteCkpt && !s.wroteSnap {
		return
	}
	l := s.l
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if s.wroteSnap && l.lastSnap == s.snap {
		if durable {
			l.lastSnap.pending = false
		} else {
			l.lastSnap = snapshotMark{}
		}
	}
	if s.wroteCkpt && l.lastCkptPending && l.lastCkpt == s.ckpt {
		if durable {
			l.lastCkptPending = false
		} else {
			// Still a file of this size: only the content is in doubt.
			l.lastCkpt.recoveryOffset = -1
		}
	}
}

// discard removes the temp files of a stage that is not committed.
func (s *stagedCheckpoint) discard() {
	if s.ckptTmp {
		os.Remove(filepath.Join(s.l.dir, CheckpointFile) + framedfile.TempSuffix)
	}
	if s.snapTmp {
		os.Remove(filepath.Join(s.l.dir, ProducerSnapshotFile) + framedfile.TempSuffix)
	}
	s.ckptTmp, s.snapTmp = false, false
}

// sameAs reports whether m and o name the same snapshot, durable or not.
func (m snapshotMark) sameAs(o snapshotMark) bool {
	m.pending, o.pending = false, false
	return m == o
}

// writeTemp writes data to path's temp file, without fsync.
func writeTemp(path string, data []byte) error {
	if err := os.WriteFile(path+framedfile.TempSuffix, data, 0o644); err != nil {
		os.Remove(path + framedfile.TempSuffix)
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	return nil
}

// overwriteSameSize writes data over the file at path, in place with one
// pwrite at offset 0 and without fsync, if the file is exactly as long
// (ok false otherwise, and nothing written). For the recovery checkpoint,
// a few dozen bytes within one sector: a crash leaves the old bytes or
// the new ones.
func overwriteSameSize(path string, data []byte) (ok bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("log: overwrite %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("log: overwrite %s: %w", path, err)
	}
	if fi.Size() != int64(len(data)) {
		return false, nil
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return false, fmt.Errorf("log: overwrite %s: %w", path, err)
	}
	return true, nil
}

// overwriteUnsynced writes data over the file at path (created if
// missing) from offset 0 with one pwrite, cutting what the old file had
// past it, without fsync. A crash of the process leaves the old bytes or
// the new ones; a power loss may leave a mix, which fails the frame's
// CRC and reads as unreadable.
func overwriteUnsynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("log: overwrite %s: %w", path, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() > int64(len(data)) {
			err = f.Truncate(int64(len(data)))
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("log: overwrite %s: %w", path, err)
	}
	return nil
}
