package cluster

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCreateTopic times CreateTopic of one topic of n partitions,
// replication factor 3, on one embedded member with its fsyncs: staged
// (this release, in transactions of 128) and, where the member's
// EmbedMaxTxnOps allows it, in one transaction (the previous release's
// only way). Bounded: run with -benchtime=3x.
func BenchmarkCreateTopic(b *testing.B) {
	q := newTestQuorum(b, 1)
	c := q.config(0)
	c.UnsafeNoFsync = false // the real cost, fsyncs included
	m, err := StartEmbedded(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	q.members[0] = m
	s := openTestStore(b, q.endpoints(), testTTL)
	ctx := context.Background()
	for _, n := range []int32{1000, 9999, 10000, 20000} {
		for _, how := range []string{"one-txn", "staged"} {
			if how == "one-txn" && n+1 > EmbedMaxTxnOps {
				continue
			}
			b.Run(fmt.Sprintf("partitions=%d/%s", n, how), func(b *testing.B) {
				b.ReportAllocs()
				for i := range b.N {
					b.StopTimer()
					name := fmt.Sprintf("t%d-%s-%d", n, how, i)
					topic, parts := testTopic(name, n, 1, 2, 3)
					b.StartTimer()
					if how == "one-txn" {
						err = s.createInOneTxn(ctx, nil, topic, parts)
					} else {
						err = s.createStaged(ctx, nil, topic, parts)
					}
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					if err := s.DeleteTopic(ctx, name); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "partitions")
			})
		}
	}
}
