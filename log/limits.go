package log

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tributary-io/tributary/segment"
)

// Errors from running out of a process or system resource. Like
// ErrDiskFull they are Kafka's KAFKA_STORAGE_ERROR to a client; unlike it
// they are fixed by raising a limit, which their text and the ERROR line
// the log package writes when it meets them name.
var (
	// ErrFileLimit: a file could not be opened because the process or
	// the system has no file descriptor left (EMFILE, ENFILE).
	ErrFileLimit = errors.New("log: out of file descriptors (raise the open files limit: ulimit -n, LimitNOFILE= in the systemd unit; system-wide: sysctl fs.file-max)")
	// ErrMapLimit: a file could not be memory-mapped because the process
	// has no mapping left (vm.max_map_count) or no address space (ENOMEM
	// from mmap).
	ErrMapLimit = errors.New("log: out of memory mappings (raise sysctl vm.max_map_count; check ulimit -v)")
)

// limitKind is one kind of resource a storage error ran out of.
type limitKind int

const (
	limitNone limitKind = iota
	limitDisk
	limitFiles
	limitMaps
	numLimitKinds
)

// limitLogInterval is the least time between two ERROR lines for the same
// kind of limit: a broker out of descriptors fails every produce, and one
// line every few seconds says it as well as thousands.
const limitLogInterval = 10 * time.Second

// limitLogged holds, per limitKind, when its last ERROR line was written
// (unix nanos), and how many were left out since.
var (
	limitLogged  [numLimitKinds]atomic.Int64
	limitSkipped [numLimitKinds]atomic.Int64
)

func classifyLimit(err error) limitKind {
	switch {
	case err == nil:
		return limitNone
	case errors.Is(err, ErrDiskFull) || errors.Is(err, segment.ErrDiskFull) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return limitDisk
	case errors.Is(err, ErrFileLimit) || errors.Is(err, segment.ErrFileLimit) ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return limitFiles
	case errors.Is(err, ErrMapLimit) || errors.Is(err, segment.ErrMapLimit) || errors.Is(err, syscall.ENOMEM):
		return limitMaps
	}
	return limitNone
}

// limitError makes err, if a resource ran out, match this package's
// sentinel for it (ErrDiskFull, ErrFileLimit, ErrMapLimit) and logs at
// ERROR, at most every limitLogInterval per kind, which limit was hit and
// how to raise it. Other errors are returned as they are.
func limitError(logger *slog.Logger, dir string, err error) error {
	kind := classifyLimit(err)
	var sentinel error
	var msg string
	switch kind {
	case limitNone:
		return err
	case limitDisk:
		sentinel, msg = ErrDiskFull, "log: no space left on the data dir's device; produce fails with KAFKA_STORAGE_ERROR until space is freed (delete topics or records, lower retention, or grow the volume)"
	case limitFiles:
		sentinel, msg = ErrFileLimit, "log: out of file descriptors; partitions cannot be opened or created and produce may fail with KAFKA_STORAGE_ERROR: raise the open files limit (ulimit -n, LimitNOFILE= in the systemd unit; system-wide sysctl fs.file-max)"
	case limitMaps:
		sentinel, msg = ErrMapLimit, "log: out of memory mappings; partitions cannot be opened or created and produce may fail with KAFKA_STORAGE_ERROR: raise sysctl vm.max_map_count (and check ulimit -v)"
	}
	now := time.Now().UnixNano()
	last := limitLogged[kind].Load()
	if now-last >= int64(limitLogInterval) && limitLogged[kind].CompareAndSwap(last, now) {
		logger.Error(msg, "dir", dir, "err", err, "similar_errors_not_logged", limitSkipped[kind].Swap(0))
	} else {
		limitSkipped[kind].Add(1)
	}
	if errors.Is(err, sentinel) {
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

// limitErr is limitError with the log's logger and dir.
func (l *Log) limitErr(err error) error {
	return limitError(l.cfg.Load().logger(), l.dir, err)
}

// storageErr is limitError with the Manager's logger and data dir.
func (m *Manager) storageErr(err error) error {
	return limitError(m.logger, m.dir, err)
}
