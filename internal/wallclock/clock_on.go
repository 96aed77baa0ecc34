//go:build clockfault

package wallclock

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// mapped is the process's offset file, mapped at init; nil when
// EnvOffsetFile is unset or the file could not be mapped.
var mapped atomic.Pointer[mapping]

func init() {
	path := os.Getenv(EnvOffsetFile)
	if path == "" {
		return
	}
	if err := attach(path); err != nil {
		// The harness sees no pid of ours in the file and refuses to
		// jump this clock (clustertest's ClockJump).
		fmt.Fprintf(os.Stderr, "wallclock: %s=%q: %v: the wall clock is the system's\n", EnvOffsetFile, path, err)
	}
}

// attach maps the offset file at path (which must exist) for good and
// writes this process's pid into it.
func attach(path string) error {
	m, err := mapFile(path, false)
	if err != nil {
		return err
	}
	atomic.StoreInt64(m.word(pidAt), int64(os.Getpid()))
	// An earlier mapping (a test attaching again) stays mapped: a reader
	// may still hold it.
	mapped.Store(m)
	return nil
}

// Enabled reports whether this build offsets its wall clock (built with
// -tags clockfault and started with EnvOffsetFile naming a file it could
// map).
func Enabled() bool { return mapped.Load() != nil }

// Now is the wall clock: time.Now plus the offset file's offset, without
// a monotonic reading (a duration measured with it sees the jump, as one
// measured with a real wall clock would).
func Now() time.Time {
	t := time.Now()
	m := mapped.Load()
	if m == nil {
		return t
	}
	return t.Add(m.offset()).Round(0)
}
