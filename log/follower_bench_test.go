package log_test

import (
	"fmt"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkAppendAsFollower is a follower's append of its leader's
// batches (validated as WriterLeader, offsets kept), contiguous and with
// a compacted leader's gap before every batch (each such append first
// moves the cleaned offset, a small-file write: the cost a follower of a
// compacted log pays per fetch with gaps), and contiguous snappy batches
// (franz-go's default producer compression) of 1 KiB records. Compare
// with BenchmarkAppendAsLeader in the same run.
func BenchmarkAppendAsFollower(b *testing.B) {
	for _, gap := range []int64{0, 10} {
		for _, s := range benchBatchSizes {
			name := "contiguous"
			if gap > 0 {
				name = "gaps"
			}
			b.Run(name+"/batch="+s.name, func(b *testing.B) {
				benchFollowerAppend(b, recordbatch.BuildSized(s.size, benchTs), gap)
			})
		}
	}
	for _, n := range []int{16, 256} {
		b.Run(fmt.Sprintf("snappy/records=%dx1KiB", n), func(b *testing.B) {
			benchFollowerAppend(b, snappyBatch(b, n, 1<<10), 0)
		})
	}
}

func benchFollowerAppend(b *testing.B, batch []byte, gap int64) {
	l, err := log.Open(b.TempDir(), benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		recordbatch.SetBaseOffset(batch, l.NextOffset()+gap)
		if _, err := l.AppendAsFollower(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// snappyBatch is a snappy batch of n records of size bytes, values that
// compress about as well as text.
func snappyBatch(b *testing.B, n, size int) []byte {
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = "the quick brown fox jumps over the lazy dog "[(i+j*7)%44]
		}
		recs[i] = recordbatch.Record{Offset: int64(i), Timestamp: benchTs + int64(i), Value: v}
	}
	batch, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: recordbatch.CodecSnappy}, recs)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}
