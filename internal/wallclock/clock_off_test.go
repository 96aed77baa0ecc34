//go:build !clockfault

package wallclock

import (
	"path/filepath"
	"testing"
	"time"
)

func TestWithoutTheTagTheOffsetFileIsIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	if err := SetOffset(path, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvOffsetFile, path)
	if Enabled() {
		t.Fatal("Enabled in a build without -tags clockfault")
	}
	if d := time.Until(Now()); d > time.Hour {
		t.Fatalf("Now is %v ahead of time.Now in a build without -tags clockfault", d)
	}
}
