package index

import (
	"encoding/binary"
	"fmt"
)

// Offsets of the fields inside a time index entry.
const (
	timeTimestampAt = 0 // timestamp, int64
	timeKeyAt       = 8 // relative offset, uint32
)

// reservedTimeSlots is the number of slots Append leaves free for AppendFinal,
// so that a segment can always record its closing entry when it rolls.
const reservedTimeSlots = 1

// TimeIndex is a segment's sparse time index (<base>.timeindex): timestamp →
// relative offset. See the package comment for the layout and the
// concurrency rules.
type TimeIndex struct {
	file file
}

// OpenTimeIndex opens or, if writable, creates the time index at path for the
// segment whose first offset is baseOffset. A writable index can hold
// maxBytes rounded down to a whole number of entries, and allocates them on
// disk as they are appended; maxBytes is ignored for a read-only one.
func OpenTimeIndex(path string, baseOffset int64, maxBytes int, writable bool) (*TimeIndex, error) {
	x := &TimeIndex{}
	if err := x.file.open(path, baseOffset, TimeEntrySize, maxBytes, writable); err != nil {
		return nil, err
	}
	return x, nil
}

func timeEntry(b []byte, i int) (ts int64, relOffset uint32) {
	e := b[i*TimeEntrySize : i*TimeEntrySize+TimeEntrySize]
	return int64(binary.BigEndian.Uint64(e[timeTimestampAt:])), binary.BigEndian.Uint32(e[timeKeyAt:])
}

// Append adds the entry ts → relOffset if ts is greater than the last entry's
// timestamp, and otherwise does nothing and returns nil. relOffset must not be
// below the last entry's, or the error wraps ErrCorrupt. It returns an error
// wrapping ErrIndexFull when only the slot reserved for AppendFinal is left,
// ErrDiskFull when the file cannot grow to take it (see Reserve), and
// ErrReadOnly after Trim or for a read-only index. Writer only.
func (x *TimeIndex) Append(ts int64, relOffset uint32) error {
	return x.append("append", ts, relOffset, reservedTimeSlots)
}

// AppendFinal is Append allowed to use the reserved last slot: the segment
// calls it once, when it rolls, to record its largest timestamp.
func (x *TimeIndex) AppendFinal(ts int64, relOffset uint32) error {
	return x.append("append final", ts, relOffset, 0)
}

func (x *TimeIndex) append(op string, ts int64, relOffset uint32, reserved int) error {
	if err := x.file.checkAppend(op); err != nil {
		return err
	}
	n := x.file.n()
	if n > 0 {
		lastTs, lastRel := timeEntry(x.file.mm, n-1)
		if relOffset < lastRel {
			return x.file.err(op, fmt.Errorf("%w: entry %d→%d goes below last entry %d→%d",
				ErrCorrupt, ts, relOffset, lastTs, lastRel))
		}
		if ts <= lastTs {
			return nil
		}
	}
	if n >= x.file.capacity-reserved {
		return x.file.err(op, ErrIndexFull)
	}
	e, err := x.file.slot(op, n)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint64(e[timeTimestampAt:], uint64(ts))
	binary.BigEndian.PutUint32(e[timeKeyAt:], relOffset)
	x.file.publish(n + 1)
	return nil
}

// Reserve allocates disk for the next n entries plus the slot kept for
// AppendFinal (fewer if the index has room for fewer), so that appending
// them, and then sealing the segment, cannot fail for lack of space. It
// returns an error wrapping ErrDiskFull when the disk has no room. Writer
// only.
func (x *TimeIndex) Reserve(n int) error {
	if err := x.file.checkAppend("reserve"); err != nil {
		return err
	}
	return x.file.reserve("reserve", n+reservedTimeSlots)
}

// Lookup returns the entry with the largest timestamp strictly less than ts;
// ok is false when there is none.
func (x *TimeIndex) Lookup(ts int64) (entryTs int64, relOffset uint32, ok bool) {
	b := x.file.used()
	i := countTimestampsBelow(b, ts)
	if i == 0 {
		return 0, 0, false
	}
	entryTs, relOffset = timeEntry(b, i-1)
	return entryTs, relOffset, true
}

// Entries returns the number of entries.
func (x *TimeIndex) Entries() int { return x.file.n() }

