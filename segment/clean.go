package segment

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/recordbatch"
)

// Suffixes of the files a log cleaner swap goes through (Kafka's names):
// a cleaned segment is written as <base>.log.cleaned (and its indexes
// <base>.index.cleaned, <base>.timeindex.cleaned), renamed to .swap once
// it is complete and on stable storage (the commit point of the swap),
// then renamed to its final names once the segments it replaces are gone.
const (
	CleanedSuffix = ".cleaned"
	SwapSuffix    = ".swap"
)

// Builder writes a new, sealed segment under the temporary names
// <base>.log.cleaned, <base>.index.cleaned and <base>.timeindex.cleaned:
// the log cleaner's output. Batches must come in increasing offset order
// and may leave gaps (the cleaner drops batches). A Builder has one user
// and no readers; nothing of it is visible to the log until the caller
// renames its files (RenameFiles).
type Builder struct {
	s        *Segment // not published: no mapping, no readers
	dir      string
	last     int64 // last offset of the last batch appended
	maxTs    int64
	offMaxTs int64
	batches  int
	done     bool
}

// NewBuilder creates the temporary files of a cleaned segment at
// baseOffset in dir, replacing leftovers of an earlier attempt. The
// indexes hold up to cfg.MaxIndexBytes, allocated as they fill, and are
// trimmed by Finish.
func NewBuilder(dir string, baseOffset int64, cfg Config) (*Builder, error) {
	cfg = cfg.withDefaults()
	if err := RemoveFiles(dir, baseOffset, CleanedSuffixes()...); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix+CleanedSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, wrapStorage(&Error{Path: logPath, Op: "create cleaned segment", Offset: -1, Err: err})
	}
	s := &Segment{baseOffset: baseOffset, cfg: cfg, logPath: logPath, file: f, wf: f}
	s.refs.Store(1)
	b := &Builder{s: s, dir: dir, last: baseOffset - 1, maxTs: -1, offMaxTs: -1}
	s.offIdx, err = index.OpenOffsetIndex(filepath.Join(dir, FileName(baseOffset, IndexSuffix+CleanedSuffix)), baseOffset, cfg.MaxIndexBytes, true)
	if err == nil {
		s.timeIdx, err = index.OpenTimeIndex(filepath.Join(dir, FileName(baseOffset, TimeIndexSuffix+CleanedSuffix)), baseOffset, cfg.MaxIndexBytes, true)
	}
	if err != nil {
		b.Abort()
		return nil, wrapStorage(&Error{Path: logPath, Op: "create cleaned segment indexes", Offset: -1, Err: err})
	}
	return b, nil
}

// CleanedSuffixes are the three temporary file suffixes of a Builder
// (for RemoveFiles).
func CleanedSuffixes() []string {
	return []string{LogSuffix + CleanedSuffix, IndexSuffix + CleanedSuffix, TimeIndexSuffix + CleanedSuffix}
}

// SwapSuffixes are the three suffixes of a committed swap (for RemoveFiles).
func SwapSuffixes() []string {
	return []string{LogSuffix + SwapSuffix, IndexSuffix + SwapSuffix, TimeIndexSuffix + SwapSuffix}
}

// BaseOffset is the base offset the cleaned segment will have.
func (b *Builder) BaseOffset() int64 { return b.s.baseOffset }

// Size is the number of bytes appended so far.
func (b *Builder) Size() int64 { return b.s.size.Load() }

// Batches is the number of batches appended so far.
func (b *Builder) Batches() int { return b.batches }

// Fits reports whether a batch of size bytes ending at lastOffset can be
// appended without overflowing the indexes' uint32 relative offsets and
// positions.
func (b *Builder) Fits(size int, lastOffset int64) bool { return b.s.Fits(size, lastOffset) }

