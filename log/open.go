package log

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// indexFormatVersion is recorded in the checkpoint: after an upgrade that
// changes the index layout, a clean shutdown still rebuilds the indexes.
const indexFormatVersion = index.FormatVersion

// Open opens (creating if needed) the partition log in dir. After an unclean
// shutdown it recovers: every segment holding offsets at or past the
// recovery checkpoint is CRC-scanned batch by batch, a torn or corrupt tail
// is truncated, and damaged or missing indexes are rebuilt. Damage to a
// segment costs only its damaged part, left as an offset gap (see
// recover.go). Recovery time and
// bytes scanned are logged. Then the idempotent producers' state is loaded
// from the producer snapshot and the batch headers after it.
func Open(dir string, cfg Config) (*Log, error) {
	return open(dir, cfg, nil)
}

// open is Open, or with mo the Manager's open of one of its partitions:
// then the clean flag counts only with the data dir's clean-shutdown
// marker, and after an unclean shutdown nothing is fsynced or written here
// (the Manager makes every partition durable with one syncfs, see
// markDurable), so that ten thousand partitions open in seconds.
func open(dir string, cfg Config, mo *managedOpen) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	l := &Log{dir: dir}
	l.cfg.Store(&cfg)
	if mo != nil {
		l.segCache = mo.cache // before any segment is opened: they keep it
		l.files = mo.files
	}
	start := time.Now()

	ckpt, haveCkpt, err := readCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	cleaned, ckptPresent, ckptOK, err := readCleanerCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	if ckptPresent && !ckptOK {
		// The cleaner may have left gaps anywhere: accept them in every
		// segment rather than cut a cleaned log at its first gap. The
		// checkpoint is rewritten below, once the log end is known.
		cleaned = math.MaxInt64
	}
	l.cleanedOffset.Store(cleaned)
	if err := completeSwaps(dir, cfg.logger()); err != nil {
		return nil, err
	}
	bases, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	clean := haveCkpt && ckpt.clean && ckpt.indexFormat == indexFormatVersion
	if mo != nil {
		clean = mo.clean(ckpt, haveCkpt)
	}
	recoverFrom, logStart := int64(0), int64(0) // segments holding offsets >= recoverFrom are scanned
	if haveCkpt {
		recoverFrom, logStart = ckpt.recoveryOffset, ckpt.logStartOffset
	}
	intent, intentMode, intentPresent, intentOK, err := readTruncateIntent(dir)
	if err != nil {
		return nil, err
	}
	if intentPresent {
		// A truncation was interrupted: the checkpoint may still vouch
		// for offsets it cut (which must not be taken for lost ones).
		clean = false
		if intentOK {
			recoverFrom = min(recoverFrom, intent)
		}
		if intentOK && intentMode == truncateFully {
			// Nothing of the old log is kept: its segments go unread, and
			// the log starts (empty) where the truncation restarts it.
			if err := removeSegmentsForFullTruncate(dir, bases); err != nil {
				return nil, err
			}
			bases, recoverFrom, logStart = nil, intent, intent
		}
	}
	info := RecoveryInfo{Clean: clean}
	if err := l.loadSegments(bases, clean, recoverFrom, logStart, &info); err != nil {
		l.closeSegments()
		return nil, err
	}
	if info.TruncatedBytes > 0 || len(info.Lost) > 0 {
		info.Clean = false // a clean shutdown, then damage
	}
	if len(l.segs) == 0 {
		base := logStart // the checkpoint's, or an interrupted full truncation's
		seg, err := segment.Create(dir, base, l.segConfig(&cfg))
		if err != nil {
			return nil, fmt.Errorf("log: open %s: %w", dir, err)
		}
		l.segs = []*segment.Segment{seg}
		l.dirDirty.Store(true)
	}
	act := l.active()
	next := act.NextOffset()
	l.nextOffset.Store(next)
	if ckptPresent && !ckptOK {
		cfg.logger().Warn("log: unreadable cleaner checkpoint; treating every sealed segment as cleaned", "dir", dir)
		l.cleanedOffset.Store(act.BaseOffset())
		if err := writeCleanerCheckpoint(dir, act.BaseOffset()); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	startOff := l.segs[0].BaseOffset()
	if haveCkpt && ckpt.logStartOffset > startOff {
		startOff = min(ckpt.logStartOffset, next)
	}
	l.startOffset.Store(startOff)
	if haveCkpt {
		l.loadHighWatermark(ckpt) // at most the recovered end
	}
	l.rollBaseTs = cfg.now().UnixMilli()
	act.Batches(act.BaseOffset(), func(h *recordbatch.Header, _ int64, _ []byte) bool {
		if h.MaxTimestamp >= 0 {
			l.rollBaseTs = h.MaxTimestamp
		}
		return false
	})
	l.lastFlush.Store(sinceStart())

	// Whatever the previous process left in the page cache is now part of the
	// log: make it durable before trusting it as the recovery point, and mark
	// the log as open (not clean) so a crash from here on recovers.
	if clean {
		l.flushedOffset.Store(next)
	} else {
		// Only segments past the old recovery point can hold unflushed pages.
		l.flushedOffset.Store(min(recoverFrom, next))
		if mo == nil {
			if err := l.syncTo(next); err != nil {
				l.closeSegments()
				return nil, err
			}
		}
	}
	if mo != nil {
		// The Manager's syncfs makes the data durable, and the removed
		// clean-shutdown marker, not this file, says the log is open: the
		// file stays as it is until its offsets change.
		l.managed = true
		if haveCkpt {
			l.lastCkpt, l.lastCkptSet = ckpt, true
		}
	} else if err := l.writeCheckpoint(false); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.loadEpochs(info.Clean, recoverFrom); err != nil {
		l.closeSegments()
		return nil, err
	}
	if mo == nil {
		// The checkpoint above already vouches for the recovered batches
		// whose epochs loadEpochs just learned (see syncEpochs). A
		// Manager's syncfs (markDurable) does this for its logs.
		if err := l.syncEpochs(); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	l.recoveryInfo = info // loadProducers looks at what was lost
	if err := l.loadProducers(); err != nil {
		l.closeSegments()
		return nil, err
	}
	if intentPresent {
		if err := l.completeTruncate(intent, intentMode, intentOK); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	if l.segCache != nil {
		for _, s := range l.segs[:len(l.segs)-1] {
			l.segCache.Add(s)
		}
	}
	if l.files != nil {
		l.writeMu.Lock()
		l.files.admit(l) // its active segment holds its descriptor
		l.writeMu.Unlock()
	}
	info.Segments = len(l.segs)
	info.Duration = time.Since(start)
	l.recoveryInfo = info
	if !info.Clean && (haveCkpt || info.BytesScanned > 0) {
		cfg.logger().Info("log: recovered partition", "dir", dir, "segments", info.Segments,
			"bytes_scanned", info.BytesScanned, "truncated_bytes", info.TruncatedBytes, "lost_offsets", info.LostOffsets,
			"log_start_offset", startOff, "log_end_offset", next, "duration", info.Duration)
	}
	if obs := cfg.RecoveryObserver; obs != nil {
		obs(dir, info)
	}
	return l, nil
}

// completeSwaps finishes or undoes the log cleaner swaps a crash
// interrupted (see swapCleaned). Files <base>.*.cleaned were never
// committed: they go. A <base>.log.swap was committed: every segment whose
// base offset lies inside it, (base, its next offset), goes, then it takes
// its final name; its indexes are removed and rebuilt by recovery. Index
// .swap files without their .log.swap belong to an uncommitted swap.
func completeSwaps(dir string, logger *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log: open %s: %w", dir, err)
	}
	var logs, swaps []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, segment.CleanedSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("log: open %s: remove uncommitted cleaned file: %w", dir, err)
			}
			continue
		}
		if base, suf, ok := segment.ParseFileName(name); ok && suf == segment.LogSuffix {
			logs = append(logs, base)
		}
		if trimmed, ok := strings.CutSuffix(name, segment.SwapSuffix); ok {
			if base, suf, ok := segment.ParseFileName(trimmed); ok && suf == segment.LogSuffix {
				swaps = append(swaps, base)
			}
		}
	}
	for _, base := range swaps {
		next, err := swapNextOffset(filepath.Join(dir, segment.FileName(base, segment.LogSuffix+segment.SwapSuffix)), base)
		if err != nil {
			return err
		}
		replaced := 0
		for _, other := range logs {
			if other > base && other < next {
				if err := removeSegmentFiles(dir, other); err != nil {
					return err
				}
				replaced++
			}
		}
		if err := segment.RemoveFiles(dir, base, segment.IndexSuffix, segment.TimeIndexSuffix,
			segment.IndexSuffix+segment.SwapSuffix, segment.TimeIndexSuffix+segment.SwapSuffix); err != nil {
			return fmt.Errorf("log: open %s: %w", dir, err)
		}
		if err := segment.RenameFiles(dir, base, segment.SwapSuffix, ""); err != nil {
			return fmt.Errorf("log: open %s: complete cleaner swap: %w", dir, err)
		}
		logger.Warn("log: completed a log cleaner swap interrupted by a crash", "dir", dir, "segment", base,
			"next_offset", next, "segments_replaced", replaced+1)
	}
	for _, e := range ents {
		name := e.Name()
		if trimmed, ok := strings.CutSuffix(name, segment.SwapSuffix); ok {
			if base, suf, ok := segment.ParseFileName(trimmed); ok && suf != segment.LogSuffix && !slices.Contains(swaps, base) {
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	if len(swaps) > 0 {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("log: open %s: %w", dir, err)
		}
	}
	return nil
}

// swapNextOffset returns the offset after the last batch of a committed
// swap file (fsynced before its commit, so whole), reading batch headers
// only; base for an empty one.
func swapNextOffset(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("log: open cleaner swap: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("log: open cleaner swap: %w", err)
	}
	next := base
	var hdr [recordbatch.HeaderSize]byte
	for pos := int64(0); pos < fi.Size(); {
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			break // a short tail: recovery cuts it
		}
		// ParseHeader wants the whole batch; the fields needed are read here.
		baseOffset := int64(binary.BigEndian.Uint64(hdr[recordbatch.BaseOffsetPos:]))
		size := recordbatch.LogOverhead + int64(int32(binary.BigEndian.Uint32(hdr[recordbatch.BatchLengthPos:])))
		lastDelta := int64(int32(binary.BigEndian.Uint32(hdr[recordbatch.LastOffsetDeltaPos:])))
		if hdr[recordbatch.MagicPos] != recordbatch.Magic || size < recordbatch.HeaderSize || lastDelta < 0 ||
			baseOffset < next || pos+size > fi.Size() {
			break // recovery of the segment cuts the file here
		}
		next = baseOffset + lastDelta + 1
		pos += size
	}
	return next, nil
}

