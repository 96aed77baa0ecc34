package log

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// The producer snapshot's payload, see the package comment for both
// versions. Version 2 writes varints and deltas: a producer that appended
// one batch takes about 15 bytes instead of version 1's 44.

const (
	// producerSnapshotHeaderSize is the payload's offset and producer
	// count, fixed-width in both versions.
	producerSnapshotHeaderSize = 12
	// Version 1's fixed sizes: one producer without its batches, one of
	// its batches.
	producerSnapshotV1EntrySize = 20
	producerSnapshotV1BatchSize = 24
	// producerSnapshotMinEntry is the fewest bytes a version-2 producer
	// takes (one byte a field, one batch): it bounds the producer count
	// a payload may claim before anything is allocated for it.
	producerSnapshotMinEntry = 8
)

// encodeProducerSnapshot encodes the producer table m as of offset, as a
// whole framed file at the current version.
func encodeProducerSnapshot(offset int64, m map[int64]*producerEntry) []byte {
	pids := make([]int64, 0, len(m))
	size := producerSnapshotHeaderSize
	for pid, e := range m {
		pids = append(pids, pid)
		size += 16 + 12*int(e.n)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	b := producerSnapshotFormat.Start(size)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(pids)))
	var prevPID, prevAppend int64
	for i, pid := range pids {
		e := m[pid]
		if i == 0 {
			b = binary.AppendUvarint(b, uint64(pid))
			b = binary.AppendVarint(b, e.lastAppend)
		} else {
			b = binary.AppendUvarint(b, uint64(pid-prevPID-1))
			b = binary.AppendVarint(b, e.lastAppend-prevAppend) // wraps, and back on decode
		}
		b = binary.AppendUvarint(b, uint64(e.epoch))
		b = append(b, e.n)
		var prevLast int64
		for j := range int(e.n) {
			pb := e.batch(j)
			if j == 0 {
				b = binary.AppendUvarint(b, uint64(offset-pb.baseOffset))
			} else {
				b = binary.AppendUvarint(b, uint64(pb.baseOffset-prevLast-1))
			}
			b = binary.AppendUvarint(b, uint64(pb.lastDelta))
			b = binary.AppendUvarint(b, uint64(pb.firstSeq))
			b = binary.AppendVarint(b, pb.maxTimestamp-e.lastAppend)
			prevLast = pb.lastOffset()
		}
		prevPID, prevAppend = pid, e.lastAppend
	}
	return producerSnapshotFormat.Seal(b)
}

// decodeProducerSnapshot decodes and checks a whole producer snapshot
// file. Anything that could not have been written by
// encodeProducerSnapshot (or by version 1's encoder) is an error.
func decodeProducerSnapshot(b []byte) (producerSnapshot, error) {
	p, v, err := producerSnapshotFormat.Decode(b)
	if err != nil {
		return producerSnapshot{}, fmt.Errorf("%w: %w", errBadProducerSnapshot, err)
	}
	return parseProducerSnapshot(p, v)
}

func badSnapshot(format string, args ...any) (producerSnapshot, error) {
	return producerSnapshot{}, fmt.Errorf("%w: %s", errBadProducerSnapshot, fmt.Sprintf(format, args...))
}

// parseProducerSnapshot parses a snapshot's payload of the given version
// (one Decode accepted).
func parseProducerSnapshot(b []byte, version uint16) (producerSnapshot, error) {
	if version == producerSnapshotFormat.LegacyVersion {
		b, err := stripLegacyReserved(b, version, producerSnapshotFormat.LegacyVersion)
		if err != nil {
			return badSnapshot("%v", err)
		}
		return parseProducerSnapshotV1(b)
	}
	return parseProducerSnapshotV2(b)
}

// snapshotHeader reads the payload's offset and producer count, the count
// bounded by what minEntry bytes a producer leave room for.
func snapshotHeader(b []byte, minEntry int) (offset int64, count uint32, err error) {
	if len(b) < producerSnapshotHeaderSize {
		_, err = badSnapshot("short header")
		return 0, 0, err
	}
	offset = int64(binary.BigEndian.Uint64(b[0:8]))
	count = binary.BigEndian.Uint32(b[8:12])
	if offset < 0 {
		_, err = badSnapshot("negative offset %d", offset)
		return 0, 0, err
	}
	if uint64(count)*uint64(minEntry) > uint64(len(b)-producerSnapshotHeaderSize) {
		_, err = badSnapshot("%d producers do not fit in %d bytes", count, len(b))
		return 0, 0, err
	}
	return offset, count, nil
}

// checkBatch checks a decoded batch against the one before it (prevLast
// is its last offset, -1 for none) and the snapshot's offset: in offset
// order, below offset, sequences and deltas in Kafka's range.
func checkBatch(base int64, delta, firstSeq int32, prevLast, offset int64) bool {
	// base+delta < offset, written so that it cannot overflow.
	return base > prevLast && delta >= 0 && firstSeq >= 0 && base <= offset-1-int64(delta)
}

