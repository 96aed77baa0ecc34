package segment

import (
	"errors"
	"fmt"

	"github.com/tributary-io/tributary/recordbatch"
)

// ErrNeedsRecovery is returned by Load when a segment's indexes or tail do not
// check out, so the caller must reopen it writable and Recover it.
var ErrNeedsRecovery = errors.New("segment: needs recovery")

// loadSampleEntries is how many offset index entries Load spot-checks
// against the batches they point at (each check may fault in one page).
const loadSampleEntries = 64

// RecoveryStats says what Recover found.
type RecoveryStats struct {
	BytesScanned   int64
	Batches        int
	TruncatedBytes int64 // bytes cut from a torn or corrupt tail
	Cause          error // why the tail was cut, nil if nothing was
}

// follows reports whether a batch at base offset base may come where the
// offset next was expected: exactly there, or further on (a gap) where the
// log cleaner has been (below Config.CompactedBefore).
func (s *Segment) follows(base, next int64) bool {
	return base == next || base > next && base < s.cfg.CompactedBefore
}

// Recover scans the whole .log file batch by batch, checking each batch's
// length, magic, CRC-32C and that its offsets follow the previous batch's
// (starting at the segment's base offset; with gaps only below
// Config.CompactedBefore). The first batch that fails is the
// truncation point (a torn or corrupt tail): the file is cut there. Both
// indexes are rebuilt from the valid prefix. The segment must be writable and
// have no readers.
//
// A batch that was fully written and is valid is never dropped, unless a batch
// before it is corrupt: offsets must stay contiguous, and nothing after the
// first damaged byte can be trusted to belong to this log.
func (s *Segment) Recover() (RecoveryStats, error) {
	if s.sealed {
		return RecoveryStats{}, &Error{Path: s.logPath, Op: "recover", Offset: -1, Err: ErrReadOnly}
	}
	v := s.view()
	st := RecoveryStats{BytesScanned: int64(len(v))}
	s.offIdx.Reset()
	s.timeIdx.Reset()
	s.bytesSinceIndexEntry = 0
	s.indexMissing = false
	maxTs, offMaxTs := int64(-1), int64(-1)
	next := s.baseOffset
	p := 0
	for p < len(v) {
		h, err := recordbatch.Validate(v[p:])
		if err == nil && !s.follows(h.BaseOffset, next) {
			err = fmt.Errorf("%w: batch at byte %d has base offset %d, want %d", recordbatch.ErrCorrupt, p, h.BaseOffset, next)
		}
		if err == nil && !s.Fits(0, h.LastOffset()) {
			err = fmt.Errorf("%w: batch at byte %d: %w", recordbatch.ErrCorrupt, p, ErrOffsetOverflow)
		}
		if err != nil {
			st.Cause = err
			break
		}
		maxTs, offMaxTs = s.indexBatch(&h, int64(p), maxTs, offMaxTs)
		next = h.NextOffset()
		st.Batches++
		p += h.Size()
	}
	if p < len(v) {
		st.TruncatedBytes = int64(len(v) - p)
		if err := s.wf.Truncate(int64(p)); err != nil {
			return st, &Error{Path: s.logPath, Op: "recover: truncate torn tail", Offset: next, Err: err}
		}
	}
	s.maxTimestamp.Store(maxTs)
	s.offsetOfMaxTimestamp.Store(offMaxTs)
	s.nextOffset.Store(next)
	s.size.Store(int64(p))
	return st, nil
}

