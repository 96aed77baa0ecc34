package log_test

import (
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkAppendAsFollower is a follower's append of its leader's
// batches (validated as WriterLeader, offsets kept), contiguous and with
// a compacted leader's gap before every batch (each such append first
// moves the cleaned offset, a small-file write: the cost a follower of a
// compacted log pays per fetch with gaps). Compare with
// BenchmarkAppendAsLeader in the same run.
func BenchmarkAppendAsFollower(b *testing.B) {
	for _, gap := range []int64{0, 10} {
		for _, s := range benchBatchSizes {
			name := "contiguous"
			if gap > 0 {
				name = "gaps"
			}
			b.Run(name+"/batch="+s.name, func(b *testing.B) {
				l, err := log.Open(b.TempDir(), benchConfig())
				if err != nil {
					b.Fatal(err)
				}
				batch := recordbatch.BuildSized(s.size, benchTs)
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
			})
		}
	}
}
