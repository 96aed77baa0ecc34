package index

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func platformFallocate(fd int, off, length int64) error {
	return unix.Fallocate(fd, 0, off, length)
}

// atFDCWD is AT_FDCWD as a system call argument.
var atFDCWD = unix.AT_FDCWD

// openFD opens the file at cpath (path, NUL-terminated) without allocating:
// the index reopens its file on the append path when it grows.
func openFD(_ string, cpath *byte, flag int, perm uint32) (int, error) {
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(cpath)),
		uintptr(flag|unix.O_CLOEXEC), uintptr(perm), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
