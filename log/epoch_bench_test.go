package log_test

import (
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkAppendAsLeader is BenchmarkAppend on a log that leads at epoch
// 0, as every partition of a single broker's Manager does: each append
// also stamps PartitionLeaderEpoch in the batch header. Compare it with
// BenchmarkAppend in the same run.
func BenchmarkAppendAsLeader(b *testing.B) {
	for _, s := range benchBatchSizes {
		b.Run("batch="+s.name, func(b *testing.B) {
			l, err := log.Open(b.TempDir(), benchConfig())
			if err != nil {
				b.Fatal(err)
			}
			if err := l.BecomeLeader(0); err != nil {
				b.Fatal(err)
			}
			batch := recordbatch.BuildSized(s.size, benchTs)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
