package recordbatch

import (
	"fmt"
	"testing"
)

// BenchmarkValidateProduced: the produce path's one pass over a batch (CRC
// and record walk), against the CRC alone, over 1 MiB batches of 100-byte
// and 1 KiB values, each batch cold in cache (a fresh one per op from a
// pool larger than the last-level cache), as a batch just read from a
// socket mostly is.
func BenchmarkValidateProduced(b *testing.B) {
	for _, size := range []int{100, 200, 1024} {
		n := (1 << 20) / (size + 10)
		pool := make([][]byte, 64) // 64 MiB
		for i := range pool {
			pool[i] = Build(n, size, int64(i))
		}
		b.Run(fmt.Sprintf("value=%dB/validate", size), func(b *testing.B) {
			b.SetBytes(int64(len(pool[0])))
			b.ReportAllocs()
			for i := range b.N {
				if _, err := ValidateProduced(pool[i%len(pool)], DefaultDecompressLimit); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("value=%dB/baseline=crc", size), func(b *testing.B) {
			b.SetBytes(int64(len(pool[0])))
			for i := range b.N {
				ComputeCRC(pool[i%len(pool)])
			}
		})
	}
}
