package replica

import (
	"context"
	"testing"

	"github.com/tributary-io/tributary/log"
)

// BenchmarkHandleFollowerFetch is the leader's bookkeeping for one
// partition of a replica fetch that moves the high watermark.
func BenchmarkHandleFollowerFetch(b *testing.B) {
	l := newFakeLog()
	ld := newBenchLeader(b, l)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.next++ // the leader appended a record
		if _, err := ld.HandleFollowerFetch(2, -1, l.next, 0, 1, 1); err != nil {
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
		if _, err := ld.HandleFollowerFetch(2, -1, l.next, 0, 1, 1); err != nil {
			b.Fatal(err)
		}
		if err := ld.WaitCommitted(ctx, l.next-1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend is the leader's part of one produce append: the
// leadership check (and min.insync.replicas for acks=all) under the
// append lock, and the high watermark, around an append that costs next
// to nothing (the log end moves by one). The baseline is the same append
// followed by Appended, the bookkeeping without the lock, in the same run.
func BenchmarkAppend(b *testing.B) {
	bump := func(l *fakeLog) func([]byte) (log.AppendInfo, error) {
		return func([]byte) (log.AppendInfo, error) {
			l.mu.Lock()
			l.next++
			last := l.next - 1
			l.mu.Unlock()
			return log.AppendInfo{BaseOffset: last, LastOffset: last}, nil
		}
	}
	for _, acksAll := range []bool{false, true} {
		name := "acks=1"
		if acksAll {
			name = "acks=all"
		}
		b.Run(name+"/path=Leader.Append", func(b *testing.B) {
			l := newFakeLog()
			ld := newBenchLeader(b, l)
			appendFn := bump(l)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ld.Append(appendFn, nil, acksAll); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/baseline=append+Appended", func(b *testing.B) {
			l := newFakeLog()
			ld := newBenchLeader(b, l)
			appendFn := bump(l)
			b.ReportAllocs()
			for b.Loop() {
				if acksAll {
					if err := ld.CheckProduce(); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := appendFn(nil); err != nil {
					b.Fatal(err)
				}
				ld.Appended()
			}
		})
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
