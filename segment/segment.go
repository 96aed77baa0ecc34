package segment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/edsrzf/mmap-go"

	"github.com/tributary-io/tributary/index"
)

const (
	// LogSuffix, IndexSuffix and TimeIndexSuffix name a segment's three files.
	LogSuffix       = ".log"
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"

	// fileNameDigits is the zero-padded width of the base offset in file names,
	// wide enough for any int64 offset, so that names sort like offsets.
	fileNameDigits = 20

	// DefaultIndexIntervalBytes is Kafka's index.interval.bytes: one sparse
	// index entry per this many bytes of batches.
	DefaultIndexIntervalBytes = 4096

	// DefaultInitialMapBytes is the address space first reserved for an active
	// segment's mapping; it doubles as the segment grows.
	DefaultInitialMapBytes = 64 << 20

	// MaxSegmentBytes bounds a segment so that file positions fit the offset
	// index's uint32 positions with room for one maximal batch after the roll
	// check (Kafka bounds segment.bytes by int32 for the same reason).
	MaxSegmentBytes = 1<<31 - 1
)

var (
	// ErrDiskFull is returned (wrapped) when the file system has no room for
	// an append or for the index entries it adds.
	ErrDiskFull = errors.New("segment: no space left on device")
	// ErrFileLimit is returned (wrapped) when a segment file cannot be
	// opened because the process or the system has no file descriptor left
	// (EMFILE, ENFILE).
	ErrFileLimit = errors.New("segment: too many open files")
	// ErrMapLimit is returned (wrapped) when a segment file cannot be mapped
	// because the process has no memory mapping left (vm.max_map_count) or
	// no address space (ENOMEM from mmap).
	ErrMapLimit = errors.New("segment: cannot map file")
	// ErrClosed is returned by operations on a closed segment.
	ErrClosed = errors.New("segment: closed")
	// ErrReadOnly is returned by Append on a sealed segment.
	ErrReadOnly = errors.New("segment: sealed, read-only")
	// ErrOffsetOverflow is returned when an append would put a relative offset
	// or file position beyond uint32; the log rolls before this happens.
	ErrOffsetOverflow = errors.New("segment: relative offset or position overflows uint32")
)

