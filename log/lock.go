package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the data dir's lock file: flock'ed exclusively by the one
// process that owns the dir, holding its pid for the error message.
const LockFile = ".lock"

// ErrLocked is returned when another process (or another Manager in this
// one) already owns the data dir.
var ErrLocked = errors.New("log: data dir is locked by another broker")

// dirLock is an exclusive flock on <dir>/.lock. The kernel drops it when the
// process dies, so a crash never leaves a stale lock.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log: lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil && len(b) > 0 {
			holder = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is in use%s", ErrLocked, dir, holder)
		}
		return nil, fmt.Errorf("log: lock %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	// Closing the descriptor releases the flock.
	return l.f.Close()
}

// LockDir takes the lock of data dir dir for a tool that changes it while
// no broker runs (tributary user create --data-dir): ErrLocked while a
// broker holds it. unlock releases it.
func LockDir(dir string) (unlock func() error, err error) {
	l, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	return l.unlock, nil
}
