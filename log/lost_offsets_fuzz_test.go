package log

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// FuzzParseLostOffsets: any payload of a current-version lost-offsets
// file parses to an error or to sorted, non-touching, non-empty ranges of
// non-negative offsets that encode back to the same bytes; never panic.
// The framing around it is fuzzed once, in package framedfile.
func FuzzParseLostOffsets(f *testing.F) {
	payload := func(ranges []OffsetRange) []byte {
		b := encodeLostOffsets(ranges)
		return b[framedfile.HeaderSize : len(b)-framedfile.TrailerSize]
	}
	f.Add(payload([]OffsetRange{{From: 3, To: 9}, {From: 20, To: 21}}))
	f.Add(payload(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ranges, err := parseLostOffsets(b, lostOffsetsFormat.Version)
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
		if got := payload(ranges); string(got) != string(b) {
			t.Fatalf("parse/encode round trip differs:\n in %x\nout %x", b, got)
		}
	})
}

// TestLostOffsetsVersion1: a file the version-1 encoder wrote (the frame
// before package framedfile) is read, and refused with a reserved field
// other than 0.
func TestLostOffsetsVersion1(t *testing.T) {
	ranges := []OffsetRange{{From: 3, To: 9}, {From: 20, To: 21}}
	v1 := []byte("TRLO\x00\x01\x00\x00\x00\x00\x00\x02")
	for _, r := range ranges {
		v1 = binary.BigEndian.AppendUint64(v1, uint64(r.From))
		v1 = binary.BigEndian.AppendUint64(v1, uint64(r.To))
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, castagnoli))
	if got, err := decodeLostOffsets(v1); err != nil || !slices.Equal(got, ranges) {
		t.Fatalf("version 1: %v %v, want %v", got, err, ranges)
	}
	v1[7] = 1
	binary.BigEndian.PutUint32(v1[len(v1)-4:], crc32.Checksum(v1[:len(v1)-4], castagnoli))
	if _, err := decodeLostOffsets(v1); err == nil {
		t.Fatal("version 1 with a reserved field of 1 accepted")
	}
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
