package log

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// The log cleaner (cleanup.policy=compact). See the package comment for
// the on-disk protocol of a swap and the cleaner-checkpoint file.

// keyHash identifies a record key in the cleaner's offset map: the first
// 128 bits of its SHA-256, so that every key costs the same few bytes of
// memory however long it is (Kafka's dedupe buffer hashes keys likewise),
// and no producer can make two keys collide on purpose.
type keyHash [16]byte

func hashKey(k []byte) keyHash {
	sum := sha256.Sum256(k)
	return keyHash(sum[:16])
}

// errSwapRaced: the segments a cleaned segment replaces changed meanwhile
// (retention, DeleteRecords or Truncate): the cleaned copy is dropped.
var errSwapRaced = errors.New("log: segments changed while they were cleaned")

// CompactStats says what one cleaning pass did.
type CompactStats struct {
	// SegmentsCleaned is the number of sealed segments the pass read and
	// rewrote where anything changed; SegmentsAfter the number they became.
	SegmentsCleaned, SegmentsAfter int
	// BytesBefore and BytesAfter are the sizes of the cleaned range.
	BytesBefore, BytesAfter int64
	// Keys is the number of distinct keys in the log.
	Keys int
	// RecordsRemoved counts records dropped (superseded, keyless, or
	// expired tombstones); TombstonesRemoved is the part that were
	// tombstones; BatchesRemoved counts batches left with no record.
	RecordsRemoved, TombstonesRemoved, BatchesRemoved int64
	// CleanedOffset is the first offset the pass did not clean (the base
	// of the first segment it left alone: the active one, or one younger
	// than min.compaction.lag.ms).
	CleanedOffset int64
	// Duration is how long the pass took.
	Duration time.Duration
}

// Compact runs one pass of the log cleaner now, whatever the dirty ratio,
// and returns what it did. It is a no-op unless cleanup.policy includes
// compact.
//
// It builds a map from each key to the offset of its latest record, over
// the whole log up to the log end offset as the pass starts (the active
// segment included), then rewrites the sealed segments, oldest first, up
// to the first one younger than min.compaction.lag.ms (the active segment
// is never rewritten). A record survives if it is its key's latest and is
// not a tombstone (null value) whose batch is older than
// delete.retention.ms; records without a key are dropped. Kept records
// stay in their batches, with their offsets; a batch left empty goes (its
// offsets stay used: the log end never moves back). Transactional and
// control batches are copied unchanged, and their records do not count as
// the latest of their keys (a record of an aborted transaction must not
// hide the value before it). Consecutive cleaned segments that fit in
// segment.bytes are merged into one, named by the first one's base offset.
//
// Appends and reads go on meanwhile: the pass reads segments through
// references, writes each cleaned segment to temporary files and holds the
// write lock only to swap it in (see the package comment). Readers holding
// views of a replaced segment keep valid bytes until they release them.
func (l *Log) Compact() (CompactStats, error) {
	return l.compact(nil)
}

// hookErr calls the test hook, if any, at a step of a swap; an error
// stops the swap there as a crash would (the files stay as they are).
func (l *Log) hookErr(step string) error {
	if l.swapHook != nil {
		return l.swapHook(step)
	}
	return nil
}

// snapshot is the segments a pass works on, each with a reference held,
// and the log end as the pass started.
type snapshot struct {
	segs []*segment.Segment
	end  int64
}

func (s *snapshot) release() {
	for _, seg := range s.segs {
		seg.Release()
	}
	s.segs = nil
}

func (l *Log) takeSnapshot() (*snapshot, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	// Under segMu the list cannot change: every sealed segment in it ends
	// below the end loaded here.
	snap := &snapshot{end: l.nextOffset.Load(), segs: make([]*segment.Segment, 0, len(l.segs))}
	for _, s := range l.segs {
		if !s.Acquire() {
			snap.release()
			return nil, ErrClosed
		}
		snap.segs = append(snap.segs, s)
	}
	return snap, nil
}

