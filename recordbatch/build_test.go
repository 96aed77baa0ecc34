package recordbatch_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

type record struct {
	timestampDelta, offsetDelta int64
	key, value                  []byte // nil when null
	headers                     int64
}

// decodeRecords decodes uncompressed Kafka v2 records the way a client does,
// failing on any leftover or missing byte.
func decodeRecords(t *testing.T, recs []byte, count int) []record {
	t.Helper()
	varint := func(b []byte) (int64, []byte) {
		v, n := binary.Varint(b)
		if n <= 0 {
			t.Fatalf("bad varint at %x", b[:min(len(b), 10)])
		}
		return v, b[n:]
	}
	bytesField := func(b []byte) ([]byte, []byte) {
		n, b := varint(b)
		if n < 0 {
			return nil, b
		}
		if int64(len(b)) < n {
			t.Fatalf("field length %d beyond record", n)
		}
		return b[:n:n], b[n:]
	}
	var out []record
	for range count {
		length, rest := varint(recs)
		if length < 0 || int64(len(rest)) < length {
			t.Fatalf("record length %d, %d bytes left", length, len(rest))
		}
		body := rest[:length]
		recs = rest[length:]
		if body[0] != 0 {
			t.Fatalf("record attributes %d, want 0", body[0])
		}
		var r record
		body = body[1:]
		r.timestampDelta, body = varint(body)
		r.offsetDelta, body = varint(body)
		r.key, body = bytesField(body)
		r.value, body = bytesField(body)
		r.headers, body = varint(body)
		if len(body) != 0 {
			t.Fatalf("%d bytes left in record body", len(body))
		}
		out = append(out, r)
	}
	if len(recs) != 0 {
		t.Fatalf("%d bytes after the last record", len(recs))
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		n, valueSize int
		ts           int64
	}{
		{0, 0, 100}, {1, 0, 0}, {1, 1, -5}, {3, 10, 1_700_000_000_000}, {70, 63, 1}, {70, 64, 1},
		{200, 200, 7}, {9000, 1, 0}, {2, 10000, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d/value=%d", tt.n, tt.valueSize), func(t *testing.T) {
			b := recordbatch.Build(tt.n, tt.valueSize, tt.ts)
			h, err := recordbatch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			wantMax, wantDelta := tt.ts+int64(tt.n)-1, int32(tt.n)-1
			if tt.n == 0 {
				wantMax, wantDelta = tt.ts, 0
			}
			want := recordbatch.Header{
				BaseOffset: 0, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2, CRC: h.CRC,
				LastOffsetDelta: wantDelta, BaseTimestamp: tt.ts, MaxTimestamp: wantMax,
				ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, RecordCount: int32(tt.n),
			}
			if h != want || h.Size() != len(b) || cap(b) != len(b) {
				t.Fatalf("header\n got %+v\nwant %+v (len %d cap %d)", h, want, len(b), cap(b))
			}
			recs := decodeRecords(t, b[recordbatch.HeaderSize:], tt.n)
			for i, r := range recs {
				if r.offsetDelta != int64(i) || r.timestampDelta != int64(i) || r.key != nil || len(r.value) != tt.valueSize || r.headers != 0 {
					t.Fatalf("record %d = {tsDelta %d, offDelta %d, key %v, value len %d, headers %d}",
						i, r.timestampDelta, r.offsetDelta, r.key, len(r.value), r.headers)
				}
			}
		})
	}
}

func TestBuildSized(t *testing.T) {
	sizes := []int{0, 10, 61, 67, 68, 69, 100, 128, 1000, 1024, 1070, 1071, 2047, 2048, 2100, 4096, 16 << 10, 64<<10 + 3, 1 << 20}
	for s := 60; s < 5000; s += 7 {
		sizes = append(sizes, s)
	}
	inexact := 0
	for _, size := range sizes {
		b := recordbatch.BuildSized(size, 1000)
		h, err := recordbatch.Validate(b)
		if err != nil {
			t.Fatalf("BuildSized(%d): %v", size, err)
		}
		decodeRecords(t, b[recordbatch.HeaderSize:], int(h.RecordCount))
		switch {
		case size < recordbatch.HeaderSize+7: // no room for a record
			if len(b) != recordbatch.HeaderSize {
				t.Errorf("BuildSized(%d) = %d bytes, want %d", size, len(b), recordbatch.HeaderSize)
			}
		case len(b) == size-1 && h.RecordCount == 1:
			inexact++ // a single record whose varint widths skip size
		case len(b) != size:
			t.Errorf("BuildSized(%d) = %d bytes (%d records)", size, len(b), h.RecordCount)
		}
		if h.MaxTimestamp != 1000+int64(h.RecordCount)-1 && h.RecordCount > 0 {
			t.Errorf("BuildSized(%d): MaxTimestamp %d with %d records", size, h.MaxTimestamp, h.RecordCount)
		}
	}
	if inexact > 2 {
		t.Errorf("%d sizes were not hit exactly", inexact)
	}
}
