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
// reopens writable on a disk that has filled up since, at the size it has
// and full, with its entries intact, instead of failing because it cannot
// be preallocated again (which would keep the segment's whole log from
// opening). A new index on the full disk still fails with ErrDiskFull,
// and leaves no file behind.
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
	if x.Entries() != 4 || !x.IsFull() || !x.Writable() {
		t.Errorf("reopened on a full disk: %d entries, full %v, writable %v; want 4, true, true", x.Entries(), x.IsFull(), x.Writable())
	}
	if rel, pos, ok := x.Lookup(25); !ok || rel != 20 || pos != 2000 {
		t.Errorf("Lookup(25) = %d, %d, %v; want 20, 2000, true", rel, pos, ok)
	}
	if err := x.Append(50, 5000); !errors.Is(err, ErrIndexFull) {
		t.Errorf("Append to the reopened index: %v, want ErrIndexFull", err)
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
	if ti.Entries() != len(timeFixtureEntries) || !ti.IsFull() {
		t.Errorf("reopened time index: %d entries, full %v", ti.Entries(), ti.IsFull())
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
	if x.Entries() != 0 || !x.IsFull() {
		t.Errorf("reopened empty index: %d entries, full %v", x.Entries(), x.IsFull())
	}
	if _, _, ok := x.Lookup(105); ok {
		t.Error("Lookup in an empty index found an entry")
	}
	if err := x.Append(1, 100); !errors.Is(err, ErrIndexFull) {
		t.Errorf("Append to the reopened empty index: %v, want ErrIndexFull", err)
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	for path, size := range map[string]int64{offPath: 4 * OffsetEntrySize, timePath: int64(len(timeFixtureEntries)) * TimeEntrySize, emptyPath: 0} {
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Errorf("%s after close: %v, %v; want %d bytes", path, fi.Size(), err, size)
		}
	}

	newPath := filepath.Join(dir, "00000000000000000200.index")
	if _, err := OpenOffsetIndex(newPath, 200, maxBytes, true); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("new index on a full disk: %v, want ErrDiskFull", err)
	}
	if _, err := os.Stat(newPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed new index left its file: %v", err)
	}
}