// Entry returns entry i, which must be below Entries().
func (x *TimeIndex) Entry(i int) (ts int64, relOffset uint32) {
	return timeEntry(x.file.used(), i)
}

// LastEntry returns the last entry; ok is false when the index is empty.
func (x *TimeIndex) LastEntry() (ts int64, relOffset uint32, ok bool) {
	b := x.file.used()
	if len(b) == 0 {
		return 0, 0, false
	}
	ts, relOffset = timeEntry(b, len(b)/TimeEntrySize-1)
	return ts, relOffset, true
}

// IsFull reports whether Append would return ErrIndexFull: true as soon as
// only the slot reserved for AppendFinal is free. A read-only index is always
// full.
func (x *TimeIndex) IsFull() bool {
	return !x.file.appendable.Load() || x.file.n() >= x.file.capacity-reservedTimeSlots
}

// TruncateTo drops every entry whose relative offset is >= relOffset. It only
// changes the entry count: the file shrinks at the next Trim. Writer only.
func (x *TimeIndex) TruncateTo(relOffset uint32) {
	x.file.truncate(searchTimeKey(x.file.used(), relOffset))
}

// Reset drops every entry, so that the index can be rebuilt from the log with
// Append. Meant for a writable index; on a read-only one it only empties the
// in-memory view. Writer only.
func (x *TimeIndex) Reset() { x.file.truncate(0) }

// SanityCheck returns an *Error wrapping ErrCorrupt unless timestamps are
// strictly increasing, relative offsets are non-decreasing and <=
// maxRelOffset (the segment's last relative offset), and a read-only or
// trimmed file holds a whole number of entries. A crashed writable index
// fails it because of its zero-filled tail.
func (x *TimeIndex) SanityCheck(maxRelOffset uint32) error {
	if !x.file.appendable.Load() {
		if err := x.file.checkFileSize(); err != nil {
			return err
		}
	}
	b := x.file.used()
	n := len(b) / TimeEntrySize
	var lastTs int64
	var lastRel uint32
	for i := range n {
		ts, rel := timeEntry(b, i)
		if i > 0 && (ts <= lastTs || rel < lastRel) {
			return x.file.err("sanity check", fmt.Errorf("%w: entry %d (%d→%d) does not follow entry %d (%d→%d)",
				ErrCorrupt, i, ts, rel, i-1, lastTs, lastRel))
		}
		if rel > maxRelOffset {
			return x.file.err("sanity check", fmt.Errorf("%w: entry %d (%d→%d) is past the last relative offset %d",
				ErrCorrupt, i, ts, rel, maxRelOffset))
		}
		lastTs, lastRel = ts, rel
	}
	return nil
}

// Trim shrinks the file to the entries in use and makes the index read-only:
// further appends return ErrReadOnly. Trimming a read-only index does
// nothing. Writer only.
func (x *TimeIndex) Trim() error { return x.file.trim() }

// Sync flushes the entries written since the last Sync to disk, then the file
// itself (its size after a Trim).
func (x *TimeIndex) Sync() error { return x.file.sync() }

// SizeChanged reports whether the file's size changed (a grow, a trim)
// since the last Sync, which then fsyncs the file itself.
func (x *TimeIndex) SizeChanged() bool { return x.file.sizeDirty.Load() }

// Close trims a writable index, then unmaps and closes the file. There must be
// no concurrent calls of any kind.
func (x *TimeIndex) Close() error { return x.file.close() }

// Path returns the file's path.
func (x *TimeIndex) Path() string { return x.file.path }

// BaseOffset returns the base offset of the segment the index belongs to.
func (x *TimeIndex) BaseOffset() int64 { return x.file.baseOffset }

// SizeBytes returns the size of the entries in use.
func (x *TimeIndex) SizeBytes() int64 { return int64(x.file.n()) * TimeEntrySize }

// MaxEntries returns how many entries the index can hold, including the slot
// reserved for AppendFinal (Entries() for a read-only index).
func (x *TimeIndex) MaxEntries() int { return x.file.capacity }

// Writable reports whether Append may still succeed (the index was opened
// writable and has not been trimmed or closed).
func (x *TimeIndex) Writable() bool { return x.file.appendable.Load() }
