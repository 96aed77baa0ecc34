package recordbatch

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// producedBatch encodes n uncompressed records with the given offset deltas
// and header fields, with a valid CRC.
func producedBatch(deltas []int32, count, lastDelta int32) []byte {
	return producedBatchOf(deltas, count, lastDelta, []byte("v"))
}

// producedBatchOf is producedBatch with every record's value.
func producedBatchOf(deltas []int32, count, lastDelta int32, value []byte) []byte {
	var recs []byte
	for _, d := range deltas {
		r := kmsg.Record{OffsetDelta: d, Value: value}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // without its own 1-byte length
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: lastDelta, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: recs}
	b.Length = int32(len(b.AppendTo(nil)) - LogOverhead)
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[CRCPos:], ComputeCRC(out))
	return out
}

func TestValidateProduced(t *testing.T) {
	large := make([]byte, 3*smallRecordBytes)
	for _, tc := range []struct {
		name  string
		batch []byte
		want  error // nil: accepted
	}{
		{"built", Build(10, 20, 1), nil},
		{"built, records over many CRC chunks", Build(300, 1000, 1), nil},
		{"one record", producedBatch([]int32{0}, 1, 0), nil},
		{"count above records", producedBatch([]int32{0, 1, 2, 3}, 5, 4), ErrInvalidRecords},
		{"count below records", producedBatch([]int32{0, 1, 2, 3}, 3, 2), ErrInvalidRecords},
		{"count and delta disagree", producedBatch([]int32{0, 1, 2, 3}, 4, 5), ErrInvalidRecords},
		{"offset delta gap", producedBatch([]int32{0, 1, 3, 4}, 4, 3), ErrInvalidRecords},
		{"zero records", producedBatch(nil, 0, -1), ErrCorrupt}, // lastOffsetDelta -1: a bad header
		{"damaged and lying", flipByte(producedBatch([]int32{0, 1, 3, 4}, 4, 3), -3), ErrCorrupt},
		// The same over records large enough for the CRC-first pass.
		{"large: count above records", producedBatchOf([]int32{0, 1, 2, 3}, 5, 4, large), ErrInvalidRecords},
		{"large: count below records", producedBatchOf([]int32{0, 1, 2, 3}, 3, 2, large), ErrInvalidRecords},
		{"large: offset delta gap", producedBatchOf([]int32{0, 1, 3, 4}, 4, 3, large), ErrInvalidRecords},
		{"large: damaged and lying", flipByte(producedBatchOf([]int32{0, 1, 3, 4}, 4, 3, large), -3), ErrCorrupt},
	} {
		h, err := ValidateProduced(tc.batch, DefaultDecompressLimit)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if h.Size() != len(tc.batch) {
				t.Errorf("%s: header of %d bytes for a %d-byte batch", tc.name, h.Size(), len(tc.batch))
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A flipped byte anywhere the CRC covers, in any chunk of the fused
	// pass, is ErrCorrupt, whatever it does to the records' framing.
	for _, good := range [][]byte{Build(200, 1000, 1), Build(5000, 20, 1)} {
		for pos := AttributesPos; pos < len(good); pos += 997 {
			if _, err := ValidateProduced(flipByte(good, pos), DefaultDecompressLimit); !errors.Is(err, ErrCorrupt) {
				t.Errorf("byte %d of %d flipped: %v, want ErrCorrupt", pos, len(good), err)
			}
		}
		if _, err := ValidateProduced(flipByte(good, len(good)-1), DefaultDecompressLimit); !errors.Is(err, ErrCorrupt) {
			t.Errorf("last byte flipped: %v, want ErrCorrupt", err)
		}
	}
	batch := Build(100, 20, 1)
	if n := testing.AllocsPerRun(100, func() { ValidateProduced(batch, DefaultDecompressLimit) }); n != 0 {
		t.Errorf("ValidateProduced allocates %v times per batch", n)
	}
}

// flipByte returns a copy of b with the byte at pos (from the end if
// negative) inverted.
func flipByte(b []byte, pos int) []byte {
	c := append([]byte(nil), b...)
	if pos < 0 {
		pos += len(c)
	}
	c[pos] ^= 0xff
	return c
}

// FuzzValidateProduced: any bytes give an answer, never a panic; it accepts
// only what Validate accepts, and a batch it accepts has its records framed
// exactly as the header says.
func FuzzValidateProduced(f *testing.F) {
	f.Add(Build(3, 10, 1))
	f.Add(producedBatch([]int32{0, 1, 3}, 3, 2))
	f.Add(producedBatch([]int32{0, 1, 2, 3}, 5, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateProduced(b, DefaultDecompressLimit)
		if _, verr := Validate(b); verr != nil {
			if err == nil || errors.Is(err, ErrInvalidRecords) {
				t.Fatalf("Validate says %v, ValidateProduced %v", verr, err)
			}
			return
		}
		if err != nil {
			return
		}
		if h.Codec() == CodecNone {
			n := 0
			if err := Records(b, 1<<20, func(Record) error { n++; return nil }); err == nil && n != int(h.RecordCount) {
				t.Fatalf("accepted a batch of %d records claiming %d", n, h.RecordCount)
			}
		}
	})
}