// Load prepares a segment that was flushed before the last recovery
// checkpoint without CRC-checking it: it sanity-checks both indexes against
// the file and walks the batch headers after the last index entry to find the
// segment's next offset. It returns ErrNeedsRecovery when anything does not
// check out; the caller then reopens the segment writable and Recovers it.
func (s *Segment) Load() error {
	size := s.size.Load()
	if s.indexMissing {
		return &Error{Path: s.logPath, Op: "load", Offset: -1, Err: fmt.Errorf("%w: index file missing", ErrNeedsRecovery)}
	}
	if err := s.offIdx.SanityCheck(size); err != nil {
		return &Error{Path: s.logPath, Op: "load", Offset: -1, Err: errors.Join(ErrNeedsRecovery, err)}
	}
	v := s.view()
	// Spot-check up to loadSampleEntries entries (the last one is checked by
	// the walk below): each must point at the header of the batch it names.
	// Reads tolerate a bad entry anyway (see positionFor); this catches a
	// damaged index early, so it is rebuilt instead of making reads slow.
	if n := s.offIdx.Entries(); n > 0 {
		for i := 0; i < n; i += max(n/loadSampleEntries, 1) {
			rel, pos := s.offIdx.Entry(i)
			h, err := recordbatch.ParseHeader(v[pos:])
			if err == nil && h.BaseOffset != s.baseOffset+int64(rel) {
				err = fmt.Errorf("%w: index entry %d names offset %d, batch there is %d", recordbatch.ErrCorrupt, i, s.baseOffset+int64(rel), h.BaseOffset)
			}
			if err != nil {
				return &Error{Path: s.logPath, Op: "load", Offset: -1, Err: errors.Join(ErrNeedsRecovery, err)}
			}
		}
	}
	p := int64(0)
	next := s.baseOffset
	if rel, pos, ok := s.offIdx.LastEntry(); ok {
		p, next = int64(pos), s.baseOffset+int64(rel)
	}
	for p < int64(len(v)) {
		h, err := recordbatch.ParseHeader(v[p:])
		if err == nil && !s.follows(h.BaseOffset, next) {
			err = fmt.Errorf("%w: base offset %d, want %d", recordbatch.ErrCorrupt, h.BaseOffset, next)
		}
		if err != nil {
			return &Error{Path: s.logPath, Op: "load", Offset: next, Err: errors.Join(ErrNeedsRecovery, err)}
		}
		next = h.NextOffset()
		p += int64(h.Size())
	}
	if next-s.baseOffset-1 > int64(^uint32(0)) && next != s.baseOffset {
		return &Error{Path: s.logPath, Op: "load", Offset: next, Err: ErrNeedsRecovery}
	}
	maxRel := uint32(0)
	if next > s.baseOffset {
		maxRel = uint32(next - 1 - s.baseOffset)
	}
	if err := s.timeIdx.SanityCheck(maxRel); err != nil {
		return &Error{Path: s.logPath, Op: "load", Offset: -1, Err: errors.Join(ErrNeedsRecovery, err)}
	}
	s.nextOffset.Store(next)
	if ts, rel, ok := s.timeIdx.LastEntry(); ok {
		s.maxTimestamp.Store(ts)
		s.offsetOfMaxTimestamp.Store(s.baseOffset + int64(rel))
	} else if size > 0 {
		// No time index entry yet (an active segment shorter than one index
		// interval, or batches without timestamps): the headers tell.
		s.rescanTimestamps()
	}
	if !s.sealed {
		// Continue the index spacing where the last entry left it.
		_, pos, _ := s.offIdx.LastEntry()
		s.bytesSinceIndexEntry = int(size - int64(pos))
	}
	return nil
}

// rescanTimestamps recomputes the max timestamp from the batch headers.
func (s *Segment) rescanTimestamps() {
	maxTs, offMaxTs := int64(-1), int64(-1)
	v := s.view()
	for p := 0; p < len(v); {
		h, err := recordbatch.ParseHeader(v[p:])
		if err != nil {
			break
		}
		if h.MaxTimestamp > maxTs {
			maxTs, offMaxTs = h.MaxTimestamp, h.LastOffset()
		}
		p += h.Size()
	}
	s.maxTimestamp.Store(maxTs)
	s.offsetOfMaxTimestamp.Store(offMaxTs)
}

// TruncateTo removes every batch whose last offset is >= offset: the file is
// cut at the start of the batch that contains offset, and the indexes with
// it. NextOffset becomes that batch's base offset, which equals offset when
// offset is a batch boundary. The segment must be writable and the caller
// must make sure no reader holds a view of the removed bytes (their pages
// would be gone).
func (s *Segment) TruncateTo(offset int64) error {
	if s.sealed {
		return &Error{Path: s.logPath, Op: "truncate", Offset: offset, Err: ErrReadOnly}
	}
	if offset >= s.nextOffset.Load() {
		return nil
	}
	cut := int64(-1)
	newNext := s.baseOffset
	err := s.Batches(s.baseOffset, func(h *recordbatch.Header, pos int64, _ []byte) bool {
		if h.LastOffset() >= offset {
			cut, newNext = pos, h.BaseOffset
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if cut < 0 {
		return nil
	}
	if err := s.wf.Truncate(cut); err != nil {
		return &Error{Path: s.logPath, Op: "truncate", Offset: offset, Err: err}
	}
	rel := uint32(newNext - s.baseOffset)
	s.offIdx.TruncateTo(rel)
	s.offIdx.TruncateToPosition(uint32(cut))
	s.timeIdx.TruncateTo(rel)
	s.size.Store(cut)
	s.nextOffset.Store(newNext)
	s.rescanTimestamps()
	_, pos, _ := s.offIdx.LastEntry()
	s.bytesSinceIndexEntry = int(cut - int64(pos))
	return nil
}
