//go:build unix

package recordbatch_test

import (
	"syscall"
	"time"
)

// processCPU is this process's user+system CPU time: on a shared machine a
// benchmark's CPU per op is steadier than its wall time, which counts the
// waits for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
