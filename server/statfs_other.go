//go:build !linux && !darwin && !freebsd

package server

import "errors"

// diskSpace is unknown on this platform: DescribeLogDirs reports -1.
func diskSpace(dir string) (total, usable int64, err error) {
	return -1, -1, errors.New("server: disk space of the data dir is not available on this platform")
}
