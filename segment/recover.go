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
// damage of a segment.
type RecoverOptions struct {
	// Limit is the base offset of the next segment: batches salvaged
	// must end below it, and a salvaged last batch ending exactly there
	// is vouched for by it. 0: salvage nothing (unless Last).
	Limit int64
	// Last says the segment is the log's last one. Batches past damage
	// are then salvaged wherever their offsets go (there is no next
	// segment to bound them), Limit is the recovery point (0: none),
	// which only vouches for a last batch ending there, and a torn tail
	// (see salvageScope.torn) is cut without looking inside it.
	Last bool
	// Salvage, when set, is given the bytes of the file from the first
	// batch past the damage that resumes the log (see resumePoint) to
	// the end, and that batch's base offset, before the file is cut;
	// the caller keeps them as a segment of their own. An error stops
	// the recovery before anything is cut.
	Salvage func(base int64, tail []byte) error
}

// scope is what a salvage of one segment may keep past damage.
func (o RecoverOptions) scope(compactedBefore int64) salvageScope {
	return newSalvageScope(o.Limit, o.Last, compactedBefore)
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
// comes after the damage.
func (s *Segment) Recover() (RecoveryStats, error) {
	return s.RecoverWith(RecoverOptions{})
}

// RecoverWith is Recover that, with opts.Salvage set, hands the valid
// batches found past the damage to the caller before cutting the file
// (see resumePoint), so that one damaged batch does not cost the rest of
// the segment; only a torn tail of the last segment is cut whole.
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
	if sc := opts.scope(s.cfg.CompactedBefore); p < len(v) && opts.Salvage != nil && sc.upper > next {
		if q, base, ok := sc.resumePoint(v, p, next); ok {
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
// base: the intact prefix and each run resumed past damage (see
// RecoverWith; limit and last as in RecoverOptions). With no damage it
// is one range, the whole of v.
func keptRanges(v []byte, base, compactedBefore, limit int64, last bool) []KeptRange {
	sc := newSalvageScope(limit, last, compactedBefore)
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
		if pos+p == len(v) || sc.upper <= next {
			return out
		}
		q, b, ok := sc.resumePoint(v[pos:], p, next)
		if !ok {
			return out
		}
		pos, base = pos+q, b
	}
}

// lastSegmentLimit bounds the offsets of batches salvaged in the log's
// last segment, which no next segment bounds: far enough that no real
// log reaches it, near enough that base+lastOffsetDelta cannot overflow.
const lastSegmentLimit = math.MaxInt64 / 2

// salvageScope is the one rule by which a recovery keeps batches past
// damage, in a sealed segment and in the last one alike (RecoverWith
// does it, Verify predicts it with keptRanges).
type salvageScope struct {
	upper int64 // salvaged batches end below it
	// vouch, when > 0, is an offset known to follow the segment's last
	// batch (the next segment's base offset, or the recovery point).
	vouch int64
	// last: the log's last segment, whose tail a crash may have torn.
	last            bool
	compactedBefore int64
}

func newSalvageScope(limit int64, last bool, compactedBefore int64) salvageScope {
	if last {
		return salvageScope{upper: lastSegmentLimit, vouch: limit, last: true, compactedBefore: compactedBefore}
	}
	return salvageScope{upper: limit, vouch: limit, compactedBefore: compactedBefore}
}

// follows reports whether a batch at base offset base may come where the
// offset next was expected (with a gap only below compactedBefore).
func (sc salvageScope) follows(base, next int64) bool {
	return base == next || base > next && base < sc.compactedBefore
}

// torn reports whether the bytes of v from p, where a batch at offset
// next was expected, are the torn tail of the last segment: fewer bytes
// than a batch length, or a batch that follows the log and whose length
// runs past the end of the file (a write cut short by a crash). Nothing
// inside it is looked at: its bytes are record data, which may hold
// anything, batches included. Below the recovery point (sc.vouch) nothing
// was torn: those batches were on stable storage before the crash.
func (sc salvageScope) torn(v []byte, p int, next int64) bool {
	if !sc.last || next < sc.vouch {
		return false
	}
	b := v[p:]
	if len(b) < recordbatch.LogOverhead {
		return true
	}
	n := int64(int32(binary.BigEndian.Uint32(b[recordbatch.BatchLengthPos:])))
	base := int64(binary.BigEndian.Uint64(b[recordbatch.BaseOffsetPos:]))
	return n >= recordbatch.MinBatchLength && recordbatch.LogOverhead+n > int64(len(b)) && sc.follows(base, next)
}

// candidate returns the batch at byte q of v when it is whole, CRC-valid
// and its offsets lie in [lower, sc.upper). Cheap checks of the header
// come first, so a scan of garbage computes few CRCs.
func (sc salvageScope) candidate(v []byte, q int, lower int64) (recordbatch.Header, bool) {
	b := v[q:]
	if len(b) < recordbatch.HeaderSize || b[recordbatch.MagicPos] != recordbatch.Magic {
		return recordbatch.Header{}, false
	}
	base := int64(binary.BigEndian.Uint64(b[recordbatch.BaseOffsetPos:]))
	size := recordbatch.LogOverhead + int64(int32(binary.BigEndian.Uint32(b[recordbatch.BatchLengthPos:])))
	delta := int64(int32(binary.BigEndian.Uint32(b[recordbatch.LastOffsetDeltaPos:])))
	if base < lower || base >= sc.upper || delta < 0 || base+delta >= sc.upper ||
		size < recordbatch.HeaderSize || size > int64(len(b)) {
		return recordbatch.Header{}, false
	}
	h, err := recordbatch.Validate(b)
	return h, err == nil
}

// scan looks in v past the damaged batch at byte cut for the first batch
// h, at q, with offsets from lower on, whose base offset (which no CRC
// covers) something vouches for, and that accept (if set) takes. A batch
// is vouched for by a valid batch right after it that follows it; as the
// last batch of v, by sc.vouch beginning where it ends; or by the header
// of the batch before it saying the log goes on there. The scan first
// follows the framing of the damaged batches as far as their headers
// parse, so that nothing inside a batch whose length was intact is looked
// at, then tries every byte. The batch at cut itself is never taken: its
// base offset may be what is damaged.
func (sc salvageScope) scan(v []byte, cut int, lower int64, accept func(q int, h *recordbatch.Header) bool) (int, recordbatch.Header, bool) {
	try := func(q int, framedNext int64) (recordbatch.Header, bool) {
		h, ok := sc.candidate(v, q, lower)
		if !ok {
			return h, false
		}
		r := q + h.Size()
		vouched := h.BaseOffset == framedNext || r == len(v) && sc.vouch > 0 && sc.follows(sc.vouch, h.NextOffset())
		if !vouched {
			h2, ok := sc.candidate(v, r, lower)
			vouched = ok && sc.follows(h2.BaseOffset, h.NextOffset())
		}
		return h, vouched && (accept == nil || accept(q, &h))
	}
	for f := cut; f < len(v); {
		fh, err := recordbatch.ParseHeader(v[f:])
		if err != nil {
			break
		}
		f += fh.Size()
		if h, ok := try(f, fh.NextOffset()); ok {
			return f, h, true
		}
	}
	for q := cut + 1; q < len(v); q++ {
		if h, ok := try(q, -1); ok {
			return q, h, true
		}
	}
	return 0, recordbatch.Header{}, false
}

// resumePoint looks in v past the damaged batch at byte cut, where the
// offset next was expected, for the first position where the log
// resumes: a batch found by scan whose chain holds to the end of the
// file (see chainHolds). In the last segment a torn tail at cut is cut,
// not searched.
func (sc salvageScope) resumePoint(v []byte, cut int, next int64) (pos int, base int64, ok bool) {
	if sc.torn(v, cut, next) {
		return 0, 0, false
	}
	q, h, ok := sc.scan(v, cut, next, func(q int, h *recordbatch.Header) bool {
		return sc.chainHolds(v, q, h.BaseOffset)
	})
	return q, h.BaseOffset, ok
}

// chainHolds reports whether the log can go on from the batch at byte q
// (base offset base) to the end of v: through its chain of valid batches
// whose offsets follow one another and, past each break, through the
// next batch scan finds, which must not go back below where the chain
// got. A break with nothing found past it (damage to the end of the
// file, or a torn tail) ends it well. What this rules out is a batch
// that is not part of the log: one stored inside a damaged batch's
// record data, found only because that batch's length was damaged too,
// whose offsets run past the real batches after the damage. Such a
// batch still passes when its offsets lie below the next real ones (it
// then stands in the lost range); that takes a damaged length field and
// a client that stored well-formed batches, with valid CRCs, in its
// records.
func (sc salvageScope) chainHolds(v []byte, q int, base int64) bool {
	next := base
	for {
		for q < len(v) {
			h, err := recordbatch.Validate(v[q:])
			if err != nil || !sc.follows(h.BaseOffset, next) || h.LastOffset() >= sc.upper || h.LastOffset()-base > math.MaxUint32 {
				break
			}
			next = h.NextOffset()
			q += h.Size()
		}
		if q == len(v) || sc.torn(v, q, next) {
			return true
		}
		q2, h, ok := sc.scan(v, q, 0, nil)
		if !ok {
			return true
		}
		if h.BaseOffset < next {
			return false
		}
		q, base, next = q2, h.BaseOffset, h.BaseOffset
	}
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