// compact is Compact, stopping early (without error) when stop is closed.
func (l *Log) compact(stop <-chan struct{}) (CompactStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	began := time.Now()
	cfg := l.cfg.Load()
	var st CompactStats
	if !cfg.Compacted() {
		return st, nil
	}
	if l.isClosed.Load() {
		return st, ErrClosed
	}
	if err := l.stickyErr(); err != nil {
		return st, err
	}
	snap, err := l.takeSnapshot()
	if err != nil {
		return st, err
	}
	defer snap.release()
	now := cfg.now().UnixMilli()
	cleanable := cleanableSegments(snap.segs, cfg, now)
	st.CleanedOffset = snap.segs[cleanable].BaseOffset()
	if cleanable == 0 {
		return st, nil
	}

	latest, err := buildOffsetMap(snap, stop)
	if err != nil || stopped(stop) {
		return st, err
	}
	st.Keys = len(latest)
	// The segments left alone are not needed any more; the active one's
	// reference would hold up a Truncate, which waits for its readers.
	for _, seg := range snap.segs[cleanable:] {
		seg.Release()
	}
	snap.segs = snap.segs[:cleanable]

	// Before any segment changes: the cleaner checkpoint, so that recovery
	// accepts the gaps the cleaning leaves below it, and the producer
	// snapshot, so that a replay after a crash never starts among batches
	// the cleaning removed (as for retention).
	if err := l.advanceCleanedOffset(st.CleanedOffset); err != nil {
		return st, err
	}
	l.cleanUnfinished.Store(true) // until this pass gets to the end
	if err := l.saveProducerSnapshot(false); err != nil {
		return st, fmt.Errorf("log: compact %s: producer snapshot first: %w", l.dir, err)
	}

	c := cleaner{l: l, cfg: cfg, latest: latest, horizon: now - cfg.DeleteRetentionMs, st: &st}
	var g *cleanGroup
	for i := 0; i < cleanable && !stopped(stop); i++ {
		s := snap.segs[i]
		if g != nil {
			fits, err := c.tryAdd(g, s, stop)
			if err != nil {
				g.b.Abort()
				return st, err
			}
			if fits {
				continue
			}
			if err := c.finish(g); err != nil {
				return st, err
			}
			g = nil
		}
		if g, err = c.newGroup(s, stop); err != nil {
			return st, err
		}
	}
	if g != nil {
		if stopped(stop) {
			g.b.Abort()
		} else if err := c.finish(g); err != nil {
			return st, err
		}
	}
	if !stopped(stop) {
		l.cleanUnfinished.Store(false)
	}
	st.Duration = time.Since(began)
	cfg.logger().Info("log: compacted partition", "dir", l.dir, "segments_cleaned", st.SegmentsCleaned,
		"segments_after", st.SegmentsAfter, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter,
		"keys", st.Keys, "records_removed", st.RecordsRemoved, "tombstones_removed", st.TombstonesRemoved,
		"batches_removed", st.BatchesRemoved, "cleaned_offset", st.CleanedOffset, "duration", st.Duration)
	return st, nil
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// cleanableSegments is how many sealed segments, from the first, a pass
// may clean: all of them (never the active one, the last), up to the first
// whose newest record is younger than min.compaction.lag.ms.
func cleanableSegments(segs []*segment.Segment, cfg *Config, now int64) int {
	n := 0
	for ; n < len(segs)-1; n++ {
		// An empty segment holds nothing to wait for.
		if cfg.MinCompactionLagMs > 0 && segs[n].Size() > 0 && now-segmentTime(segs[n]) < cfg.MinCompactionLagMs {
			break
		}
	}
	return n
}

// segmentTime is a segment's newest timestamp, or its file's modification
// time when its batches carry none (as retention judges it).
func segmentTime(s *segment.Segment) int64 {
	if ts := s.MaxTimestamp(); ts >= 0 {
		return ts
	}
	if fi, err := os.Stat(s.Path()); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return math.MaxInt64 // unknown: as if new, so nothing is taken away
}

// buildOffsetMap maps every key in the log below snap.end to the offset of
// its latest record. Transactional and control batches are left out (see
// Compact), and so is a batch whose records do not decode (it is then
// copied as it is).
func buildOffsetMap(snap *snapshot, stop <-chan struct{}) (map[keyHash]int64, error) {
	latest := map[keyHash]int64{}
	for _, s := range snap.segs {
		if stopped(stop) {
			return nil, nil
		}
		err := s.Batches(s.BaseOffset(), func(h *recordbatch.Header, _ int64, batch []byte) bool {
			if h.BaseOffset >= snap.end {
				return false
			}
			if h.Control() || h.Transactional() {
				return true
			}
			_ = recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(r recordbatch.Record) error {
				if r.Key != nil {
					latest[hashKey(r.Key)] = r.Offset
				}
				return nil
			})
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("log: compact: read %s: %w", s.Path(), err)
		}
	}
	return latest, nil
}

// advanceCleanedOffset records, durably, that the cleaner may have
// rewritten everything below off.
func (l *Log) advanceCleanedOffset(off int64) error {
	return l.storeCleanedOffset(off, true)
}

// storeCleanedOffset writes the cleaner checkpoint (under ckptMu, which
// serialises checkpoint files) and publishes it; with onlyUp it never
// moves it back.
func (l *Log) storeCleanedOffset(off int64, onlyUp bool) error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	if onlyUp && off <= l.cleanedOffset.Load() || off == l.cleanedOffset.Load() {
		return nil
	}
	if err := writeCleanerCheckpoint(l.dir, off); err != nil {
		return err
	}
	l.cleanedOffset.Store(off)
	return nil
}

