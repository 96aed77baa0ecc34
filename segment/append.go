package segment

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/tributary-io/tributary/internal/syncjournal"
	"github.com/tributary-io/tributary/recordbatch"
)

// Fits reports whether the segment can take bytes more bytes ending at
// lastOffset without overflowing the indexes' uint32 relative offsets and
// positions. The log rolls to a new segment when it cannot.
func (s *Segment) Fits(bytes int, lastOffset int64) bool {
	return s.size.Load()+int64(bytes) <= math.MaxUint32 && lastOffset-s.baseOffset <= math.MaxUint32
}

// Append writes data, one or more whole batches already validated by the
// caller and with base offsets assigned contiguously from NextOffset(), with a
// single pwrite, adds the sparse index entries and publishes the new size.
//
// On a write error the file is cut back to its previous size, so nothing
// half-written remains, and the error (matching ErrDiskFull on ENOSPC) is
// returned; if that rollback fails the segment is poisoned and every later
// Append returns the same error.
func (s *Segment) Append(data []byte) error {
	return s.append(data, false)
}

// AppendWithGaps is Append of batches whose base offsets may start past
// where the segment, or the batch before, ends: a copy of a compacted
// log (a follower's). Offsets must still increase. Recovery accepts such
// a gap only below Config.CompactedBefore, so the caller must have
// recorded (durably) an offset past every gap's batch where the next Open
// will find it before calling.
func (s *Segment) AppendWithGaps(data []byte) error {
	return s.append(data, true)
}

func (s *Segment) append(data []byte, gaps bool) error {
	if err := s.stickyErr(); err != nil {
		return err
	}
	if s.sealed {
		return &Error{Path: s.logPath, Op: "append", Offset: -1, Err: ErrReadOnly}
	}
	if s.closed.Load() {
		return &Error{Path: s.logPath, Op: "append", Offset: -1, Err: ErrClosed}
	}
	next := s.nextOffset.Load()
	// First pass: check the batches chain from next and fit the segment, before
	// any byte is written.
	last := next - 1
	// entries counts the index entries the batches will add (see
	// indexBatch): at most one per batch in each index.
	entries, since := 0, s.bytesSinceIndexEntry
	for p := 0; p < len(data); {
		h, err := recordbatch.ParseHeader(data[p:])
		if err != nil {
			return &Error{Path: s.logPath, Op: "append", Offset: last + 1, Err: err}
		}
		if h.BaseOffset != last+1 && !(gaps && h.BaseOffset > last) {
			return &Error{Path: s.logPath, Op: "append", Offset: last + 1,
				Err: fmt.Errorf("batch base offset %d does not follow %d", h.BaseOffset, last)}
		}
		last = h.LastOffset()
		if since >= s.cfg.IndexIntervalBytes {
			entries, since = entries+1, 0
		}
		since += h.Size()
		p += h.Size()
	}
	if len(data) == 0 {
		return nil
	}
	if !s.Fits(len(data), last) {
		return &Error{Path: s.logPath, Op: "append", Offset: next, Err: ErrOffsetOverflow}
	}
	// Make sure the indexes have the disk for the entries (and the time
	// index for its closing entry) before anything is written, so that a
	// full disk fails the append whole.
	if err := s.offIdx.Reserve(entries); err != nil {
		return wrapStorage(&Error{Path: s.logPath, Op: "append", Offset: next, Err: fmt.Errorf("grow offset index: %w", err)})
	}
	if err := s.timeIdx.Reserve(entries); err != nil {
		return wrapStorage(&Error{Path: s.logPath, Op: "append", Offset: next, Err: fmt.Errorf("grow time index: %w", err)})
	}

	if s.wf == nil { // released by ReleaseIdle: the one reopen it costs
		if err := s.reopenFile("append"); err != nil {
			return err
		}
	}
	pos := s.size.Load()
	n, err := s.wf.WriteAt(data, pos)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = s.mapAtLeast(int(pos) + len(data))
	}
	if err != nil {
		return s.rollback(pos, next, err)
	}

	maxTs, offMaxTs := s.maxTimestamp.Load(), s.offsetOfMaxTimestamp.Load()
	for p := 0; p < len(data); {
		h, _ := recordbatch.ParseHeader(data[p:]) // checked in the first pass
		maxTs, offMaxTs = s.indexBatch(&h, pos+int64(p), maxTs, offMaxTs)
		p += h.Size()
	}
	s.maxTimestamp.Store(maxTs)
	s.offsetOfMaxTimestamp.Store(offMaxTs)
	s.nextOffset.Store(last + 1)
	s.size.Store(pos + int64(len(data)))
	return nil
}

