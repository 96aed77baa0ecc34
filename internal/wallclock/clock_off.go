//go:build !clockfault

package wallclock

import "time"

// Enabled reports whether this build offsets its wall clock (built with
// -tags clockfault and started with EnvOffsetFile naming a file it could
// map).
func Enabled() bool { return false }

// Now is the wall clock: time.Now.
func Now() time.Time { return time.Now() }
