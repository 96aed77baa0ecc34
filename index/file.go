package index

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

const (
	// OffsetEntrySize is the size of one offset index entry: relative offset
	// uint32 + file position uint32.
	OffsetEntrySize = 8

	// TimeEntrySize is the size of one time index entry: timestamp int64 +
	// relative offset uint32.
	TimeEntrySize = 12

	// DefaultMaxIndexBytes is the default preallocated size of a writable
	// index, Kafka's segment.index.bytes default (10 MiB).
	DefaultMaxIndexBytes = 10 << 20

	// FormatVersion is the version of both index file formats, recorded in
	// the partition's recovery checkpoint (the files themselves carry no
	// header). A reader of version N rebuilds indexes of any other version.
	FormatVersion = 1
)

const (
	// filePerm is the permission of newly created index files.
	filePerm = 0o644

	// zeroChunkSize is the size of the zero buffer written when the file
	// system does not support fallocate, and of each warm-up write ahead of
	// the appender (see warm).
	zeroChunkSize = 64 << 10
)

// zeroChunk is written with pwrite ahead of the appender; never modified.
var zeroChunk = make([]byte, zeroChunkSize)

// fallocate allocates real blocks for [off, off+length) of fd, extending the
// file. A variable so that tests can simulate a file system without it.
var fallocate = platformFallocate

// pageSize is the granularity of msync's start address.
var pageSize = os.Getpagesize()

// file is the plumbing shared by both index kinds: the open file, its
// mapping, and the published entry count.
type file struct {
	path       string
	baseOffset int64
	entrySize  int

	// f is the index file, opened read-write for a writable index (and so
	// still after Trim), read-only otherwise.
	f *os.File

	// mm maps the file from offset 0. It is set by open, never remapped,
	// and unmapped only by close. Its length may exceed the file's size
	// after Trim; nothing at or past entries*entrySize is ever accessed.
	mm mmap.MMap

	// capacity is the number of entries mm can hold. Set by open.
	capacity int

	// entries is the published entry count: every entry below it is fully
	// written. Stored by the writer only, after writing the entry bytes;
	// loaded once per read operation by readers.
	entries atomic.Int64

	// appendable is true until Trim or Close for a writable index, false
	// for a read-only one.
	appendable atomic.Bool

	// syncMu serializes Sync with itself and guards synced.
	syncMu sync.Mutex
	// synced is the number of bytes at the start of mm known to be
	// flushed; Sync msyncs from the page containing it. Lowered by
	// truncation, since dropped slots are rewritten by later appends.
	synced int

	// warmed is how many bytes at the start of the file have been written
	// with pwrite (entries of an earlier life, or zeros written by warm).
	// Writer only.
	warmed int
}

func (x *file) err(op string, err error) error {
	return &Error{Path: x.path, Op: op, Err: err}
}

// open opens or creates the index file at path and maps it; see the package
// comment for how writable and read-only indexes differ.
func (x *file) open(path string, baseOffset int64, entrySize, maxBytes int, writable bool) error {
	x.path, x.baseOffset, x.entrySize = path, baseOffset, entrySize
	if writable {
		return x.openWritable(maxBytes)
	}
	return x.openReadOnly()
}

// openSized opens the index file with flag and returns it with its size.
func (x *file) openSized(flag int) (*os.File, int64, error) {
	f, err := os.OpenFile(x.path, flag, filePerm)
	if err != nil {
		return nil, 0, x.err("open", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, x.err("open", err)
	}
	return f, fi.Size(), nil
}

func (x *file) openReadOnly() error {
	f, size, err := x.openSized(os.O_RDONLY)
	if err != nil {
		return err
	}
	if size > 0 {
		mm, err := mmap.MapRegion(f, int(size), mmap.RDONLY, 0, 0)
		if err != nil {
			f.Close()
			return x.err("mmap", err)
		}
		x.mm = mm
	}
	x.f = f
	x.capacity = int(size) / x.entrySize
	x.entries.Store(int64(x.capacity))
	return nil
}

func (x *file) openWritable(maxBytes int) error {
	_, statErr := os.Stat(x.path)
	existed := !errors.Is(statErr, os.ErrNotExist)
	f, existing, err := x.openSized(os.O_RDWR | os.O_CREATE)
	if err != nil {
		return err
	}
	// Keep every entry already in the file even if maxBytes has shrunk
	// since it was written; such an index is simply full.
	capacity := max(maxBytes, 0) / x.entrySize
	capacity = max(capacity, int(existing)/x.entrySize)
	if capacity == 0 {
		f.Close()
		return x.err("open", fmt.Errorf("maxBytes %d is smaller than one %d-byte entry", maxBytes, x.entrySize))
	}
	size := int64(capacity * x.entrySize)
	if err := preallocate(f, existing, size); err != nil {
		// Leave the file as it was found: no partial preallocation.
		if existing < size {
			_ = f.Truncate(existing)
		}
		if !existed || !errors.Is(err, ErrDiskFull) {
			f.Close()
			if !existed {
				os.Remove(x.path)
			}
			return x.err("preallocate", err)
		}
		// Reopening an index trimmed by a clean close on a disk that has
		// filled up since: it cannot grow back, so it opens at the size it
		// has, full (its blocks all exist: no store can hit a hole). The
		// segment then takes no index entries and rolls before its next
		// append; refusing the open instead would keep the whole log, and
		// every record in it, offline until space is freed.
		capacity = int(existing) / x.entrySize
		size = int64(capacity * x.entrySize)
	}
	var mm mmap.MMap
	if size > 0 {
		if mm, err = mmap.MapRegion(f, int(size), mmap.RDWR, 0, 0); err != nil {
			f.Close()
			return x.err("mmap", err)
		}
	}
	x.f, x.mm, x.capacity = f, mm, capacity
	x.entries.Store(existing / int64(x.entrySize))
	x.warmed = int(existing) // never zero what an earlier life wrote
	x.appendable.Store(true)
	return nil
}

// preallocate makes the file size bytes long with real blocks behind all of
// them, so that stores through a shared mapping can never hit a hole.
func preallocate(f *os.File, existing, size int64) error {
	err := fallocate(int(f.Fd()), 0, size)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("%w: fallocate %d bytes: %w", ErrDiskFull, size, err)
	case !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, errors.ErrUnsupported):
		return fmt.Errorf("fallocate %d bytes: %w", size, err)
	}
	// No fallocate here: writing zeros allocates the blocks just as well.
	// Bytes below existing hold entries and are left alone.
	zeros := make([]byte, zeroChunkSize)
	for off := existing; off < size; {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return fmt.Errorf("%w: writing zeros at %d: %w", ErrDiskFull, off, err)
			}
			return fmt.Errorf("writing zeros at %d: %w", off, err)
		}
		off += n
	}
	return nil
}

