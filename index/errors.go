package index

import "errors"

// Sentinel errors, for callers to branch on with errors.Is. Every error the
// package returns is an *Error wrapping one of these or an OS error.
var (
	// ErrIndexFull is returned by Append when the index has no free slot
	// (for a time index: no free slot besides the one kept for AppendFinal).
	// The segment should roll.
	ErrIndexFull = errors.New("index: full")

	// ErrReadOnly is returned by writes to an index opened read-only or
	// already trimmed.
	ErrReadOnly = errors.New("index: read-only")

	// ErrDiskFull is returned when the file cannot grow to take an entry
	// because the device (or the quota) has no space left.
	ErrDiskFull = errors.New("index: no space left on device")

	// ErrFileLimit is returned when the file cannot be opened because the
	// process or the system is out of file descriptors (EMFILE, ENFILE).
	ErrFileLimit = errors.New("index: too many open files")

	// ErrMapLimit is returned when the file cannot be mapped because the
	// process is out of memory mappings (vm.max_map_count) or address
	// space (ENOMEM from mmap).
	ErrMapLimit = errors.New("index: cannot map file")

	// ErrCorrupt is returned by SanityCheck when the file does not hold a
	// valid index, and by appends that would break the ordering invariants.
	ErrCorrupt = errors.New("index: corrupt")

	// ErrClosed is returned by operations on a closed index.
	ErrClosed = errors.New("index: closed")
)

// Error records a failed operation on one index file.
type Error struct {
	Path string // index file
	Op   string // "open", "append", "trim", "sync", "sanity check", ...
	Err  error  // cause; wraps one of the sentinels above or an OS error
}

func (e *Error) Error() string {
	return "index: " + e.Op + " " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
