package recordbatch_test

import (
	"hash/crc32"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkValidate measures header parsing plus the CRC over whole batches.
// The crc32c baseline below is the floor: Validate should be within a few ns
// of it.
func BenchmarkValidate(b *testing.B) {
	for _, s := range benchSizes {
		batch := recordbatch.BuildSized(s.size, 0)
		b.Run("batch="+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := recordbatch.Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBaselineCRC32C is the raw CRC-32C over the same bytes Validate
// covers, with no parsing.
func BenchmarkBaselineCRC32C(b *testing.B) {
	table := crc32.MakeTable(crc32.Castagnoli)
	for _, s := range benchSizes {
		batch := recordbatch.BuildSized(s.size, 0)
		b.Run("batch="+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				_ = crc32.Checksum(batch[recordbatch.AttributesPos:], table)
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	batch := recordbatch.BuildSized(16<<10, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recordbatch.ParseHeader(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateAll walks a 1 MiB produce request or segment chunk made of
// batches of the given size.
func BenchmarkValidateAll(b *testing.B) {
	for _, s := range benchSizes[:2] {
		batch := recordbatch.BuildSized(s.size, 0)
		var buf []byte
		for len(buf)+len(batch) <= 1<<20 {
			buf = append(buf, batch...)
		}
		b.Run("batch="+s.name, func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := recordbatch.ValidateAll(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