// Append writes one whole batch (already validated by the caller) whose
// base offset is past the previous batch's last offset, and indexes it.
func (b *Builder) Append(batch []byte) error {
	if b.done {
		return &Error{Path: b.s.logPath, Op: "append cleaned", Offset: -1, Err: ErrClosed}
	}
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		return &Error{Path: b.s.logPath, Op: "append cleaned", Offset: b.last + 1, Err: err}
	}
	batch = batch[:h.Size()]
	if h.BaseOffset <= b.last {
		return &Error{Path: b.s.logPath, Op: "append cleaned", Offset: h.BaseOffset,
			Err: fmt.Errorf("batch base offset %d does not follow %d", h.BaseOffset, b.last)}
	}
	if !b.s.Fits(len(batch), h.LastOffset()) {
		return &Error{Path: b.s.logPath, Op: "append cleaned", Offset: h.BaseOffset, Err: ErrOffsetOverflow}
	}
	pos := b.s.size.Load()
	n, err := b.s.wf.WriteAt(batch, pos)
	if err == nil && n < len(batch) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return wrapStorage(&Error{Path: b.s.logPath, Op: "append cleaned", Offset: h.BaseOffset, Err: err})
	}
	b.maxTs, b.offMaxTs = b.s.indexBatch(&h, pos, b.maxTs, b.offMaxTs)
	b.s.size.Store(pos + int64(len(batch)))
	b.last = h.LastOffset()
	b.batches++
	return nil
}

// Finish seals the cleaned segment (closing time index entry, indexes
// trimmed), fsyncs its three files and closes them. The files are then
// complete and durable under their .cleaned names; the caller renames
// them. The directory is not fsynced.
func (b *Builder) Finish() error {
	if b.done {
		return &Error{Path: b.s.logPath, Op: "finish cleaned", Offset: -1, Err: ErrClosed}
	}
	s := b.s
	s.maxTimestamp.Store(b.maxTs)
	s.offsetOfMaxTimestamp.Store(b.offMaxTs)
	err := s.Seal()
	if err == nil {
		err = s.Sync()
	}
	b.done = true
	s.closeFiles()
	if err != nil {
		RemoveFiles(b.dir, s.baseOffset, CleanedSuffixes()...)
		return wrapStorage(err)
	}
	return nil
}

// Abort closes and removes the temporary files. Safe after Finish (it
// removes the finished files) and more than once.
func (b *Builder) Abort() {
	if !b.done {
		b.done = true
		b.s.closeFiles()
	}
	RemoveFiles(b.dir, b.s.baseOffset, CleanedSuffixes()...)
}

// RenameFiles renames the segment files at baseOffset in dir from suffix
// from to suffix to (each appended to .log, .index and .timeindex; "" is
// the final name), the indexes first and the .log last, so that the .log
// under its new name is the commit point. An index absent under from is
// skipped (indexes are rebuilt when missing); an absent .log is an error.
// It does not fsync the directory.
func RenameFiles(dir string, baseOffset int64, from, to string) error {
	for _, suf := range []string{IndexSuffix, TimeIndexSuffix, LogSuffix} {
		src := filepath.Join(dir, FileName(baseOffset, suf+from))
		dst := filepath.Join(dir, FileName(baseOffset, suf+to))
		if err := os.Rename(src, dst); err != nil {
			if suf != LogSuffix && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return &Error{Path: src, Op: "rename to " + dst, Offset: -1, Err: err}
		}
	}
	return nil
}

// Mark is a point a Builder can be rewound to (Rewind).
type Mark struct {
	size, last, maxTs, offMaxTs int64
	sinceIndex, batches         int
}

// Mark returns the Builder's current point.
func (b *Builder) Mark() Mark {
	return Mark{size: b.s.size.Load(), last: b.last, maxTs: b.maxTs, offMaxTs: b.offMaxTs,
		sinceIndex: b.s.bytesSinceIndexEntry, batches: b.batches}
}

// Rewind drops every batch appended since m, and their index entries: the
// log cleaner tries a segment's records in a merged segment and takes them
// out again when they do not fit.
func (b *Builder) Rewind(m Mark) error {
	if b.done {
		return &Error{Path: b.s.logPath, Op: "rewind cleaned", Offset: -1, Err: ErrClosed}
	}
	if err := b.s.wf.Truncate(m.size); err != nil {
		return wrapStorage(&Error{Path: b.s.logPath, Op: "rewind cleaned", Offset: m.last + 1, Err: err})
	}
	rel := uint32(m.last + 1 - b.s.baseOffset)
	b.s.offIdx.TruncateTo(rel)
	b.s.timeIdx.TruncateTo(rel)
	b.s.size.Store(m.size)
	b.last, b.maxTs, b.offMaxTs = m.last, m.maxTs, m.offMaxTs
	b.s.bytesSinceIndexEntry, b.batches = m.sinceIndex, m.batches
	return nil
}
