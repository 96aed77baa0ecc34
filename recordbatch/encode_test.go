package recordbatch_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// encodeTestRecords are records with every field shape Encode must write:
// null and empty keys and values, headers, offset gaps, timestamps going
// backwards.
func encodeTestRecords(base int64) []recordbatch.Record {
	return []recordbatch.Record{
		{Offset: base, Timestamp: 1000, Key: []byte("a"), Value: []byte("v1")},
		{Offset: base + 1, Timestamp: 990, Key: nil, Value: []byte("no key")},
		{Offset: base + 4, Timestamp: 1005, Key: []byte{}, Value: nil,
			Headers: []recordbatch.RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "", Value: nil}}},
		{Offset: base + 5, Timestamp: 1003, Key: []byte("b"), Value: []byte{}},
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		o    recordbatch.BatchOptions
	}{
		{"plain", recordbatch.BatchOptions{BaseOffset: 100, PartitionLeaderEpoch: 3}},
		{"idempotent", recordbatch.BatchOptions{BaseOffset: 7, Idempotent: true, ProducerID: 42, ProducerEpoch: 2, BaseSequence: 9}},
		{"transactional", recordbatch.BatchOptions{Idempotent: true, ProducerID: 1, Transactional: true}},
		{"log append time", recordbatch.BatchOptions{LogAppendTime: true}},
	}
	for _, tt := range tests {
		for _, c := range allCodecs {
			t.Run(fmt.Sprintf("%s/%v", tt.name, c), func(t *testing.T) {
				o := tt.o
				o.Codec = c
				want := encodeTestRecords(o.BaseOffset)
				b, err := recordbatch.Encode([]byte("prefix"), o, want)
				if err != nil {
					t.Fatal(err)
				}
				if string(b[:6]) != "prefix" {
					t.Fatal("dst overwritten")
				}
				b = b[6:]
				h, err := recordbatch.Validate(b)
				if err != nil || h.Size() != len(b) {
					t.Fatalf("Validate: %v (size %d of %d)", err, h.Size(), len(b))
				}
				if h.BaseOffset != o.BaseOffset || h.LastOffsetDelta != 5 || h.RecordCount != 4 ||
					h.BaseTimestamp != 1000 || h.MaxTimestamp != 1005 || h.Codec() != c ||
					h.PartitionLeaderEpoch != o.PartitionLeaderEpoch || h.Transactional() != o.Transactional ||
					h.LogAppendTime() != o.LogAppendTime {
					t.Fatalf("header %+v", h)
				}
				if o.Idempotent != (h.ProducerID >= 0) || (o.Idempotent && (h.ProducerID != o.ProducerID ||
					h.ProducerEpoch != o.ProducerEpoch || h.BaseSequence != o.BaseSequence)) {
					t.Fatalf("producer fields %d/%d/%d", h.ProducerID, h.ProducerEpoch, h.BaseSequence)
				}
				var got []recordbatch.Record
				if err := recordbatch.Records(b, 1<<20, func(r recordbatch.Record) error {
					got = append(got, r)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%d records, want %d", len(got), len(want))
				}
				for i := range want {
					w := want[i]
					if o.LogAppendTime {
						w.Timestamp = h.MaxTimestamp
					}
					if got[i].Offset != w.Offset || got[i].Timestamp != w.Timestamp || !sameBytes(got[i].Key, w.Key) ||
						!sameBytes(got[i].Value, w.Value) || len(got[i].Headers) != len(w.Headers) {
						t.Fatalf("record %d = %+v, want %+v", i, got[i], w)
					}
				}
				// franz-go decodes it too.
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil || rb.NumRecords != 4 {
					t.Fatalf("kmsg: %v, %d records", err, rb.NumRecords)
				}
			})
		}
	}
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		o    recordbatch.BatchOptions
		recs []recordbatch.Record
		want error
	}{
		{"no records", recordbatch.BatchOptions{}, nil, recordbatch.ErrCorrupt},
		{"offset below base", recordbatch.BatchOptions{BaseOffset: 5}, []recordbatch.Record{{Offset: 4}}, recordbatch.ErrCorrupt},
		{"offsets not increasing", recordbatch.BatchOptions{}, []recordbatch.Record{{Offset: 1}, {Offset: 1}}, recordbatch.ErrCorrupt},
		{"bad codec", recordbatch.BatchOptions{Codec: 6}, []recordbatch.Record{{}}, recordbatch.ErrUnsupportedCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("x")
			out, err := recordbatch.Encode(dst, tt.o, tt.recs)
			if !errors.Is(err, tt.want) || string(out) != "x" {
				t.Fatalf("Encode = %q, %v; want dst unchanged and %v", out, err, tt.want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	o := recordbatch.BatchOptions{BaseOffset: 500, PartitionLeaderEpoch: 9, Idempotent: true, ProducerID: 77, ProducerEpoch: 3, BaseSequence: 40}
	tests := []struct {
		name     string
		keep     func(recordbatch.Record) bool
		wantKept []int // indexes into encodeTestRecords
	}{
		{"all", func(recordbatch.Record) bool { return true }, []int{0, 1, 2, 3}},
		{"none", func(recordbatch.Record) bool { return false }, nil},
		{"first and last", func(r recordbatch.Record) bool { return r.Offset == 500 || r.Offset == 505 }, []int{0, 3}},
		{"middle", func(r recordbatch.Record) bool { return r.Offset == 504 }, []int{2}},
		{"keyed", func(r recordbatch.Record) bool { return r.Key != nil }, []int{0, 2, 3}},
	}
	for _, c := range allCodecs {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%s", c, tt.name), func(t *testing.T) {
				o := o
				o.Codec = c
				all := encodeTestRecords(o.BaseOffset)
				b, err := recordbatch.Encode(nil, o, all)
				if err != nil {
					t.Fatal(err)
				}
				orig, _ := recordbatch.ParseHeader(b)
				out, kept, removed, err := recordbatch.Filter([]byte("p"), b, 1<<20, tt.keep)
				if err != nil || kept != len(tt.wantKept) || removed != len(all)-kept {
					t.Fatalf("Filter: kept %d removed %d, %v; want %d kept", kept, removed, err, len(tt.wantKept))
				}
				out = out[1:]
				switch {
				case kept == 0:
					if len(out) != 0 {
						t.Fatalf("%d bytes appended for an emptied batch", len(out))
					}
					return
				case kept == len(all):
					if !bytes.Equal(out, b) {
						t.Fatal("untouched batch not copied verbatim")
					}
					return
				}
				h, err := recordbatch.Validate(out)
				if err != nil || h.Size() != len(out) {
					t.Fatalf("filtered batch: %v", err)
				}
				want := orig
				want.BatchLength, want.CRC, want.RecordCount = h.BatchLength, h.CRC, int32(kept)
				if h != want {
					t.Fatalf("header %+v\nwant   %+v", h, want)
				}
				var got []recordbatch.Record
				recordbatch.Records(out, 1<<20, func(r recordbatch.Record) error { got = append(got, r); return nil })
				for i, j := range tt.wantKept {
					w := all[j]
					if got[i].Offset != w.Offset || got[i].Timestamp != w.Timestamp || !sameBytes(got[i].Key, w.Key) ||
						!sameBytes(got[i].Value, w.Value) || len(got[i].Headers) != len(w.Headers) {
						t.Fatalf("record %d = %+v, want %+v", i, got[i], w)
					}
				}
			})
		}
	}
}

