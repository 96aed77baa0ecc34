package index

import "golang.org/x/sys/unix"

func platformFallocate(fd int, off, length int64) error {
	return unix.Fallocate(fd, 0, off, length)
}
