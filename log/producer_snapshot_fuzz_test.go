package log

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"reflect"
	"testing"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// sampleProducers is a producer table with full and partial batch caches,
// a sequence range across the wrap, and extreme field values.
func sampleProducers() map[int64]*producerEntry {
	full := &producerEntry{epoch: 3, lastAppend: 1_700_000_000_123}
	for i := range maxProducerBatches {
		full.push(producerBatch{firstSeq: int32(i * 10), lastDelta: 9,
			baseOffset: int64(100 + i*10), maxTimestamp: int64(1_700_000_000_000 + i)})
	}
	wrap := &producerEntry{epoch: math.MaxInt16, lastAppend: -1}
	wrap.push(producerBatch{firstSeq: math.MaxInt32 - 1, lastDelta: 2, baseOffset: 10, maxTimestamp: -1})
	last := &producerEntry{epoch: 0}
	last.push(producerBatch{baseOffset: 149})
	return map[int64]*producerEntry{
		7:                 full,
		0:                 wrap,
		math.MaxInt64 - 1: last,
	}
}

func TestProducerSnapshotEncoding(t *testing.T) {
	m := sampleProducers()
	b := encodeProducerSnapshot(150, m)
	s, err := decodeProducerSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.offset != 150 || !reflect.DeepEqual(s.producers, m) {
		t.Fatalf("round trip: offset %d, producers differ: %v", s.offset, !reflect.DeepEqual(s.producers, m))
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x10
		if _, err := decodeProducerSnapshot(bad); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	for _, n := range []int{0, 4, len(b) - 1} {
		if _, err := decodeProducerSnapshot(b[:n]); err == nil {
			t.Fatalf("snapshot cut to %d bytes accepted", n)
		}
	}
	// Well-formed and CRC-valid, but impossible.
	for name, bad := range map[string][]byte{
		"batch at the snapshot offset": encodeProducerSnapshot(149, m),
		"version 3": func() []byte {
			c := append([]byte(nil), b...)
			binary.BigEndian.PutUint16(c[4:], 3)
			return fixCRC(c)
		}(),
		"huge producer count": func() []byte {
			c := append([]byte(nil), b...)
			binary.BigEndian.PutUint32(c[framedfile.HeaderSize+8:], math.MaxUint32)
			return fixCRC(c)
		}(),
	} {
		if _, err := decodeProducerSnapshot(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Version 2 payloads written by hand: offset 10, then producers.
	v2 := func(count uint32, producers ...byte) []byte {
		p := producerSnapshotFormat.Start(0)
		p = binary.BigEndian.AppendUint64(p, 10)
		p = binary.BigEndian.AppendUint32(p, count)
		return producerSnapshotFormat.Seal(append(p, producers...))
	}
	// One producer: id 5, last append 0, epoch 0, one batch at offset 9
	// (1 before the snapshot's), delta 0, sequence 0, max timestamp 0.
	one := []byte{5, 0, 0, 1, 1, 0, 0, 0}
	if s, err := decodeProducerSnapshot(v2(1, one...)); err != nil || len(s.producers) != 1 || s.producers[5].first.baseOffset != 9 {
		t.Fatalf("minimal version-2 snapshot: %+v %v", s, err)
	}
	for name, bad := range map[string][]byte{
		"overlong varint":         v2(1, 0x85, 0x00, 0, 0, 1, 1, 0, 0, 0),
		"no batches":              v2(1, 5, 0, 0, 0),
		"six batches":             v2(1, 5, 0, 0, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		"epoch past MaxInt16":     v2(1, 5, 0, 0x80, 0x80, 0x02, 1, 1, 0, 0, 0),
		"batch past the offset":   v2(1, 5, 0, 0, 1, 11, 0, 0, 0),
		"batch at the offset":     v2(1, 5, 0, 0, 1, 0, 0, 0, 0),
		"second batch past it":    v2(1, 5, 0, 0, 2, 3, 1, 0, 0, 1, 0, 0, 0),
		"trailing byte":           v2(1, append(one, 0)...),
		"fewer producers":         v2(2, one...),
		"producer after MaxInt64": v2(2, append(append(binary.AppendUvarint(nil, math.MaxInt64), 0, 0, 1, 1, 0, 0, 0), one...)...),
	} {
		if _, err := decodeProducerSnapshot(bad); err == nil {
			t.Errorf("version 2, %s: accepted", name)
		}
	}
	empty := encodeProducerSnapshot(0, nil)
	if s, err := decodeProducerSnapshot(empty); err != nil || s.offset != 0 || len(s.producers) != 0 {
		t.Fatalf("empty snapshot: %+v, %v", s, err)
	}
}

// fixCRC recomputes a frame's trailing CRC, so that tests reach the
// structure checks behind it.
func fixCRC(b []byte) []byte {
	if len(b) < framedfile.TrailerSize {
		return b
	}
	c := append([]byte(nil), b...)
	body := c[:len(c)-framedfile.TrailerSize]
	binary.BigEndian.PutUint32(c[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return c
}

// snapshotPayload is the payload of an encoded snapshot.
func snapshotPayload(offset int64, m map[int64]*producerEntry) []byte {
	b := encodeProducerSnapshot(offset, m)
	return b[framedfile.HeaderSize : len(b)-framedfile.TrailerSize]
}

// checkSnapshot fails t unless s is internally consistent.
func checkSnapshot(t *testing.T, s producerSnapshot) {
	t.Helper()
	if s.offset < 0 {
		t.Fatalf("negative offset %d accepted", s.offset)
	}
	for pid, e := range s.producers {
		if pid < 0 || e.epoch < 0 || e.n < 1 || e.n > maxProducerBatches {
			t.Fatalf("producer %d accepted with epoch %d, %d batches", pid, e.epoch, e.n)
		}
		prevLast := int64(-1)
		for i := range int(e.n) {
			pb := e.batch(i)
			if pb.baseOffset <= prevLast || pb.lastDelta < 0 || pb.lastOffset() >= s.offset || pb.firstSeq < 0 {
				t.Fatalf("producer %d: inconsistent batch %+v in a snapshot at %d", pid, pb, s.offset)
			}
			prevLast = pb.lastOffset()
		}
	}
}

// FuzzParseProducerSnapshot: any payload parses, as the current version,
// to an error or to a snapshot that is internally consistent and encodes
// back to the same bytes, and as version 1 (the fixed-width layout still
// read) to an error or a consistent snapshot; never a panic, never an
// allocation beyond the input. The framing around it (magic, version,
// length, CRC) is fuzzed once, in package framedfile.
func FuzzParseProducerSnapshot(f *testing.F) {
	f.Add(snapshotPayload(150, sampleProducers()))
	f.Add(snapshotPayload(0, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		if s, err := parseProducerSnapshotV1(in); err == nil {
			checkSnapshot(t, s)
		}
		s, err := parseProducerSnapshot(in, producerSnapshotFormat.Version)
		if err != nil {
			return
		}
		checkSnapshot(t, s)
		if got := snapshotPayload(s.offset, s.producers); string(got) != string(in) {
			t.Fatalf("parse/encode round trip differs:\n in %x\nout %x", in, got)
		}
	})
}

func TestProducerIDsEncoding(t *testing.T) {
	b := encodeProducerIDs(123_000)
	if next, err := decodeProducerIDs(b); err != nil || next != 123_000 {
		t.Fatalf("round trip: %d, %v", next, err)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x01
		if _, err := decodeProducerIDs(bad); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := decodeProducerIDs(b[:len(b)-1]); err == nil {
		t.Fatal("short file accepted")
	}
}
