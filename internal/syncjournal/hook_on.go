//go:build powerloss

package syncjournal

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// journal is the process's journal, opened at the first sync.
var journal struct {
	once sync.Once
	root string // absolute, cleaned; "" when disabled
	mu   sync.Mutex
	f    *os.File // O_APPEND; nil when disabled
}

func open() {
	path, root := os.Getenv(EnvJournal), os.Getenv(EnvRoot)
	if path == "" || root == "" {
		return
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "syncjournal: %s=%q: %v: not journaling\n", EnvRoot, root, err)
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		// Not journaling: the harness finds no journal and refuses to
		// apply a power loss (it would drop synced data).
		fmt.Fprintf(os.Stderr, "syncjournal: open %s: %v: not journaling\n", path, err)
		return
	}
	journal.root, journal.f = abs, f
}

// Enabled reports whether this build journals its syncs (built with
// -tags powerloss and run with EnvJournal set).
func Enabled() bool {
	journal.once.Do(open)
	return journal.f != nil
}

// rel returns path relative to the root, or false if it is outside.
func rel(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	r, err := filepath.Rel(journal.root, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// write appends recs to the journal with one write(2).
func write(recs ...Record) {
	var b []byte
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			panic(fmt.Sprintf("syncjournal: encode %+v: %v", r, err))
		}
		b = append(append(b, line...), '\n')
	}
	journal.mu.Lock()
	defer journal.mu.Unlock()
	if _, err := journal.f.Write(b); err != nil {
		// A sync the journal does not show would be undone by the
		// harness: stop here rather than let a test believe it lost
		// data the broker had made durable. Test builds only.
		panic(fmt.Sprintf("syncjournal: write: %v", err))
	}
}

// describe returns the record of what a sync of the file or directory at
// path, with status st, will make durable.
func describe(path string, st *syscall.Stat_t) (Record, bool) {
	r, ok := rel(path)
	if !ok {
		return Record{}, false
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		ents, err := entries(path)
		if err != nil {
			return Record{}, false
		}
		return Record{Op: OpDir, Path: r, Ino: st.Ino, Entries: ents}, true
	}
	return Record{Op: OpFile, Path: r, Ino: st.Ino, Size: st.Size}, true
}

// entries maps each name in dir to its inode.
func entries(dir string) (map[string]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, len(des))
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			m[de.Name()] = st.Ino
		}
	}
	return m, nil
}

// Sync fsyncs f, a file or a directory.
func Sync(f Syncer) error {
	of, ok := f.(*os.File)
	if !ok || !Enabled() {
		return f.Sync()
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(of.Fd()), &st); err != nil {
		return f.Sync()
	}
	rec, ok := describe(of.Name(), &st)
	if err := f.Sync(); err != nil {
		return err
	}
	if ok {
		write(rec)
	}
	return nil
}

// Fsync fsyncs the file open as fd at path.
func Fsync(fd int, path string) error {
	if !Enabled() {
		return unix.Fsync(fd)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return unix.Fsync(fd)
	}
	rec, ok := describe(path, &st)
	if err := unix.Fsync(fd); err != nil {
		return err
	}
	if ok {
		write(rec)
	}
	return nil
}

// Msynced records that the first n bytes of the file at path (inode ino)
// were just msynced.
func Msynced(path string, ino uint64, n int) {
	if !Enabled() {
		return
	}
	if r, ok := rel(path); ok {
		write(Record{Op: OpMapped, Path: r, Ino: ino, Size: int64(n)})
	}
}

// FS runs syncfs, a syncfs(2) of the file system holding root, and
// journals every file and directory under root as it was before.
func FS(root string, syncfs func() error) error {
	if !Enabled() {
		return syncfs()
	}
	var recs []Record
	filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil // removed meanwhile: not durable
		}
		info, err := de.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || (!de.IsDir() && !de.Type().IsRegular()) {
			return nil
		}
		if rec, ok := describe(path, st); ok {
			recs = append(recs, rec)
		}
		return nil
	})
	if err := syncfs(); err != nil {
		return err
	}
	write(recs...)
	return nil
}
