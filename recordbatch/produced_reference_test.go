package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// A differential test of ValidateProduced, whose two strategies (walk then
// CRC, CRC ahead of the walk) are easy to get subtly wrong, against the
// plain reference it replaced: Validate (header and CRC) and then a walk
// of the records, as recordbatch did before ValidateProduced existed. For
// a compressed batch the reference decompresses the records whole
// (Decompress) and reads them with Records' reader, where ValidateProduced
// streams them through a window.

func refCheckProduced(batch []byte) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.RecordCount <= 0 || int64(h.RecordCount) != int64(h.LastOffsetDelta)+1 {
		return corrupt(0, "recordCount %d does not match lastOffsetDelta %d", h.RecordCount, h.LastOffsetDelta)
	}
	recs := batch[HeaderSize:h.Size()]
	if h.Codec() != CodecNone {
		out, err := Decompress(h.Codec(), recs, DefaultDecompressLimit)
		if err != nil {
			return err
		}
		rd := recordReader{recs: out, left: h.RecordCount, lastOffsetDelta: h.LastOffsetDelta}
		var r rawRecord
		for want := int32(0); rd.left > 0; want++ {
			if err := rd.next(&r); err != nil {
				return err
			}
			if r.offsetDelta != want {
				return corrupt(0, "record %d has offsetDelta %d", want, r.offsetDelta)
			}
		}
		return rd.finish()
	}
	for want := int32(0); want < h.RecordCount; want++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 1 || length > int64(len(recs)-n) {
			return corrupt(0, "record %d: bad length (%d bytes left in the records)", want, len(recs))
		}
		body := recs[n : n+int(length)]
		recs = recs[n+int(length):]
		_, n1 := binary.Varint(body[1:])
		if n1 <= 0 {
			return corrupt(0, "record %d: bad timestampDelta", want)
		}
		delta, n2 := binary.Varint(body[1+n1:])
		if n2 <= 0 || delta != int64(want) {
			return corrupt(0, "record %d has offsetDelta %d", want, delta)
		}
	}
	if len(recs) != 0 {
		return corrupt(0, "%d bytes after the last of %d records", len(recs), h.RecordCount)
	}
	return nil
}

// zzOutcome classifies as the produce path did before (and must after):
// "ok", "invalid" (INVALID_RECORD), "corrupt" or "truncated".
func refOutcome(b []byte) (string, Header) {
	h, verr := Validate(b)
	cerr := refCheckProduced(b)
	switch {
	case verr == nil && cerr == nil:
		return "ok", h
	case verr != nil && errors.Is(verr, ErrTruncated):
		return "truncated", Header{}
	case verr != nil:
		return "corrupt", Header{}
	case errors.Is(cerr, ErrTooLarge):
		return "too large", Header{}
	default:
		return "invalid", Header{}
	}
}

func newOutcome(b []byte) (string, Header) {
	h, err := ValidateProduced(b, DefaultDecompressLimit)
	switch {
	case err == nil:
		return "ok", h
	case errors.Is(err, ErrInvalidRecords):
		return "invalid", Header{}
	case errors.Is(err, ErrTruncated):
		return "truncated", Header{}
	case errors.Is(err, ErrCorrupt):
		return "corrupt", Header{}
	case errors.Is(err, ErrTooLarge):
		return "too large", Header{}
	}
	return "other:" + err.Error(), Header{}
}

// refReader hands out bytes of the fuzz input, zeros once it runs out.
type refReader struct {
	b []byte
	i int
}

func (r *refReader) u8() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *refReader) u16() int { return int(r.u8())<<8 | int(r.u8()) }

