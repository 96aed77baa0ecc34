// Package stallwatch bounds a test by its progress rather than by its
// total time. A test whose work is a fixed amount of CPU (thousands of
// requests over the wire, hundreds of compare-and-swaps on an etcd
// quorum) takes as long as the machine lets it: under -race on two shared
// cores at a load average of 40, ten times what it takes on an idle one,
// while still advancing steadily. A fixed deadline on such a test fails
// it for the machine's load, not for a fault of the code; no deadline at
// all lets a real hang run to the test binary's -timeout. A stall budget
// does neither: the test's context ends only when no step completed for
// that long, which no load makes plausible for steps of milliseconds.
//
// It imports nothing of Tributary, so any package's tests can use it.
package stallwatch

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// Context returns a context for t's work and the function the work calls
// after each step it completes. The context ends when no step completed
// for stall (context.Cause names the stall) or when t ends; the watch
// stops with t.
func Context(t testing.TB, stall time.Duration) (context.Context, func()) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	var last atomic.Int64 // time.Now().UnixNano() of the last step (or the start)
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(stall)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			idle := time.Since(time.Unix(0, last.Load()))
			if idle >= stall {
				cancel(fmt.Errorf("stallwatch: no progress for %v", idle.Round(time.Millisecond)))
				return
			}
			timer.Reset(stall - idle)
		}
	}()
	t.Cleanup(func() {
		cancel(context.Canceled)
		<-done
	})
	return ctx, func() { last.Store(time.Now().UnixNano()) }
}
