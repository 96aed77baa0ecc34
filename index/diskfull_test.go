//go:build linux

package index

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDiskFull opens a writable index on a 64 KiB tmpfs: preallocating 1 MiB
// must fail with ErrDiskFull rather than leave a sparse file that a later
// store through the mapping would turn into SIGBUS.
func TestDiskFull(t *testing.T) {
	dir := smallTmpfs(t)

	for _, tt := range []struct {
		name string
		open func(path string) error
	}{
		{"offset", func(path string) error {
			x, err := OpenOffsetIndex(path, 0, 1<<20, true)
			if err == nil {
				x.Close()
			}
			return err
		}},
		{"time", func(path string) error {
			x, err := OpenTimeIndex(path, 0, 1<<20, true)
			if err == nil {
				x.Close()
			}
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "00000000000000000000."+tt.name)
			err := tt.open(path)
			if !errors.Is(err, ErrDiskFull) {
				t.Fatalf("open on a full disk = %v; want ErrDiskFull", err)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Path != path {
				t.Errorf("error %v does not carry the path %s", err, path)
			}
			t.Logf("error: %v", err)
			if fi, err := os.Stat(path); err == nil && fi.Size() != 0 {
				t.Errorf("failed open left a %d-byte file", fi.Size())
			}
		})
	}

	// A small index still fits.
	x, err := OpenOffsetIndex(filepath.Join(dir, "small.index"), 0, 4096, true)
	if err != nil {
		t.Fatalf("small index on the tmpfs: %v", err)
	}
	offsetFixture(t, x)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
}

// smallTmpfs mounts a 64 KiB tmpfs on a new temporary directory for the
// test and returns it, or skips the test where it cannot (not root, no
// mount).
func smallTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs")
	}
	dir := t.TempDir() // registered first, so removed after the unmount below
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("disk-full test needs a small tmpfs, and mount failed: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