// Error is a segment failure with the file and operation where it happened.
type Error struct {
	Path   string
	Op     string
	Offset int64 // offset involved, or -1
	Err    error
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("segment: %s %s at offset %d: %v", e.Op, e.Path, e.Offset, e.Err)
	}
	return fmt.Sprintf("segment: %s %s: %v", e.Op, e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// File is the part of *os.File a segment writes through. Tests wrap the real
// file to inject short writes, ENOSPC and fsync failures.
type File interface {
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
}

// Config holds the settings a segment needs; package log fills it from the
// topic's Kafka configs.
type Config struct {
	// IndexIntervalBytes is index.interval.bytes.
	IndexIntervalBytes int
	// MaxIndexBytes is segment.index.bytes: the maximum size of each of
	// the active segment's index files.
	MaxIndexBytes int
	// InitialMapBytes is the address space first reserved for the mapping of
	// an active segment (0 means DefaultInitialMapBytes).
	InitialMapBytes int
	// WrapFile, if set, wraps the .log file for writes (fault injection).
	WrapFile func(path string, f *os.File) File
	// Cache, if set, bounds how many sealed segments stay mapped: a parked
	// segment that Acquire maps again is added to it (see Park).
	Cache *Cache
	// CompactedBefore is the offset below which the log cleaner has
	// rewritten the log: there a batch may start above where the previous
	// one ended (or above the segment's base offset), since the cleaner
	// drops batches left without records. Recover and Load treat any other
	// gap as corruption. 0: nothing was compacted.
	CompactedBefore int64
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.IndexIntervalBytes <= 0 {
		out.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if out.MaxIndexBytes <= 0 {
		out.MaxIndexBytes = index.DefaultMaxIndexBytes
	}
	if out.InitialMapBytes <= 0 {
		out.InitialMapBytes = DefaultInitialMapBytes
	}
	return out
}

// Segment is one .log file and its indexes. See the package comment for the
// concurrency rules.
type Segment struct {
	baseOffset int64
	cfg        Config
	logPath    string

	// fileMu guards file and wf once the segment is sealed: the first Sync
	// that finds the sealed segment's every byte flushed closes the
	// descriptor (a mapping does not need it), so that sealed segments hold
	// none. Writes of the active segment use them without the lock (its
	// descriptor is never closed while it takes writes).
	fileMu sync.Mutex
	file   *os.File // the .log file, O_RDWR; nil once released
	wf     File     // writes go here (file itself unless wrapped); nil once released
	// sealedForSync is set by Seal: the descriptor may go at the next Sync.
	sealedForSync atomic.Bool
	// sealWrote is set by a Seal that changed an index file (a closing
	// time index entry, a trim): only a Sync after it makes that durable,
	// even when every byte of the .log was flushed before.
	sealWrote atomic.Bool
	// dev and ino name the .log's inode, found at open: a descriptor
	// opened again by path (ReleaseIdle, then a write or a Sync) must be
	// on the same file.
	dev, ino uint64
	// synced is the size the last Sync (or Flushed) made durable; a
	// segment whose descriptor is released with more than this still has
	// bytes for a Sync to flush by path.
	synced atomic.Int64
	// parked: unmapped by Park (maps, data and both indexes nil) until the
	// next Acquire maps it again. Changed under fileMu.
	parked atomic.Bool
	// used is set by Acquire, cleared by the Cache's clock hand.
	used atomic.Bool
	// inCache: the segment is in its Cache's ring. Guarded by Cache.mu.
	inCache bool

	offIdx  *index.OffsetIndex
	timeIdx *index.TimeIndex

	// data is the current mapping, published atomically when it grows. Readers
	// load it after acquiring a reference and use data[:size].
	data atomic.Pointer[[]byte]
	// maps holds every mapping made, unmapped when the last reference goes.
	// Written only by the writer; read only in free.
	maps []mmap.MMap

	// size is the published length of the file: every byte below it is a
	// whole, valid batch whose index entries are in place.
	size atomic.Int64
	// nextOffset is one past the last offset in the segment, published with size.
	nextOffset atomic.Int64
	// maxTimestamp is the largest MaxTimestamp of the segment's batches (-1 if
	// none), published with size; offsetOfMaxTimestamp goes with it.
	maxTimestamp         atomic.Int64
	offsetOfMaxTimestamp atomic.Int64

	// Writer-only state.
	bytesSinceIndexEntry int
	indexMissing         bool // an index file was absent at Open: Load refuses, Recover rebuilds
	sealed               bool
	sticky               atomic.Pointer[error] // poison after a failed rollback; read by Sync, which runs beside the writer

	refs   atomic.Int64
	closed atomic.Bool
}

// FileName returns the name of a segment file: base offset zero-padded to 20
// digits plus suffix.
func FileName(baseOffset int64, suffix string) string {
	s := strconv.FormatInt(baseOffset, 10)
	if len(s) < fileNameDigits {
		s = strings.Repeat("0", fileNameDigits-len(s)) + s
	}
	return s + suffix
}

// ParseFileName reports the base offset and suffix of a segment file name.
func ParseFileName(name string) (baseOffset int64, suffix string, ok bool) {
	dot := strings.IndexByte(name, '.')
	if dot != fileNameDigits {
		return 0, "", false
	}
	suffix = name[dot:]
	switch suffix {
	case LogSuffix, IndexSuffix, TimeIndexSuffix:
	default:
		return 0, "", false
	}
	off, err := strconv.ParseInt(name[:dot], 10, 64)
	if err != nil || off < 0 {
		return 0, "", false
	}
	return off, suffix, true
}

// RemoveFiles unlinks the segment files at baseOffset in dir (.log and both
// indexes); files already gone are not an error.
func RemoveFiles(dir string, baseOffset int64, suffixes ...string) error {
	if len(suffixes) == 0 {
		suffixes = []string{LogSuffix, IndexSuffix, TimeIndexSuffix}
	}
	var errs []error
	for _, suf := range suffixes {
		p := filepath.Join(dir, FileName(baseOffset, suf))
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, &Error{Path: p, Op: "remove", Offset: -1, Err: err})
		}
	}
	return errors.Join(errs...)
}

