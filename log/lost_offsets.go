package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
)

const (
	// LostOffsetsFile names the per-partition list of the offset ranges
	// recovery found lost and already reported (see the package comment).
	LostOffsetsFile = "lost-offsets"

	lostOffsetsMagic   = "TRLO"
	lostOffsetsVersion = 1  // reader rule: read N and N-1
	lostOffsetsHeader  = 12 // magic, version, reserved, count
	lostOffsetsEntry   = 16 // from, to
	// maxLostRanges bounds the file: past it the lowest ranges are
	// forgotten (and reported again if a later open still finds them).
	maxLostRanges = 4096
)

var errBadLostOffsets = errors.New("log: unreadable lost-offsets file")

// OffsetRange is the offsets [From, To).
type OffsetRange struct {
	From, To int64
}

// Len is the number of offsets in the range.
func (r OffsetRange) Len() int64 { return r.To - r.From }

func (r OffsetRange) String() string { return fmt.Sprintf("[%d, %d)", r.From, r.To) }

func encodeLostOffsets(ranges []OffsetRange) []byte {
	b := make([]byte, lostOffsetsHeader+lostOffsetsEntry*len(ranges)+4)
	copy(b[0:4], lostOffsetsMagic)
	binary.BigEndian.PutUint16(b[4:6], lostOffsetsVersion)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(ranges)))
	p := lostOffsetsHeader
	for _, r := range ranges {
		binary.BigEndian.PutUint64(b[p:], uint64(r.From))
		binary.BigEndian.PutUint64(b[p+8:], uint64(r.To))
		p += lostOffsetsEntry
	}
	binary.BigEndian.PutUint32(b[p:], crc32.Checksum(b[:p], castagnoli))
	return b
}

func decodeLostOffsets(b []byte) ([]OffsetRange, error) {
	if len(b) < lostOffsetsHeader+4 || string(b[0:4]) != lostOffsetsMagic {
		return nil, fmt.Errorf("%w: bad size or magic", errBadLostOffsets)
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != lostOffsetsVersion {
		return nil, fmt.Errorf("%w: version %d", errBadLostOffsets, v)
	}
	n := int64(binary.BigEndian.Uint32(b[8:12]))
	if n > maxLostRanges || int64(len(b)) != lostOffsetsHeader+lostOffsetsEntry*n+4 {
		return nil, fmt.Errorf("%w: %d ranges in %d bytes", errBadLostOffsets, n, len(b))
	}
	end := len(b) - 4
	if crc32.Checksum(b[:end], castagnoli) != binary.BigEndian.Uint32(b[end:]) {
		return nil, fmt.Errorf("%w: crc mismatch", errBadLostOffsets)
	}
	ranges := make([]OffsetRange, 0, n)
	for p := lostOffsetsHeader; p < end; p += lostOffsetsEntry {
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
	b, err := os.ReadFile(filepath.Join(dir, LostOffsetsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("log: read lost offsets: %w", err)
	}
	ranges, err = decodeLostOffsets(b)
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
	return writeFileAtomic(path, encodeLostOffsets(ranges))
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
