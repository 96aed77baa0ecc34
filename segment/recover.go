package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

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
	// ResumePosition and ResumeOffset say where RecoverOptions.Salvage
	// was given the batches found past the damage; -1 when it was not.
	ResumePosition, ResumeOffset int64
}

// RecoverOptions makes RecoverWith salvage the valid batches past the
// damage of a sealed segment.
type RecoverOptions struct {
	// Limit is the base offset of the next segment: batches salvaged
	// must end below it. 0: salvage nothing.
	Limit int64
	// Salvage, when set, is given the bytes of the file from the first
	// batch past the damage that resumes the log (see ResumePoint) to
	// the end, and that batch's base offset, before the file is cut;
	// the caller keeps them as a segment of their own. An error stops
	// the recovery before anything is cut.
	Salvage func(base int64, tail []byte) error
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
// before it is corrupt: nothing after the first damaged byte can be trusted
// to belong to this segment's chain of offsets. RecoverWith salvages what
// comes after the damage of a sealed segment.
func (s *Segment) Recover() (RecoveryStats, error) {
	return s.RecoverWith(RecoverOptions{})
}

// RecoverWith is Recover that, with opts.Salvage set, hands the valid
// batches found past the damage to the caller before cutting the file
// (see ResumePoint), so that one damaged batch does not cost the rest of a
// sealed segment.
func (s *Segment) RecoverWith(opts RecoverOptions) (RecoveryStats, error) {
	if s.sealed {
		return RecoveryStats{}, &Error{Path: s.logPath, Op: "recover", Offset: -1, Err: ErrReadOnly}
	}
	v := s.view()
	st := RecoveryStats{BytesScanned: int64(len(v)), ResumePosition: -1, ResumeOffset: -1}
	s.offIdx.Reset()
	s.timeIdx.Reset()
	s.bytesSinceIndexEntry = 0
	s.indexMissing = false
	maxTs, offMaxTs := int64(-1), int64(-1)
	p, next, cause := intactPrefix(v, s.baseOffset, s.cfg.CompactedBefore, func(h *recordbatch.Header, pos int) {
		maxTs, offMaxTs = s.indexBatch(h, int64(pos), maxTs, offMaxTs)
		st.Batches++
	})
	st.Cause = cause
	if p < len(v) && opts.Salvage != nil && opts.Limit > next {
		if q, base, ok := resumePoint(v, p, next, opts.Limit, s.cfg.CompactedBefore); ok {
			if err := opts.Salvage(base, v[q:]); err != nil {
				return st, &Error{Path: s.logPath, Op: "recover: salvage batches past the damage", Offset: base, Err: err}
			}
			st.ResumePosition, st.ResumeOffset = int64(q), base
		}
	}
	if p < len(v) {
		st.TruncatedBytes = int64(len(v) - p)
		if err := s.reopenFile("recover"); err != nil {
			return st, err
		}
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

// intactPrefix walks v, the bytes of a segment at base offset base, batch
// by batch, checking each batch's length, magic, CRC-32C and that its
// offsets follow the previous batch's (with gaps only below
// compactedBefore) and fit the indexes, and calls fn (if set) for each one
// that does. It returns the length of that prefix, the offset after it and
// why it ends (nil at the end of v).
func intactPrefix(v []byte, base, compactedBefore int64, fn func(h *recordbatch.Header, pos int)) (p int, next int64, cause error) {
	next = base
	for p < len(v) {
		h, err := recordbatch.Validate(v[p:])
		if err == nil && !(h.BaseOffset == next || h.BaseOffset > next && h.BaseOffset < compactedBefore) {
			err = fmt.Errorf("%w: batch at byte %d has base offset %d, want %d", recordbatch.ErrCorrupt, p, h.BaseOffset, next)
		}
		if err == nil && h.LastOffset()-base > math.MaxUint32 {
			err = fmt.Errorf("%w: batch at byte %d: %w", recordbatch.ErrCorrupt, p, ErrOffsetOverflow)
		}
		if err != nil {
			return p, next, err
		}
		if fn != nil {
			fn(&h, p)
		}
		next = h.NextOffset()
		p += h.Size()
	}
	return p, next, nil
}

// KeptRange is a run of batches a recovery keeps of a segment.
type KeptRange struct {
	Base       int64 // the base offset of the segment it is kept as
	Next       int64 // the offset after its last batch
	From, To   int64 // its bytes in the .log file
	FirstBatch int64 // base offset of its first batch, -1 when empty
}

// keptRanges is what recovery keeps of v, the bytes of the segment at
// base: the intact prefix and, when limit (the next segment's base
// offset) is set, each run resumed past damage (see RecoverWith). With no
// damage it is one range, the whole of v.
func keptRanges(v []byte, base, compactedBefore, limit int64) []KeptRange {
	var out []KeptRange
	pos := 0
	for {
		first := int64(-1)
		p, next, _ := intactPrefix(v[pos:], base, compactedBefore, func(h *recordbatch.Header, q int) {
			if first < 0 {
				first = h.BaseOffset
			}
		})
		out = append(out, KeptRange{Base: base, Next: next, From: int64(pos), To: int64(pos + p), FirstBatch: first})
		if pos+p == len(v) || limit <= next {
			return out
		}
		q, b, ok := resumePoint(v[pos:], p, next, limit, compactedBefore)
		if !ok {
			return out
		}
		pos, base = pos+q, b
	}
}

// resumePoint looks in v past the damaged batch at byte cut, where the
// offset next was expected, for the first position where the log resumes:
// a whole, CRC-valid batch whose offsets lie in [next, limit) and whose
// base offset (which no CRC covers) something vouches for: the end of v
// after it, a valid batch after it that follows it (with a gap only below
// compactedBefore), or the header of the batch before it, when the
// damage left the framing from cut to it readable and that header says it
// ends where this one starts. The batch at cut itself is never taken: its
// base offset may be what is damaged. Cheap checks of the header come
// first, so a scan of garbage computes few CRCs.
func resumePoint(v []byte, cut int, next, limit, compactedBefore int64) (pos int, base int64, ok bool) {
	candidate := func(q int) (recordbatch.Header, bool) {
		b := v[q:]
		if len(b) < recordbatch.HeaderSize || b[recordbatch.MagicPos] != recordbatch.Magic {
			return recordbatch.Header{}, false
		}
		base := int64(binary.BigEndian.Uint64(b[recordbatch.BaseOffsetPos:]))
		size := recordbatch.LogOverhead + int64(int32(binary.BigEndian.Uint32(b[recordbatch.BatchLengthPos:])))
		delta := int64(int32(binary.BigEndian.Uint32(b[recordbatch.LastOffsetDeltaPos:])))
		if base < next || delta < 0 || base+delta >= limit || size < recordbatch.HeaderSize || size > int64(len(b)) {
			return recordbatch.Header{}, false
		}
		h, err := recordbatch.Validate(b)
		return h, err == nil
	}
	// The framing from cut on, walked as far as headers parse, as the
	// scan goes: framed is the next batch boundary at or past q (-1 when
	// the framing is lost), framedNext the offset the header before it
	// says comes next.
	framed, framedNext := cut, int64(-1)
	for q := cut + 1; q < len(v); q++ {
		for framed >= 0 && framed < q {
			h, err := recordbatch.ParseHeader(v[framed:])
			if err != nil {
				framed = -1
				break
			}
			framed, framedNext = framed+h.Size(), h.NextOffset()
		}
		h, ok := candidate(q)
		if !ok {
			continue
		}
		r := q + h.Size()
		if r == len(v) || framed == q && framedNext == h.BaseOffset {
			return q, h.BaseOffset, true
		}
		if h2, ok := candidate(r); ok && (h2.BaseOffset == h.NextOffset() || h2.BaseOffset > h.NextOffset() && h2.BaseOffset < compactedBefore) {
			return q, h.BaseOffset, true
		}
	}
	return 0, 0, false
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
	if err := s.reopenFile("truncate"); err != nil {
		return err
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
