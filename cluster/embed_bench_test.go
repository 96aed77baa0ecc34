package cluster

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStartEmbeddedOneMember times a new single-voter member from
// StartEmbedded to serving clients, and the same member's restart from its
// WAL. Bounded: run with -benchtime=5x.
func BenchmarkStartEmbeddedOneMember(b *testing.B) {
	for _, restart := range []bool{false, true} {
		name := "new"
		if restart {
			name = "restart"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for range b.N {
				b.StopTimer()
				q := newTestQuorum(b, 1)
				c := q.config(0)
				c.UnsafeNoFsync = false // the real cost, fsyncs included
				if restart {
					m, err := StartEmbedded(context.Background(), c)
					if err != nil {
						b.Fatal(err)
					}
					m.Close()
				}
				b.StartTimer()
				start := time.Now()
				m, err := StartEmbedded(context.Background(), c)
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				m.Close()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
		})
	}
}
