package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/tributary-io/tributary/internal/framedfile"
)

const (
	// LostOffsetsFile names the per-partition list of the offset ranges
	// recovery found lost and already reported (see the package comment).
	LostOffsetsFile = "lost-offsets"

	lostOffsetsHeader = 4  // the payload's count
	lostOffsetsEntry  = 16 // from, to
	// maxLostRanges bounds the file: past it the lowest ranges are
	// forgotten (and reported again if a later open still finds them).
	maxLostRanges = 4096
)

// lostOffsetsFormat frames lost-offsets. Reader rule: read N and N-1
// (version 1 is the frame before package framedfile).
var lostOffsetsFormat = framedfile.Format{
	Name: "lost-offsets file", Magic: "TRLO", Version: 2, LegacyVersion: 1,
	MaxPayload: legacyReserved + lostOffsetsHeader + lostOffsetsEntry*maxLostRanges,
}

var errBadLostOffsets = errors.New("log: unreadable lost-offsets file")

// OffsetRange is the offsets [From, To).
type OffsetRange struct {
	From, To int64
}

// Len is the number of offsets in the range.
func (r OffsetRange) Len() int64 { return r.To - r.From }

func (r OffsetRange) String() string { return fmt.Sprintf("[%d, %d)", r.From, r.To) }

func encodeLostOffsets(ranges []OffsetRange) []byte {
	b := lostOffsetsFormat.Start(lostOffsetsHeader + lostOffsetsEntry*len(ranges))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ranges)))
	for _, r := range ranges {
		b = binary.BigEndian.AppendUint64(b, uint64(r.From))
		b = binary.BigEndian.AppendUint64(b, uint64(r.To))
	}
	return lostOffsetsFormat.Seal(b)
}

func decodeLostOffsets(b []byte) ([]OffsetRange, error) {
	p, v, err := lostOffsetsFormat.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadLostOffsets, err)
	}
	return parseLostOffsets(p, v)
}

// parseLostOffsets parses a payload of the given version (one Decode
// accepted): version 1's is version 2's after a reserved u16 = 0.
func parseLostOffsets(b []byte, version uint16) ([]OffsetRange, error) {
	b, err := stripLegacyReserved(b, version, lostOffsetsFormat.LegacyVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadLostOffsets, err)
	}
	if len(b) < lostOffsetsHeader {
		return nil, fmt.Errorf("%w: %d-byte payload", errBadLostOffsets, len(b))
	}
	n := int64(binary.BigEndian.Uint32(b))
	if n > maxLostRanges || int64(len(b)) != lostOffsetsHeader+lostOffsetsEntry*n {
		return nil, fmt.Errorf("%w: %d ranges in %d bytes", errBadLostOffsets, n, len(b))
	}
	ranges := make([]OffsetRange, 0, n)
	for p := lostOffsetsHeader; p < len(b); p += lostOffsetsEntry {
		r := OffsetRange{From: int64(binary.BigEndian.Uint64(b[p:])), To: int64(binary.BigEndian.Uint64(b[p+8:]))}
		if r.From < 0 || r.To <= r.From || len(ranges) > 0 && r.From <= ranges[len(ranges)-1].To {
			return nil, fmt.Errorf("%w: range %v out of order", errBadLostOffsets, r)
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

// readLostOffsets returns the ranges recorded in dir, none when the file
// is absent. An unreadable file counts as absent (ok false): its ranges
// are reported once more, nothing else depends on it.
func readLostOffsets(dir string) (ranges []OffsetRange, ok bool, err error) {
	p, v, present, ok, err := readFramed(filepath.Join(dir, LostOffsetsFile), lostOffsetsFormat)
	if err != nil {
		return nil, false, fmt.Errorf("log: read lost offsets: %w", err)
	}
	if !present {
		return nil, true, nil
	}
	if !ok {
		return nil, false, nil
	}
	ranges, err = parseLostOffsets(p, v)
	if err != nil {
		return nil, false, nil
	}
	return ranges, true, nil
}

// writeLostOffsets replaces the file in dir with ranges (normalized), or
// removes it when there are none.
func writeLostOffsets(dir string, ranges []OffsetRange) error {
	path := filepath.Join(dir, LostOffsetsFile)
	if len(ranges) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("log: remove %s: %w", path, err)
		}
		return nil
	}
	if len(ranges) > maxLostRanges {
		ranges = ranges[len(ranges)-maxLostRanges:]
	}
	if err := lostOffsetsFormat.WriteFrame(path, encodeLostOffsets(ranges)); err != nil {
		return fmt.Errorf("log: write lost offsets: %w", err)
	}
	return nil
}

// normalizeRanges sorts ranges and merges those that touch or overlap.
func normalizeRanges(ranges []OffsetRange) []OffsetRange {
	out := slices.Clone(ranges)
	slices.SortFunc(out, func(a, b OffsetRange) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if r.To <= r.From {
			continue
		}
		if n := len(merged); n > 0 && r.From <= merged[n-1].To {
			merged[n-1].To = max(merged[n-1].To, r.To)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// subtractRanges returns the parts of r that no range of known (normalized)
// covers.
func subtractRanges(r OffsetRange, known []OffsetRange) []OffsetRange {
	var out []OffsetRange
	from := r.From
	for _, k := range known {
		if k.To <= from || k.From >= r.To {
			continue
		}
		if k.From > from {
			out = append(out, OffsetRange{from, k.From})
		}
		from = max(from, k.To)
	}
	if from < r.To {
		out = append(out, OffsetRange{from, r.To})
	}
	return out
}
