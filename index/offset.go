package index

import (
	"encoding/binary"
	"fmt"
)

// Offsets of the fields inside an offset index entry.
const (
	offsetKeyAt      = 0 // relative offset, uint32
	offsetPositionAt = 4 // file position, uint32
)

// OffsetIndex is a segment's sparse offset index (<base>.index): relative
// offset → position of the record batch in the .log file. See the package
// comment for the layout and the concurrency rules.
type OffsetIndex struct {
	file file
}

// OpenOffsetIndex opens or, if writable, creates the offset index at path for
// the segment whose first offset is baseOffset. A writable index can hold
// maxBytes rounded down to a whole number of entries, and allocates them on
// disk as they are appended; maxBytes is ignored for a read-only one.
func OpenOffsetIndex(path string, baseOffset int64, maxBytes int, writable bool) (*OffsetIndex, error) {
	x := &OffsetIndex{}
	if err := x.file.open(path, baseOffset, OffsetEntrySize, maxBytes, writable); err != nil {
		return nil, err
	}
	return x, nil
}

func offsetEntry(b []byte, i int) (relOffset, position uint32) {
	e := b[i*OffsetEntrySize : i*OffsetEntrySize+OffsetEntrySize]
	return binary.BigEndian.Uint32(e[offsetKeyAt:]), binary.BigEndian.Uint32(e[offsetPositionAt:])
}

// Append adds the entry relOffset → position. Both must be greater than the
// last entry's, or the error wraps ErrCorrupt. It returns an error wrapping
// ErrIndexFull when there is no free slot, ErrDiskFull when the file cannot
// grow to take it (see Reserve) and ErrReadOnly after Trim or for a
// read-only index. Writer only.
func (x *OffsetIndex) Append(relOffset, position uint32) error {
	if err := x.file.checkAppend("append"); err != nil {
		return err
	}
	n := x.file.n()
	if n > 0 {
		lastKey, lastPos := offsetEntry(x.file.mm, n-1)
		if relOffset <= lastKey || position <= lastPos {
			return x.file.err("append", fmt.Errorf("%w: entry %d→%d does not follow last entry %d→%d",
				ErrCorrupt, relOffset, position, lastKey, lastPos))
		}
	}
	if n >= x.file.capacity {
		return x.file.err("append", ErrIndexFull)
	}
	e, err := x.file.slot("append", n)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint32(e[offsetKeyAt:], relOffset)
	binary.BigEndian.PutUint32(e[offsetPositionAt:], position)
	x.file.publish(n + 1)
	return nil
}

// Reserve allocates disk for the next n entries (fewer if the index has
// room for fewer), so that appending them cannot fail for lack of space: a
// writer that must not fail half-way (a segment appending a batch it has
// already written to its log) reserves first. It returns an error wrapping
// ErrDiskFull when the disk has no room. Writer only.
func (x *OffsetIndex) Reserve(n int) error {
	if err := x.file.checkAppend("reserve"); err != nil {
		return err
	}
	return x.file.reserve("reserve", n)
}

// Lookup returns the entry with the largest relative offset <= relOffset,
// which is where a scan of the log for relOffset starts; ok is false when
// every entry is above relOffset (scan from position 0).
func (x *OffsetIndex) Lookup(relOffset uint32) (entryRelOffset, position uint32, ok bool) {
	b := x.file.used()
	i := countOffsetsAtMost(b, relOffset)
	if i == 0 {
		return 0, 0, false
	}
	entryRelOffset, position = offsetEntry(b, i-1)
	return entryRelOffset, position, true
}

// Entries returns the number of entries.
func (x *OffsetIndex) Entries() int { return x.file.n() }

// Entry returns entry i, which must be below Entries().
func (x *OffsetIndex) Entry(i int) (relOffset, position uint32) {
	return offsetEntry(x.file.used(), i)
}

