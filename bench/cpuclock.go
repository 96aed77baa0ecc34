package bench

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Linux encodes another process's CPU-time clock as a clock ID
// (clock_getcpuclockid(3)): the bitwise complement of the PID shifted left
// by three, with the clock type in the low bits.
const (
	cpuClockShift = 3
	cpuClockSched = 2 // CPUCLOCK_SCHED: total runtime as the scheduler counts it, in ns
)

// ProcessCPUClock is the CPU time (user + system, all threads, including
// threads that have exited) that process pid has used so far, read from its
// CPU-time clock with clock_gettime(2). It needs neither the process's help
// nor a signal, any process may read it, and its resolution is a
// nanosecond: it is the scheduler's own sum from which getrusage and
// /proc/<pid>/stat derive their user and system times (ProcessCPU and
// BrokerProc.CPU), so the three agree up to their rounding. That makes it
// the one figure that compares between processes started any way at all:
// a broker child, nats-server, redis-server.
func ProcessCPUClock(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("bench: process CPU clock: bad pid %d", pid)
	}
	clock := int32(^uint32(pid)<<cpuClockShift | cpuClockSched)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("bench: process CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}
