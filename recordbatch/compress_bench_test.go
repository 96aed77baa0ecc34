package recordbatch_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// benchBatch is an uncompressed batch of about 1 MiB: 1 KiB JSON-ish event
// records with a short key and one header, as semi-compressible as real
// payloads (gzip and zstd shrink it ~4-6x).
func benchBatch(b *testing.B) []byte {
	rng := rand.New(rand.NewPCG(13, 14))
	var recs []kmsg.Record
	for i := range 1000 {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.TimestampDelta64 = int64(i)
		r.Key = fmt.Appendf(nil, "user-%d", rng.IntN(100_000))
		r.Value = appendJSONValue(nil, rng, 1024)
		r.Headers = []kmsg.Header{{Key: "content-type", Value: []byte("application/json")}}
		recs = append(recs, r)
	}
	h := recordbatch.Header{
		PartitionLeaderEpoch: -1, LastOffsetDelta: 999, BaseTimestamp: 1_700_000_000_000,
		MaxTimestamp: 1_700_000_000_999, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	return kmsgBatch(b, h, recs, recordbatch.CodecNone)
}

// BenchmarkRecompress measures re-encoding a 1 MiB batch into each codec and
// back out of it. Throughput counts uncompressed bytes in every case, so the
// figures compare across directions; ratio is compressed/uncompressed size.
// baseline=memcpy copies the same batch, the floor for any rewrite.
func BenchmarkRecompress(b *testing.B) {
	plain := benchBatch(b)
	size := int64(len(plain))

	b.Run("baseline=memcpy", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		dst := make([]byte, len(plain))
		for b.Loop() {
			copy(dst, plain)
		}
	})

	run := func(b *testing.B, src []byte, to recordbatch.Codec, ratio float64) {
		b.SetBytes(size)
		b.ReportAllocs()
		dst, err := recordbatch.Recompress(nil, src, to, recordbatch.DefaultDecompressLimit)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if dst, err = recordbatch.Recompress(dst[:0], src, to, recordbatch.DefaultDecompressLimit); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(ratio, "ratio")
	}
	for _, c := range compressedCodecs {
		compressed, err := recordbatch.Recompress(nil, plain, c, recordbatch.DefaultDecompressLimit)
		if err != nil {
			b.Fatal(err)
		}
		ratio := float64(len(compressed)) / float64(len(plain))
		b.Run("from=none/to="+c.String(), func(b *testing.B) { run(b, plain, c, ratio) })
		b.Run("from="+c.String()+"/to=none", func(b *testing.B) { run(b, compressed, recordbatch.CodecNone, ratio) })
	}
}