// cleaner is one pass's state.
type cleaner struct {
	l       *Log
	cfg     *Config
	latest  map[keyHash]int64
	horizon int64 // tombstones in batches older than this go
	st      *CompactStats
	buf     []byte // reused for filtered batches
}

// cleanGroup is a cleaned segment being written: consecutive source
// segments merged into one named by the first one's base offset.
type cleanGroup struct {
	b       *segment.Builder
	members []*segment.Segment
	changed bool // some batch was dropped or rewritten
	before  int64
}

func (c *cleaner) newGroup(s *segment.Segment, stop <-chan struct{}) (*cleanGroup, error) {
	b, err := segment.NewBuilder(c.l.dir, s.BaseOffset(), c.l.segConfig(c.cfg))
	if err != nil {
		return nil, fmt.Errorf("log: compact %s: %w", c.l.dir, err)
	}
	g := &cleanGroup{b: b}
	if _, err := c.cleanInto(g, s, false, stop); err != nil {
		b.Abort()
		return nil, err
	}
	g.members = append(g.members, s)
	g.before += s.Size()
	return g, nil
}

// tryAdd cleans s into g if the result fits in segment.bytes (and the
// indexes' uint32 ranges), and otherwise leaves g as it was.
func (c *cleaner) tryAdd(g *cleanGroup, s *segment.Segment, stop <-chan struct{}) (bool, error) {
	mark := g.b.Mark()
	changed := g.changed
	fits, err := c.cleanInto(g, s, true, stop)
	if err == nil && fits {
		g.members = append(g.members, s)
		g.before += s.Size()
		g.changed = true // merged: the segment list changes
		return true, nil
	}
	g.changed = changed
	if rerr := g.b.Rewind(mark); rerr != nil {
		return false, fmt.Errorf("log: compact %s: %w", c.l.dir, rerr)
	}
	return false, err
}

