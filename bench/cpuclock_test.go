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
	// Burn CPU until the clock has moved 10 ms. How long that takes on
	// the wall clock depends on the machine's load, so the wall clock
	// bounds only a clock that never moves.
	const burn = 10 * time.Millisecond
	giveUp := time.Now().Add(time.Minute)
	x, after := 0, before
	for after-before < burn && time.Now().Before(giveUp) {
		for range 100_000 {
			x++
		}
		if after, err = ProcessCPUClock(pid); err != nil {
			t.Fatal(err)
		}
	}
	if after-before < burn {
		t.Errorf("CPU clock moved %v in a minute of busy loop (%d spins)", after-before, x)
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