// Create makes a new, empty, writable segment at baseOffset in dir. A stale
// empty .log at that offset (a crash between creating a segment and writing
// its first batch) is reused; a non-empty one is an error.
func Create(dir string, baseOffset int64, cfg Config) (*Segment, error) {
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, wrapStorage(&Error{Path: logPath, Op: "create", Offset: -1, Err: err})
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: logPath, Op: "stat", Offset: -1, Err: err}
	}
	if fi.Size() != 0 {
		f.Close()
		return nil, &Error{Path: logPath, Op: "create", Offset: -1, Err: fmt.Errorf("segment file exists with %d bytes", fi.Size())}
	}
	// Index files of a previous life of this offset are stale: remove them.
	if err := RemoveFiles(dir, baseOffset, IndexSuffix, TimeIndexSuffix); err != nil {
		f.Close()
		return nil, err
	}
	s, err := open(dir, baseOffset, cfg, f, fi, true)
	if err != nil {
		// Leave no empty segment behind: a later roll may put the log end
		// past this offset, and a stray file here would then overlap it.
		RemoveFiles(dir, baseOffset)
		return nil, err
	}
	return s, nil
}

// Open opens an existing segment. A writable segment can be appended to (it
// becomes the active segment); a read-only one maps exactly the file's size.
// Open does not scan the file: the caller either Recovers it (after a crash)
// or Loads it (trusting a flushed, cleanly written segment).
func Open(dir string, baseOffset int64, cfg Config, writable bool) (*Segment, error) {
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix))
	f, err := os.OpenFile(logPath, os.O_RDWR, 0)
	if err != nil {
		return nil, wrapStorage(&Error{Path: logPath, Op: "open", Offset: -1, Err: err})
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: logPath, Op: "stat", Offset: -1, Err: err}
	}
	if fi.Size() > math.MaxUint32 {
		f.Close()
		return nil, &Error{Path: logPath, Op: "open", Offset: -1, Err: fmt.Errorf("file of %d bytes is larger than any segment", fi.Size())}
	}
	missing := false
	for _, suf := range []string{IndexSuffix, TimeIndexSuffix} {
		if _, err := os.Stat(filepath.Join(dir, FileName(baseOffset, suf))); errors.Is(err, os.ErrNotExist) {
			missing = true
		}
	}
	s, err := open(dir, baseOffset, cfg, f, fi, writable)
	if err != nil {
		return nil, err
	}
	s.indexMissing = missing && fi.Size() > 0
	if !writable {
		// Opened read-only for a log that trusts it as flushed: nothing to
		// fsync, so the mapping alone keeps the file.
		s.sealedForSync.Store(true)
		s.synced.Store(fi.Size())
		s.releaseFile()
	}
	return s, nil
}

func open(dir string, baseOffset int64, cfg Config, f *os.File, fi os.FileInfo, writable bool) (*Segment, error) {
	cfg = cfg.withDefaults()
	logPath := f.Name()
	fileSize := fi.Size()
	s := &Segment{baseOffset: baseOffset, cfg: cfg, logPath: logPath, file: f, wf: f, sealed: !writable}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
	}
	if cfg.WrapFile != nil {
		s.wf = cfg.WrapFile(logPath, f)
	}
	s.refs.Store(1)
	s.maxTimestamp.Store(-1)
	s.offsetOfMaxTimestamp.Store(-1)
	s.nextOffset.Store(baseOffset)
	s.size.Store(fileSize)

	mapLen := int(fileSize)
	if writable {
		mapLen = max(cfg.InitialMapBytes, int(fileSize)*2)
	}
	if err := s.mapAtLeast(mapLen); err != nil {
		s.closeFiles()
		return nil, wrapStorage(err)
	}
	var err error
	s.offIdx, err = index.OpenOffsetIndex(filepath.Join(dir, FileName(baseOffset, IndexSuffix)), baseOffset, cfg.MaxIndexBytes, writable)
	if err != nil {
		s.closeFiles()
		return nil, wrapStorage(&Error{Path: logPath, Op: "open offset index", Offset: -1, Err: err})
	}
	s.timeIdx, err = index.OpenTimeIndex(filepath.Join(dir, FileName(baseOffset, TimeIndexSuffix)), baseOffset, cfg.MaxIndexBytes, writable)
	if err != nil {
		s.closeFiles()
		return nil, wrapStorage(&Error{Path: logPath, Op: "open time index", Offset: -1, Err: err})
	}
	return s, nil
}

