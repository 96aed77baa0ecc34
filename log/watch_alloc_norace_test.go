//go:build !race

package log_test

import (
	"runtime"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestWaitersAllocateNothingPerAppendOrWait: appends counted into 100
// registered waiters allocate nothing, and a Waiter reused for wait after
// wait (Reset, Watch, wake, Stop) allocates nothing once it has grown.
func TestWaitersAllocateNothingPerAppendOrWait(t *testing.T) {
	const waiters, appends = 100, 2000
	l := openLog(t, t.TempDir(), benchConfig()) // no roll while counting
	batch := recordbatch.BuildSized(1<<10, tsBase)
	ws := make([]log.Waiter, waiters)
	for i := range ws {
		ws[i].Reset(1 << 40)
		watchEnd(&ws[i], l, 1<<40)
	}
	appendN := func(n int) {
		for range n {
			if _, err := l.Append(batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(appends) // first index pages and the like
	waitQuiet(t)     // the counts below are the whole process's
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	appendN(appends)
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > appends/100 {
		t.Errorf("%d allocations for %d appends with %d waiters", n, appends, waiters)
	}
	for i := range ws {
		ws[i].Stop()
	}

	var w log.Waiter
	wait := func() {
		w.Reset(int64(len(batch)))
		watchEnd(&w, l, 1<<20)
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
		<-w.Ready()
		w.Stop()
	}
	wait()
	if n := testing.AllocsPerRun(200, wait); n != 0 {
		t.Errorf("%.1f allocations per wait of a reused Waiter", n)
	}
}
