package wallclock

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnvOffsetFile names the offset file of a clockfault build. Unset, or
// in a build without the tag: the wall clock is the system's.
const EnvOffsetFile = "TRIBUTARY_TEST_CLOCK_OFFSET_FILE"

// The offset file's layout.
const (
	offsetAt = 0  // int64 nanoseconds added to the wall clock
	pidAt    = 8  // int64 pid of the process that last mapped it
	fileSize = 16 // both words
)

// ErrShortFile is returned for an offset file smaller than its two words.
var ErrShortFile = errors.New("wallclock: offset file too short")

// mapping is an offset file mapped shared, read and write.
type mapping struct {
	b []byte
}

// mapFile maps the offset file at path, creating it (a zero offset, no
// pid) when create is set and it does not exist.
func mapFile(path string, create bool) (*mapping, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wallclock: open offset file: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wallclock: offset file: %w", err)
	}
	if fi.Size() < fileSize {
		if !create {
			return nil, fmt.Errorf("%w: %s has %d bytes, not %d", ErrShortFile, path, fi.Size(), fileSize)
		}
		if err := f.Truncate(fileSize); err != nil {
			return nil, fmt.Errorf("wallclock: size offset file: %w", err)
		}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, fileSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("wallclock: map offset file %s: %w", path, err)
	}
	return &mapping{b: b}, nil
}

// word is the int64 at off: page-aligned mapping, 8-aligned offsets.
func (m *mapping) word(off int) *int64 { return (*int64)(unsafe.Pointer(&m.b[off])) }

func (m *mapping) offset() time.Duration { return time.Duration(atomic.LoadInt64(m.word(offsetAt))) }

func (m *mapping) pid() int { return int(atomic.LoadInt64(m.word(pidAt))) }

func (m *mapping) unmap() error { return unix.Munmap(m.b) }

// SetOffset sets the offset in the file at path, creating the file if
// needed; a process that maps it reads the new offset from its next
// reading on. Zero puts its clock back to the system's.
func SetOffset(path string, d time.Duration) error {
	m, err := mapFile(path, true)
	if err != nil {
		return err
	}
	atomic.StoreInt64(m.word(offsetAt), int64(d))
	return m.unmap()
}

// ReadOffset returns the offset in the file at path, and the pid of the
// process that last mapped it (0: none has).
func ReadOffset(path string) (time.Duration, int, error) {
	m, err := mapFile(path, false)
	if err != nil {
		return 0, 0, err
	}
	d, pid := m.offset(), m.pid()
	return d, pid, m.unmap()
}
