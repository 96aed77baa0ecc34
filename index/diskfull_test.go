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

// TestDiskFull fills a 64 KiB tmpfs with the entries of a 1 MiB writable
// index: opening it allocates nothing, and the append that finds no room to
// grow fails with ErrDiskFull, rather than storing through the mapping past
// the end of the file (SIGBUS). Every entry appended before stays readable,
// and Close trims the file to them.
func TestDiskFull(t *testing.T) {
	dir := smallTmpfs(t)

	for _, tt := range []struct {
		name   string
		size   int
		append func(x any, i int) error
		open   func(path string) (any, error)
	}{
		{"offset", OffsetEntrySize,
			func(x any, i int) error { return x.(*OffsetIndex).Append(uint32(i), uint32(i)) },
			func(path string) (any, error) { return OpenOffsetIndex(path, 0, 1<<20, true) }},
		{"time", TimeEntrySize,
			func(x any, i int) error { return x.(*TimeIndex).Append(int64(i), uint32(i)) },
			func(path string) (any, error) { return OpenTimeIndex(path, 0, 1<<20, true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "00000000000000000000."+tt.name)
			x, err := tt.open(path)
			if err != nil {
				t.Fatalf("open on a small disk: %v", err)
			}
			i := 0
			for ; err == nil && i < 1<<20; i++ {
				err = tt.append(x, i)
			}
			if !errors.Is(err, ErrDiskFull) {
				t.Fatalf("append #%d = %v; want ErrDiskFull", i-1, err)
			}
			var ie *Error
			if !errors.As(err, &ie) || ie.Path != path {
				t.Errorf("error %v does not carry the path %s", err, path)
			}
			t.Logf("after %d entries: %v", i-1, err)
			entries := i - 1
			if fi, err := os.Stat(path); err != nil || fi.Size() < int64(entries*tt.size) {
				t.Fatalf("file of %d bytes (%v) for %d entries", fi.Size(), err, entries)
			}
			switch x := x.(type) {
			case *OffsetIndex:
				if x.Entries() != entries || x.SanityCheck(1<<30) != nil {
					t.Errorf("%d entries (want %d), SanityCheck %v", x.Entries(), entries, x.SanityCheck(1<<30))
				}
				err = x.Close()
			case *TimeIndex:
				if x.Entries() != entries || x.SanityCheck(1<<30) != nil {
					t.Errorf("%d entries (want %d), SanityCheck %v", x.Entries(), entries, x.SanityCheck(1<<30))
				}
				err = x.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(entries*tt.size) {
				t.Errorf("closed file of %d bytes (%v); want %d", fi.Size(), err, entries*tt.size)
			}
			os.Remove(path)
		})
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
