package segment_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

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
// and locking. map=default reserves the default initial mapping and grows it
// as the file passes its end; map=reserved-2GiB reserves enough address space
// up front that the mapping never grows, so the difference between the two
// is the cost of growing the mapping. baseline=pwrite is the same pwrite(2)
// calls on a plain file in the same directory.
//
// The segment is never rolled here: run with -benchtime Nx so that N batches
// stay below 2 GiB.
func BenchmarkSegmentAppend(b *testing.B) {
	const reserved = 2 << 30
	for _, s := range benchBatchSizes {
		for _, m := range []struct {
			name    string
			initial int
		}{{"default", 0}, {"reserved-2GiB", reserved}} {
			b.Run("batch="+s.name+"/map="+m.name, func(b *testing.B) {
				seg, err := segment.Create(b.TempDir(), 0, segment.Config{InitialMapBytes: m.initial})
				if err != nil {
					b.Fatal(err)
				}
				defer seg.Close()
				batch := recordbatch.BuildSized(s.size, 1_700_000_000_000)
				h, err := recordbatch.ParseHeader(batch)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				next := int64(0)
				for b.Loop() {
					recordbatch.SetBaseOffset(batch, next)
					if err := seg.Append(batch); err != nil {
						b.Fatal(err)
					}
					next += int64(h.LastOffsetDelta) + 1
				}
			})
		}
		b.Run("batch="+s.name+"/baseline=pwrite", func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "00000000000000000000.log"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			batch := recordbatch.BuildSized(s.size, 1_700_000_000_000)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var pos int64
			for b.Loop() {
				if _, err := f.WriteAt(batch, pos); err != nil {
					b.Fatal(err)
				}
				pos += int64(len(batch))
			}
		})
	}
}