// LastEntry returns the last entry; ok is false when the index is empty.
func (x *OffsetIndex) LastEntry() (relOffset, position uint32, ok bool) {
	b := x.file.used()
	if len(b) == 0 {
		return 0, 0, false
	}
	relOffset, position = offsetEntry(b, len(b)/OffsetEntrySize-1)
	return relOffset, position, true
}

// IsFull reports whether Append would return ErrIndexFull. A read-only index
// is always full.
func (x *OffsetIndex) IsFull() bool {
	return !x.file.appendable.Load() || x.file.n() >= x.file.capacity
}

// TruncateTo drops every entry whose relative offset is >= relOffset. It only
// changes the entry count: the file shrinks at the next Trim. Writer only.
func (x *OffsetIndex) TruncateTo(relOffset uint32) {
	x.file.truncate(searchOffsetKey(x.file.used(), relOffset))
}

// TruncateToPosition drops every entry whose position is >= position, for a
// log truncated to that size. Writer only.
func (x *OffsetIndex) TruncateToPosition(position uint32) {
	x.file.truncate(searchOffsetPosition(x.file.used(), position))
}

// Reset drops every entry, so that the index can be rebuilt from the log with
// Append. Meant for a writable index; on a read-only one it only empties the
// in-memory view. Writer only.
func (x *OffsetIndex) Reset() { x.file.truncate(0) }

// SanityCheck returns an *Error wrapping ErrCorrupt unless the relative
// offsets and positions are strictly increasing, every position is below
// logSize (the size of the segment's .log), and a read-only or trimmed file
// holds a whole number of entries. A crashed writable index fails it because
// of its zero-filled tail.
func (x *OffsetIndex) SanityCheck(logSize int64) error {
	if !x.file.appendable.Load() {
		if err := x.file.checkFileSize(); err != nil {
			return err
		}
	}
	b := x.file.used()
	n := len(b) / OffsetEntrySize
	var lastKey, lastPos uint32
	for i := range n {
		key, pos := offsetEntry(b, i)
		if i > 0 && (key <= lastKey || pos <= lastPos) {
			return x.file.err("sanity check", fmt.Errorf("%w: entry %d (%d→%d) does not follow entry %d (%d→%d)",
				ErrCorrupt, i, key, pos, i-1, lastKey, lastPos))
		}
		if int64(pos) >= logSize {
			return x.file.err("sanity check", fmt.Errorf("%w: entry %d (%d→%d) points past the %d-byte log",
				ErrCorrupt, i, key, pos, logSize))
		}
		lastKey, lastPos = key, pos
	}
	return nil
}

// Trim shrinks the file to the entries in use and makes the index read-only:
// further appends return ErrReadOnly. Trimming a read-only index does
// nothing. Writer only.
func (x *OffsetIndex) Trim() error { return x.file.trim() }

// Sync flushes the entries written since the last Sync to disk, then the file
// itself (its size after a Trim).
func (x *OffsetIndex) Sync() error { return x.file.sync() }

// SizeChanged reports whether the file's size changed (a grow, a trim)
// since the last Sync, which then fsyncs the file itself.
func (x *OffsetIndex) SizeChanged() bool { return x.file.sizeDirty.Load() }

// Close trims a writable index, then unmaps and closes the file. There must be
// no concurrent calls of any kind.
func (x *OffsetIndex) Close() error { return x.file.close() }

// Path returns the file's path.
func (x *OffsetIndex) Path() string { return x.file.path }

// BaseOffset returns the base offset of the segment the index belongs to.
func (x *OffsetIndex) BaseOffset() int64 { return x.file.baseOffset }

// SizeBytes returns the size of the entries in use.
func (x *OffsetIndex) SizeBytes() int64 { return int64(x.file.n()) * OffsetEntrySize }

// MaxEntries returns how many entries the index can hold (Entries() for a
// read-only index).
func (x *OffsetIndex) MaxEntries() int { return x.file.capacity }

// Writable reports whether Append may still succeed (the index was opened
// writable and has not been trimmed or closed).
func (x *OffsetIndex) Writable() bool { return x.file.appendable.Load() }
