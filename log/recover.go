package log

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Recovery of a partition's segments at Open.
//
// Every segment is repaired on its own: a segment is CRC-scanned (or, when
// flushed before the recovery checkpoint, sanity-checked) and cut at its
// first bad batch; the segments after it are kept if their own batches
// verify. What a cut or a missing segment file takes away is left as an
// offset gap between segments, which readers skip as they skip the gaps
// the log cleaner leaves (Read of an offset in a gap returns the next batch
// after it). Offsets are never reused: the log end stays past every kept
// batch, and past the recovery checkpoint's offset (everything below it was
// on stable storage, maybe acknowledged and consumed), where a new segment
// starts if the log's tail was lost. Only the torn tail of the last
// segment (damage that runs to the end of the file: a write a crash cut
// short) is cut and its offsets given out again, as Kafka does; damage
// followed by valid batches is repaired there as in a sealed segment,
// whichever side of the recovery point it lies (segment.RecoverOptions).
//
// A segment whose base offset lies below the end of the one before it (an
// overlap: files of a truncated log that came back, an operator's copy)
// loses the overlapping part: the earlier segment is the one that follows
// the log, so only the later segment's batches from that end on are kept,
// rewritten into a segment named by its first kept batch.
//
// Each gap that no cleaner explains is reported once: logged at ERROR with
// its exact range, counted in RecoveryInfo.Lost (and by the Manager in
// tributary_log_recovery_lost_offsets_total), and recorded in the
// lost-offsets file so that later opens know it.

// LostRange is a range of offsets recovery found missing, and why.
type LostRange struct {
	OffsetRange
	Cause string
}

// recovery is one loadSegments run's state.
type recovery struct {
	l               *Log
	segCfg          segment.Config
	logger          *slog.Logger
	compactedBefore int64
	info            *RecoveryInfo
	// logStart is the checkpoint's log start offset: offsets below it
	// were deleted (DeleteRecords), so damage there loses nothing.
	logStart int64

	// end is the offset after the last kept batch, -1 before the first
	// kept segment (or the base offset of the first segment, when it was
	// removed for damage: the log claimed offsets from there).
	end int64
	// damage says why offsets from end on may be missing (batches cut or
	// a segment removed since end was set); "" when nothing was.
	damage string
	// gaps are the ranges between kept segments that the cleaner does not
	// explain, reported or not before.
	gaps []LostRange
}

