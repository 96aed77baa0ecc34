package segment

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

// What lets a broker hold more partitions than it may open files: an
// active segment that is not being written can give up its .log's
// descriptor (ReleaseIdle). Its bytes stay in the inode's page cache, where
// a later Sync flushes them through a descriptor opened by path, and the
// next write opens it again; both check that the path still names the
// segment's inode. Package log decides which segments are idle.

// ErrReplaced is returned when a segment's .log path no longer names the
// file the segment opened (something replaced it behind our back), so its
// descriptor cannot be opened again.
var ErrReplaced = errors.New("segment: file was replaced on disk")

// ReleaseIdle closes the .log's descriptor of an active segment; the next
// Append (or TruncateTo) opens it again, by path. Unflushed bytes are not
// lost: Sync flushes them by path. The caller serialises it with the
// segment's writer. It reports whether a descriptor was closed; it never
// waits for a Sync in progress (and then closes nothing).
func (s *Segment) ReleaseIdle() bool {
	if !s.fileMu.TryLock() {
		return false
	}
	defer s.fileMu.Unlock()
	if s.file == nil || s.sealed || s.closed.Load() {
		return false
	}
	s.file.Close()
	s.file, s.wf = nil, nil
	return true
}

// HoldsFile reports whether the segment's .log descriptor is open.
func (s *Segment) HoldsFile() bool {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	return s.file != nil
}

// reopenFile opens the .log of an active segment released by ReleaseIdle
// again, for writes, if it is not open. Writer only.
func (s *Segment) reopenFile(op string) error {
	if s.wf != nil {
		return nil
	}
	if s.sealed {
		return &Error{Path: s.logPath, Op: op, Offset: -1, Err: ErrReadOnly}
	}
	f, err := s.openSame(os.O_RDWR)
	if err != nil {
		return wrapStorage(&Error{Path: s.logPath, Op: op + ": reopen", Offset: -1, Err: err})
	}
	s.fileMu.Lock()
	s.file, s.wf = f, f
	if s.cfg.WrapFile != nil {
		s.wf = s.cfg.WrapFile(s.logPath, f)
	}
	s.fileMu.Unlock()
	return nil
}

// syncByPath fsyncs the .log through a descriptor opened for the moment.
// A file no longer there (retention deleted it) has nothing left to
// flush. Caller holds fileMu.
func (s *Segment) syncByPath() error {
	f, err := s.openSame(os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncjournal.Sync(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return wrapStorage(&Error{Path: s.logPath, Op: "fsync", Offset: -1, Err: err})
	}
	return nil
}

// openSame opens the .log by path with flag, if the path still names the
// segment's inode.
func (s *Segment) openSame(flag int) (*os.File, error) {
	f, err := os.OpenFile(s.logPath, flag, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (uint64(st.Dev) != s.dev || uint64(st.Ino) != s.ino) {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrReplaced, s.logPath)
	}
	return f, nil
}
