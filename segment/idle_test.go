package segment

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// TestReleaseIdleKeepsDataAndReopensOnAppend: an active segment that gives
// up its descriptor keeps every batch readable, flushes what was written
// before by path at the next Sync (and cannot be parked until then), and
// the next Append opens the same file again.
func TestReleaseIdleKeepsDataAndReopensOnAppend(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	s, err := Create(dir, 0, Config{IndexIntervalBytes: 512, InitialMapBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := appendN(t, s, 5, 10, 100, 1000)
	if !s.ReleaseIdle() {
		t.Fatal("ReleaseIdle of an active segment with a descriptor released nothing")
	}
	if s.ReleaseIdle() {
		t.Error("a second ReleaseIdle released something")
	}
	if got := openFDs(t) - before; got != 0 || s.HoldsFile() {
		t.Errorf("released segment holds %d descriptors (HoldsFile %v), want 0", got, s.HoldsFile())
	}
	checkBatches(t, s, want)
	if s.synced.Load() >= s.Size() {
		t.Fatal("appended bytes counted as synced before any Sync")
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync of a released segment: %v", err)
	}
	if got := s.synced.Load(); got != s.Size() {
		t.Errorf("Sync by path made %d bytes durable, want %d", got, s.Size())
	}
	if got := openFDs(t) - before; got != 0 {
		t.Errorf("Sync by path left %d descriptors open", got)
	}
	want = append(want, appendN(t, s, 2, 10, 100, 2000)...)
	if got := openFDs(t) - before; got != 1 || !s.HoldsFile() {
		t.Errorf("Append after ReleaseIdle: %d descriptors, want 1", got)
	}
	checkBatches(t, s, want)

	// Released with unflushed bytes, then sealed: not parked until synced.
	appendN(t, s, 1, 10, 100, 3000)
	s.ReleaseIdle()
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if s.Park() {
		t.Fatal("a sealed segment with unflushed bytes was parked")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if !s.Park() {
		t.Fatal("a sealed, flushed segment without readers was not parked")
	}
}

// TestReleaseIdleRefusesAReplacedFile: when the path of a released
// segment's .log names another file, neither Sync nor Append touch it:
// both fail with ErrReplaced, and the other file is unchanged.
func TestReleaseIdleRefusesAReplacedFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, 0, Config{IndexIntervalBytes: 512, InitialMapBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, 2, 3, 100, 1000)
	s.ReleaseIdle()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, s.Path()); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, ErrReplaced) {
		t.Errorf("Sync of a replaced file: %v, want ErrReplaced", err)
	}
	b := recordbatch.Build(3, 100, 5000)
	recordbatch.SetBaseOffset(b, s.NextOffset())
	if err := s.Append(b); !errors.Is(err, ErrReplaced) {
		t.Errorf("Append to a replaced file: %v, want ErrReplaced", err)
	}
	if b, _ := os.ReadFile(s.Path()); string(b) != "not ours" {
		t.Errorf("the replacing file was changed: %q", b)
	}

	// Deleted (retention): nothing left to flush.
	os.Remove(s.Path())
	if err := s.Sync(); err != nil {
		t.Errorf("Sync of a deleted released segment: %v", err)
	}
}
