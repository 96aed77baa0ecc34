package segment_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// benchRollBytes is where both sides start a new file: the default segment.bytes.
const benchRollBytes = 1 << 30

var benchBatchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkSegmentAppend isolates one segment's Append (pwrite, index
// entries, publishing, growing the read mapping) from the log's validation
// and locking. map=default reserves segment.DefaultInitialMapBytes (64 MiB)
// and doubles the mapping each time the file passes its end (a 256 MiB run
// maps three times); map=reserved-2GiB reserves enough address space up front
// that the mapping never grows, as the log does for its active segment
// (segment.bytes + max.message.bytes), so the difference between the two is
// the cost of growing the mapping. baseline=pwrite is the same pwrite(2)
// calls on a plain file in the same directory.
//
// Both roll at benchRollBytes like a log with the default segment.bytes
// (the old file is deleted, so a long -benchtime does not fill the disk).
func BenchmarkSegmentAppend(b *testing.B) {
	const reserved = 2 << 30
	for _, s := range benchBatchSizes {
		for _, m := range []struct {
			name    string
			initial int
		}{{"default", 0}, {"reserved-2GiB", reserved}} {
			b.Run("batch="+s.name+"/map="+m.name, func(b *testing.B) {
				dir := b.TempDir()
				cfg := segment.Config{InitialMapBytes: m.initial}
				seg, err := segment.Create(dir, 0, cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer func() { seg.Close() }()
				batch := recordbatch.BuildSized(s.size, 1_700_000_000_000)
				h, err := recordbatch.ParseHeader(batch)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				next := int64(0)
				for b.Loop() {
					if seg.Size()+int64(len(batch)) > benchRollBytes {
						if err := seg.Delete(); err != nil {
							b.Fatal(err)
						}
						if seg, err = segment.Create(dir, next, cfg); err != nil {
							b.Fatal(err)
						}
					}
					recordbatch.SetBaseOffset(batch, next)
					if err := seg.Append(batch); err != nil {
						b.Fatal(err)
					}
					next += int64(h.LastOffsetDelta) + 1
				}
			})
		}
		b.Run("batch="+s.name+"/baseline=pwrite", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "00000000000000000000.log")
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { f.Close() }()
			batch := recordbatch.BuildSized(s.size, 1_700_000_000_000)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var pos int64
			for b.Loop() {
				if pos+int64(len(batch)) > benchRollBytes {
					f.Close()
					if f, err = os.Create(path); err != nil { // truncates: the old bytes go, as Delete does
						b.Fatal(err)
					}
					pos = 0
				}
				if _, err := f.WriteAt(batch, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(batch))
			}
		})
	}
}
