package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// gapBatches returns batches at the given base offsets (each holding
// records records: offsets base..base+records-1), as a cleaner leaves them.
func gapBatches(bases []int64, records int) [][]byte {
	var out [][]byte
	for i, base := range bases {
		b := recordbatch.Build(records, 30+i, 7000+int64(i)*10)
		recordbatch.SetBaseOffset(b, base)
		out = append(out, b)
	}
	return out
}

// buildCleaned writes batches with a Builder at rtBase and renames the
// result to the final names, as the log's swap does.
func buildCleaned(t *testing.T, dir string, batches [][]byte) {
	t.Helper()
	b, err := NewBuilder(dir, rtBase, rtConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, batch := range batches {
		if err := b.Append(batch); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := RenameFiles(dir, rtBase, CleanedSuffix, ""); err != nil {
		t.Fatal(err)
	}
}

// TestBuilderWithGaps: a cleaned segment with gaps (before its first batch
// and between batches) loads and recovers when its gaps are below
// CompactedBefore, reads every offset as the log wants (the batch holding
// it, or the next one after a gap), and finds offsets by timestamp.
func TestBuilderWithGaps(t *testing.T) {
	bases := []int64{rtBase + 3, rtBase + 10, rtBase + 12, rtBase + 40, rtBase + 42, rtBase + 90}
	batches := gapBatches(bases, 2)
	for _, tt := range []struct {
		name    string
		recover bool
	}{{"load", false}, {"recover", true}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildCleaned(t, dir, batches)
			cfg := rtConfig()
			cfg.CompactedBefore = rtBase + 100
			s, err := Open(dir, rtBase, cfg, tt.recover)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tt.recover {
				st, err := s.Recover()
				if err != nil || st.TruncatedBytes != 0 || st.Batches != len(batches) {
					t.Fatalf("Recover: %+v %v", st, err)
				}
			} else if err := s.Load(); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if s.NextOffset() != rtBase+92 || s.MaxTimestamp() != 7050+1 {
				t.Fatalf("next offset %d, max timestamp %d", s.NextOffset(), s.MaxTimestamp())
			}
			for off := int64(rtBase); off < rtBase+92; off++ {
				want := -1
				for i, base := range bases {
					if base+1 >= off {
						want = i
						break
					}
				}
				data, first, err := s.Read(off, 1)
				if err != nil || first != bases[want] || !bytes.Equal(data, batches[want]) {
					t.Fatalf("Read(%d) = batch at %d, %v; want the one at %d", off, first, err, bases[want])
				}
			}
			if off, _, ok, err := s.FindOffsetByTimestamp(7030, rtBase); err != nil || !ok || off != rtBase+40 {
				t.Fatalf("FindOffsetByTimestamp = %d %v %v", off, ok, err)
			}
		})
	}
}

// TestGapsOnlyBelowCompactedBefore: a gap is corruption (the truncation
// point) unless the batch after it starts below CompactedBefore.
func TestGapsOnlyBelowCompactedBefore(t *testing.T) {
	bases := []int64{rtBase, rtBase + 2, rtBase + 10, rtBase + 12}
	tests := []struct {
		name            string
		compactedBefore int64
		keep            int // batches kept by Recover
	}{
		{"never compacted", 0, 1},
		{"compacted up to the second gap", rtBase + 10, 2},
		{"compacted past the last gap", rtBase + 13, 4},
		{"compacted past everything", rtBase + 1000, 4},
	}
	batches := gapBatches(bases, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildCleaned(t, dir, batches)
			cfg := rtConfig()
			cfg.CompactedBefore = tt.compactedBefore
			s, err := Open(dir, rtBase, cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			loadErr := s.Load()
			if (loadErr == nil) != (tt.keep == len(batches)) {
				t.Fatalf("Load: %v", loadErr)
			}
			st, err := s.Recover()
			if err != nil || st.Batches != tt.keep {
				t.Fatalf("Recover kept %d batches (%v), want %d", st.Batches, err, tt.keep)
			}
		})
	}
}

// TestBuilderRewindAbort: Rewind takes back what was appended since a mark
// (file and indexes); Abort leaves no file.
func TestBuilderRewindAbort(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBuilder(dir, rtBase, rtConfig())
	if err != nil {
		t.Fatal(err)
	}
	first := gapBatches([]int64{rtBase, rtBase + 5}, 3)
	for _, x := range first {
		if err := b.Append(x); err != nil {
			t.Fatal(err)
		}
	}
	m := b.Mark()
	size := b.Size()
	for _, x := range gapBatches([]int64{rtBase + 20, rtBase + 30, rtBase + 31}, 1) {
		if err := b.Append(x); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Append(first[0]); err == nil {
		t.Fatal("a batch below the last one was accepted")
	}
	if err := b.Rewind(m); err != nil || b.Size() != size || b.Batches() != 2 {
		t.Fatalf("Rewind: %v, size %d batches %d", err, b.Size(), b.Batches())
	}
	again := gapBatches([]int64{rtBase + 8}, 1)[0]
	if err := b.Append(again); err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := RenameFiles(dir, rtBase, CleanedSuffix, ""); err != nil {
		t.Fatal(err)
	}
	cfg := rtConfig()
	cfg.CompactedBefore = rtBase + 100
	s, err := Open(dir, rtBase, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	data, _, _ := s.Read(rtBase, 1<<20)
	if want := append(append(append([]byte(nil), first[0]...), first[1]...), again...); !bytes.Equal(data, want) {
		t.Fatalf("segment holds %d bytes, want %d", len(data), len(want))
	}

	b2, err := NewBuilder(dir, rtBase+1, rtConfig())
	if err != nil {
		t.Fatal(err)
	}
	b2.Append(again)
	b2.Abort()
	b2.Abort()
	for _, suf := range CleanedSuffixes() {
		if _, err := os.Stat(filepath.Join(dir, FileName(rtBase+1, suf))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left by Abort: %v", suf, err)
		}
	}
}
