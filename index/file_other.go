//go:build !linux

package index

import "errors"

// platformFallocate reports that fallocate is unavailable, so preallocate
// falls back to writing zeros.
func platformFallocate(fd int, off, length int64) error {
	return errors.ErrUnsupported
}
