//go:build darwin || freebsd

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
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}