// n returns the published entry count.
func (x *file) n() int { return int(x.entries.Load()) }

// used returns the published entries' bytes. Readers call it once per
// operation and index only into the returned slice.
func (x *file) used() []byte {
	return x.mm[:x.n()*x.entrySize]
}

// slot returns the bytes of the next free entry. Writer only.
func (x *file) slot(n int) []byte {
	off := n * x.entrySize
	if off+x.entrySize > x.warmed {
		x.warm(off + x.entrySize)
	}
	return x.mm[off : off+x.entrySize]
}

// warm writes zeros with pwrite over the next zeroChunkSize bytes past what
// was written so far, ahead of the appender. On ext4 the first store into a
// page of fallocated (unwritten) blocks through a shared mapping converts
// the extent synchronously in the page fault: about 3 ms per page measured
// here, a stall for the producer whose append adds the entry. A page that
// pwrite has already put in the page cache faults in microseconds, and the
// 64 KiB write costs about 10 us per 8,192 offset entries. A failed write
// only loses the speed-up: the blocks are allocated either way.
func (x *file) warm(end int) {
	from := x.warmed
	to := min(max(end, from+zeroChunkSize), len(x.mm))
	if to <= from {
		return
	}
	if _, err := x.f.WriteAt(zeroChunk[:to-from], int64(from)); err != nil {
		x.warmed = len(x.mm) // do not retry on every append
		return
	}
	x.warmed = to
}

// publish makes entries below n visible to readers. Writer only.
func (x *file) publish(n int) { x.entries.Store(int64(n)) }

// truncate lowers the entry count to n. Writer only.
func (x *file) truncate(n int) {
	if n >= x.n() {
		return
	}
	x.publish(n)
	x.syncMu.Lock()
	x.synced = min(x.synced, n*x.entrySize)
	x.syncMu.Unlock()
}

// checkAppend reports why nothing can be appended, if so. Writer only.
func (x *file) checkAppend(op string) error {
	if !x.appendable.Load() {
		if x.f == nil {
			return x.err(op, ErrClosed)
		}
		return x.err(op, ErrReadOnly)
	}
	return nil
}

// trim shrinks the file to the entries in use and stops appends. Writer only.
func (x *file) trim() error {
	if x.f == nil {
		return x.err("trim", ErrClosed)
	}
	if !x.appendable.Load() {
		return nil // read-only or already trimmed
	}
	if err := x.f.Truncate(int64(x.n() * x.entrySize)); err != nil {
		return x.err("trim", err)
	}
	x.appendable.Store(false)
	return nil
}

// sync flushes the entries written since the last sync, then the file.
func (x *file) sync() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	if x.f == nil {
		return x.err("sync", ErrClosed)
	}
	b := x.used()
	if x.synced < len(b) {
		start := x.synced / pageSize * pageSize
		if err := unix.Msync(b[start:], unix.MS_SYNC); err != nil {
			return x.err("sync", fmt.Errorf("msync: %w", err))
		}
	}
	if err := x.f.Sync(); err != nil {
		return x.err("sync", err)
	}
	x.synced = len(b)
	return nil
}

// close trims a writable index, then unmaps and closes the file.
func (x *file) close() error {
	if x.f == nil {
		return nil
	}
	err := x.trim()
	x.appendable.Store(false)
	x.entries.Store(0)
	if x.mm != nil {
		if uerr := x.mm.Unmap(); uerr != nil && err == nil {
			err = x.err("close", fmt.Errorf("munmap: %w", uerr))
		}
	}
	if cerr := x.f.Close(); cerr != nil && err == nil {
		err = x.err("close", cerr)
	}
	x.f, x.mm = nil, nil
	return err
}

// sizeOnDisk returns the current size of the file.
func (x *file) sizeOnDisk() (int64, error) {
	if x.f == nil {
		return 0, ErrClosed
	}
	fi, err := x.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// checkFileSize reports a file whose size is not a whole number of entries.
// A writable index always has its preallocated, whole-entry size, so this
// only finds anything for read-only or trimmed indexes.
func (x *file) checkFileSize() error {
	size, err := x.sizeOnDisk()
	if err != nil {
		return x.err("sanity check", err)
	}
	if size%int64(x.entrySize) != 0 {
		return x.err("sanity check", fmt.Errorf("%w: file size %d is not a multiple of the %d-byte entry size",
			ErrCorrupt, size, x.entrySize))
	}
	return nil
}