// segmentLogs returns the base offsets of the segment .log files among
// ents, as a set and in directory order.
func segmentLogs(ents []os.DirEntry) (map[int64]bool, []int64) {
	logs := map[int64]bool{}
	var bases []int64
	for _, e := range ents {
		if base, suf, ok := segment.ParseFileName(e.Name()); ok && suf == segment.LogSuffix {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	return logs, bases
}

// listSegments returns the base offsets of the .log files in dir, sorted,
// and removes leftovers: temp files and indexes without a .log.
func listSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	logs, bases := segmentLogs(ents)
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if base, suf, ok := segment.ParseFileName(name); ok && suf != segment.LogSuffix && !logs[base] {
			os.Remove(filepath.Join(dir, name))
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func isEmptySegment(dir string, base int64) bool {
	fi, err := os.Stat(filepath.Join(dir, segment.FileName(base, segment.LogSuffix)))
	return err == nil && fi.Size() == 0
}

func removeSegmentFiles(dir string, base int64) error {
	if err := segment.RemoveFiles(dir, base); err != nil {
		return fmt.Errorf("log: remove segment %d in %s: %w", base, dir, err)
	}
	return nil
}

// reopenActive replaces a sealed last segment with a writable instance of the
// same files. Only used while loading (no readers yet) and by Truncate (after
// readers drained).
func (l *Log) reopenActive() error {
	old := l.active()
	old.Close()
	seg, err := segment.Open(l.dir, old.BaseOffset(), l.segConfig(l.cfg.Load()), true)
	if err == nil {
		if err = seg.Load(); err != nil {
			// The trimmed indexes no longer check out: rebuild.
			_, err = seg.Recover()
		}
	}
	if err != nil {
		if seg != nil {
			seg.Close()
		}
		return fmt.Errorf("log: reopen active segment %s: %w", old.Path(), err)
	}
	l.segs[len(l.segs)-1] = seg
	return nil
}

func (l *Log) closeSegments() {
	for _, s := range l.segs {
		s.Close()
	}
	l.segs = nil
}