// cleanInto appends the surviving batches of s to g. With limited, it
// stops and reports false as soon as g grows past segment.bytes or past
// what a segment can index.
func (c *cleaner) cleanInto(g *cleanGroup, s *segment.Segment, limited bool, stop <-chan struct{}) (bool, error) {
	var stats CompactStats // counted into c.st only if s is kept in g
	fits := true
	var werr error
	err := s.Batches(s.BaseOffset(), func(h *recordbatch.Header, _ int64, batch []byte) bool {
		if stopped(stop) {
			werr = errStopped
			return false
		}
		out := batch
		if !h.Control() && !h.Transactional() {
			expired := batchTime(h, s) < c.horizon
			var kept, removed int
			var ferr error
			tombstones := int64(0)
			c.buf, kept, removed, ferr = recordbatch.Filter(c.buf[:0], batch, recordbatch.DefaultDecompressLimit, func(r recordbatch.Record) bool {
				if r.Key == nil {
					return false
				}
				if off, ok := c.latest[hashKey(r.Key)]; ok && off > r.Offset {
					return false
				}
				if r.Value == nil && expired {
					tombstones++
					return false
				}
				return true
			})
			switch {
			case ferr != nil:
				// Records that do not decode cannot be judged: keep them.
			case kept == 0:
				g.changed = true
				stats.RecordsRemoved += int64(removed)
				stats.TombstonesRemoved += tombstones
				stats.BatchesRemoved++
				return true
			case removed > 0:
				g.changed = true
				stats.RecordsRemoved += int64(removed)
				stats.TombstonesRemoved += tombstones
				out = c.buf
			}
		}
		hdr, _ := recordbatch.ParseHeader(out)
		if limited && (g.b.Size()+int64(len(out)) > c.cfg.SegmentBytes || !g.b.Fits(len(out), hdr.LastOffset())) {
			fits = false
			return false
		}
		if werr = g.b.Append(out); werr != nil {
			return false
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if errors.Is(err, errStopped) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("log: compact %s: %w", c.l.dir, err)
	}
	if fits {
		c.st.RecordsRemoved += stats.RecordsRemoved
		c.st.TombstonesRemoved += stats.TombstonesRemoved
		c.st.BatchesRemoved += stats.BatchesRemoved
	}
	return fits, nil
}

var errStopped = errors.New("log: compaction stopped")

// batchTime is when a batch counts as written for delete.retention.ms: its
// max timestamp, or its segment's time when it has none.
func batchTime(h *recordbatch.Header, s *segment.Segment) int64 {
	if h.MaxTimestamp >= 0 {
		return h.MaxTimestamp
	}
	return segmentTime(s)
}

// finish completes g and swaps it in, or drops it when it would change
// nothing (one segment, every batch kept as it was).
func (c *cleaner) finish(g *cleanGroup) error {
	if !g.changed {
		g.b.Abort()
		return nil
	}
	if err := g.b.Finish(); err != nil {
		g.b.Abort()
		return fmt.Errorf("log: compact %s: %w", c.l.dir, err)
	}
	after := g.b.Size()
	err := c.l.swapCleaned(g.b.BaseOffset(), g.members)
	if errors.Is(err, errSwapRaced) {
		c.cfg.logger().Info("log: dropped a cleaned segment: the log changed meanwhile", "dir", c.l.dir,
			"segment", g.b.BaseOffset())
		return nil
	}
	if err != nil {
		return err
	}
	c.st.SegmentsCleaned += len(g.members)
	c.st.SegmentsAfter++
	c.st.BytesBefore += g.before
	c.st.BytesAfter += after
	return nil
}

// swapCleaned replaces members, consecutive segments of the log, with the
// finished cleaned segment at base (their first one's base offset), whose
// files are <base>.*.cleaned. Steps, each durable before the next:
//
//  1. rename the .cleaned files to .swap (the .log last): the commit point;
//  2. unlink the files of the members but the first;
//  3. rename the .swap files to the final names, replacing the first
//     member's files.
//
// A crash before the .log.swap rename is durable leaves the old segments
// (Open removes .cleaned files); after it, Open completes the swap. A
// failure after the commit point poisons the log (reads go on from the
// old segments' mappings; a reopen completes the swap). The new segment is
// published under segMu; the members are closed, and readers holding
// views of them keep their bytes until they release them.
func (l *Log) swapCleaned(base int64, members []*segment.Segment) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if err := l.writable(); err != nil {
		segment.RemoveFiles(l.dir, base, segment.CleanedSuffixes()...)
		return err
	}
	l.segMu.RLock()
	at := -1
	for i, s := range l.segs {
		if s == members[0] {
			at = i
			break
		}
	}
	ok := at >= 0 && at+len(members) < len(l.segs) // never the active segment
	for j := 0; ok && j < len(members); j++ {
		ok = l.segs[at+j] == members[j]
	}
	l.segMu.RUnlock()
	if !ok {
		segment.RemoveFiles(l.dir, base, segment.CleanedSuffixes()...)
		return errSwapRaced
	}

	if err := l.hookErr("commit"); err != nil {
		return err
	}
	if err := segment.RenameFiles(l.dir, base, segment.CleanedSuffix, segment.SwapSuffix); err != nil {
		// Nothing is committed unless the .log was renamed: undo what was.
		segment.RemoveFiles(l.dir, base, segment.CleanedSuffixes()...)
		segment.RemoveFiles(l.dir, base, segment.SwapSuffixes()...)
		return fmt.Errorf("log: compact %s: %w", l.dir, err)
	}
	if err := syncDir(l.dir); err != nil {
		return l.poison(fmt.Errorf("log: compact %s: commit swap of %d: %w", l.dir, base, err))
	}
	if err := l.hookErr("delete old"); err != nil {
		return err
	}
	for _, s := range members[1:] {
		if err := segment.RemoveFiles(l.dir, s.BaseOffset()); err != nil {
			return l.poison(fmt.Errorf("log: compact %s: %w", l.dir, err))
		}
	}
	if err := l.hookErr("rename"); err != nil {
		return err
	}
	if err := segment.RenameFiles(l.dir, base, segment.SwapSuffix, ""); err != nil {
		return l.poison(fmt.Errorf("log: compact %s: %w", l.dir, err))
	}
	if err := syncDir(l.dir); err != nil {
		return l.poison(fmt.Errorf("log: compact %s: %w", l.dir, err))
	}
	if err := l.hookErr("open"); err != nil {
		return err
	}
	cfg := l.cfg.Load()
	ns, err := segment.Open(l.dir, base, l.segConfig(cfg), false)
	if err == nil {
		if err = ns.Load(); err != nil {
			ns.Close()
		}
	}
	if err != nil {
		return l.poison(fmt.Errorf("log: compact %s: open cleaned segment: %w", l.dir, err))
	}
	l.segMu.Lock()
	segs := make([]*segment.Segment, 0, len(l.segs)-len(members)+1)
	segs = append(segs, l.segs[:at]...)
	segs = append(segs, ns)
	segs = append(segs, l.segs[at+len(members):]...)
	l.segs = segs
	l.segMu.Unlock()
	for _, s := range members {
		s.Close()
	}
	if l.segCache != nil {
		// Bounded as any sealed segment (opened read-only: flushed).
		l.segCache.Add(ns)
	}
	return nil
}

// dirtyRatio is the share of the sealed segments' bytes at or past the
// cleaned offset, with the base of the first such segment (-1 if none).
func (l *Log) dirtyRatio() (ratio float64, firstDirty *segment.Segment) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	cleaned := l.cleanedOffset.Load()
	var dirty, total int64
	for _, s := range l.segs[:len(l.segs)-1] {
		total += s.Size()
		if s.BaseOffset() >= cleaned {
			dirty += s.Size()
			if firstDirty == nil && s.Acquire() {
				firstDirty = s
			}
		}
	}
	if total == 0 {
		return 0, firstDirty
	}
	return float64(dirty) / float64(total), firstDirty
}

// NeedsCompaction reports whether the Manager's cleaner would clean the
// log now: cleanup.policy includes compact and either the share of sealed
// bytes written since the last cleaning reaches min.cleanable.dirty.ratio,
// or the oldest of them is older than max.compaction.lag.ms, or the last
// pass did not finish.
func (l *Log) NeedsCompaction() bool {
	cfg := l.cfg.Load()
	if !cfg.Compacted() || l.isClosed.Load() {
		return false
	}
	if l.cleanUnfinished.Load() {
		return true
	}
	ratio, first := l.dirtyRatio()
	if first == nil {
		return false
	}
	defer first.Release()
	if ratio >= cfg.MinCleanableDirtyRatio {
		return true
	}
	if cfg.MaxCompactionLagMs == DefaultMaxCompactionLagMs {
		return false
	}
	oldest := int64(math.MaxInt64)
	first.Batches(first.BaseOffset(), func(h *recordbatch.Header, _ int64, _ []byte) bool {
		oldest = batchTime(h, first)
		return false
	})
	return cfg.now().UnixMilli()-oldest > cfg.MaxCompactionLagMs
}
