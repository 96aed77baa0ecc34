package log

import (
	"errors"
	"fmt"
	"os"

	"github.com/tributary-io/tributary/segment"
)

// ApplyRetention drops the state of idempotent producers idle for
// producer.id.expiration.ms, and deletes whole sealed segments, oldest
// first, that are past retention.ms (by their max timestamp; by file mtime
// when they carry no timestamps) or that retention.bytes no longer needs,
// when cleanup.policy includes delete (compact alone keeps every segment:
// the cleaner bounds the log instead). The active segment is never deleted. The log start offset moves to the first remaining segment
// and is persisted. It returns the number of segments deleted.
func (l *Log) ApplyRetention() (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	cfg := l.cfg.Load()
	now := cfg.now().UnixMilli()
	l.expireProducers(cfg)

	l.segMu.RLock()
	total := int64(0)
	for _, s := range l.segs {
		total += s.Size()
	}
	n := 0
	for ; n < len(l.segs)-1 && cfg.Deletes(); n++ {
		s := l.segs[n]
		expired := false
		if cfg.RetentionMs >= 0 {
			ts := s.MaxTimestamp()
			if ts < 0 {
				if fi, err := os.Stat(s.Path()); err == nil {
					ts = fi.ModTime().UnixMilli()
				}
			}
			expired = now-ts > cfg.RetentionMs
		}
		if !expired && cfg.RetentionBytes >= 0 && total-s.Size() >= cfg.RetentionBytes {
			expired = true
		}
		if !expired {
			break
		}
		total -= s.Size()
	}
	l.segMu.RUnlock()
	l.segMu.Lock()
	l.shrinkSealed(cfg)
	l.segMu.Unlock()
	if n == 0 {
		return 0, nil
	}
	if err := l.deleteOldest(n); err != nil {
		return 0, err
	}
	cfg.logger().Info("log: retention deleted segments", "dir", l.dir, "segments", n,
		"log_start_offset", l.startOffset.Load())
	return n, nil
}

// deleteOldest removes the first n segments (never the active one), moves the
// log start offset up to the new first segment and persists it. Caller holds
// writeMu.
func (l *Log) deleteOldest(n int) error {
	// The producer snapshot must cover the batches about to go: after a
	// crash, Open replays batch headers from the snapshot's offset, and
	// batches deleted past it would roll producers back (a retry still
	// in their window would then be appended twice). Kafka snapshots at
	// every roll for the same reason. A snapshot that cannot be written
	// keeps the segments: retention can wait.
	if err := l.saveProducerSnapshot(false); err != nil {
		return fmt.Errorf("log: delete segments in %s: producer snapshot first: %w", l.dir, err)
	}
	l.segMu.Lock()
	n = min(n, len(l.segs)-1)
	gone := make([]*segment.Segment, n)
	copy(gone, l.segs[:n])
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	newStart := l.segs[0].BaseOffset()
	if newStart > l.startOffset.Load() {
		l.startOffset.Store(newStart)
	}
	l.segMu.Unlock()
	l.wakeWatchers()
	l.cutEpochs(-1, false) // retried by Checkpoint
	var errs []error
	for _, s := range gone {
		if err := s.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	// The next fsync of the directory (a flush after a roll, a close)
	// makes the deletions durable: a clean stop must not leave files
	// that a power loss brings back.
	l.dirDirty.Store(true)
	if err := l.checkpointRecovery(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: delete segments in %s: %w", l.dir, err)
	}
	return nil
}

// DeleteRecordsBefore moves the log start offset up to offset (Kafka's
// DeleteRecords), persists it before returning, and deletes the sealed
// segments that now lie wholly below it. It returns the new log start offset
// (the low watermark). Reads below it get ErrOffsetOutOfRange. The log
// start offset only moves up (an offset at or below it changes nothing)
// and never past the high watermark (ErrOffsetOutOfRange: records not
// yet committed cannot be deleted, as in Kafka; in an unreplicated log
// the high watermark is the log end).
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	if hw := l.HighWatermark(); offset < 0 || offset > hw {
		return 0, fmt.Errorf("%w: delete records before %d, log has [%d, %d], high watermark %d", ErrOffsetOutOfRange,
			offset, l.startOffset.Load(), l.nextOffset.Load(), hw)
	}
	if offset <= l.startOffset.Load() {
		return l.startOffset.Load(), nil
	}
	l.startOffset.Store(offset)
	l.wakeWatchers()
	l.cutEpochs(-1, false) // retried by Checkpoint
	if err := l.checkpointRecovery(); err != nil {
		return 0, err
	}
	l.segMu.RLock()
	n := 0
	// Whole segments below offset: the next one starts at or below it (not
	// the segment's own NextOffset, which a cleaned segment ending in a
	// gap keeps below where the next one starts).
	for n < len(l.segs)-1 && l.segs[n+1].BaseOffset() <= offset {
		n++
	}
	l.segMu.RUnlock()
	if n > 0 {
		if err := l.deleteOldest(n); err != nil {
			return offset, err
		}
	}
	return offset, nil
}

