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
	var recs []byte
	for _, d := range deltas {
		r := kmsg.Record{OffsetDelta: d, Value: []byte("v")}
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

func TestCheckProduced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		batch  []byte
		wantOK bool
	}{
		{"built", Build(10, 20, 1), true},
		{"one record", producedBatch([]int32{0}, 1, 0), true},
		{"count above records", producedBatch([]int32{0, 1, 2, 3}, 5, 4), false},
		{"count below records", producedBatch([]int32{0, 1, 2, 3}, 3, 2), false},
		{"count and delta disagree", producedBatch([]int32{0, 1, 2, 3}, 4, 5), false},
		{"offset delta gap", producedBatch([]int32{0, 1, 3, 4}, 4, 3), false},
		{"zero records", producedBatch(nil, 0, -1), false},
	} {
		err := CheckProduced(tc.batch)
		if (err == nil) != tc.wantOK {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v does not wrap ErrCorrupt", tc.name, err)
		}
	}
	batch := Build(100, 20, 1)
	if n := testing.AllocsPerRun(100, func() { CheckProduced(batch) }); n != 0 {
		t.Errorf("CheckProduced allocates %v times per batch", n)
	}
}

// FuzzCheckProduced: any bytes give an answer, never a panic, and a batch
// it accepts has its records framed exactly as the header says.
func FuzzCheckProduced(f *testing.F) {
	f.Add(Build(3, 10, 1))
	f.Add(producedBatch([]int32{0, 1, 3}, 3, 2))
	f.Add(producedBatch([]int32{0, 1, 2, 3}, 5, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckProduced(b) != nil {
			return
		}
		h, _ := ParseHeader(b)
		if h.Codec() == CodecNone {
			n := 0
			if err := Records(b, 1<<20, func(Record) error { n++; return nil }); err == nil && n != int(h.RecordCount) {
				t.Fatalf("accepted a batch of %d records claiming %d", n, h.RecordCount)
			}
		}
	})
}
