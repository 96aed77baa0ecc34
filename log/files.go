package log

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// What keeps a Manager's open files bounded whatever its number of
// partitions: each partition's active segment holds its .log's descriptor
// only while it is in the Manager's fileCache, a clock of at most
// Options.OpenFiles logs. A log admitted when the clock is full makes the
// least recently written log not being written right now give its
// descriptor up (segment.ReleaseIdle); its next append admits it again
// and reopens the file. Nothing is flushed for it: an unflushed append
// stays in the page cache and is flushed by path at its next fsync (the
// flush policy's, or at close), on the same inode.

// DefaultOpenFilesShare is the part of the process's file limit
// (RLIMIT_NOFILE) that partitions' active segments may hold when
// Options.OpenFiles is zero: the rest is left to connections, indexes and
// segments being mapped.
const DefaultOpenFilesShare = 2

// minOpenFiles is the least bound a derived default takes.
const minOpenFiles = 64

// defaultOpenFiles is Options.OpenFiles when zero: half the soft file
// limit, or no bound if it cannot be read.
func defaultOpenFiles() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > math.MaxInt32 {
		return 0
	}
	return max(int(rl.Cur/DefaultOpenFilesShare), minOpenFiles)
}

// fileCache is the clock of logs whose active segment holds its
// descriptor. Lock order: a log's writeMu, then mu; the clock only
// TryLocks other logs' writeMu, so it never waits for a writer.
type fileCache struct {
	max  int
	mu   sync.Mutex
	ring []*Log // logs holding their descriptor; Log.fileSlot is the index
	hand int
}

// newFileCache returns a cache of max logs, nil (no bound) if max <= 0.
func newFileCache(max int) *fileCache {
	if max <= 0 {
		return nil
	}
	return &fileCache{max: max}
}

// admit counts l's active segment as holding its descriptor (it holds
// one, or its next write opens it), first making other idle logs give up
// theirs while the clock is full. A log written since the hand last
// passed it gets a second chance; one whose writer is busy is skipped. If
// every log is busy the bound is passed for the moment. Caller holds
// l.writeMu.
func (c *fileCache) admit(l *Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.fileUsed.Store(true)
	if l.fileHeld {
		return
	}
	for tries := 2 * len(c.ring); len(c.ring) >= c.max && tries > 0; tries-- {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		v := c.ring[c.hand]
		if v.fileUsed.Load() {
			v.fileUsed.Store(false)
			c.hand++
			continue
		}
		if !v.writeMu.TryLock() {
			c.hand++
			continue
		}
		released := v.closed || v.active().ReleaseIdle()
		if released {
			v.fileHeld = false
			c.removeAt(c.hand)
		} else {
			c.hand++
		}
		v.writeMu.Unlock()
	}
	l.fileHeld = true
	l.fileSlot = len(c.ring)
	c.ring = append(c.ring, l)
}

// remove takes l out of the clock (closed or deleted). Caller holds
// l.writeMu.
func (c *fileCache) remove(l *Log) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.fileHeld {
		c.removeAt(l.fileSlot)
		l.fileHeld = false
	}
}

// removeAt drops the log at i, moving the last one into its place.
// Caller holds mu.
func (c *fileCache) removeAt(i int) {
	last := len(c.ring) - 1
	c.ring[i] = c.ring[last]
	c.ring[i].fileSlot = i
	c.ring[last] = nil
	c.ring = c.ring[:last]
}
