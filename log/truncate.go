package log

// Truncation (replication's cut of a diverged tail) without waiting for
// readers, and its crash safety. See the package comment, "Truncation".

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

const (
	// TruncateIntentFile names the per-partition record of a truncation
	// in progress: present only while Truncate changes files.
	TruncateIntentFile = "truncate-intent"

	// truncateIntentPayloadSize is version 2's payload: the offset
	// truncated to, an i64, then the mode, a u8 (truncateTo or
	// truncateFully).
	truncateIntentPayloadSize = 9
	// truncateIntentV1PayloadSize is version 1's: the offset alone (the
	// mode is truncateTo).
	truncateIntentV1PayloadSize = 8

	// copyBufferSize is the write buffer of a kept prefix's copy.
	copyBufferSize = 1 << 20
)

// truncateIntentFormat frames truncate-intent. Reader rule: read N and
// N-1 (version 1: the offset alone; version 2 added the mode).
var truncateIntentFormat = framedfile.Format{
	Name: "truncate intent", Magic: "TRTI", Version: 2,
	MaxPayload: truncateIntentPayloadSize,
}

// truncateMode is what a truncation does, as truncate-intent records it.
type truncateMode uint8

const (
	// truncateTo: Truncate, the cut of a tail.
	truncateTo truncateMode = 0
	// truncateFully: TruncateFullyAndStartAt, every segment deleted and
	// the log restarted empty at the offset.
	truncateFully truncateMode = 1
)

// Truncate removes every batch whose last offset is >= offset, so that the
// log ends at the batch boundary at or below offset (replication's
// truncation of a diverged tail). Truncating at or below the log start
// offset empties the log and restarts it at offset; truncating at or past
// the log end cuts no record but drops the leader epochs that start at the
// end (begun without an append). It returns the new log end offset. Only
// a follower truncates: a leader's own epoch may be one of those.
//
// It never waits for readers: a segment no reader holds a view of is cut
// in place; one that is held is replaced by a copy of its kept batches,
// and the views keep the old file's bytes, unchanged, until they are
// released. It is crash safe: the offset is recorded in truncate-intent
// before any file changes, and Open completes an interrupted truncation.
// A failure after that point poisons the log (ErrStorage) until a reopen
// completes it.
func (l *Log) Truncate(offset int64) (int64, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if next := l.nextOffset.Load(); offset >= next {
		// No record to cut, but the epochs that start at the end go
		// (as Kafka's truncateTo always truncates its epoch cache): one
		// this log began as leader without appending anything, before
		// another broker led, is not an epoch the new leader holds, and
		// a follower naming it as its last fetched epoch would be told
		// it diverges at its own end for ever. A failed checkpoint write
		// is retried by Checkpoint.
		return next, l.cutEpochs(next, false)
	}
	next, err := l.truncate(offset, truncateTo)
	if err != nil {
		return next, l.poison(fmt.Errorf("log: truncate %s to %d: %w", l.dir, offset, err))
	}
	return next, nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log
// empty at offset, which may lie past its end (Kafka's
// truncateFullyAndStartAt): what a follower does when its leader's log
// start offset moved past the follower's log end while it was away. The
// log start offset, the log end offset and the high watermark are offset
// afterwards; the leader epoch cache is emptied (the next follower
// append teaches it the leader's epochs again) and so is the idempotent
// producers' state. Readers keep their views of the deleted segments.
//
// It is crash safe as Truncate is, through the same truncate-intent
// (recording the mode): Open completes an interrupted one, and a failure
// part way poisons the log (ErrStorage).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: restart at %d", ErrOffsetOutOfRange, offset)
	}
	if _, err := l.truncate(offset, truncateFully); err != nil {
		return l.poison(fmt.Errorf("log: truncate %s fully and start at %d: %w", l.dir, offset, err))
	}
	return nil
}

