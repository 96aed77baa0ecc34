package consumergroup

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// scaleGroups is how many groups the scale tests create: 100,000 (the
// figure of the goal), fewer with -short or TRIBUTARY_SCALE_GROUPS.
func scaleGroups(t testing.TB) int {
	if s := os.Getenv("TRIBUTARY_SCALE_GROUPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TRIBUTARY_SCALE_GROUPS=%q: want a positive count", s)
		}
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// liveBytes is the heap in use plus goroutine stacks, after a full GC.
func liveBytes() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

func TestIdleGroupsCostLittleMemory(t *testing.T) {
	n := scaleGroups(t)
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 4)
	// The offsets topic exists before the baseline, so that its segments'
	// buffers are not counted as the groups'.
	if err := tc.c.EnsureOffsetsTopic(); err != nil {
		t.Fatal(err)
	}
	commit := func(i int) {
		r := CommitRequest{Group: fmt.Sprintf("scale-group-%07d", i), Generation: -1,
			Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", int32(i % 4)}, Offset: int64(i), LeaderEpoch: -1}}}
		if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
			t.Fatalf("commit %d: %v %v", i, err, errs)
		}
	}
	commit(n) // warm up: first-use allocations are not the groups'
	heap0, stack0 := liveBytes()
	g0 := runtime.NumGoroutine()
	for i := 0; i < n; i++ {
		commit(i)
	}
	heap1, stack1 := liveBytes()
	g1 := runtime.NumGoroutine()
	perGroup := (float64(heap1) + float64(stack1) - float64(heap0) - float64(stack0)) / float64(n)
	t.Logf("%d idle groups with one committed offset each: %.0f B per group (heap %+.1f MB, stacks %+.1f MB), goroutines %d -> %d",
		n, perGroup, (float64(heap1)-float64(heap0))/1e6, (float64(stack1)-float64(stack0))/1e6, g0, g1)
	// The goal is 2 KiB; the bound leaves room for runtime noise.
	if perGroup > 4096 {
		t.Errorf("an idle group costs %.0f B, want at most 4 KiB", perGroup)
	}
	if g1-g0 > 100 {
		t.Errorf("%d idle groups hold %d goroutines, want none", n, g1-g0)
	}

	// All of it comes back from __consumer_offsets, parked, at the same
	// cost.
	start := time.Now()
	tc = tc.restart()
	took := time.Since(start)
	heap2, stack2 := liveBytes()
	gs, err := tc.c.ListGroups()
	if err != nil || len(gs) != n+1 {
		t.Fatalf("after restart: %d groups, %v; want %d", len(gs), err, n+1)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		got, err := tc.c.FetchOffsets(fmt.Sprintf("scale-group-%07d", i), nil)
		if om := got[TopicPartition{"t", int32(i % 4)}]; err != nil || len(got) != 1 || om.Offset != int64(i) {
			t.Errorf("group %d after restart: %+v %v", i, got, err)
		}
	}
	t.Logf("restart: %v to replay %d groups; %.0f B per group after the replay, goroutines %d",
		took.Round(time.Millisecond), n+1, (float64(heap2)+float64(stack2)-float64(heap0)-float64(stack0))/float64(n), runtime.NumGoroutine())
	if g := runtime.NumGoroutine(); g-g0 > 100 {
		t.Errorf("%d replayed idle groups hold %d goroutines", n, g-g0)
	}
}
