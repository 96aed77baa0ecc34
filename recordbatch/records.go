package recordbatch

import "sync"

// FirstRecordAtOrAfter walks the records of a batch (which must have passed
// ParseHeader) and returns the offset and timestamp of the first record whose
// timestamp is >= ts, as Kafka's ListOffsets answers: the record itself, not
// its batch, so a consumer is not handed the records before it. Under
// LogAppendTime every record has the batch's MaxTimestamp, so the first
// record answers without reading any.
//
// A compressed batch is decompressed first, with DefaultDecompressLimit, into
// a pooled buffer; an uncompressed one is walked in place without
// allocating. Every record up to the answer is checked as Records checks it.
func FirstRecordAtOrAfter(batch []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return 0, 0, false, err
	}
	if h.LogAppendTime() {
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= ts && h.RecordCount > 0, nil
	}
	if h.RecordCount == 0 {
		return 0, 0, false, nil // emptied by compaction: nothing to decompress
	}
	recs := batch[HeaderSize:h.Size()]
	if h.Codec() == CodecNone {
		return firstAtOrAfter(&h, recs, ts)
	}
	buf := getScratch()
	defer putScratch(buf)
	if *buf, err = decompressAppend((*buf)[:0], h.Codec(), recs, DefaultDecompressLimit); err != nil {
		return 0, 0, false, err
	}
	return firstAtOrAfter(&h, *buf, ts)
}

// firstAtOrAfter is FirstRecordAtOrAfter over a decompressed records section.
func firstAtOrAfter(h *Header, recs []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	rd := recordReader{recs: recs, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
	var r rawRecord
	for rd.left > 0 {
		if err := rd.next(&r); err != nil {
			return 0, 0, false, err
		}
		if recTs := h.BaseTimestamp + r.timestampDelta; recTs >= ts {
			return h.BaseOffset + int64(r.offsetDelta), recTs, true, nil
		}
	}
	return 0, 0, false, rd.finish()
}

// scratch buffers hold decompressed records that do not outlive a call
// (FirstRecordAtOrAfter, Recompress between two codecs), so that repeated
// calls reuse memory instead of allocating a batch's worth each time.
var scratchPool sync.Pool // of *[]byte

// maxPooledScratch keeps rare huge batches from pinning their buffers in the
// pool between garbage collections.
const maxPooledScratch = 8 << 20

func getScratch() *[]byte {
	if p, ok := scratchPool.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

func putScratch(p *[]byte) {
	if cap(*p) <= maxPooledScratch {
		*p = (*p)[:0]
		scratchPool.Put(p)
	}
}