// truncate records the intent, cuts the segments (all of them with
// truncateFully), publishes the new end and its producer state, makes it
// all durable and drops the intent. Open calls it too, to complete an
// interrupted truncation. Caller holds writeMu; any error leaves the
// intent in place (the caller poisons the log).
func (l *Log) truncate(offset int64, mode truncateMode) (int64, error) {
	// No fsync in flight: it would hold references to the segments (taken
	// for views here) and could store a flushed offset past the new end.
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := writeTruncateIntent(l.dir, offset, mode); err != nil {
		return 0, err
	}
	if err := l.hookErr("truncate: intent"); err != nil {
		return 0, err
	}
	full := mode == truncateFully
	if full || offset < l.nextOffset.Load() {
		var err error
		if full {
			err = l.truncateFully(offset, l.cfg.Load())
			if err == nil && l.files != nil && !l.fileHeld {
				l.files.admit(l) // the new active segment may hold a descriptor
			}
		} else {
			err = l.cutTo(offset, l.cfg.Load())
		}
		if err != nil {
			return 0, err
		}
		if err := l.hookErr("truncate: cut"); err != nil {
			return 0, err
		}
		// The cut is on stable storage before the intent goes.
		if err := l.active().Sync(); err != nil {
			return 0, err
		}
		if err := syncDir(l.dir); err != nil {
			return 0, err
		}
		l.dirDirty.Store(false)
	}
	next, err := l.afterTruncate(full)
	if err != nil {
		return next, err
	}
	if err := l.hookErr("truncate: checkpointed"); err != nil {
		return next, err
	}
	// The intent must be gone durably before anything is appended past
	// the new end: a reopen would cut it again.
	if err := os.Remove(filepath.Join(l.dir, TruncateIntentFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return next, err
	}
	if err := syncDir(l.dir); err != nil {
		return next, err
	}
	return next, nil
}

// cutTo removes the segments wholly at or past offset and cuts the one
// that keeps batches below it, which becomes the active segment. Caller
// holds writeMu and syncMu.
func (l *Log) cutTo(offset int64, cfg *Config) error {
	keep := l.segmentIndex(offset) // segments after keep are removed whole
	if offset <= l.startOffset.Load() || keep < 0 || offset <= l.segs[0].BaseOffset() {
		return l.truncateFully(offset, cfg)
	}
	if l.segs[keep].BaseOffset() == offset {
		keep--
	}
	gone := append([]*segment.Segment(nil), l.segs[keep+1:]...)
	kept := l.segs[keep]

	l.segMu.Lock()
	l.segs = l.segs[:keep+1]
	// Readers take references under segMu: none can appear meanwhile, so
	// a kept segment held by its owner alone has no view to protect.
	inPlace := kept.Refs() == 1
	var err error
	if inPlace {
		err = l.cutInPlace(kept, offset, cfg)
	}
	l.segMu.Unlock()
	if err == nil && !inPlace {
		err = l.cutByCopy(kept, offset, cfg)
	}
	// Last first: a crash part way leaves a prefix of the log (which the
	// intent then cuts), never a hole.
	for i := len(gone) - 1; i >= 0; i-- {
		if derr := gone[i].Delete(); derr != nil && err == nil {
			err = derr
		}
	}
	l.dirDirty.Store(true)
	if err != nil {
		return err
	}
	if l.files != nil && !l.fileHeld {
		l.files.admit(l) // the new active segment may hold a descriptor
	}
	return nil
}

// cutInPlace cuts kept, which no reader holds, with ftruncate; a sealed
// one is first opened writable again. Caller holds writeMu and segMu.
func (l *Log) cutInPlace(kept *segment.Segment, offset int64, cfg *Config) error {
	if kept.Sealed() {
		kept.Close()
		seg, err := l.openWritable(kept.BaseOffset(), cfg, false)
		if err != nil {
			return err
		}
		l.segs[len(l.segs)-1] = seg
		kept = seg
	}
	return kept.TruncateTo(offset)
}

// cutByCopy replaces kept, which readers hold views of, with a new file of
// its batches below offset: written and fsynced under a temp name, then
// renamed over the old one, whose inode the views' mappings keep alive
// unchanged until they are released. Caller holds writeMu, not segMu.
func (l *Log) cutByCopy(kept *segment.Segment, offset int64, cfg *Config) error {
	base := kept.BaseOffset()
	dst := filepath.Join(l.dir, segment.FileName(base, segment.LogSuffix))
	tmp := dst + framedfile.TempSuffix // removed by Open if left behind
	err := func() error {
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(out, copyBufferSize)
		var werr error
		err = kept.Batches(base, func(h *recordbatch.Header, _ int64, batch []byte) bool {
			if h.LastOffset() >= offset {
				return false
			}
			_, werr = w.Write(batch)
			return werr == nil
		})
		if err == nil {
			err = werr
		}
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = syncjournal.Sync(out)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}()
	if err == nil {
		err = l.hookErr("truncate: copied")
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy the kept batches of %s: %w", kept.Path(), err)
	}
	// The old indexes go first (recovery rebuilds missing ones), then the
	// rename replaces the .log in one step: a crash never leaves neither.
	// The old segment's index mappings keep their unlinked files, and
	// anything it still writes checks the inode (segment.ErrReplaced).
	if err := segment.RemoveFiles(l.dir, base, segment.IndexSuffix, segment.TimeIndexSuffix); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := l.hookErr("truncate: renamed"); err != nil {
		return err
	}
	seg, err := l.openWritable(base, cfg, true)
	if err != nil {
		return err
	}
	l.segMu.Lock()
	l.segs[len(l.segs)-1] = seg
	l.segMu.Unlock()
	kept.Close() // the views release it
	return nil
}

// openWritable opens the segment at base as the active one; rebuild
// rebuilds its indexes from the .log. Caller holds writeMu.
func (l *Log) openWritable(base int64, cfg *Config, rebuild bool) (*segment.Segment, error) {
	seg, err := segment.Open(l.dir, base, l.segConfig(cfg), true)
	if err == nil {
		if rebuild {
			_, err = seg.Recover()
		} else if err = seg.Load(); err != nil {
			// The trimmed indexes no longer check out: rebuild.
			_, err = seg.Recover()
		}
	}
	if err != nil {
		if seg != nil {
			seg.Close()
		}
		return nil, fmt.Errorf("open segment %d as active: %w", base, err)
	}
	return seg, nil
}

// truncateFully deletes every segment and starts an empty log at offset.
// Readers keep their views of the deleted files. Caller holds writeMu.
func (l *Log) truncateFully(offset int64, cfg *Config) error {
	l.segMu.Lock()
	gone := l.segs
	l.segs = nil
	l.segMu.Unlock()
	var errs []error
	for i := len(gone) - 1; i >= 0; i-- {
		if err := gone[i].Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	// Created even after a failed delete: the log must have an active
	// segment, poisoned or not.
	seg, err := segment.Create(l.dir, offset, l.segConfig(cfg))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	l.segMu.Lock()
	l.segs = []*segment.Segment{seg}
	l.segMu.Unlock()
	l.startOffset.Store(offset)
	l.dirDirty.Store(true)
	return errors.Join(errs...)
}

func writeTruncateIntent(dir string, offset int64, mode truncateMode) error {
	b := truncateIntentFormat.Start(truncateIntentPayloadSize)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	frame := truncateIntentFormat.Seal(append(b, byte(mode)))
	if err := truncateIntentFormat.WriteFrame(filepath.Join(dir, TruncateIntentFile), frame); err != nil {
		return fmt.Errorf("write truncate intent: %w", err)
	}
	return nil
}

// readTruncateIntent returns the offset and mode of an interrupted
// truncation in dir. present is false when there is none; ok is false
// when the file cannot be read (the log then holds a prefix of what it
// held, at least every batch the truncation kept: Open keeps it as it
// is).
func readTruncateIntent(dir string) (offset int64, mode truncateMode, present, ok bool, err error) {
	p, v, present, ok, err := readFramed(filepath.Join(dir, TruncateIntentFile), truncateIntentFormat)
	if !ok || err != nil {
		return 0, 0, present, false, err
	}
	switch {
	case v == 1 && len(p) == truncateIntentV1PayloadSize:
		mode = truncateTo
	case v == 2 && len(p) == truncateIntentPayloadSize && truncateMode(p[8]) <= truncateFully:
		mode = truncateMode(p[8])
	default:
		return 0, 0, true, false, nil
	}
	off := int64(binary.BigEndian.Uint64(p))
	if off < 0 {
		return 0, 0, true, false, nil
	}
	return off, mode, true, true, nil
}

// removeSegmentsForFullTruncate deletes the segment files of bases, at
// Open, before a full truncation the intent says was interrupted: the
// log restarts empty at the intent's offset, so nothing in them is to be
// recovered (and their offsets are not lost, but given up).
func removeSegmentsForFullTruncate(dir string, bases []int64) error {
	for i := len(bases) - 1; i >= 0; i-- {
		if err := removeSegmentFiles(dir, bases[i]); err != nil {
			return err
		}
	}
	return nil
}

// completeTruncate finishes a truncation a crash interrupted, at Open: the
// log then holds the truncated state, whatever step the crash stopped at.
// An unreadable intent is dropped, and the log kept as it is.
func (l *Log) completeTruncate(offset int64, mode truncateMode, ok bool) error {
	cfg := l.cfg.Load()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if !ok {
		cfg.logger().Warn("log: unreadable truncate intent; keeping the log as it is", "dir", l.dir,
			"log_end_offset", l.nextOffset.Load())
		if err := os.Remove(filepath.Join(l.dir, TruncateIntentFile)); err != nil {
			return fmt.Errorf("log: open %s: %w", l.dir, err)
		}
		return syncDir(l.dir)
	}
	from := l.nextOffset.Load()
	next, err := l.truncate(offset, mode)
	if err != nil {
		return fmt.Errorf("log: open %s: complete truncation to %d: %w", l.dir, offset, err)
	}
	cfg.logger().Warn("log: completed a truncation interrupted by a crash", "dir", l.dir,
		"offset", offset, "full", mode == truncateFully, "log_end_offset_before", from, "log_end_offset", next)
	return nil
}