func (s *Segment) stickyErr() error {
	if p := s.sticky.Load(); p != nil {
		return *p
	}
	return nil
}

// rollback cuts the file back to pos after a failed append.
func (s *Segment) rollback(pos, offset int64, cause error) error {
	if terr := s.wf.Truncate(pos); terr != nil {
		err := wrapStorage(&Error{Path: s.logPath, Op: "append (rollback failed, segment poisoned)", Offset: offset,
			Err: errors.Join(cause, terr)})
		s.sticky.CompareAndSwap(nil, &err)
		return s.stickyErr()
	}
	return wrapStorage(&Error{Path: s.logPath, Op: "append", Offset: offset, Err: cause})
}

// indexBatch adds the sparse index entries due for the batch h at pos and
// returns the updated max timestamp and its offset. Writer only.
func (s *Segment) indexBatch(h *recordbatch.Header, pos int64, maxTs, offMaxTs int64) (int64, int64) {
	if h.MaxTimestamp > maxTs {
		maxTs, offMaxTs = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndexEntry >= s.cfg.IndexIntervalBytes {
		// A full index only makes lookups scan further; the log rolls on
		// IndexFull before the next append, so the error is not fatal.
		_ = s.offIdx.Append(uint32(h.BaseOffset-s.baseOffset), uint32(pos))
		if maxTs >= 0 {
			_ = s.timeIdx.Append(maxTs, uint32(offMaxTs-s.baseOffset))
		}
		s.bytesSinceIndexEntry = 0
	}
	s.bytesSinceIndexEntry += h.Size()
	return maxTs, offMaxTs
}

// Seal makes the segment read-only when the log rolls past it: the time index
// gets a closing entry for the segment's max timestamp (so retention and
// timestamp lookups know it after a restart) and both indexes are trimmed to
// their used size.
func (s *Segment) Seal() error {
	if s.sealed {
		return nil
	}
	timeEntries := s.timeIdx.Entries()
	if ts := s.maxTimestamp.Load(); ts >= 0 {
		if err := s.timeIdx.AppendFinal(ts, uint32(s.offsetOfMaxTimestamp.Load()-s.baseOffset)); err != nil {
			return &Error{Path: s.logPath, Op: "seal", Offset: -1, Err: err}
		}
	}
	if err := s.offIdx.Trim(); err != nil {
		return &Error{Path: s.logPath, Op: "seal", Offset: -1, Err: err}
	}
	if err := s.timeIdx.Trim(); err != nil {
		return &Error{Path: s.logPath, Op: "seal", Offset: -1, Err: err}
	}
	if s.timeIdx.Entries() != timeEntries || s.offIdx.SizeChanged() || s.timeIdx.SizeChanged() {
		s.sealWrote.Store(true)
	}
	s.sealed = true
	s.sealedForSync.Store(true)
	return nil
}

// SealWrote reports whether Seal changed an index file (a closing time
// index entry, a trim), which only a Sync after it makes durable: a
// segment whose data was all flushed before it was sealed needs one
// then, and one sealed untouched since it was opened does not.
func (s *Segment) SealWrote() bool { return s.sealWrote.Load() }

// Sync flushes the .log file and both indexes to stable storage. The first
// Sync of a sealed segment that covers its every byte closes the .log's
// file descriptor: a sealed segment is read through its mapping and never
// written again, so later Syncs have nothing to flush.
func (s *Segment) Sync() error {
	if err := s.stickyErr(); err != nil {
		return err
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	// Read before the fsync: if the segment was sealed at this size, the
	// fsync covered all of it.
	size := s.size.Load()
	if s.wf != nil {
		sealed := s.sealedForSync.Load()
		if err := syncjournal.Sync(s.wf); err != nil {
			return &Error{Path: s.logPath, Op: "fsync", Offset: -1, Err: err}
		}
		if sealed && size == s.size.Load() {
			s.file.Close()
			s.file, s.wf = nil, nil
		}
	} else if size > s.synced.Load() {
		// Written, then its descriptor released (ReleaseIdle): the bytes
		// are in the page cache of the inode, which any descriptor of it
		// flushes.
		if err := s.syncByPath(); err != nil {
			return err
		}
	}
	if s.parked.Load() {
		return nil // flushed before it could be parked
	}
	if err := s.offIdx.Sync(); err != nil {
		return &Error{Path: s.logPath, Op: "fsync offset index", Offset: -1, Err: err}
	}
	if err := s.timeIdx.Sync(); err != nil {
		return &Error{Path: s.logPath, Op: "fsync time index", Offset: -1, Err: err}
	}
	if size > s.synced.Load() {
		s.synced.Store(size)
	}
	return nil
}