// loadSegments opens every segment, repairing what is damaged (see above):
// segments wholly below recoverFrom (or every one, after a clean shutdown)
// are only sanity-checked unless that fails; the rest are CRC-scanned.
// logStart is the checkpoint's log start offset: where the log's offsets
// begin when no segment is left at all.
func (l *Log) loadSegments(bases []int64, clean bool, recoverFrom, logStart int64, info *RecoveryInfo) error {
	cfg := l.cfg.Load()
	r := &recovery{l: l, segCfg: l.segConfig(cfg), logger: cfg.logger(),
		compactedBefore: l.cleanedOffset.Load(), info: info, end: -1, logStart: logStart}
	loaded := map[int64]bool{}  // bases already written by an overlap repair
	salvage := map[int64]bool{} // bases written by a salvage: no indexes yet
	bases = slices.Clone(bases)
	for i := 0; i < len(bases); i++ {
		base := bases[i]
		if loaded[base] {
			continue
		}
		last := i == len(bases)-1
		if !last && isEmptySegment(l.dir, base) {
			// An empty file left by a roll that failed midway: it holds
			// nothing, so only it goes.
			r.logger.Warn("log: removing stray empty segment", "dir", l.dir, "segment", base)
			if err := removeSegmentFiles(l.dir, base); err != nil {
				return err
			}
			l.dirDirty.Store(true)
			continue
		}
		fast := (clean || !last && bases[i+1] <= recoverFrom) && !salvage[base]
		// Batches past damage are salvaged below the next segment, and
		// in the last segment wherever they go: only its torn tail is
		// cut (see segment.RecoverOptions). The recovery point vouches
		// for a last batch of the last segment that ends there.
		limit := int64(0)
		switch {
		case !last:
			limit = bases[i+1]
		case recoverFrom > base:
			limit = recoverFrom
		}
		seg, cut, salvaged, err := r.open(base, fast, last, limit)
		if err != nil {
			return err
		}
		if salvaged >= 0 {
			// The batches past the damage, now a segment of their own,
			// come next.
			bases = slices.Insert(bases, i+1, salvaged)
			salvage[salvaged] = true
			last = false
		}
		if r.end >= 0 && base < r.end && len(l.segs) > 0 {
			if seg, err = r.trimOverlap(seg, last); err != nil {
				return err
			}
			if seg == nil {
				continue
			}
			loaded[seg.BaseOffset()] = true
		}
		if err := r.keep(seg, last, cut); err != nil {
			return err
		}
	}
	if r.end < 0 && recoverFrom > logStart {
		// No segment at all, but offsets from the log start up to the
		// recovery point were flushed: they are lost, not given out
		// again.
		r.end, r.damage = logStart, "every segment file of the partition is missing"
	}
	if err := r.finish(recoverFrom); err != nil {
		return err
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

// open opens the segment at base: with fast, trusting its flushed bytes if
// its indexes check out (segment.Load); otherwise, or when they do not,
// CRC-scanning it and cutting it at its first bad batch (segment.Recover).
// cut says why it was cut, "" when it was not. The valid batches past
// the damage (below limit, the next segment's base offset; in the last
// segment up to its torn tail, limit being the recovery point or 0) are
// salvaged into a segment of their own at the returned base offset (-1:
// none), which the caller loads next.
func (r *recovery) open(base int64, fast, last bool, limit int64) (seg *segment.Segment, cut string, salvaged int64, err error) {
	l := r.l
	salvaged = -1
	if fast {
		seg, err := segment.Open(l.dir, base, r.segCfg, last)
		if err == nil {
			if err = seg.Load(); err == nil && !last && seg.NextOffset() > limit {
				// The next segment begins inside this one: files of an
				// interrupted repair (the batches past damage salvaged,
				// the damaged segment not cut yet) or of a truncated log
				// that came back. Its headers are no proof: CRC-scan it.
				err = fmt.Errorf("segment ends at offset %d, past the next segment's base offset %d", seg.NextOffset(), limit)
			}
			if err == nil {
				return seg, "", -1, nil
			}
			seg.Close()
		}
		r.logger.Warn("log: segment failed its checks, recovering it", "dir", l.dir, "segment", base, "err", err)
	}
	seg, err = segment.Open(l.dir, base, r.segCfg, true)
	if err != nil {
		return nil, "", -1, fmt.Errorf("log: open %s: %w", l.dir, err)
	}
	opts := segment.RecoverOptions{Limit: limit, Last: last}
	if limit > 0 || last {
		opts.Salvage = func(first int64, tail []byte) error {
			return writeSegmentLog(l.dir, first, func(w io.Writer) error {
				_, err := w.Write(tail)
				return err
			})
		}
	}
	st, err := seg.RecoverWith(opts)
	r.info.BytesScanned += st.BytesScanned
	r.info.TruncatedBytes += st.TruncatedBytes
	if err != nil {
		seg.Close()
		return nil, "", -1, fmt.Errorf("log: recover %s: %w", l.dir, err)
	}
	if st.TruncatedBytes == 0 {
		return seg, "", -1, nil
	}
	if st.ResumeOffset == base {
		// Damage before the first batch: the salvaged bytes took the
		// segment's own name (seg is the unlinked old file). Open them.
		seg.Close()
		r.logger.Warn("log: dropped damaged bytes before a segment's first batch", "dir", l.dir, "segment", base,
			"dropped_bytes", st.ResumePosition)
		r.info.TruncatedBytes -= st.TruncatedBytes - st.ResumePosition
		return r.open(base, false, last, limit)
	}
	if err := seg.Sync(); err != nil {
		// The cut made durable: a crash before it would only redo it,
		// but the checkpoint written next calls this segment flushed.
		seg.Close()
		return nil, "", -1, fmt.Errorf("log: recover %s: %w", l.dir, err)
	}
	r.logger.Warn("log: truncated torn or corrupt tail", "dir", l.dir, "segment", base,
		"valid_bytes", seg.Size(), "truncated_bytes", st.TruncatedBytes, "next_offset", seg.NextOffset(), "cause", st.Cause)
	cut = fmt.Sprintf("segment %s cut at offset %d, byte %d (%d bytes removed): %v",
		filepath.Base(seg.Path()), seg.NextOffset(), seg.Size(), st.TruncatedBytes, st.Cause)
	if st.ResumeOffset >= 0 {
		l.dirDirty.Store(true)
		r.info.TruncatedBytes -= st.TruncatedBytes - (st.ResumePosition - seg.Size())
		r.logger.Warn("log: kept the valid batches past the damage as a segment of their own", "dir", l.dir, "segment", base,
			"new_segment", st.ResumeOffset, "from_byte", st.ResumePosition, "dropped_bytes", st.ResumePosition-seg.Size())
		cut = fmt.Sprintf("segment %s damaged between bytes %d and %d (offsets %d to %d): %v",
			filepath.Base(seg.Path()), seg.Size(), st.ResumePosition, seg.NextOffset(), st.ResumeOffset, st.Cause)
		salvaged = st.ResumeOffset
	}
	return seg, cut, salvaged, nil
}

// keep adds seg to the log, or removes it when it holds nothing worth
// keeping, and accounts for the gap before it.
func (r *recovery) keep(seg *segment.Segment, last bool, cut string) error {
	l := r.l
	base := seg.BaseOffset()
	if seg.Size() == 0 {
		// Nothing left in it. The last segment stays when it is the only
		// one or a gap precedes it: its base offset is where the log goes
		// on. Any other empty segment goes (a crash right after a roll,
		// a segment cut to nothing).
		if !last || r.end >= 0 && base <= r.end {
			if err := seg.Delete(); err != nil {
				return fmt.Errorf("log: remove empty segment %d in %s: %w", base, l.dir, err)
			}
			l.dirDirty.Store(true)
			if cut != "" {
				if r.end < 0 {
					r.end = base
				}
				if r.damage == "" {
					r.damage = cut
				}
			}
			return nil
		}
	}
	if r.end >= 0 && base > r.end {
		cause := r.damage
		if cause == "" && base > r.compactedBefore {
			cause = fmt.Sprintf("no segment holds these offsets (a segment file before %s is missing)", filepath.Base(seg.Path()))
		}
		if cause != "" {
			r.gaps = append(r.gaps, LostRange{OffsetRange{r.end, base}, cause})
		}
	}
	l.segs = append(l.segs, seg)
	r.end, r.damage = seg.NextOffset(), cut
	return nil
}

// trimOverlap handles seg, whose base offset lies below r.end, the end of
// the segments kept before it: its batches below r.end go. When some are
// left, they are rewritten into a new segment named by the first of them
// (returned, opened and recovered); otherwise seg is removed and nil
// returned. A batch straddling r.end goes whole: the gap it leaves is
// reported as lost.
func (r *recovery) trimOverlap(seg *segment.Segment, last bool) (*segment.Segment, error) {
	l := r.l
	base := seg.BaseOffset()
	pos, first := int64(-1), int64(0)
	err := seg.Batches(base, func(h *recordbatch.Header, p int64, _ []byte) bool {
		if h.BaseOffset >= r.end {
			pos, first = p, h.BaseOffset
			return false
		}
		return true
	})
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("log: open %s: overlapping segment %d: %w", l.dir, base, err)
	}
	if pos < 0 {
		r.logger.Warn("log: removing a segment whose offsets the previous segments already hold (overlap)",
			"dir", l.dir, "segment", base, "segment_next_offset", seg.NextOffset(), "log_end_offset", r.end)
		if err := seg.Delete(); err != nil {
			return nil, fmt.Errorf("log: remove overlapping segment %d in %s: %w", base, l.dir, err)
		}
		l.dirDirty.Store(true)
		return nil, nil
	}
	r.logger.Warn("log: segment overlaps the previous one; keeping only its batches past the previous one's end",
		"dir", l.dir, "segment", base, "log_end_offset", r.end, "new_segment", first, "dropped_bytes", pos)
	err = writeSegmentLog(l.dir, first, func(w io.Writer) error {
		in, err := os.Open(seg.Path())
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, io.NewSectionReader(in, pos, seg.Size()-pos))
		return err
	})
	if err != nil {
		seg.Close()
		return nil, err
	}
	if err := seg.Delete(); err != nil {
		return nil, fmt.Errorf("log: remove overlapping segment %d in %s: %w", base, l.dir, err)
	}
	l.dirDirty.Store(true)
	nseg, err := segment.Open(l.dir, first, r.segCfg, true)
	if err != nil {
		return nil, fmt.Errorf("log: open %s: %w", l.dir, err)
	}
	st, err := nseg.Recover()
	r.info.BytesScanned += st.BytesScanned
	r.info.TruncatedBytes += st.TruncatedBytes + pos
	if err != nil {
		nseg.Close()
		return nil, fmt.Errorf("log: recover %s: %w", l.dir, err)
	}
	if first > r.end && r.damage == "" {
		r.damage = fmt.Sprintf("segment %s overlapped offsets below %d; its batch straddling that offset was dropped",
			segment.FileName(base, segment.LogSuffix), r.end)
	}
	return nseg, nil
}

