package recordbatch_test

import (
	"testing"
	"time"

	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkValidateProducedCompressed: the produce check of a compressed
// batch of 1,000 records of 1 KiB (benchBatch, ~1 MiB uncompressed), per
// codec, against what the produce path did before it read compressed
// records (check=header: the header and the CRC only) and against
// decompressing the records whole (baseline=decompress, Decompress into a
// reused buffer, no record walk). Throughput counts uncompressed bytes;
// cpu-s/GB is the process's CPU time (getrusage, steadier than wall time
// on a shared machine) per GB of records produced with that codec, the
// broker's cost of the check: compare check=records with check=header.
func BenchmarkValidateProducedCompressed(b *testing.B) {
	plain := benchBatch(b)
	size := int64(len(plain))
	var cpu0 time.Duration
	start := func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		cpu0 = processCPU()
	}
	perGB := func(b *testing.B) {
		gb := float64(b.N) * float64(size) / 1e9
		b.ReportMetric((processCPU()-cpu0).Seconds()/gb, "cpu-s/GB")
	}
	for _, c := range compressedCodecs {
		batch, err := recordbatch.Recompress(nil, plain, c, recordbatch.DefaultDecompressLimit)
		if err != nil {
			b.Fatal(err)
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("codec="+c.String()+"/check=header", func(b *testing.B) {
			start(b)
			for b.Loop() {
				h, err := recordbatch.ParseHeader(batch)
				if err != nil || recordbatch.ComputeCRC(batch) != h.CRC {
					b.Fatal(err)
				}
			}
			perGB(b)
		})
		b.Run("codec="+c.String()+"/check=records", func(b *testing.B) {
			start(b)
			for b.Loop() {
				if _, err := recordbatch.ValidateProduced(batch, recordbatch.DefaultDecompressLimit); err != nil {
					b.Fatal(err)
				}
			}
			perGB(b)
		})
		b.Run("codec="+c.String()+"/baseline=decompress", func(b *testing.B) {
			start(b)
			recs := batch[recordbatch.HeaderSize:h.Size()]
			for b.Loop() {
				if _, err := recordbatch.Decompress(c, recs, recordbatch.DefaultDecompressLimit); err != nil {
					b.Fatal(err)
				}
			}
			perGB(b)
		})
	}
}