// refBuild makes a batch from a description in the fuzz input: records of
// sizes around smallRecordBytes and across crcChunk, with lying counts,
// wrong deltas, bad lengths, slack inside the batch and bytes after it.
func refBuild(in []byte) []byte {
	r := &refReader{b: in}
	nrec := 1 + int(r.u8()%24)
	var recs []byte
	total := 0
	for i := 0; i < nrec; i++ {
		var vsize int
		switch r.u8() % 5 {
		case 0:
			vsize = int(r.u8()) % 150
		case 1:
			vsize = 120 + int(r.u8())%80 // around smallRecordBytes
		case 2:
			vsize = 300 + r.u16()%3000
		case 3:
			vsize = crcChunk - 200 + int(r.u8())*2 // across a chunk
		default:
			vsize = 0
		}
		if total+vsize > 400<<10 {
			vsize = 0
		}
		total += vsize
		flags := r.u8()
		delta := int64(i)
		if flags&1 != 0 {
			delta += int64(int8(r.u8()))
		}
		body := []byte{0} // attributes
		body = binary.AppendVarint(body, int64(r.u8()))
		body = binary.AppendVarint(body, delta)
		body = binary.AppendVarint(body, -1) // null key
		body = binary.AppendVarint(body, int64(vsize))
		body = append(body, make([]byte, vsize)...)
		body = binary.AppendVarint(body, 0)
		length := int64(len(body))
		if flags&2 != 0 {
			length += int64(int8(r.u8()) % 40)
		}
		if flags&4 != 0 {
			body = body[:1] // nothing after the attributes
			length = 1
		}
		if flags&8 != 0 {
			// a non-minimal varint length: 0x80-padded
			u := uint64(length<<1) ^ uint64(length>>63)
			recs = append(recs, byte(u)|0x80, byte(u>>7)|0x80, byte(u>>14))
		} else {
			recs = binary.AppendVarint(recs, length)
		}
		recs = append(recs, body...)
	}
	batchFlags := r.u8()
	if batchFlags&1 != 0 { // slack inside the batch
		recs = append(recs, make([]byte, int(r.u8())%64)...)
	}
	count := int32(nrec)
	if batchFlags&2 != 0 {
		count += int32(int8(r.u8()) % 4)
	}
	last := count - 1
	if batchFlags&4 != 0 {
		last += int32(int8(r.u8()) % 3)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(recs)+64)
	binary.BigEndian.PutUint64(b[BaseOffsetPos:], 0)
	binary.BigEndian.PutUint32(b[BatchLengthPos:], uint32(HeaderSize-LogOverhead+len(recs)))
	binary.BigEndian.PutUint32(b[PartitionLeaderEpochPos:], 0xffffffff)
	b[MagicPos] = 2
	attrs := uint16(0)
	if batchFlags&8 != 0 {
		attrs = uint16(r.u8() % 5)
	}
	binary.BigEndian.PutUint16(b[AttributesPos:], attrs)
	binary.BigEndian.PutUint32(b[LastOffsetDeltaPos:], uint32(last))
	binary.BigEndian.PutUint64(b[ProducerIDPos:], ^uint64(0))
	binary.BigEndian.PutUint16(b[ProducerEpochPos:], 0xffff)
	binary.BigEndian.PutUint32(b[BaseSequencePos:], 0xffffffff)
	binary.BigEndian.PutUint32(b[RecordCountPos:], uint32(count))
	b = append(b, recs...)
	if batchFlags&16 == 0 {
		SetCRC(b)
	}
	if batchFlags&32 != 0 && len(b) > 0 { // damage a byte after the CRC
		p := r.u16() % len(b)
		b[p] ^= 1 << (r.u8() % 8)
	}
	if batchFlags&64 != 0 { // bytes after the batch
		b = append(b, make([]byte, int(r.u8())%100)...)
	}
	if batchFlags&128 != 0 && len(b) > 0 { // cut it short
		b = b[:len(b)-1-r.u16()%len(b)]
	}
	return b
}

func refCompare(t *testing.T, b []byte, what string) {
	t.Helper()
	wantO, wantH := refOutcome(b)
	gotO, gotH := newOutcome(b)
	if wantO != gotO || wantH != gotH {
		t.Fatalf("%s (%d bytes): old %s, new %s (%+v vs %+v)", what, len(b), wantO, gotO, wantH, gotH)
	}
}

// FuzzValidateProducedMatchesReference: the same verdict and header as the
// reference for every input, raw or built from the fuzz bytes.
func FuzzValidateProducedMatchesReference(f *testing.F) {
	f.Add([]byte{}, false)
	f.Add([]byte{3, 3, 10, 0, 3, 20, 0, 3, 30, 0, 0}, false)
	f.Add([]byte{23, 1, 40, 0, 1, 41, 0, 1, 42, 1, 3, 2, 50, 0, 2, 1, 0, 0, 0, 2, 0}, false)
	f.Add([]byte{5, 2, 0, 200, 0, 2, 1, 10, 0, 2, 2, 10, 2, 9, 2, 3, 30, 0, 4, 1}, false)
	f.Add([]byte{3, 3, 10, 8, 3, 20, 2, 5, 3, 30, 0, 66, 7}, false)
	f.Add(Build(10, 20, 1), true)
	f.Add(Build(70, 1000, 1), true)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(compressedProduced(f, c, 5, 40), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, raw bool) {
		b := in
		if !raw {
			b = refBuild(in)
		}
		refCompare(t, b, "fuzz")
	})
}

// TestValidateProducedMatchesReference runs the comparison over a deterministic
// grid without -fuzz: sizes around the strategy threshold and chunk size.
func TestValidateProducedMatchesReference(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64} {
		for _, v := range []int{0, 100, 140, 145, 150, 151, 155, 160, 170, 1000, crcChunk - 100, crcChunk - 20, crcChunk, crcChunk + 30} {
			if n*v > 1<<20 {
				continue
			}
			good := Build(n, v, 1)
			refCompare(t, good, "built")
			for p := HeaderSize; p < len(good); p += 1 + len(good)/97 {
				bad := append([]byte(nil), good...)
				bad[p] ^= 0x41
				refCompare(t, bad, "flipped")
				SetCRC(bad)
				refCompare(t, bad, "flipped, CRC fixed")
			}
			refCompare(t, append(append([]byte(nil), good...), 1, 2, 3), "trailing")
			refCompare(t, good[:len(good)-1], "short")
		}
	}
}

// TestValidateProducedCompressedMatchesReference: for every codec, the
// streaming walk gives the verdict of decompressing whole and reading the
// records, over damaged compressed bytes whose CRC was fixed up (so the
// records, not the CRC, decide).
func TestValidateProducedCompressedMatchesReference(t *testing.T) {
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		for _, n := range []int{1, 3, 200} {
			good := compressedProduced(t, c, n, 300)
			refCompare(t, good, c.String()+" built")
			for p := HeaderSize; p < len(good); p += 1 + len(good)/61 {
				for _, bit := range []byte{0x01, 0x40} {
					bad := append([]byte(nil), good...)
					bad[p] ^= bit
					SetCRC(bad)
					refCompare(t, bad, fmt.Sprintf("%v, %d records, byte %d ^ 0x%02x", c, n, p, bit))
				}
			}
		}
	}
}
