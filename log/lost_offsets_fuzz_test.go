package log

import (
	"slices"
	"testing"
)

// FuzzDecodeLostOffsets: any bytes in lost-offsets must decode to an error
// or to sorted, non-touching, non-empty ranges of non-negative offsets that
// encode back to the same bytes; never panic.
func FuzzDecodeLostOffsets(f *testing.F) {
	f.Add(encodeLostOffsets([]OffsetRange{{From: 3, To: 9}, {From: 20, To: 21}}))
	f.Add(encodeLostOffsets(nil))
	f.Add([]byte("TRLO"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ranges, err := decodeLostOffsets(b)
		if err != nil {
			return
		}
		if !slices.Equal(normalizeRanges(ranges), ranges) {
			t.Fatalf("accepted ranges that are not normalized: %v", ranges)
		}
		for _, r := range ranges {
			if r.From < 0 || r.To <= r.From {
				t.Fatalf("accepted range %v", r)
			}
		}
		if got := encodeLostOffsets(ranges); string(got) != string(b) {
			t.Fatalf("decode/encode round trip differs:\n in %x\nout %x", b, got)
		}
	})
}

func TestSubtractRanges(t *testing.T) {
	known := []OffsetRange{{From: 10, To: 20}, {From: 30, To: 40}}
	for _, tt := range []struct {
		r    OffsetRange
		want []OffsetRange
	}{
		{OffsetRange{0, 5}, []OffsetRange{{0, 5}}},
		{OffsetRange{10, 20}, nil},
		{OffsetRange{12, 18}, nil},
		{OffsetRange{5, 15}, []OffsetRange{{5, 10}}},
		{OffsetRange{15, 35}, []OffsetRange{{20, 30}}},
		{OffsetRange{0, 50}, []OffsetRange{{0, 10}, {20, 30}, {40, 50}}},
		{OffsetRange{40, 45}, []OffsetRange{{40, 45}}},
	} {
		if got := subtractRanges(tt.r, known); !slices.Equal(got, tt.want) {
			t.Errorf("subtractRanges(%v, %v) = %v, want %v", tt.r, known, got, tt.want)
		}
	}
	if got := normalizeRanges([]OffsetRange{{5, 9}, {0, 3}, {3, 4}, {8, 12}, {20, 20}}); !slices.Equal(got, []OffsetRange{{0, 4}, {5, 12}}) {
		t.Errorf("normalizeRanges = %v", got)
	}
}
