package index

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

const (
	// OffsetEntrySize is the size of one offset index entry: relative offset
	// uint32 + file position uint32.
	OffsetEntrySize = 8

	// TimeEntrySize is the size of one time index entry: timestamp int64 +
	// relative offset uint32.
	TimeEntrySize = 12

	// DefaultMaxIndexBytes is the default maximum size of a writable index,
	// Kafka's segment.index.bytes default (10 MiB): the address space its
	// mapping reserves, not what it allocates on disk (see the package
	// comment).
	DefaultMaxIndexBytes = 10 << 20

	// FormatVersion is the version of both index file formats, recorded in
	// the partition's recovery checkpoint (the files themselves carry no
	// header). A reader of version N rebuilds indexes of any other version.
	FormatVersion = 1
)

const (
	// filePerm is the permission of newly created index files.
	filePerm = 0o644

	// maxGrowBytes bounds one growth step. The file first grows to what is
	// needed, then doubles (an index grows about 30 times up to the 10 MiB
	// default; a small segment's file stays at its entries, so closing it
	// needs no trim), and each new block is also written with zeros (see
	// allocate), which costs about 10 us per 64 KiB under the segment's
	// writer lock.
	maxGrowBytes = 256 << 10
)

// zeroChunk is written with pwrite over each newly allocated block; never
// modified.
var zeroChunk = make([]byte, maxGrowBytes)

// fallocate allocates real blocks for [off, off+length) of fd, extending the
// file. A variable so that tests can simulate a file system without it, or
// a full one.
var fallocate = platformFallocate

// pageSize is the granularity of msync's start address.
var pageSize = os.Getpagesize()

// file is the plumbing shared by both index kinds: the file's identity, its
// mapping, and the published entry count. It holds no file descriptor: a
// mapping does not need one, and the rare operations that change the file
// (grow, trim, fsync of its size) open it by path for the moment they run,
// after checking that the path still names the same inode (see withFile).
type file struct {
	path       string
	baseOffset int64
	entrySize  int

	// dev and ino identify the file opened by open: an operation by path
	// on another inode (the file was deleted, or replaced by a new segment
	// at the same base offset) does nothing.
	dev, ino uint64
	// cpath is path NUL-terminated, so that reopening the file (grow, on
	// the append path) allocates nothing.
	cpath *byte

	// mm maps the file from offset 0, capacity*entrySize bytes for a
	// writable index, the file's size for a read-only one. A writable index
	// whose file was empty at open maps it at its first grow. It is never
	// remapped and unmapped only by close. Its length may exceed the file's
	// size; nothing at or past allocated is ever accessed, nor anything at
	// or past entries*entrySize by readers. Written by the writer before
	// the first entry is published; readers touch it only once they have
	// loaded a non-zero entry count.
	mm []byte

	// capacity is the number of entries mm can hold. Set by open.
	capacity int

	// allocated is the size of the file, every byte of which has real
	// blocks behind it (fallocated and written over with zeros, or entries
	// of an earlier life). Writer only.
	allocated int

	// entries is the published entry count: every entry below it is fully
	// written. Stored by the writer only, after writing the entry bytes;
	// loaded once per read operation by readers.
	entries atomic.Int64

	// appendable is true until Trim or Close for a writable index, false
	// for a read-only one.
	appendable atomic.Bool

	// closed is set by close.
	closed atomic.Bool

	// sizeDirty: the file's size changed (grow, trim) since the last Sync,
	// which must then fsync the file itself, not only msync its entries.
	sizeDirty atomic.Bool

	// syncMu serializes Sync with itself and guards synced.
	syncMu sync.Mutex
	// synced is the number of bytes at the start of mm known to be
	// flushed; Sync msyncs from the page containing it. Lowered by
	// truncation, since dropped slots are rewritten by later appends.
	synced int
}

func (x *file) err(op string, err error) error {
	return &Error{Path: x.path, Op: op, Err: err}
}

// open opens or, if writable, creates the index file at path and maps it;
// see the package comment for how writable and read-only indexes differ.
func (x *file) open(path string, baseOffset int64, entrySize, maxBytes int, writable bool) error {
	x.path, x.baseOffset, x.entrySize = path, baseOffset, entrySize
	cpath, err := unix.BytePtrFromString(path)
	if err != nil {
		return x.err("open", err)
	}
	x.cpath = cpath
	flag := unix.O_RDONLY
	if writable {
		flag = unix.O_RDWR | unix.O_CREAT
	}
	fd, err := openFD(x.path, x.cpath, flag, filePerm)
	if err != nil {
		return x.err("open", wrapLimit(&os.PathError{Op: "open", Path: path, Err: err}))
	}
	defer unix.Close(fd) // the mapping keeps the file; no descriptor is held
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return x.err("open", err)
	}
	x.dev, x.ino = uint64(st.Dev), uint64(st.Ino)
	size := int(st.Size)
	x.allocated = size
	if !writable {
		x.capacity = size / x.entrySize
		if size > 0 {
			if x.mm, err = mapFD(fd, size, unix.PROT_READ); err != nil {
				return x.err("mmap", err)
			}
		}
		x.entries.Store(int64(x.capacity))
		return nil
	}
	// Keep every entry already in the file even if maxBytes has shrunk
	// since it was written; such an index is simply full.
	x.capacity = max(max(maxBytes, 0)/x.entrySize, size/x.entrySize)
	if x.capacity == 0 {
		return x.err("open", fmt.Errorf("maxBytes %d is smaller than one %d-byte entry", maxBytes, x.entrySize))
	}
	if size > 0 {
		if err := x.mapWritable(fd); err != nil {
			return err
		}
	}
	x.entries.Store(int64(size / x.entrySize))
	x.appendable.Store(true)
	return nil
}