// mapAtLeast makes the published mapping at least n bytes long (rounded up to
// whole pages). Writer only.
func (s *Segment) mapAtLeast(n int) error {
	cur := s.data.Load()
	if cur != nil && len(*cur) >= n {
		return nil
	}
	if cur != nil && n > 0 {
		// Grow geometrically: every mapping made stays until the segment is
		// freed, so growing page by page would pile up thousands of them
		// (and hit vm.max_map_count).
		n = max(n, 2*len(*cur))
	}
	if n == 0 {
		empty := []byte{}
		s.data.Store(&empty)
		return nil
	}
	page := os.Getpagesize()
	n = (n + page - 1) / page * page
	f := s.file
	if f == nil {
		// A sealed segment whose descriptor was released: the mapping
		// needs one only while it is made.
		var err error
		if f, err = os.Open(s.logPath); err != nil {
			return wrapStorage(&Error{Path: s.logPath, Op: "mmap", Offset: -1, Err: err})
		}
		defer f.Close()
	}
	m, err := mmap.MapRegion(f, n, mmap.RDONLY, 0, 0)
	if err != nil {
		return wrapStorage(&Error{Path: s.logPath, Op: "mmap", Offset: -1, Err: err})
	}
	s.maps = append(s.maps, m)
	b := []byte(m)
	s.data.Store(&b)
	return nil
}

