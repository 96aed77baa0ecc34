package replica

import (
	"context"
	"testing"
)

// BenchmarkHandleFollowerFetch is the leader's bookkeeping for one
// partition of a replica fetch that moves the high watermark.
func BenchmarkHandleFollowerFetch(b *testing.B) {
	l := newFakeLog()
	ld := newBenchLeader(b, l)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.next++ // the leader appended a record
		if _, err := ld.HandleFollowerFetch(2, l.next, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaitCommitted is one acks=all produce's wait that the
// follower's next fetch completes (both on this goroutine: the wait finds
// the high watermark already past).
func BenchmarkWaitCommitted(b *testing.B) {
	l := newFakeLog()
	ld := newBenchLeader(b, l)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		l.next++
		if _, err := ld.HandleFollowerFetch(2, l.next, 1, 1); err != nil {
			b.Fatal(err)
		}
		if err := ld.WaitCommitted(ctx, l.next-1); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchLeader(b *testing.B, l *fakeLog) *Leader {
	b.Helper()
	ld, err := NewLeader(l, pstate(1, []int32{1, 2}, []int32{1, 2}), LeaderConfig{Self: 1, MinISR: 2})
	if err != nil {
		b.Fatal(err)
	}
	return ld
}