// parseProducerSnapshotV1 parses version 1's fixed-width producers.
func parseProducerSnapshotV1(b []byte) (producerSnapshot, error) {
	offset, count, err := snapshotHeader(b, producerSnapshotV1EntrySize+producerSnapshotV1BatchSize)
	if err != nil {
		return producerSnapshot{}, err
	}
	s := producerSnapshot{offset: offset, producers: make(map[int64]*producerEntry, count)}
	prevPID := int64(-1)
	p := producerSnapshotHeaderSize
	for i := uint32(0); i < count; i++ {
		if len(b)-p < producerSnapshotV1EntrySize {
			return badSnapshot("producer %d is cut short", i)
		}
		pid := int64(binary.BigEndian.Uint64(b[p:]))
		e := &producerEntry{
			epoch:      int16(binary.BigEndian.Uint16(b[p+8:])),
			lastAppend: int64(binary.BigEndian.Uint64(b[p+12:])),
		}
		n := int(binary.BigEndian.Uint16(b[p+10:]))
		p += producerSnapshotV1EntrySize
		switch {
		case pid <= prevPID:
			return badSnapshot("producer id %d after %d", pid, prevPID)
		case e.epoch < 0:
			return badSnapshot("producer %d has epoch %d", pid, e.epoch)
		case n < 1 || n > maxProducerBatches:
			return badSnapshot("producer %d has %d batches", pid, n)
		case len(b)-p < n*producerSnapshotV1BatchSize:
			return badSnapshot("producer %d is cut short", pid)
		}
		prevLast := int64(-1)
		for j := range n {
			base := int64(binary.BigEndian.Uint64(b[p:]))
			delta := int32(binary.BigEndian.Uint32(b[p+8:]))
			firstSeq := int32(binary.BigEndian.Uint32(b[p+12:]))
			maxTs := int64(binary.BigEndian.Uint64(b[p+16:]))
			p += producerSnapshotV1BatchSize
			if !checkBatch(base, delta, firstSeq, prevLast, offset) {
				return badSnapshot("producer %d batch %d: base offset %d, last offset delta %d, sequence %d (snapshot at %d)",
					pid, j, base, delta, firstSeq, offset)
			}
			e.push(producerBatch{baseOffset: base, maxTimestamp: maxTs, firstSeq: firstSeq, lastDelta: delta})
			prevLast = base + int64(delta)
		}
		s.producers[pid] = e
		prevPID = pid
	}
	if p != len(b) {
		return badSnapshot("%d bytes after the last producer", len(b)-p)
	}
	return s, nil
}

// varintReader reads the canonical (shortest) varints of a version-2
// payload: a longer encoding of the same value is refused, so that a
// payload that parses encodes back to the same bytes.
type varintReader struct {
	b   []byte
	err error
}

func (r *varintReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(v) {
		r.err = fmt.Errorf("%w: %s is not a varint", errBadProducerSnapshot, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads a zigzag varint, as binary.AppendVarint writes it.
func (r *varintReader) varint(what string) int64 {
	ux := r.uvarint(what)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// bounded reads a uvarint of at most limit.
func (r *varintReader) bounded(what string, limit uint64) uint64 {
	v := r.uvarint(what)
	if r.err == nil && v > limit {
		r.err = fmt.Errorf("%w: %s %d is past %d", errBadProducerSnapshot, what, v, limit)
	}
	return v
}

func (r *varintReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = fmt.Errorf("%w: %s is cut short", errBadProducerSnapshot, what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// parseProducerSnapshotV2 parses version 2's varint producers.
func parseProducerSnapshotV2(b []byte) (producerSnapshot, error) {
	offset, count, err := snapshotHeader(b, producerSnapshotMinEntry)
	if err != nil {
		return producerSnapshot{}, err
	}
	s := producerSnapshot{offset: offset, producers: make(map[int64]*producerEntry, count)}
	r := varintReader{b: b[producerSnapshotHeaderSize:]}
	var prevPID, prevAppend int64
	for i := uint32(0); i < count; i++ {
		var pid int64
		e := &producerEntry{}
		if i == 0 {
			pid = int64(r.bounded("producer id", math.MaxInt64))
			e.lastAppend = r.varint("last append")
		} else {
			if prevPID == math.MaxInt64 {
				return badSnapshot("producer after producer id %d", prevPID)
			}
			pid = prevPID + 1 + int64(r.bounded("producer id delta", uint64(math.MaxInt64-prevPID-1)))
			e.lastAppend = prevAppend + r.varint("last append delta")
		}
		e.epoch = int16(r.bounded("epoch", math.MaxInt16))
		n := int(r.byte("batch count"))
		if r.err != nil {
			return producerSnapshot{}, r.err
		}
		if n < 1 || n > maxProducerBatches {
			return badSnapshot("producer %d has %d batches", pid, n)
		}
		prevLast := int64(-1)
		for j := range n {
			var base int64
			if j == 0 {
				base = offset - int64(r.bounded("distance to the offset", uint64(offset)))
			} else {
				base = prevLast + 1 + int64(r.bounded("gap", uint64(math.MaxInt64-prevLast-1)))
			}
			delta := int32(r.bounded("last offset delta", math.MaxInt32))
			firstSeq := int32(r.bounded("base sequence", math.MaxInt32))
			maxTs := e.lastAppend + r.varint("max timestamp delta")
			if r.err != nil {
				return producerSnapshot{}, r.err
			}
			if !checkBatch(base, delta, firstSeq, prevLast, offset) {
				return badSnapshot("producer %d batch %d: base offset %d, last offset delta %d, sequence %d (snapshot at %d)",
					pid, j, base, delta, firstSeq, offset)
			}
			e.push(producerBatch{baseOffset: base, maxTimestamp: maxTs, firstSeq: firstSeq, lastDelta: delta})
			prevLast = base + int64(delta)
		}
		s.producers[pid] = e
		prevPID, prevAppend = pid, e.lastAppend
	}
	if len(r.b) != 0 {
		return badSnapshot("%d bytes after the last producer", len(r.b))
	}
	return s, nil
}
