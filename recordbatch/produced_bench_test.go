package recordbatch

import "testing"

// BenchmarkCheckProduced: the per-record walk on the produce path, over a
// batch of 100-byte values (the smallest common records, most records per
// byte), with the CRC-32C the append computes anyway as the baseline.
func BenchmarkCheckProduced(b *testing.B) {
	batch := Build(10000, 100, 1)
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for range b.N {
			if err := CheckProduced(batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=crc", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		for range b.N {
			ComputeCRC(batch)
		}
	})
}
