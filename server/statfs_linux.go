//go:build linux

package server

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskSpace is the total and the unprivileged-usable bytes of the file
// system holding dir.
func diskSpace(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, fmt.Errorf("server: statfs %s: %w", dir, err)
	}
	// Block counts are in units of the fragment size; older kernels
	// leave it zero, meaning the block size.
	unit := int64(st.Frsize)
	if unit == 0 {
		unit = int64(st.Bsize)
	}
	return int64(st.Blocks) * unit, int64(st.Bavail) * unit, nil
}
