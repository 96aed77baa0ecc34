package segment

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/recordbatch"
)

// verifyInterval is the index interval of the test segments: small, so
// that they have several index entries.
const verifyInterval = 300

// writeSegment writes a segment of n batches at base offset 100 in a new
// dir; sealed or left active (its indexes preallocated, as a running
// broker's are). It returns the dir and the batches' positions.
func writeSegment(t *testing.T, n int, sealed bool) (string, []int64) {
	t.Helper()
	dir := t.TempDir()
	s, err := Create(dir, 100, Config{IndexIntervalBytes: verifyInterval})
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	for i := range n {
		pos = append(pos, s.Size())
		appendN(t, s, 1, 2, 40+i, 1_000+int64(i*10))
	}
	if sealed {
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		// Leave the files as a crashed broker would: no trim.
		t.Cleanup(func() { s.Close() })
	}
	return dir, pos
}

func verify(t *testing.T, dir string, opts VerifyOptions) VerifyResult {
	t.Helper()
	opts.IndexIntervalBytes = verifyInterval
	res, err := Verify(dir, 100, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func editFile(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyClean(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		dir, pos := writeSegment(t, 20, sealed)
		var seen []int64
		res := verify(t, dir, VerifyOptions{Active: !sealed, Batch: func(h *recordbatch.Header, p int64, b []byte, problem error) error {
			if problem != nil || len(b) != h.Size() || h.BaseOffset != 100+2*int64(len(seen)) {
				t.Errorf("batch at %d: %+v, %d bytes, %v", p, h, len(b), problem)
			}
			seen = append(seen, p)
			return nil
		}})
		if len(res.Problems) != 0 {
			t.Fatalf("sealed=%v: problems in a clean segment: %v", sealed, res.Problems)
		}
		if len(seen) != len(pos) || res.Batches != 20 || res.Records != 40 || res.FirstOffset != 100 || res.NextOffset != 140 ||
			res.ValidBytes != res.Size || res.IndexEntries < 3 || res.TimeIndexEntries < 3 || res.MaxTimestamp != 1_000+19*10+1 {
			t.Fatalf("sealed=%v: %+v, batches at %v", sealed, res, seen)
		}
	}
}

// TestVerifyDamage damages a sealed segment in each way Verify must see,
// and checks the problem's file, position and sentinel.
func TestVerifyDamage(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string, pos []int64) (file string, at int64)
		want    error
		options VerifyOptions
	}{
		{"crc", func(t *testing.T, dir string, pos []int64) (string, int64) {
			editFile(t, filepath.Join(dir, FileName(100, LogSuffix)), func(b []byte) []byte { b[pos[6]+70] ^= 1; return b })
			return LogSuffix, pos[6]
		}, recordbatch.ErrCorrupt, VerifyOptions{}},
		{"torn tail", func(t *testing.T, dir string, pos []int64) (string, int64) {
			var end int64
			editFile(t, filepath.Join(dir, FileName(100, LogSuffix)), func(b []byte) []byte {
				end = int64(len(b))
				return append(b, recordbatch.Build(2, 10, 0)[:40]...)
			})
			return LogSuffix, end
		}, recordbatch.ErrTruncated, VerifyOptions{}},
		{"offset gap", func(t *testing.T, dir string, pos []int64) (string, int64) {
			editFile(t, filepath.Join(dir, FileName(100, LogSuffix)), func(b []byte) []byte {
				for _, p := range pos[5:] {
					recordbatch.SetBaseOffset(b[p:], int64(binary.BigEndian.Uint64(b[p:]))+1)
				}
				return b
			})
			return LogSuffix, pos[5]
		}, ErrOffsetOrder, VerifyOptions{}},
		{"index entry moved", func(t *testing.T, dir string, pos []int64) (string, int64) {
			editFile(t, filepath.Join(dir, FileName(100, IndexSuffix)), func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[12:], binary.BigEndian.Uint32(b[12:])+1) // entry 1's position
				return b
			})
			return IndexSuffix, 8
		}, index.ErrCorrupt, VerifyOptions{}},
		{"index torn", func(t *testing.T, dir string, pos []int64) (string, int64) {
			editFile(t, filepath.Join(dir, FileName(100, IndexSuffix)), func(b []byte) []byte { return b[:len(b)-5] })
			return IndexSuffix, -2 // several problems; the first is at the torn entry
		}, index.ErrCorrupt, VerifyOptions{}},
		{"index lost its last entries", func(t *testing.T, dir string, pos []int64) (string, int64) {
			var n int64
			editFile(t, filepath.Join(dir, FileName(100, IndexSuffix)), func(b []byte) []byte { n = int64(len(b)) - 16; return b[:n] })
			return IndexSuffix, n
		}, index.ErrCorrupt, VerifyOptions{}},
		{"untrimmed index of a sealed segment", func(t *testing.T, dir string, pos []int64) (string, int64) {
			var n int64
			editFile(t, filepath.Join(dir, FileName(100, IndexSuffix)), func(b []byte) []byte { n = int64(len(b)); return append(b, make([]byte, 80)...) })
			return IndexSuffix, n
		}, index.ErrCorrupt, VerifyOptions{}},
		{"time index timestamp", func(t *testing.T, dir string, pos []int64) (string, int64) {
			editFile(t, filepath.Join(dir, FileName(100, TimeIndexSuffix)), func(b []byte) []byte { b[12+7]++; return b })
			return TimeIndexSuffix, 12
		}, index.ErrCorrupt, VerifyOptions{}},
		{"time index lost its closing entry", func(t *testing.T, dir string, pos []int64) (string, int64) {
			var n int64
			editFile(t, filepath.Join(dir, FileName(100, TimeIndexSuffix)), func(b []byte) []byte { n = int64(len(b)) - 12; return b[:n] })
			return TimeIndexSuffix, n
		}, index.ErrCorrupt, VerifyOptions{}},
		{"missing time index", func(t *testing.T, dir string, pos []int64) (string, int64) {
			os.Remove(filepath.Join(dir, FileName(100, TimeIndexSuffix)))
			return TimeIndexSuffix, -1
		}, ErrFileMissing, VerifyOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, pos := writeSegment(t, 20, true)
			before := verify(t, dir, tt.options)
			if len(before.Problems) != 0 {
				t.Fatalf("problems before the damage: %v", before.Problems)
			}
			suffix, at := tt.damage(t, dir, pos)
			res := verify(t, dir, tt.options)
			if len(res.Problems) == 0 {
				t.Fatal("damage not found")
			}
			p := res.Problems[0]
			if p.Path != filepath.Join(dir, FileName(100, suffix)) || at != -2 && p.Position != at || !errors.Is(&p, tt.want) {
				t.Fatalf("first problem %v (position %d), want one in %s at %d wrapping %v; all: %v", p.Error(), p.Position, suffix, at, tt.want, res.Problems)
			}
		})
	}
}