// MaybeIncrementLogStartOffset raises the log start offset to offset
// when it is higher (Kafka's maybeIncrementLogStartOffset): a follower
// follows its leader's log start offset (the LogStartOffset of a Fetch
// response), moved up by the leader's retention or DeleteRecords. It is
// DeleteRecordsBefore, one rule for both: only up, never past the high
// watermark (ErrOffsetOutOfRange), persisted, the epoch cache trimmed
// and the segments wholly below it deleted.
func (l *Log) MaybeIncrementLogStartOffset(offset int64) error {
	_, err := l.DeleteRecordsBefore(offset)
	return err
}

// afterTruncate publishes the new end with the producer state that goes
// with it, clamps the flushed offset and replaces the producer snapshot,
// which may cover batches that are gone. full: every segment was deleted
// and the log restarted empty at its end (TruncateFullyAndStartAt), so
// the producer state and the epoch cache are emptied and the high
// watermark set to the end, wherever they were. Caller holds writeMu (not
// segMu: it writes files, and readers must not wait for them).
func (l *Log) afterTruncate(full bool) (int64, error) {
	next := l.active().NextOffset()
	l.pidMu.Lock()
	l.nextOffset.Store(next)
	if full {
		l.producers.reset(map[int64]*producerEntry{})
		l.producers.version++
	} else {
		l.truncateProducers(next, l.cfg.Load())
	}
	l.pidMu.Unlock()
	if full {
		l.resetHighWatermark(next)
		l.epochs.mu.Lock()
		err := l.replaceEpochs(nil)
		l.epochs.mu.Unlock()
		if err != nil {
			return next, l.poison(err)
		}
		// The empty log and the directory were fsynced: everything
		// below its end is on stable storage (there is nothing).
		l.flushedOffset.Store(next)
	} else {
		l.truncateHighWatermark(next)
		if err := l.cutEpochs(next, true); err != nil {
			// The file would name epochs of data that is gone.
			return next, l.poison(err)
		}
	}
	if l.flushedOffset.Load() > next {
		l.flushedOffset.Store(next)
	}
	if l.sealedEnd.Load() > next {
		// The segments rolled past the new end are gone; those rolled
		// from here on need their sealed sync (see sealedSynced).
		l.sealedEnd.Store(next)
	}
	if l.sealedSynced.Load() > next {
		l.sealedSynced.Store(next)
	}
	if l.startOffset.Load() > next {
		l.startOffset.Store(next)
	}
	l.wakeWatchers() // readers past the new end must hear it
	if l.cleanedOffset.Load() > next {
		// Nothing past the end was cleaned any more; appends there must
		// not be taken for cleaned data (gaps) by a recovery.
		if err := l.storeCleanedOffset(next, false); err != nil {
			return next, l.poison(err)
		}
	}
	l.rollBaseTs = l.cfg.Load().now().UnixMilli()
	if err := l.saveProducerSnapshot(true); err != nil {
		// The old snapshot may describe the cut batches: nothing may be
		// appended until a reopen rebuilds from the log.
		return next, l.poison(err)
	}
	if err := l.checkpointRecovery(); err != nil {
		return next, err
	}
	return next, nil
}
