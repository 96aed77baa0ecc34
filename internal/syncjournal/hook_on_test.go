//go:build powerloss

package syncjournal

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// root and journalPath are set by TestMain before the first sync opens the
// journal (once per process).
var root, journalPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncjournal-")
	if err != nil {
		panic(err)
	}
	root = filepath.Join(dir, "data")
	journalPath = filepath.Join(dir, "journal")
	if err := os.Mkdir(root, 0o755); err != nil {
		panic(err)
	}
	os.Setenv(EnvRoot, root)
	os.Setenv(EnvJournal, journalPath)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// journaled returns the records appended since n records.
func journaled(t *testing.T, n int) []Record {
	t.Helper()
	f, err := os.Open(journalPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return recs[n:]
}

func ino(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestSyncJournalsFileSizeAndDirEntriesRelativeToTheRoot(t *testing.T) {
	if !Enabled() {
		t.Fatal("not enabled with both variables set")
	}
	before := len(journaled(t, 0))
	sub := filepath.Join(root, "t-0")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "a.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 100))
	if err := Sync(f); err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 50)) // not synced
	d, err := os.Open(sub)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := Sync(d); err != nil {
		t.Fatal(err)
	}
	Msynced(filepath.Join(sub, "a.index"), 99, 24)

	got := journaled(t, before)
	if len(got) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(got), got)
	}
	if r := got[0]; r.Op != OpFile || r.Path != "t-0/a.log" || r.Size != 100 || r.Ino != ino(t, path) {
		t.Errorf("file record %+v, want F t-0/a.log size 100 ino %d", r, ino(t, path))
	}
	if r := got[1]; r.Op != OpDir || r.Path != "t-0" || r.Ino != ino(t, sub) || len(r.Entries) != 1 || r.Entries["a.log"] != ino(t, path) {
		t.Errorf("dir record %+v", r)
	}
	if r := got[2]; r.Op != OpMapped || r.Path != "t-0/a.index" || r.Size != 24 || r.Ino != 99 {
		t.Errorf("msync record %+v", r)
	}
}

func TestSyncOutsideTheRootIsNotJournaled(t *testing.T) {
	before := len(journaled(t, 0))
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Sync(f); err != nil {
		t.Fatal(err)
	}
	if err := Fsync(int(f.Fd()), f.Name()); err != nil {
		t.Fatal(err)
	}
	if got := journaled(t, before); len(got) != 0 {
		t.Fatalf("journaled %+v", got)
	}
}

func TestFSJournalsEveryFileAndDirectoryUnderTheRoot(t *testing.T) {
	sub := filepath.Join(root, "fs-1")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(journaled(t, 0))
	ran := false
	if err := FS(root, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("FS: %v, ran %v", err, ran)
	}
	byPath := map[string]Record{}
	for _, r := range journaled(t, before) {
		byPath[r.Path] = r
	}
	if r := byPath["fs-1/f"]; r.Op != OpFile || r.Size != 5 {
		t.Errorf("fs-1/f: %+v", r)
	}
	if r := byPath["fs-1"]; r.Op != OpDir || r.Entries["f"] == 0 {
		t.Errorf("fs-1: %+v", r)
	}
	if r := byPath["."]; r.Op != OpDir || r.Entries["fs-1"] != ino(t, sub) {
		t.Errorf("root: %+v", r)
	}
}
