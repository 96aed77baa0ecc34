package log_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkAppendWithWaiters: 1 KiB appends (one record each) to one hot
// partition while N fetches long-poll it with MinBytes = 1 MiB, each in
// its own goroutine shaped as the Fetch handler: read from its offset,
// answer at 1 MiB and move on, else wait on a Waiter and read again.
// waiters=0 is the baseline of the same run. Besides the appender's
// ns/op it reports the wake-ups of fetches per append and the CPU time
// of the whole process (appender and fetchers) per append, and the reads
// (fetch passes) per append.
func BenchmarkAppendWithWaiters(b *testing.B) {
	const minBytes = 1 << 20
	for _, n := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			l := openLog(b, b.TempDir(), quietConfig())
			batch := recordbatch.BuildSized(1<<10, benchTs)
			var wg sync.WaitGroup
			var wakeups, reads atomic.Int64
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var w log.Waiter
					off := l.NextOffset()
					for !l.Closed() {
						from := l.AppendedBytes()
						r, err := l.Read(off, minBytes)
						reads.Add(1)
						if err != nil {
							return
						}
						got := len(r.Data)
						r.Release()
						if got >= minBytes {
							off += int64(got / len(batch)) // answered: the next fetch
							continue
						}
						w.Reset(int64(minBytes - got))
						w.Watch(l, off, from, int64(minBytes-got))
						<-w.Ready()
						w.Stop()
						wakeups.Add(1)
					}
				}()
			}
			for l.Waiting() < n {
				time.Sleep(time.Millisecond)
			}
			wakeups.Store(0)
			reads.Store(0)
			cpu0 := processCPU(b)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(wakeups.Load())/float64(b.N), "wakeups/op")
			b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/op")
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			l.Close() // wakes every waiter, which then sees the log closed
			wg.Wait()
		})
	}
}

// processCPU is the user and system CPU time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
