package segment

import (
	"math"

	"github.com/tributary-io/tributary/recordbatch"
)

// view returns the published bytes of the .log file. Caller holds a reference.
func (s *Segment) view() []byte {
	size := s.size.Load()
	return (*s.data.Load())[:size]
}

// positionFor returns a file position at or before the batch containing
// offset, from the sparse offset index, within the view v. An entry past v
// belongs to a batch not yet published when v was taken: then it returns
// len(v), since offset cannot be in v either. An entry that does not point
// at the header of the batch it names (a damaged index) is not trusted: the
// scan starts from the beginning of the segment instead, which is slow but
// right.
func (s *Segment) positionFor(v []byte, offset int64) int64 {
	rel := offset - s.baseOffset
	if rel <= 0 {
		return 0
	}
	if rel > math.MaxUint32 {
		rel = math.MaxUint32
	}
	key, pos, ok := s.offIdx.Lookup(uint32(rel))
	if !ok {
		return 0
	}
	if int64(pos) >= int64(len(v)) {
		return int64(len(v))
	}
	h, err := recordbatch.ParseHeader(v[pos:])
	if err != nil || h.BaseOffset != s.baseOffset+int64(key) {
		return 0
	}
	return int64(pos)
}

// Read is ReadBefore with no end offset: every published batch qualifies.
func (s *Segment) Read(offset int64, maxBytes int) (data []byte, firstBaseOffset int64, err error) {
	return s.ReadBefore(offset, maxBytes, math.MaxInt64)
}

// ReadBefore returns whole batches as a view of the mapping: first the batch that
// contains offset, then as many following whole batches as fit within
// maxBytes in total. The first batch is returned whole even when it alone is
// larger than maxBytes, so a consumer always makes progress (Kafka's rule).
// Batches at or past endOffset are left out (the log's end as the reader saw
// it, so a reader never gets ahead of the log end offset it was given).
// It returns nil when the segment has no such batch.
// The caller must hold a reference (Acquire) while it uses the view.
func (s *Segment) ReadBefore(offset int64, maxBytes int, endOffset int64) (data []byte, firstBaseOffset int64, err error) {
	if offset >= endOffset {
		return nil, 0, nil
	}
	v := s.view()
	p := s.positionFor(v, offset)
	start := -1
	var h recordbatch.Header
	for int(p) < len(v) {
		h, err = recordbatch.ParseHeader(v[p:])
		if err != nil {
			return nil, 0, &Error{Path: s.logPath, Op: "read", Offset: offset, Err: err}
		}
		if h.LastOffset() >= offset {
			start = int(p)
			break
		}
		p += int64(h.Size())
	}
	if start < 0 {
		return nil, 0, nil
	}
	first := h.BaseOffset
	end := start + h.Size()
	for end < len(v) {
		h, err = recordbatch.ParseHeader(v[end:])
		if err != nil {
			return nil, 0, &Error{Path: s.logPath, Op: "read", Offset: offset, Err: err}
		}
		if end+h.Size()-start > maxBytes || h.BaseOffset >= endOffset {
			break
		}
		end += h.Size()
	}
	return v[start:end:end], first, nil
}

// FindOffsetByTimestamp returns the offset and timestamp of the first record
// at or after startOffset whose timestamp is >= ts (a compressed batch is
// decompressed to find the record; if that fails, its base offset and max
// timestamp answer). ok is false when no batch in the
// segment qualifies. The caller holds a reference.
func (s *Segment) FindOffsetByTimestamp(ts, startOffset int64) (offset, batchMaxTimestamp int64, ok bool, err error) {
	from := max(startOffset, s.baseOffset)
	if _, rel, found := s.timeIdx.Lookup(ts); found {
		// Every batch up to the one ending at base+rel has timestamps < ts.
		from = max(from, s.baseOffset+int64(rel)+1)
	}
	v := s.view()
	for p := s.positionFor(v, from); int(p) < len(v); {
		h, err := recordbatch.ParseHeader(v[p:])
		if err != nil {
			return 0, 0, false, &Error{Path: s.logPath, Op: "find by timestamp", Offset: from, Err: err}
		}
		if h.LastOffset() >= from && h.MaxTimestamp >= ts {
			// Kafka answers with the first record, not the batch: read the
			// record timestamps when they are not compressed. A compressed
			// batch answers with its base offset (its records before the
			// one asked for are returned too, and clients skip them).
			off, recTs := h.BaseOffset, h.MaxTimestamp
			if o, t, found, rerr := recordbatch.FirstRecordAtOrAfter(v[p:p+int64(h.Size())], ts); rerr == nil && found {
				off, recTs = o, t
			}
			if off < startOffset {
				off = startOffset
			}
			return off, recTs, true, nil
		}
		p += int64(h.Size())
	}
	return 0, 0, false, nil
}

// Batches calls fn for each published batch header from the batch containing
// offset on, with its position, until fn returns false. It takes a
// reference of its own (a parked segment is mapped again). It is the
// building block of tools and scans, not of the hot path.
func (s *Segment) Batches(offset int64, fn func(h *recordbatch.Header, pos int64, batch []byte) bool) error {
	if err := s.AcquireErr(); err != nil {
		return err
	}
	defer s.Release()
	v := s.view()
	for p := s.positionFor(v, offset); int(p) < len(v); {
		h, err := recordbatch.ParseHeader(v[p:])
		if err != nil {
			return &Error{Path: s.logPath, Op: "scan", Offset: offset, Err: err}
		}
		if h.LastOffset() >= offset && !fn(&h, p, v[p:p+int64(h.Size())]) {
			return nil
		}
		p += int64(h.Size())
	}
	return nil
}
