//go:build !linux

package log

import "errors"

// syncFSSupported: syncFS always fails here.
const syncFSSupported = false

// syncFS is unavailable: callers fsync each file instead.
func syncFS(dir string) error { return errors.ErrUnsupported }
