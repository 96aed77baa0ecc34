package segment

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/edsrzf/mmap-go"

	"github.com/tributary-io/tributary/index"
)

// Parking: a sealed segment that nobody reads gives back its mappings (its
// .log's and both indexes'), and maps them again at the next Acquire. A
// Cache bounds how many sealed segments stay mapped: a broker with ten
// thousand partitions and many segments each would otherwise hold three
// mappings per segment and run into vm.max_map_count (65,530 by default).
// Readers never notice: Park only takes a segment that holds no reader
// reference, and Acquire waits for a Park in progress.

// parkingRefs is added to the reference count while Park unmaps a
// segment: Acquire, seeing a count that low, waits for fileMu (which Park
// holds) and tries again, instead of taking it for closed.
const parkingRefs = -1 << 40

// DefaultCacheSegments is a Cache's default capacity: 4,096 sealed
// segments, about 12,300 mappings.
const DefaultCacheSegments = 4096

// Cache bounds the number of sealed segments kept mapped. Segments are
// added when they are sealed or loaded (by the log) and when Acquire maps
// a parked one again; past the capacity, the cache parks segments in clock
// order, skipping those read since the hand last passed (Acquire marks
// them) and those that cannot be parked now (read at this moment, or not
// yet flushed). Safe for concurrent use.
type Cache struct {
	max int

	mu   sync.Mutex // guards ring, hand and every member's inCache
	ring []*Segment
	hand int
}

// NewCache returns a cache for at most max mapped sealed segments (0 or
// less: DefaultCacheSegments).
func NewCache(max int) *Cache {
	if max <= 0 {
		max = DefaultCacheSegments
	}
	return &Cache{max: max}
}

// Len returns the number of segments the cache holds mapped (or about to
// park).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ring)
}

// Add puts a sealed segment in the cache, then parks segments until the
// cache is within its capacity or none can be parked now.
func (c *Cache) Add(s *Segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.inCache {
		s.inCache = true
		c.ring = append(c.ring, s)
	}
	c.trimLocked()
}

// Trim parks segments until the cache is within its capacity or none can
// be parked now, as Add does. A segment is added when it is sealed, before
// it is flushed, and an unflushed one cannot be parked: the caller that
// flushes sealed segments calls Trim, or after a burst of rolls they would
// all stay mapped, past the capacity, until the next Add.
func (c *Cache) Trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trimLocked()
}

// trimLocked is Trim. Caller holds c.mu.
func (c *Cache) trimLocked() {
	// The hand passes each segment up to three times: a first pass may
	// only clear its used mark, the second parks it, and the third covers
	// the segments a removal moved from the end of the ring into the
	// hand's place after the hand had wrapped past them. Counted in moves
	// of the hand, not in segments looked at, so that parking some does
	// not use up the passes the others need.
	moves := 3 * len(c.ring)
	for len(c.ring) > c.max && moves > 0 {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		x := c.ring[c.hand]
		if x.refs.Load() > 0 && (x.used.Swap(false) || !x.Park()) {
			c.hand++
			moves--
			continue
		}
		// Parked, or closed: out of the ring.
		x.inCache = false
		last := len(c.ring) - 1
		c.ring[c.hand], c.ring[last] = c.ring[last], nil
		c.ring = c.ring[:last]
	}
}

// Park unmaps a sealed, flushed segment that no reader holds, and closes
// its indexes; the next Acquire maps them again. It returns false, and
// does nothing, for a segment that is active, not yet flushed (it still
// holds its file descriptor), already parked, closed, or referenced by a
// reader.
func (s *Segment) Park() bool {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if !s.sealedForSync.Load() || s.file != nil || s.parked.Load() || s.synced.Load() < s.size.Load() {
		return false
	}
	if !s.refs.CompareAndSwap(1, 1+parkingRefs) {
		return false
	}
	if s.closed.Load() {
		// The one reference is a reader's, not the owner's: a segment
		// deleted, or replaced by the cleaner or a truncation, whose view
		// must stay mapped. (Close sets closed before it releases, so a
		// count of 1 that is the owner's own shows closed false here.)
		if s.refs.Add(-parkingRefs) == 0 {
			// The reader released meanwhile and its Release could not
			// see the zero: free the mappings here.
			s.unmapLocked()
		}
		return false
	}
	s.unmapLocked()
	s.parked.Store(true)
	// The owner may have released its reference meanwhile (Close): then
	// nothing is left to free, all of it was just unmapped.
	s.refs.Add(-parkingRefs)
	return true
}

// unmapLocked drops the segment's mappings and closes its indexes.
// Caller holds fileMu and the only reference, or none.
func (s *Segment) unmapLocked() {
	for _, m := range s.maps {
		m.Unmap()
	}
	s.maps = nil
	s.data.Store(nil)
	if s.offIdx != nil {
		s.offIdx.Close()
		s.timeIdx.Close()
	}
	s.offIdx, s.timeIdx = nil, nil
}

// Parked reports whether the segment is parked (unmapped until the next
// Acquire).
func (s *Segment) Parked() bool { return s.parked.Load() }

// unpark maps a parked segment again: its .log read-only at its size, its
// indexes read-only. Caller holds a reference.
func (s *Segment) unpark() error {
	s.fileMu.Lock()
	if !s.parked.Load() {
		s.fileMu.Unlock()
		return nil
	}
	err := s.mapParked()
	if err == nil {
		s.parked.Store(false)
	}
	s.fileMu.Unlock()
	if err != nil {
		return err
	}
	if c := s.cfg.Cache; c != nil {
		c.Add(s)
	}
	return nil
}

// mapParked maps the files of a parked segment. Caller holds fileMu.
func (s *Segment) mapParked() error {
	dir := filepath.Dir(s.logPath)
	size := int(s.size.Load())
	b := []byte{}
	if size > 0 {
		f, err := os.Open(s.logPath)
		if err != nil {
			return wrapStorage(&Error{Path: s.logPath, Op: "map parked segment", Offset: -1, Err: err})
		}
		m, err := mmap.MapRegion(f, size, mmap.RDONLY, 0, 0)
		f.Close()
		if err != nil {
			return wrapStorage(&Error{Path: s.logPath, Op: "map parked segment", Offset: -1, Err: err})
		}
		s.maps = []mmap.MMap{m}
		b = m
	}
	off, err := index.OpenOffsetIndex(filepath.Join(dir, FileName(s.baseOffset, IndexSuffix)), s.baseOffset, 0, false)
	if err == nil {
		var ti *index.TimeIndex
		if ti, err = index.OpenTimeIndex(filepath.Join(dir, FileName(s.baseOffset, TimeIndexSuffix)), s.baseOffset, 0, false); err == nil {
			s.offIdx, s.timeIdx = off, ti
			s.data.Store(&b)
			return nil
		}
		off.Close()
	}
	for _, m := range s.maps {
		m.Unmap()
	}
	s.maps = nil
	return wrapStorage(&Error{Path: s.logPath, Op: "map parked segment", Offset: -1, Err: err})
}

// Flushed tells a sealed segment that the caller has made its file durable
// by other means (syncfs of the whole file system): like a Sync, it closes
// the .log's file descriptor, and the segment may then be parked. It does
// nothing to an active segment.
func (s *Segment) Flushed() {
	if s.sealedForSync.Load() {
		s.synced.Store(s.size.Load())
		s.releaseFile()
	}
}
