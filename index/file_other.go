//go:build !linux

package index

import (
	"errors"

	"golang.org/x/sys/unix"
)

// platformFallocate reports that fallocate is unavailable, so preallocate
// falls back to writing zeros.
func platformFallocate(fd int, off, length int64) error {
	return errors.ErrUnsupported
}

// openFD opens the file at path.
func openFD(path string, _ *byte, flag int, perm uint32) (int, error) {
	return unix.Open(path, flag|unix.O_CLOEXEC, perm)
}
