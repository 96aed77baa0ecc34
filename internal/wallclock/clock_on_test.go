//go:build clockfault

package wallclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// attached maps a fresh offset file for the test and detaches it after.
func attached(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clock")
	if err := SetOffset(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := attach(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mapped.Store(nil) })
	return path
}

func TestNowFollowsTheOffsetSetFromOutside(t *testing.T) {
	path := attached(t)
	if !Enabled() {
		t.Fatal("not Enabled after attach")
	}
	if _, pid, err := ReadOffset(path); err != nil || pid != os.Getpid() {
		t.Fatalf("ReadOffset: pid %d, %v; want ours (%d)", pid, err, os.Getpid())
	}
	for _, d := range []time.Duration{3 * time.Hour, -90 * time.Minute, 10 * time.Second, 0} {
		// SetOffset maps the file anew, as another process would.
		if err := SetOffset(path, d); err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		got := Now()
		after := time.Now()
		if got.Before(before.Add(d).Round(0)) || got.After(after.Add(d).Round(0)) {
			t.Fatalf("offset %v: Now() = %v, want within [%v, %v]", d, got, before.Add(d), after.Add(d))
		}
	}
}

func TestNowHasNoMonotonicReadingWhenOffset(t *testing.T) {
	attached(t)
	if now := Now(); now != now.Round(0) {
		t.Fatalf("Now() = %v carries a monotonic reading", now)
	}
}
