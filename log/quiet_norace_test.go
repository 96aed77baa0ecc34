//go:build !race

package log_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// quietWait bounds how long waitQuiet waits for the goroutines of earlier
// tests to end: one still there after it is a leak.
const quietWait = 10 * time.Second

// waitQuiet prepares the process for an allocation count of the caller's
// goroutine: runtime.MemStats.Mallocs and testing.AllocsPerRun count the
// whole process's mallocs, and two other sources made the allocation
// tests fail now and then on a busy machine:
//
//   - the runtime starting an OS thread: its scheduler does when a
//     goroutine has been in a system call (an append's pwrite) long
//     enough for sysmon to hand its P to another thread and no idle one
//     is left, and each new thread is 6 mallocs, about 5 KiB (allocm,
//     its g0 and signal stacks' g, its profiling stacks, its weak
//     pointer). Idle threads are kept for reuse and never freed, so
//     spareThreads starts enough of them beforehand;
//   - a goroutine an earlier test left finishing (a Manager's flusher or
//     cleaner, a timer's callback, a finalizer running): waitQuiet waits
//     until the only goroutines left are the testing package's and the
//     caller's, and fails the test with their stacks if others are still
//     running after quietWait (a leak). A collection first runs the
//     finalizers of what earlier tests dropped.
func waitQuiet(t *testing.T) {
	t.Helper()
	spareThreads(2*runtime.GOMAXPROCS(0) + 8)
	runtime.GC()
	deadline := time.Now().Add(quietWait)
	for {
		others := otherGoroutines()
		if len(others) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of earlier tests still running after %v (leaked?); allocation counts would include theirs:\n\n%s",
				len(others), quietWait, strings.Join(others, "\n\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// spareThreads has the runtime start n OS threads and leaves them idle,
// ready for the scheduler: n goroutines each locked to its own thread all
// at once, then unlocked (a goroutine that exits locked takes its thread
// with it).
func spareThreads(n int) {
	var locked, done sync.WaitGroup
	release := make(chan struct{})
	locked.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}

// otherGoroutines returns the stacks of the goroutines that are neither
// the caller's nor the testing package's (the main goroutine, and tests
// it started that wait: a parent, a paused parallel test).
func otherGoroutines() []string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(strings.TrimSpace(string(buf)), "\n\n") {
		_, creator, created := strings.Cut(g, "\ncreated by ")
		switch {
		case i == 0: // the caller's, first in the dump
		case !created: // the main goroutine
		case strings.HasPrefix(creator, "testing."):
			// A test waiting for its subtests or its turn to run in
			// parallel (sequential tests never run beside the caller).
		case strings.HasPrefix(creator, "os/signal."):
			// Signal delivery: idle until a signal comes.
		default:
			out = append(out, g)
		}
	}
	return out
}

// goroutinesNow lists the other goroutines for a failure message.
func goroutinesNow() string {
	others := otherGoroutines()
	if len(others) == 0 {
		return "no other goroutine now"
	}
	return "other goroutines now:\n\n" + strings.Join(others, "\n\n")
}
