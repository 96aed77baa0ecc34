package bench

import (
	"os"
	"testing"
	"time"
)

func TestProcessCPUClock(t *testing.T) {
	pid := os.Getpid()
	before, err := ProcessCPUClock(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so that the clock must move.
	deadline := time.Now().Add(30 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ProcessCPUClock(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 10*time.Millisecond {
		t.Errorf("CPU clock moved %v over a 30 ms busy loop (%d spins)", after-before, x)
	}
	// /proc counts the same time in 10 ms ticks, rounded down per thread.
	ticks, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := ProcessCPUClock(pid)
	if ticks > now+20*time.Millisecond || ticks < now/2-100*time.Millisecond {
		t.Errorf("/proc says %v, the CPU clock %v", ticks, now)
	}
	if _, err := ProcessCPUClock(-1); err == nil {
		t.Error("pid -1: no error")
	}
}