// repairHook, set by tests, is called at each step of writeSegmentLog
// ("written": the bytes are in the temp file, fsynced; "replace": about to
// take the segment's name); an error stops it there, as a crash would.
var repairHook func(step string) error

func repairStep(step string) error {
	if repairHook != nil {
		return repairHook(step)
	}
	return nil
}

// writeSegmentLog writes the .log file of a new segment at base first in
// dir with write, atomically (a temp file, fsynced, renamed, the dir
// fsynced), without index files: recovery builds them. A leftover at that
// name (the same bytes, by an open that crashed before it removed where
// they came from) is replaced.
func writeSegmentLog(dir string, first int64, write func(w io.Writer) error) error {
	dst := filepath.Join(dir, segment.FileName(first, segment.LogSuffix))
	tmp := dst + ".tmp"
	err := func() error {
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		err = write(out)
		if err == nil {
			err = syncjournal.Sync(out)
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := repairStep("written"); err != nil {
			return err
		}
		// Only the indexes go first: the rename replaces a .log at that
		// name (the damaged segment itself, when its first batch
		// resumes it) in one step, so a crash never leaves neither.
		if err := segment.RemoveFiles(dir, first, segment.IndexSuffix, segment.TimeIndexSuffix); err != nil {
			return err
		}
		if err := repairStep("replace"); err != nil {
			return err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
		return syncDir(dir)
	}()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("log: open %s: write segment %s: %w", dir, filepath.Base(dst), err)
	}
	return nil
}

// finish keeps the log end past the recovery point, reports the gaps not
// reported before and records every current one in the lost-offsets file.
func (r *recovery) finish(recoveryOffset int64) error {
	l := r.l
	if r.end >= 0 && recoveryOffset > r.end {
		// Offsets below the recovery point were on stable storage: ones
		// missing now were lost to damage, not to a crash, and may have
		// been consumed. They stay a gap, never given out again.
		cause := r.damage
		if cause == "" {
			cause = fmt.Sprintf("the log ends at offset %d but offsets up to %d were flushed", r.end, recoveryOffset)
		}
		r.gaps = append(r.gaps, LostRange{OffsetRange{r.end, recoveryOffset}, cause})
		if n := len(l.segs); n > 0 && l.segs[n-1].Size() == 0 {
			// An empty last segment below the recovery point.
			if err := l.segs[n-1].Delete(); err != nil {
				return fmt.Errorf("log: open %s: %w", l.dir, err)
			}
			l.segs = l.segs[:n-1]
		}
		if err := segment.RemoveFiles(l.dir, recoveryOffset); err != nil {
			return fmt.Errorf("log: open %s: %w", l.dir, err)
		}
		seg, err := segment.Create(l.dir, recoveryOffset, r.segCfg)
		if err != nil {
			return fmt.Errorf("log: open %s: new segment past lost offsets: %w", l.dir, err)
		}
		l.segs = append(l.segs, seg)
		l.dirDirty.Store(true)
		r.end = recoveryOffset
	}
	if r.end >= 0 && len(l.segs) == 0 {
		// Every segment was removed: the log goes on past them.
		seg, err := segment.Create(l.dir, r.end, r.segCfg)
		if err != nil {
			return fmt.Errorf("log: open %s: %w", l.dir, err)
		}
		l.segs = append(l.segs, seg)
		l.dirDirty.Store(true)
	}

	if len(r.gaps) == 0 {
		// The usual case: no gap, so no file (one unlink, no read).
		return writeLostOffsets(l.dir, nil)
	}
	known, readable, err := readLostOffsets(l.dir)
	if err != nil {
		return err
	}
	var current []OffsetRange
	for _, g := range r.gaps {
		if g.To > l.segs[0].BaseOffset() {
			// Not a gap in the log: below its first segment, whose
			// base offset is where it now starts.
			current = append(current, g.OffsetRange)
		}
		lostPart := g.OffsetRange
		lostPart.From = min(max(lostPart.From, r.logStart), lostPart.To)
		for _, n := range subtractRanges(lostPart, known) {
			lost := LostRange{n, g.Cause}
			r.info.Lost = append(r.info.Lost, lost)
			r.info.LostOffsets += n.Len()
			r.logger.Error("log: recovery lost offsets: damaged or missing data, the range is left as a gap",
				"dir", l.dir, "from", n.From, "to", n.To, "lost_offsets", n.Len(), "cause", g.Cause)
		}
	}
	current = normalizeRanges(current)
	r.info.Gaps = current
	if !readable || !slices.Equal(current, known) {
		if err := writeLostOffsets(l.dir, current); err != nil {
			return err
		}
	}
	return nil
}