func TestFilterRefusesDamage(t *testing.T) {
	b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{}, encodeTestRecords(0))
	b[len(b)-1] ^= 1
	out, _, _, err := recordbatch.Filter(nil, b, 1<<20, func(recordbatch.Record) bool { return false })
	if !errors.Is(err, recordbatch.ErrCorrupt) || out != nil {
		t.Fatalf("Filter of a damaged batch: %v", err)
	}
}

func TestHasNullKey(t *testing.T) {
	keyed := []recordbatch.Record{{Key: []byte("k")}, {Offset: 1, Key: []byte{}}}
	for _, c := range allCodecs {
		for _, tt := range []struct {
			recs []recordbatch.Record
			want bool
		}{{keyed, false}, {encodeTestRecords(0), true}} {
			b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: c}, tt.recs)
			got, err := recordbatch.HasNullKey(b, 1<<20)
			if err != nil || got != tt.want {
				t.Errorf("%v: HasNullKey = %v, %v; want %v", c, got, err, tt.want)
			}
		}
	}
	if _, err := recordbatch.HasNullKey([]byte{1, 2, 3}, 1<<20); err == nil {
		t.Error("HasNullKey of garbage: no error")
	}
}

// FuzzFilter: any input either fails with the package's errors or filters
// to a valid batch (or nothing) holding exactly the records kept, in order.
func FuzzFilter(f *testing.F) {
	for _, c := range allCodecs {
		b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: c, BaseOffset: 10}, encodeTestRecords(10))
		f.Add(b, uint8(0b0101))
	}
	f.Fuzz(func(t *testing.T, batch []byte, mask uint8) {
		keepN := func(i int) bool { return mask&(1<<(i%8)) != 0 }
		var all []recordbatch.Record
		i := 0
		out, kept, removed, err := recordbatch.Filter(nil, batch, fuzzLimit, func(r recordbatch.Record) bool {
			r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
			all = append(all, r)
			i++
			return keepN(i - 1)
		})
		if err != nil {
			if !errors.Is(err, recordbatch.ErrCorrupt) && !errors.Is(err, recordbatch.ErrTruncated) && !errors.Is(err, recordbatch.ErrTooLarge) {
				t.Fatalf("error outside the contract: %v", err)
			}
			return
		}
		if kept+removed != len(all) {
			t.Fatalf("kept %d + removed %d != %d records", kept, removed, len(all))
		}
		if kept == 0 {
			if len(out) != 0 {
				t.Fatal("bytes appended for an emptied batch")
			}
			return
		}
		if _, err := recordbatch.Validate(out); err != nil {
			t.Fatalf("filtered batch does not validate: %v", err)
		}
		j := 0
		err = recordbatch.Records(out, fuzzLimit, func(r recordbatch.Record) error {
			for j < len(all) && !keepN(j) {
				j++
			}
			if j >= len(all) || r.Offset != all[j].Offset || !sameBytes(r.Key, all[j].Key) || !sameBytes(r.Value, all[j].Value) {
				return fmt.Errorf("record %+v is not the next kept one", r)
			}
			j++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
