package log

import (
	"fmt"
	"os"
	"path/filepath"
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
// is truncated, and damaged or missing indexes are rebuilt. Recovery time and
// bytes scanned are logged. Then the idempotent producers' state is loaded
// from the producer snapshot and the batch headers after it.
func Open(dir string, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	l := &Log{dir: dir}
	l.cfg.Store(&cfg)
	start := time.Now()

	ckpt, haveCkpt, err := readCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	bases, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	clean := haveCkpt && ckpt.clean && ckpt.indexFormat == indexFormatVersion
	recoverFrom := int64(0) // segments holding offsets >= recoverFrom are scanned
	if haveCkpt {
		recoverFrom = ckpt.recoveryOffset
	}
	info := RecoveryInfo{Clean: clean}
	if err := l.loadSegments(bases, clean, recoverFrom, &info); err != nil {
		l.closeSegments()
		return nil, err
	}
	if len(l.segs) == 0 {
		base := int64(0)
		if haveCkpt {
			base = ckpt.logStartOffset
		}
		seg, err := segment.Create(dir, base, cfg.segmentConfig())
		if err != nil {
			return nil, fmt.Errorf("log: open %s: %w", dir, err)
		}
		l.segs = []*segment.Segment{seg}
		l.dirDirty.Store(true)
	}
	act := l.active()
	next := act.NextOffset()
	l.nextOffset.Store(next)
	startOff := l.segs[0].BaseOffset()
	if haveCkpt && ckpt.logStartOffset > startOff {
		startOff = min(ckpt.logStartOffset, next)
	}
	l.startOffset.Store(startOff)
	l.rollBaseTs = cfg.now().UnixMilli()
	act.Batches(act.BaseOffset(), func(h *recordbatch.Header, _ int64, _ []byte) bool {
		if h.MaxTimestamp >= 0 {
			l.rollBaseTs = h.MaxTimestamp
		}
		return false
	})
	l.lastFlush.Store(time.Now().UnixNano())

	// Whatever the previous process left in the page cache is now part of the
	// log: make it durable before trusting it as the recovery point, and mark
	// the log as open (not clean) so a crash from here on recovers.
	if clean {
		l.flushedOffset.Store(next)
	} else {
		// Only segments past the old recovery point can hold unflushed pages.
		l.flushedOffset.Store(min(recoverFrom, next))
		if err := l.syncTo(next); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	if err := l.writeCheckpoint(false); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := l.loadProducers(); err != nil {
		l.closeSegments()
		return nil, err
	}
	info.Segments = len(l.segs)
	info.Duration = time.Since(start)
	l.recoveryInfo = info
	if !clean && (haveCkpt || info.BytesScanned > 0) {
		cfg.logger().Info("log: recovered partition", "dir", dir, "segments", info.Segments,
			"bytes_scanned", info.BytesScanned, "truncated_bytes", info.TruncatedBytes,
			"log_start_offset", startOff, "log_end_offset", next, "duration", info.Duration)
	}
	return l, nil
}

// listSegments returns the base offsets of the .log files in dir, sorted,
// and removes leftovers: temp files and indexes without a .log.
func listSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, e := range ents {
		if base, suf, ok := segment.ParseFileName(e.Name()); ok && suf == segment.LogSuffix {
			logs[base] = true
			bases = append(bases, base)
		}
	}
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

// loadSegments opens every segment. Segments wholly below recoverFrom were
// flushed before the checkpoint and are only sanity-checked; the rest are
// CRC-scanned. The first corrupt point truncates the log there: the rest of
// that segment and every later segment are removed.
func (l *Log) loadSegments(bases []int64, clean bool, recoverFrom int64, info *RecoveryInfo) error {
	cfg := l.cfg.Load()
	segCfg := cfg.segmentConfig()
	logger := cfg.logger()
	for i, base := range bases {
		last := i == len(bases)-1
		if n := len(l.segs); n > 0 && l.segs[n-1].NextOffset() != base && isEmptySegment(l.dir, base) {
			// An empty file left by a roll that failed midway: it holds
			// nothing, so only it goes.
			logger.Warn("log: removing stray empty segment", "dir", l.dir, "segment", base)
			if err := removeSegmentFiles(l.dir, base); err != nil {
				return err
			}
			continue
		}
		if n := len(l.segs); n > 0 && l.segs[n-1].NextOffset() != base {
			// A gap or an overlap: nothing from here on follows the log.
			logger.Warn("log: segment does not follow the previous one; removing it and every later segment",
				"dir", l.dir, "segment", base, "expected", l.segs[n-1].NextOffset())
			if err := l.dropFrom(bases[i:], info); err != nil {
				return err
			}
			break
		}
		flushedBefore := !last && bases[i+1] <= recoverFrom
		if clean || flushedBefore {
			seg, err := segment.Open(l.dir, base, segCfg, last)
			if err == nil {
				if err = seg.Load(); err == nil {
					l.segs = append(l.segs, seg)
					continue
				}
				seg.Close()
			}
			logger.Warn("log: segment failed its checks, recovering it", "dir", l.dir, "segment", base, "err", err)
		}
		seg, err := segment.Open(l.dir, base, segCfg, true)
		if err != nil {
			return fmt.Errorf("log: open %s: %w", l.dir, err)
		}
		st, err := seg.Recover()
		info.BytesScanned += st.BytesScanned
		info.TruncatedBytes += st.TruncatedBytes
		if err != nil {
			seg.Close()
			return fmt.Errorf("log: recover %s: %w", l.dir, err)
		}
		if st.TruncatedBytes > 0 {
			logger.Warn("log: truncated torn or corrupt tail", "dir", l.dir, "segment", base,
				"valid_bytes", seg.Size(), "truncated_bytes", st.TruncatedBytes, "next_offset", seg.NextOffset(), "cause", st.Cause)
		}
		if seg.Size() == 0 && len(l.segs) > 0 {
			// An empty segment after a full one (a crash right after a roll, or
			// a tail cut to nothing): drop it; the previous one stays active.
			seg.Delete()
		} else {
			l.segs = append(l.segs, seg)
		}
		if st.TruncatedBytes > 0 && !last {
			if err := l.dropFrom(bases[i+1:], info); err != nil {
				return err
			}
			break
		}
	}
	// Every segment but the last is sealed; the last one is writable.
	for i, seg := range l.segs {
		if i == len(l.segs)-1 {
			if seg.Sealed() {
				return l.reopenActive()
			}
			break
		}
		if err := seg.Seal(); err != nil {
			return fmt.Errorf("log: open %s: %w", l.dir, err)
		}
	}
	return nil
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

// dropFrom deletes the segment files of bases (all after the truncation point).
func (l *Log) dropFrom(bases []int64, info *RecoveryInfo) error {
	for _, base := range bases {
		if fi, err := os.Stat(filepath.Join(l.dir, segment.FileName(base, segment.LogSuffix))); err == nil {
			info.TruncatedBytes += fi.Size()
		}
		if err := removeSegmentFiles(l.dir, base); err != nil {
			return err
		}
	}
	l.dirDirty.Store(true)
	return nil
}

// reopenActive replaces a sealed last segment with a writable instance of the
// same files. Only used while loading (no readers yet) and by Truncate (after
// readers drained).
func (l *Log) reopenActive() error {
	old := l.active()
	old.Close()
	seg, err := segment.Open(l.dir, old.BaseOffset(), l.cfg.Load().segmentConfig(), true)
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
