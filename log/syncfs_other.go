//go:build !linux

package log

import "errors"

// syncFS is unavailable: callers fsync each file instead.
func syncFS(dir string) error { return errors.ErrUnsupported }
