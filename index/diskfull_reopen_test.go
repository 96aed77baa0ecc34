//go:build linux

package index

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFullReopenTrimmed: a writable index trimmed by a clean close
// reopens writable on a disk that has filled up since, with its entries
// intact (opening allocates nothing, so it cannot fail for lack of space,
// which would keep the segment's whole log from opening); appends then fail
// with ErrDiskFull once they need a block the disk does not have. A new
// index on the full disk opens empty and fails its first append the same
// way.
func TestDiskFullReopenTrimmed(t *testing.T) {
	dir := smallTmpfs(t)
	// More than the one page a trimmed index keeps: reopening must grow it.
	const maxBytes = 16 << 10
	offPath := filepath.Join(dir, "00000000000000000000.index")
	timePath := filepath.Join(dir, "00000000000000000000.timeindex")
	emptyPath := filepath.Join(dir, "00000000000000000100.index")

	x, err := OpenOffsetIndex(offPath, 0, maxBytes, true)
	if err != nil {
		t.Fatal(err)
	}
	offsetFixture(t, x)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	ti, err := OpenTimeIndex(timePath, 0, maxBytes, true)
	if err != nil {
		t.Fatal(err)
	}
	timeFixture(t, ti)
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	x, err = OpenOffsetIndex(emptyPath, 100, maxBytes, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	// Fill the disk.
	f, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xfe}, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	x, err = OpenOffsetIndex(offPath, 0, maxBytes, true)
	if err != nil {
		t.Fatalf("reopening a trimmed offset index on a full disk: %v", err)
	}
	if x.Entries() != 4 || x.IsFull() || !x.Writable() {
		t.Errorf("reopened on a full disk: %d entries, full %v, writable %v; want 4, false, true", x.Entries(), x.IsFull(), x.Writable())
	}
	if rel, pos, ok := x.Lookup(25); !ok || rel != 20 || pos != 2000 {
		t.Errorf("Lookup(25) = %d, %d, %v; want 20, 2000, true", rel, pos, ok)
	}
	// Appends fill what the file system already gave the file (tmpfs:
	// its page), then fail cleanly.
	var err2 error
	for i := uint32(0); err2 == nil && i < maxBytes; i++ {
		err2 = x.Append(50+i, 5000+i)
	}
	if !errors.Is(err2, ErrDiskFull) {
		t.Errorf("Append to the reopened index: %v, want ErrDiskFull", err2)
	}
	if err := x.SanityCheck(1 << 20); err != nil {
		t.Errorf("SanityCheck after the failed append: %v", err)
	}
	// A recovery rebuilds it in place, within its entries.
	x.Reset()
	offsetFixture(t, x)
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	ti, err = OpenTimeIndex(timePath, 0, maxBytes, true)
	if err != nil {
		t.Fatalf("reopening a trimmed time index on a full disk: %v", err)
	}
	if ti.Entries() != len(timeFixtureEntries) {
		t.Errorf("reopened time index: %d entries", ti.Entries())
	}
	// The closing entry of a segment sealed again is already there.
	if err := ti.AppendFinal(4000, 12); err != nil {
		t.Errorf("AppendFinal of the last entry again: %v", err)
	}
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}

	x, err = OpenOffsetIndex(emptyPath, 100, maxBytes, true)
	if err != nil {
		t.Fatalf("reopening an empty trimmed index on a full disk: %v", err)
	}
	if x.Entries() != 0 {
		t.Errorf("reopened empty index: %d entries", x.Entries())
	}
	if _, _, ok := x.Lookup(105); ok {
		t.Error("Lookup in an empty index found an entry")
	}
	if err := x.Append(1, 100); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Append to the reopened empty index: %v, want ErrDiskFull", err)
	}
	if err := x.Reserve(1); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Reserve in the reopened empty index: %v, want ErrDiskFull", err)
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	for path, size := range map[string]int64{timePath: int64(len(timeFixtureEntries)) * TimeEntrySize, emptyPath: 0} {
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Errorf("%s after close: %v, %v; want %d bytes", path, fi.Size(), err, size)
		}
	}

	newPath := filepath.Join(dir, "00000000000000000200.index")
	x, err = OpenOffsetIndex(newPath, 200, maxBytes, true)
	if err != nil {
		t.Fatalf("new index on a full disk: %v", err)
	}
	if err := x.Append(1, 100); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Append to a new index on a full disk: %v, want ErrDiskFull", err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(newPath); err != nil || fi.Size() != 0 {
		t.Errorf("a failed append left the new index with %d bytes (%v)", fi.Size(), err)
	}
}
