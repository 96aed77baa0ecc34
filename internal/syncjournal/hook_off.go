//go:build !powerloss

package syncjournal

import "golang.org/x/sys/unix"

// Enabled reports whether this build journals its syncs (built with
// -tags powerloss and run with EnvJournal set).
func Enabled() bool { return false }

// Sync fsyncs f, a file or a directory.
func Sync(f Syncer) error { return f.Sync() }

// Fsync fsyncs the file open as fd at path.
func Fsync(fd int, path string) error { return unix.Fsync(fd) }

// Msynced records that the first n bytes of the file at path (inode ino)
// were just msynced.
func Msynced(path string, ino uint64, n int) {}

// FS runs syncfs, a syncfs(2) of the file system holding root.
func FS(root string, syncfs func() error) error { return syncfs() }