// mapWritable maps a writable index's whole capacity (address space only:
// stores stay below allocated).
func (x *file) mapWritable(fd int) error {
	mm, err := mapFD(fd, x.capacity*x.entrySize, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return x.err("mmap", err)
	}
	x.mm = mm
	return nil
}

// mapFD maps length bytes of fd shared, from offset 0.
func mapFD(fd, length, prot int) ([]byte, error) {
	p, err := unix.MmapPtr(fd, 0, nil, uintptr(length), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, wrapLimit(fmt.Errorf("mmap: %w", err))
	}
	return unsafe.Slice((*byte)(p), length), nil
}

// unmap removes a mapping made by mapFD.
func unmap(b []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// errReplaced: the path no longer names the index's file.
var errReplaced = errors.New("file was deleted or replaced")

// withFile opens the index's file by path with flag and runs fn on its
// descriptor, if the path still names the inode open found; otherwise it
// returns an error wrapping errReplaced (or os.ErrNotExist) and runs
// nothing. It allocates nothing when it succeeds.
func (x *file) withFile(flag int, fn func(fd int) error) error {
	fd, err := openFD(x.path, x.cpath, flag, 0)
	if err != nil {
		return wrapLimit(&os.PathError{Op: "open", Path: x.path, Err: err})
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if uint64(st.Dev) != x.dev || uint64(st.Ino) != x.ino {
		return errReplaced
	}
	return fn(fd)
}

// gone reports whether err says the file is no longer at its path, so an
// operation meant for it has nothing to do.
func gone(err error) bool {
	return errors.Is(err, errReplaced) || errors.Is(err, os.ErrNotExist)
}

// reserve makes sure the next n entries have allocated blocks behind them
// (or as many as capacity allows), growing the file if needed. Writer only.
func (x *file) reserve(op string, n int) error {
	need := min(x.n()+n, x.capacity) * x.entrySize
	if need <= x.allocated {
		return nil
	}
	return x.grow(op, need)
}

// grow extends the file to at least need bytes, with real blocks behind
// every new byte, and maps it if it was not yet. It allocates ahead
// (doubling the file, by steps of at most maxGrowBytes) and falls back to
// exactly need when the disk has no room for more. A failure leaves the
// file as it was and wraps ErrDiskFull when the disk is full. Writer only.
func (x *file) grow(op string, need int) error {
	limit := x.capacity * x.entrySize
	ahead := x.allocated + min(x.allocated, maxGrowBytes)
	// Whole entries: a file of a writable index is always a whole number
	// of them, as tools that check it read it (segment.Verify).
	ahead = min(max(ahead/x.entrySize*x.entrySize, need), limit)
	err := x.withFile(unix.O_RDWR, func(fd int) error {
		err := allocate(fd, x.allocated, ahead)
		if errors.Is(err, ErrDiskFull) && ahead > need {
			ahead = need
			err = allocate(fd, x.allocated, ahead)
		}
		if err == nil && x.mm == nil {
			if err = x.mapWritable(fd); err != nil {
				_ = unix.Ftruncate(fd, int64(x.allocated))
			}
		}
		return err
	})
	if err != nil {
		return x.err(op, err)
	}
	x.allocated = ahead
	x.sizeDirty.Store(true)
	return nil
}

// allocate gives the file real blocks for [from, to) and extends it to to.
// The bytes are then written with zeros: on ext4 the first store into a
// page of fallocated (unwritten) blocks through a shared mapping converts
// the extent synchronously in the page fault, about 3 ms per page measured
// here, a stall for the producer whose append adds the entry; a page that
// pwrite has already put in the page cache faults in microseconds. Where
// the file system has no fallocate, the zeros alone allocate the blocks.
// On failure the file is cut back to from.
func allocate(fd, from, to int) error {
	err := fallocate(fd, int64(from), int64(to-from))
	fellBack := errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, errors.ErrUnsupported)
	if err != nil && !fellBack {
		_ = unix.Ftruncate(fd, int64(from))
		if isNoSpace(err) {
			return fmt.Errorf("%w: fallocate %d bytes at %d: %w", ErrDiskFull, to-from, from, err)
		}
		return fmt.Errorf("fallocate %d bytes at %d: %w", to-from, from, err)
	}
	for off := from; off < to; {
		n := min(len(zeroChunk), to-off)
		if _, err := unix.Pwrite(fd, zeroChunk[:n], int64(off)); err != nil {
			if !fellBack {
				return nil // only the speed-up is lost: the blocks exist
			}
			_ = unix.Ftruncate(fd, int64(from))
			if isNoSpace(err) {
				return fmt.Errorf("%w: writing zeros at %d: %w", ErrDiskFull, off, err)
			}
			return fmt.Errorf("writing zeros at %d: %w", off, err)
		}
		off += n
	}
	return nil
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// wrapLimit makes an error from hitting a process or system limit match
// ErrFileLimit (EMFILE, ENFILE) or ErrMapLimit (ENOMEM, from mmap).
func wrapLimit(err error) error {
	switch {
	case errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("%w: %w", ErrFileLimit, err)
	case errors.Is(err, syscall.ENOMEM):
		return fmt.Errorf("%w: %w", ErrMapLimit, err)
	}
	return err
}

// n returns the published entry count.
func (x *file) n() int { return int(x.entries.Load()) }

// used returns the published entries' bytes. Readers call it once per
// operation and index only into the returned slice.
func (x *file) used() []byte {
	n := x.n()
	if n == 0 {
		return nil // mm may not be mapped yet
	}
	return x.mm[:n*x.entrySize]
}

// slot returns the bytes of entry n, growing the file first if they are not
// allocated yet. Writer only.
func (x *file) slot(op string, n int) ([]byte, error) {
	off := n * x.entrySize
	if off+x.entrySize > x.allocated {
		if err := x.grow(op, off+x.entrySize); err != nil {
			return nil, err
		}
	}
	return x.mm[off : off+x.entrySize], nil
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
		if x.closed.Load() {
			return x.err(op, ErrClosed)
		}
		return x.err(op, ErrReadOnly)
	}
	return nil
}

// trim shrinks the file to the entries in use and stops appends. A file no
// longer at its path (deleted, or replaced by a new segment's) is left
// alone. Writer only.
func (x *file) trim() error {
	if x.closed.Load() {
		return x.err("trim", ErrClosed)
	}
	if !x.appendable.Load() {
		return nil // read-only or already trimmed
	}
	if size := x.n() * x.entrySize; size != x.allocated {
		err := x.withFile(unix.O_RDWR, func(fd int) error { return unix.Ftruncate(fd, int64(size)) })
		if err != nil && !gone(err) {
			return x.err("trim", err)
		}
		x.allocated = size
		x.sizeDirty.Store(true)
	}
	x.appendable.Store(false)
	return nil
}

// sync flushes the entries written since the last sync, then the file's
// size if it changed.
func (x *file) sync() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	if x.closed.Load() {
		return x.err("sync", ErrClosed)
	}
	b := x.used()
	if x.synced < len(b) {
		start := x.synced / pageSize * pageSize
		if err := unix.Msync(b[start:], unix.MS_SYNC); err != nil {
			return x.err("sync", fmt.Errorf("msync: %w", err))
		}
	}
	x.synced = len(b)
	if x.sizeDirty.Swap(false) {
		err := x.withFile(unix.O_RDONLY, func(fd int) error { return syncjournal.Fsync(fd, x.path) })
		if err != nil && !gone(err) {
			x.sizeDirty.Store(true)
			return x.err("sync", err)
		}
	}
	// The entries are durable, and past them the file's zeros (see
	// allocate): what a power-loss test keeps of the file.
	syncjournal.Msynced(x.path, x.ino, len(b))
	return nil
}

// close trims a writable index, then unmaps it.
func (x *file) close() error {
	if x.closed.Load() {
		return nil
	}
	err := x.trim()
	x.closed.Store(true)
	x.appendable.Store(false)
	x.entries.Store(0)
	if x.mm != nil {
		if uerr := unmap(x.mm); uerr != nil && err == nil {
			err = x.err("close", fmt.Errorf("munmap: %w", uerr))
		}
	}
	x.mm = nil
	return err
}

// checkFileSize reports a file whose size is not a whole number of entries.
// Only read-only and trimmed indexes are checked: a writable one grows in
// whole entries, but a crash may leave it at any size.
func (x *file) checkFileSize() error {
	if x.closed.Load() {
		return x.err("sanity check", ErrClosed)
	}
	if x.allocated%x.entrySize != 0 {
		return x.err("sanity check", fmt.Errorf("%w: file size %d is not a multiple of the %d-byte entry size",
			ErrCorrupt, x.allocated, x.entrySize))
	}
	return nil
}