// ShrinkMapping replaces a sealed segment's mappings with one of exactly its
// size. An active segment reserves address space for a whole segment
// (segment.bytes + max.message.bytes, 1 GiB by default); a sealed one needs
// only what it holds, and thousands of partitions' sealed segments would
// otherwise exhaust the 47-bit address space. The caller guarantees that
// nobody holds or can take a reference meanwhile (Refs() == 1 under the
// lock that Acquire is called under), since the old mappings are unmapped.
func (s *Segment) ShrinkMapping() error {
	if !s.sealed {
		return &Error{Path: s.logPath, Op: "shrink mapping", Offset: -1, Err: errors.New("segment is active")}
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.parked.Load() || !s.oversized() {
		return nil
	}
	size := int(s.size.Load())
	old := s.maps
	s.maps = nil
	s.data.Store(nil)
	if err := s.mapAtLeast(size); err != nil {
		s.maps = old
		b := []byte(old[len(old)-1])
		s.data.Store(&b)
		return err
	}
	for _, m := range old {
		m.Unmap()
	}
	return nil
}

// Oversized reports whether the segment maps more than its size (rounded
// to pages), or more than once: what ShrinkMapping gives back. Writer only.
func (s *Segment) Oversized() bool {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	return s.oversized()
}

// oversized is Oversized. Caller holds fileMu (or is the active segment's
// writer).
func (s *Segment) oversized() bool {
	page := os.Getpagesize()
	exact := (int(s.size.Load()) + page - 1) / page * page
	cur := s.data.Load()
	return len(s.maps) > 1 || cur != nil && len(*cur) > exact
}

// BaseOffset is the offset of the segment's first batch.
func (s *Segment) BaseOffset() int64 { return s.baseOffset }

// Size is the number of published bytes in the .log file.
func (s *Segment) Size() int64 { return s.size.Load() }

// NextOffset is one past the segment's last offset (BaseOffset when empty).
func (s *Segment) NextOffset() int64 { return s.nextOffset.Load() }

// MaxTimestamp is the largest batch MaxTimestamp in the segment, -1 if none.
func (s *Segment) MaxTimestamp() int64 { return s.maxTimestamp.Load() }

// Path is the .log file's path.
func (s *Segment) Path() string { return s.logPath }

// Sealed reports whether the segment no longer takes appends.
func (s *Segment) Sealed() bool { return s.sealed }

// IndexFull reports whether either index has no room for another entry; the
// log rolls before appending to such a segment.
func (s *Segment) IndexFull() bool { return s.offIdx.IsFull() || s.timeIdx.IsFull() }

// Acquire takes a reference for a reader. It fails once the segment has
// been closed or deleted and its last reference released, or when a parked
// segment cannot be mapped again (AcquireErr says why).
func (s *Segment) Acquire() bool { return s.AcquireErr() == nil }

// AcquireErr is Acquire reporting why it failed: ErrClosed, or the error
// that mapping a parked segment again met (ErrFileLimit, ErrMapLimit, ...).
func (s *Segment) AcquireErr() error {
	for {
		r := s.refs.Load()
		if r < parkingRefs/2 {
			// Park is unmapping it: wait for it, then map it again.
			s.fileMu.Lock()
			//lint:ignore SA2001 the empty section waits for Park, which holds fileMu while it unmaps
			s.fileMu.Unlock()
			continue
		}
		if r <= 0 {
			return &Error{Path: s.logPath, Op: "acquire", Offset: -1, Err: ErrClosed}
		}
		if s.refs.CompareAndSwap(r, r+1) {
			break
		}
	}
	if !s.used.Load() {
		s.used.Store(true) // no store (and no cache-line bouncing) when set
	}
	if s.parked.Load() {
		if err := s.unpark(); err != nil {
			s.Release()
			return err
		}
	}
	return nil
}

// Release drops a reference taken by Acquire (or the owner's, via Close).
func (s *Segment) Release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

// Refs returns the number of references held (the owner's included).
func (s *Segment) Refs() int64 { return s.refs.Load() }

// Close drops the owner's reference. The files stay on disk. Views taken by
// readers stay valid until they Release.
func (s *Segment) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.Release()
	return nil
}

// Delete unlinks the segment's files and drops the owner's reference. Readers
// holding views keep valid bytes until they Release.
func (s *Segment) Delete() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	err := RemoveFiles(filepath.Dir(s.logPath), s.baseOffset)
	s.Release()
	return err
}

func (s *Segment) closeFiles() {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.offIdx != nil {
		s.offIdx.Close()
	}
	if s.timeIdx != nil {
		s.timeIdx.Close()
	}
	for _, m := range s.maps {
		m.Unmap()
	}
	s.maps = nil
	if s.file != nil {
		s.file.Close()
		s.file, s.wf = nil, nil
	}
}

// releaseFile closes the .log's descriptor of a sealed segment. Caller
// holds no lock.
func (s *Segment) releaseFile() {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.file != nil {
		s.file.Close()
		s.file, s.wf = nil, nil
	}
}

// wrapStorage makes errors caused by a full disk (ENOSPC, EDQUOT, or the
// index's ErrDiskFull) match ErrDiskFull, and those caused by running out of
// file descriptors (EMFILE, ENFILE) or memory mappings (ENOMEM) match
// ErrFileLimit or ErrMapLimit.
func wrapStorage(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, index.ErrDiskFull):
		return &storageError{err, ErrDiskFull}
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, index.ErrFileLimit):
		return &storageError{err, ErrFileLimit}
	case errors.Is(err, syscall.ENOMEM) || errors.Is(err, index.ErrMapLimit):
		return &storageError{err, ErrMapLimit}
	}
	return err
}

// storageError is err, also matching the sentinel kind.
type storageError struct{ err, kind error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() []error {
	return []error{e.err, e.kind}
}
