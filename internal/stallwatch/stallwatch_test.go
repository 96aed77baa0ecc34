package stallwatch

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestContextEndsWhenNoStepCompletesWithinTheStall(t *testing.T) {
	ctx, _ := Context(t, 50*time.Millisecond)
	<-ctx.Done()
	if cause := context.Cause(ctx); cause == nil || !strings.Contains(cause.Error(), "no progress for") {
		t.Fatalf("cause %v, want one naming the stall", cause)
	}
}

// TestContextLastsAStallPastTheLastStep pins that a step postpones the
// end: a step taken halfway through the first stall moves the end to a
// whole stall after it. Only a lower bound is checked (a loaded machine
// only makes the end later); an attempt whose step came too late to tell
// (the machine paused the test past the first stall) is tried again.
func TestContextLastsAStallPastTheLastStep(t *testing.T) {
	const stall = 200 * time.Millisecond
	for range 5 {
		var before, after time.Time
		var ctx context.Context
		t.Run("attempt", func(t *testing.T) {
			created := time.Now()
			var progressed func()
			ctx, progressed = Context(t, stall)
			time.Sleep(stall / 2)
			before = time.Now()
			progressed()
			after = time.Now()
			if after.Sub(created) >= stall {
				return // the step may have come after the first check
			}
			<-ctx.Done()
			if since := time.Since(before); since < stall {
				t.Fatalf("context ended %v after the step, want at least %v", since, stall)
			}
		})
		if ctx.Err() != nil && context.Cause(ctx) != context.Canceled {
			return // checked
		}
	}
	t.Skip("the machine never let a step come within the first stall")
}

func TestContextEndsWithTheTest(t *testing.T) {
	var ctx context.Context
	t.Run("inner", func(t *testing.T) {
		ctx, _ = Context(t, time.Hour)
	})
	if ctx.Err() == nil {
		t.Fatal("context still open after its test ended")
	}
	if context.Cause(ctx) != context.Canceled {
		t.Fatalf("cause %v, want context.Canceled", context.Cause(ctx))
	}
}