// TestVerifyCompactedGaps: gaps below CompactedBefore are allowed, others
// are not.
func TestVerifyCompactedGaps(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBuilder(dir, 100, Config{IndexIntervalBytes: verifyInterval})
	if err != nil {
		t.Fatal(err)
	}
	base := int64(103) // the first batch is gone, like the ones at 109
	for i := range 6 {
		batch := recordbatch.Build(3, 50, 5_000+int64(i))
		recordbatch.SetBaseOffset(batch, base)
		if err := b.Append(batch); err != nil {
			t.Fatal(err)
		}
		base += 3
		if i == 1 {
			base += 3
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := RenameFiles(dir, 100, CleanedSuffix, ""); err != nil {
		t.Fatal(err)
	}
	if res := verify(t, dir, VerifyOptions{CompactedBefore: 200}); len(res.Problems) != 0 || res.FirstOffset != 103 {
		t.Fatalf("compacted segment: %+v", res)
	}
	res := verify(t, dir, VerifyOptions{CompactedBefore: 105})
	if len(res.Problems) != 1 || !errors.Is(&res.Problems[0], ErrOffsetOrder) || res.Problems[0].Offset != 112 {
		t.Fatalf("gap above CompactedBefore: %v", res.Problems)
	}
}

// TestVerifyActiveSegment: the active segment's preallocated index tail is
// not damage, and Verify writes nothing.
func TestVerifyActiveSegment(t *testing.T) {
	dir, _ := writeSegment(t, 20, false)
	var sizes []int64
	for _, suf := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		fi, err := os.Stat(filepath.Join(dir, FileName(100, suf)))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	if res := verify(t, dir, VerifyOptions{Active: true}); len(res.Problems) != 0 {
		t.Fatalf("active segment: %v", res.Problems)
	}
	res := verify(t, dir, VerifyOptions{})
	if len(res.Problems) == 0 || !errors.Is(&res.Problems[0], index.ErrCorrupt) {
		t.Fatalf("active segment verified as sealed: %v, want an untrimmed index", res.Problems)
	}
	for i, suf := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix} {
		if fi, _ := os.Stat(filepath.Join(dir, FileName(100, suf))); fi.Size() != sizes[i] {
			t.Errorf("%s changed size: %d, was %d", suf, fi.Size(), sizes[i])
		}
	}
}
