package log

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

// syncFSSupported: syncFS is a syscall here.
const syncFSSupported = true

// syncFS flushes every dirty page and all metadata of the file system
// holding dir, and waits for it (syncfs(2)): one barrier for thousands of
// partitions' files instead of an fsync each.
func syncFS(dir string) error {
	observeSync(syncOpSyncFS, dir)
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return syncjournal.FS(dir, func() error { return unix.Syncfs(int(f.Fd())) })
}
