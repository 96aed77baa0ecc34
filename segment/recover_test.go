package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// Crash-recovery unit tests of Recover, Load and TruncateTo. Helpers carry an
// rt prefix so they cannot collide with the package's other tests.

// rtBase is the base offset of the segments these tests build: not zero, so
// that relative and absolute offsets differ.
const rtBase = 1000

// rtConfig has a small index interval so that even small segments get
// several sparse index entries, and small indexes so that tests stay cheap.
func rtConfig() Config {
	return Config{IndexIntervalBytes: 150, MaxIndexBytes: 4096, InitialMapBytes: 1 << 16}
}

// rtBatch returns batch i of the sequence the tests write: varied record
// counts and sizes, strictly increasing timestamps.
func rtBatch(i int) []byte {
	return recordbatch.Build(1+i%4, 20+(13*i)%70, 5000+int64(i)*10)
}

// rtWrite creates a segment at rtBase in dir with n batches of rtBatch, seals
// and closes it (as a roll or a clean shutdown of the log does) and returns
// the batches as stored.
func rtWrite(t *testing.T, dir string, n int) [][]byte {
	t.Helper()
	s, err := Create(dir, rtBase, rtConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range n {
		b := rtBatch(i)
		recordbatch.SetBaseOffset(b, s.NextOffset())
		if err := s.Append(b); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, b)
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rtPath(dir, suffix string) string { return filepath.Join(dir, FileName(rtBase, suffix)) }

func rtReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rtFileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// rtSplit returns the first n batches of b, which the caller knows are whole.
func rtSplit(t *testing.T, b []byte, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for p := 0; len(out) < n; {
		h, err := recordbatch.ParseHeader(b[p:])
		if err != nil {
			t.Fatalf("rtSplit: batch %d at %d: %v", len(out), p, err)
		}
		out = append(out, b[p:p+h.Size()])
		p += h.Size()
	}
	return out
}

// rtCheckSegment checks that s holds exactly want (whole batches, byte for
// byte), that every offset reads back the batch holding it, that the metadata
// (size, next offset, max timestamp) matches, and that both indexes are
// consistent with the file.
func rtCheckSegment(t *testing.T, s *Segment, want [][]byte) {
	t.Helper()
	size, next, maxTs := int64(0), int64(rtBase), int64(-1)
	for _, b := range want {
		h, err := recordbatch.Validate(b)
		if err != nil {
			t.Fatalf("expected batch invalid: %v", err)
		}
		size += int64(h.Size())
		next = h.NextOffset()
		maxTs = max(maxTs, h.MaxTimestamp)
	}
	if s.Size() != size || s.NextOffset() != next || s.MaxTimestamp() != maxTs {
		t.Fatalf("segment has size %d next %d maxTs %d, want %d %d %d", s.Size(), s.NextOffset(), s.MaxTimestamp(), size, next, maxTs)
	}
	if fs := rtFileSize(t, s.Path()); fs != size {
		t.Fatalf(".log file is %d bytes, want %d", fs, size)
	}
	if !bytes.Equal(s.view(), bytes.Join(want, nil)) {
		t.Fatal("segment bytes differ from the expected batches")
	}
	for _, b := range want {
		h, _ := recordbatch.ParseHeader(b)
		for off := h.BaseOffset; off <= h.LastOffset(); off++ {
			data, first, err := s.Read(off, 1)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			if first != h.BaseOffset || !bytes.Equal(data, b) {
				t.Fatalf("Read(%d) = batch at %d (%d bytes), want batch at %d (%d bytes)", off, first, len(data), h.BaseOffset, len(b))
			}
		}
	}
	if data, _, err := s.Read(next, 1<<20); err != nil || data != nil {
		t.Fatalf("Read(next offset %d) = %d bytes, %v; want nothing", next, len(data), err)
	}
	rtCheckIndexes(t, s)
}

// rtCheckIndexes checks every sparse index entry against the .log: offset
// entries point at the start of the batch with that base offset, time entries
// name a batch's last offset and max timestamp, both strictly increasing.
func rtCheckIndexes(t *testing.T, s *Segment) {
	t.Helper()
	v := s.view()
	var prevRel, prevPos uint32
	for i := range s.offIdx.Entries() {
		rel, pos := s.offIdx.Entry(i)
		if i > 0 && (rel <= prevRel || pos <= prevPos) {
			t.Fatalf("offset index entry %d (%d→%d) does not follow (%d→%d)", i, rel, pos, prevRel, prevPos)
		}
		if int(pos) >= len(v) {
			t.Fatalf("offset index entry %d (%d→%d) points past the %d-byte log", i, rel, pos, len(v))
		}
		h, err := recordbatch.ParseHeader(v[pos:])
		if err != nil || h.BaseOffset != s.baseOffset+int64(rel) {
			t.Fatalf("offset index entry %d (%d→%d): batch there has base %d, err %v", i, rel, pos, h.BaseOffset, err)
		}
		prevRel, prevPos = rel, pos
	}
	// Map every batch's last offset to its max timestamp, and check the
	// index is as dense as index.interval.bytes asks: a batch without an
	// entry starts less than one interval after the previous entry's batch
	// (or the start of the file).
	lastTs := map[int64]int64{}
	entry, prevEntryPos := 0, 0
	for p := 0; p < len(v); {
		h, err := recordbatch.ParseHeader(v[p:])
		if err != nil {
			t.Fatalf("published bytes do not parse at %d: %v", p, err)
		}
		lastTs[h.LastOffset()] = h.MaxTimestamp
		if entry < s.offIdx.Entries() {
			if _, pos := s.offIdx.Entry(entry); int(pos) == p {
				entry++
				prevEntryPos = p
			}
		}
		if prevEntryPos != p && p-prevEntryPos >= s.cfg.IndexIntervalBytes {
			t.Fatalf("batch at %d has no index entry, %d bytes after the previous one (interval %d)", p, p-prevEntryPos, s.cfg.IndexIntervalBytes)
		}
		p += h.Size()
	}
	var prevTs int64
	for i := range s.timeIdx.Entries() {
		ts, rel := s.timeIdx.Entry(i)
		if i > 0 && (ts <= prevTs || rel < prevRel) {
			t.Fatalf("time index entry %d (%d→%d) does not follow (%d→%d)", i, ts, rel, prevTs, prevRel)
		}
		if got, ok := lastTs[s.baseOffset+int64(rel)]; !ok || got != ts {
			t.Fatalf("time index entry %d (%d→%d) names no batch ending there with that max timestamp", i, ts, rel)
		}
		prevTs, prevRel = ts, rel
	}
}

// rtAppendOne appends one more batch at NextOffset and returns it.
func rtAppendOne(t *testing.T, s *Segment, i int) []byte {
	t.Helper()
	b := rtBatch(i)
	recordbatch.SetBaseOffset(b, s.NextOffset())
	if err := s.Append(b); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	return b
}

// TestRecoverTable damages the tail (or middle) of a cleanly written .log in
// the ways a crash or a bad disk does, and checks that Recover keeps exactly
// the valid prefix whose offsets chain from the base offset, cuts the file
// there, rebuilds both indexes, and leaves a segment that takes appends and
// loads after a clean close.
func TestRecoverTable(t *testing.T) {
	const n = 8
	// A ninth batch at the right offset, for torn appends.
	next := int64(rtBase)
	for i := range n {
		h, _ := recordbatch.ParseHeader(rtBatch(i))
		next += int64(h.LastOffsetDelta) + 1
	}
	extra := rtBatch(n)
	recordbatch.SetBaseOffset(extra, next)
	// A mut damages the file of n batches starting at positions pos.
	type mut func(file []byte, pos []int) []byte
	flip := func(i, at int) mut {
		return func(file []byte, pos []int) []byte {
			file[pos[i]+at] ^= 0x5a
			return file
		}
	}
	setBase := func(i int, base func(prev int64) int64) mut {
		return func(file []byte, pos []int) []byte {
			prev := int64(rtBase - 1)
			if i > 0 {
				h, _ := recordbatch.ParseHeader(file[pos[i-1]:])
				prev = h.LastOffset()
			}
			recordbatch.SetBaseOffset(file[pos[i]:], base(prev))
			return file
		}
	}
	appendBytes := func(tail []byte) mut {
		return func(file []byte, _ []int) []byte { return append(file, tail...) }
	}
	garbage := make([]byte, 333)
	for i := range garbage {
		garbage[i] = byte(i*131 + 7)
	}
	tests := []struct {
		name  string
		mut   mut
		keep  int  // whole batches that must survive
		cause bool // whether a tail must be cut
	}{
		{"clean", func(f []byte, _ []int) []byte { return f }, n, false},
		{"empty file", func([]byte, []int) []byte { return nil }, 0, false},
		{"torn inside log overhead", appendBytes(extra[:7]), n, true},
		{"torn header", appendBytes(extra[:recordbatch.HeaderSize-1]), n, true},
		{"torn body", appendBytes(extra[:len(extra)-1]), n, true},
		{"torn tail then valid bytes lost", func(f []byte, pos []int) []byte { return f[:pos[n-1]+recordbatch.HeaderSize+3] }, n - 1, true},
		{"bad crc in last batch", flip(n-1, recordbatch.HeaderSize+2), n - 1, true},
		{"bad crc in middle batch", flip(4, recordbatch.HeaderSize+1), 4, true},
		{"bad crc in first batch", flip(0, recordbatch.MaxTimestampPos), 0, true},
		{"flipped crc field", flip(5, recordbatch.CRCPos), 5, true},
		{"bad magic", flip(6, recordbatch.MagicPos), 6, true},
		{"batchLength past end of file", func(f []byte, pos []int) []byte {
			binary.BigEndian.PutUint32(f[pos[7]+recordbatch.BatchLengthPos:], 1<<20)
			return f
		}, 7, true},
		{"batchLength below minimum", func(f []byte, pos []int) []byte {
			binary.BigEndian.PutUint32(f[pos[3]+recordbatch.BatchLengthPos:], 10)
			return f
		}, 3, true},
		{"base offset gap", setBase(5, func(prev int64) int64 { return prev + 2 }), 5, true},
		{"base offset overlap", setBase(5, func(prev int64) int64 { return prev }), 5, true},
		{"base offset repeats first", setBase(6, func(int64) int64 { return rtBase }), 6, true},
		{"first base offset is not the segment's", setBase(0, func(int64) int64 { return rtBase + 1 }), 0, true},
		{"trailing zeros (preallocated tail)", appendBytes(make([]byte, 4096)), n, true},
		{"few trailing zeros", appendBytes(make([]byte, 5)), n, true},
		{"garbage tail", appendBytes(garbage), n, true},
		{"valid batch after a corrupt one is dropped", func(f []byte, pos []int) []byte {
			f[pos[2]+recordbatch.HeaderSize] ^= 1 // batches 3.. stay valid and chained
			return f
		}, 2, true},
		{"leader epoch is not covered by the crc", func(f []byte, pos []int) []byte {
			recordbatch.SetPartitionLeaderEpoch(f[pos[2]:], 7)
			return f
		}, n, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			written := rtWrite(t, dir, n)
			var pos []int
			p := 0
			for _, b := range written {
				pos = append(pos, p)
				p += len(b)
			}
			file := tt.mut(bytes.Join(written, nil), pos)
			rtWriteFile(t, rtPath(dir, LogSuffix), file)
			want := rtSplit(t, file, tt.keep)
			keptBytes := int64(len(bytes.Join(want, nil)))

			s, err := Open(dir, rtBase, rtConfig(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			st, err := s.Recover()
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if st.Batches != tt.keep || st.BytesScanned != int64(len(file)) || st.TruncatedBytes != int64(len(file))-keptBytes {
				t.Fatalf("stats %+v, want %d batches, %d scanned, %d truncated", st, tt.keep, len(file), int64(len(file))-keptBytes)
			}
			if (st.Cause != nil) != tt.cause {
				t.Fatalf("cause %v, want a cause: %v", st.Cause, tt.cause)
			}
			if st.Cause != nil && !errors.Is(st.Cause, recordbatch.ErrCorrupt) && !errors.Is(st.Cause, recordbatch.ErrTruncated) {
				t.Fatalf("cause %v matches neither ErrCorrupt nor ErrTruncated", st.Cause)
			}
			rtCheckSegment(t, s, want)

			// Recovery is idempotent and the segment takes appends after it.
			want = append(want, rtAppendOne(t, s, n+1))
			rtCheckSegment(t, s, want)
			st, err = s.Recover()
			if err != nil || st.TruncatedBytes != 0 || st.Cause != nil || st.Batches != len(want) {
				t.Fatalf("second Recover: %+v, %v", st, err)
			}
			rtCheckSegment(t, s, want)

			// Sealing (a roll) trims the rebuilt indexes; Load then trusts them.
			if err := s.Seal(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, rtBase, rtConfig(), false)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Load(); err != nil {
				t.Fatalf("Load after recovery and clean close: %v", err)
			}
			rtCheckSegment(t, s, want)
		})
	}
}

// TestRecoverEveryCut cuts the .log at every byte position and checks that
// Recover keeps exactly the whole batches before the cut.
func TestRecoverEveryCut(t *testing.T) {
	dir := t.TempDir()
	written := rtWrite(t, dir, 6)
	full := bytes.Join(written, nil)
	stride := 1
	if testing.Short() {
		stride = 7
	}
	for cut := 0; cut <= len(full); cut += stride {
		rtWriteFile(t, rtPath(dir, LogSuffix), full[:cut])
		// Stale trimmed indexes of the full file stay behind, as after a
		// crash: Recover must not trust them.
		s, err := Open(dir, rtBase, rtConfig(), true)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.Recover()
		if err != nil {
			s.Close()
			t.Fatalf("cut %d: Recover: %v", cut, err)
		}
		var want [][]byte
		end := 0
		for _, b := range written {
			if end+len(b) > cut {
				break
			}
			want = append(want, b)
			end += len(b)
		}
		if st.TruncatedBytes != int64(cut-end) {
			t.Fatalf("cut %d: truncated %d bytes, want %d", cut, st.TruncatedBytes, cut-end)
		}
		rtCheckSegment(t, s, want)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecoverSealedSegmentFails(t *testing.T) {
	dir := t.TempDir()
	rtWrite(t, dir, 3)
	s, err := Open(dir, rtBase, rtConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recover(); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Recover on a read-only segment: %v, want ErrReadOnly", err)
	}
	if err := s.TruncateTo(rtBase); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("TruncateTo on a read-only segment: %v, want ErrReadOnly", err)
	}
}

// TestLoad checks that Load accepts a cleanly closed segment and reports
// ErrNeedsRecovery for every kind of damage it is meant to notice, after which
// Recover brings the segment back to its valid prefix.
func TestLoad(t *testing.T) {
	const n = 12
	tests := []struct {
		name     string
		damage   func(t *testing.T, dir string, written [][]byte)
		writable bool
		ok       bool // Load must succeed
		keep     int  // batches Recover keeps when Load fails
	}{
		{name: "clean read-only", damage: func(*testing.T, string, [][]byte) {}, ok: true, keep: n},
		{name: "clean writable", damage: func(*testing.T, string, [][]byte) {}, writable: true, ok: true, keep: n},
		{name: "torn tail", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			b := rtBatch(n)
			rtAppendRaw(t, rtPath(dir, LogSuffix), b[:len(b)-3])
		}},
		{name: "zeros after the last batch", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			rtAppendRaw(t, rtPath(dir, LogSuffix), make([]byte, 100))
		}},
		{name: "zeros after the last batch, writable", writable: true, keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			rtAppendRaw(t, rtPath(dir, LogSuffix), make([]byte, 100))
		}},
		{name: "wrong base offset after the last index entry", keep: n - 1, damage: func(t *testing.T, dir string, written [][]byte) {
			f := rtReadFile(t, rtPath(dir, LogSuffix))
			last := len(f) - len(written[n-1])
			recordbatch.SetBaseOffset(f[last:], 3)
			rtWriteFile(t, rtPath(dir, LogSuffix), f)
		}},
		{name: "offset index zero-filled (untrimmed)", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			rtAppendRaw(t, rtPath(dir, IndexSuffix), make([]byte, 800))
		}},
		{name: "time index zero-filled (untrimmed)", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			rtAppendRaw(t, rtPath(dir, TimeIndexSuffix), make([]byte, 1200))
		}},
		{name: "offset index not a whole number of entries", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			p := rtPath(dir, IndexSuffix)
			if err := os.Truncate(p, rtFileSize(t, p)-3); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "time index not a whole number of entries", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			p := rtPath(dir, TimeIndexSuffix)
			if err := os.Truncate(p, rtFileSize(t, p)-5); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "offset index entry points past the log", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			p := rtPath(dir, IndexSuffix)
			f := rtReadFile(t, p)
			binary.BigEndian.PutUint32(f[len(f)-4:], 1<<30)
			rtWriteFile(t, p, f)
		}},
		{name: "offset index entries out of order", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			p := rtPath(dir, IndexSuffix)
			f := rtReadFile(t, p)
			copy(f[8:16], f[0:8]) // entry 1 repeats entry 0
			rtWriteFile(t, p, f)
		}},
		{name: "time index entry past the last offset", keep: n, damage: func(t *testing.T, dir string, _ [][]byte) {
			p := rtPath(dir, TimeIndexSuffix)
			f := rtReadFile(t, p)
			binary.BigEndian.PutUint32(f[len(f)-4:], 1<<20)
			rtWriteFile(t, p, f)
		}},
		{name: "log cut below the last index entry", keep: 4, damage: func(t *testing.T, dir string, written [][]byte) {
			p := rtPath(dir, LogSuffix)
			if err := os.Truncate(p, int64(len(bytes.Join(written[:4], nil)))); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			written := rtWrite(t, dir, n)
			offIdx := rtFileSize(t, rtPath(dir, IndexSuffix))
			if offIdx < 3*8 {
				t.Fatalf("setup: only %d bytes of offset index", offIdx)
			}
			tt.damage(t, dir, written)
			s, err := Open(dir, rtBase, rtConfig(), tt.writable)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Load()
			if tt.ok {
				if err != nil {
					s.Close()
					t.Fatalf("Load: %v", err)
				}
				rtCheckSegment(t, s, written)
				s.Close()
				return
			}
			if !errors.Is(err, ErrNeedsRecovery) {
				s.Close()
				t.Fatalf("Load = %v, want ErrNeedsRecovery", err)
			}
			s.Close()
			// What the log does next: reopen writable and recover.
			s, err = Open(dir, rtBase, rtConfig(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Recover(); err != nil {
				t.Fatal(err)
			}
			f := rtReadFile(t, rtPath(dir, LogSuffix))
			rtCheckSegment(t, s, rtSplit(t, f, tt.keep))
		})
	}
}

// TestLoadMissingIndexes removes a sealed segment's index files: Load must
// ask for recovery (whether Open was read-only or writable, which recreates
// the file empty), and Recover rebuilds their entries.
func TestLoadMissingIndexes(t *testing.T) {
	for _, suf := range []string{IndexSuffix, TimeIndexSuffix} {
		t.Run(suf, func(t *testing.T) {
			dir := t.TempDir()
			written := rtWrite(t, dir, 12)
			if err := os.Remove(rtPath(dir, suf)); err != nil {
				t.Fatal(err)
			}
			if s, err := Open(dir, rtBase, rtConfig(), false); err == nil {
				err = s.Load()
				s.Close()
				if !errors.Is(err, ErrNeedsRecovery) {
					t.Fatalf("read-only Open and Load without an index file: %v, want ErrNeedsRecovery", err)
				}
			}
			// A writable Open recreates the file empty; Load must still not
			// trust an empty index for a non-empty segment.
			s, err := Open(dir, rtBase, rtConfig(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Load(); !errors.Is(err, ErrNeedsRecovery) {
				t.Fatalf("Load with a recreated empty %s: %v, want ErrNeedsRecovery", suf, err)
			}
			if _, err := s.Recover(); err != nil {
				t.Fatal(err)
			}
			rtCheckSegment(t, s, written)
			if suf == IndexSuffix && s.offIdx.Entries() == 0 {
				t.Fatal("offset index not rebuilt")
			}
			if suf == TimeIndexSuffix && s.timeIdx.Entries() == 0 {
				t.Fatal("time index not rebuilt")
			}
		})
	}
}

func rtAppendRaw(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTruncateTo cuts a writable segment at every offset (batch boundaries
// and offsets inside batches) and checks the file, the metadata and the
// indexes, that appends continue at the new end, and that the result loads
// after a clean close.
func TestTruncateTo(t *testing.T) {
	const n = 10
	dir := t.TempDir()
	written := rtWrite(t, dir, n)
	full := bytes.Join(written, nil)
	lastOffset := func() int64 {
		h, _ := recordbatch.ParseHeader(written[n-1])
		return h.LastOffset()
	}()
	for off := int64(rtBase - 1); off <= lastOffset+2; off++ {
		rtWriteFile(t, rtPath(dir, LogSuffix), full)
		for _, suf := range []string{IndexSuffix, TimeIndexSuffix} {
			os.Remove(rtPath(dir, suf))
		}
		s, err := Open(dir, rtBase, rtConfig(), true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recover(); err != nil {
			t.Fatal(err)
		}
		if err := s.TruncateTo(off); err != nil {
			s.Close()
			t.Fatalf("TruncateTo(%d): %v", off, err)
		}
		// Keep every batch whose last offset is below off.
		var want [][]byte
		for _, b := range written {
			h, _ := recordbatch.ParseHeader(b)
			if h.LastOffset() >= off {
				break
			}
			want = append(want, b)
		}
		rtCheckSegment(t, s, want)
		want = append(want, rtAppendOne(t, s, n+int(off)))
		rtCheckSegment(t, s, want)
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(dir, rtBase, rtConfig(), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Load(); err != nil {
			s.Close()
			t.Fatalf("TruncateTo(%d): Load after close: %v", off, err)
		}
		rtCheckSegment(t, s, want)
		s.Close()
	}
}

// TestRecoverWithSalvagesPastDamage damages one place of a sealed segment
// and checks what RecoverWith keeps (the batches before the damage), what
// it hands to Salvage (the bytes from the first batch after the damage
// that the batch after it vouches for, and that batch's base offset), and
// that Verify's Kept ranges say the same.
func TestRecoverWithSalvagesPastDamage(t *testing.T) {
	const n = 8
	pos := func(batches [][]byte, i int) int {
		p := 0
		for _, b := range batches[:i] {
			p += len(b)
		}
		return p
	}
	base := func(b []byte) int64 { h, _ := recordbatch.ParseHeader(b); return h.BaseOffset }
	next := func(b []byte) int64 { h, _ := recordbatch.ParseHeader(b); return h.NextOffset() }
	tests := []struct {
		name string
		// damage returns the damaged file, the number of batches kept
		// before the damage and the index of the first salvaged batch
		// (-1: none).
		damage func(batches [][]byte, file []byte) ([]byte, int, int)
	}{
		{"crc", func(bs [][]byte, f []byte) ([]byte, int, int) {
			f[pos(bs, 2)+recordbatch.HeaderSize+1] ^= 1
			return f, 2, 3
		}},
		{"length", func(bs [][]byte, f []byte) ([]byte, int, int) {
			f[pos(bs, 3)+recordbatch.BatchLengthPos+3] ^= 0x10
			return f, 3, 4
		}},
		{"base offset (no CRC covers it)", func(bs [][]byte, f []byte) ([]byte, int, int) {
			f[pos(bs, 1)+recordbatch.BaseOffsetPos+7] ^= 1
			return f, 1, 2
		}},
		{"garbage inserted", func(bs [][]byte, f []byte) ([]byte, int, int) {
			p := pos(bs, 5)
			return append(append(bytes.Clone(f[:p]), bytes.Repeat([]byte{2}, 100)...), f[p:]...), 5, 5
		}},
		{"last batch damaged", func(bs [][]byte, f []byte) ([]byte, int, int) {
			f[pos(bs, n-1)+recordbatch.HeaderSize] ^= 1
			return f, n - 1, -1
		}},
		{"two batches damaged", func(bs [][]byte, f []byte) ([]byte, int, int) {
			// 5 lies between two damaged batches: the header of 4,
			// whose framing is intact, vouches for it.
			f[pos(bs, 4)+recordbatch.HeaderSize] ^= 1
			f[pos(bs, 6)+recordbatch.HeaderSize] ^= 1
			return f, 4, 5
		}},
		{"two batches damaged, framing lost", func(bs [][]byte, f []byte) ([]byte, int, int) {
			// Nothing vouches for 5 (its neighbours' lengths are
			// damaged); 7 ends the file.
			f[pos(bs, 4)+recordbatch.BatchLengthPos+3] ^= 0x10
			f[pos(bs, 6)+recordbatch.BatchLengthPos+3] ^= 0x10
			return f, 4, 7
		}},
		{"truncated", func(bs [][]byte, f []byte) ([]byte, int, int) {
			return f[:pos(bs, 6)+10], 6, -1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			batches := rtWrite(t, dir, n)
			limit := next(batches[n-1]) // the next segment starts right after
			file, kept, first := tt.damage(batches, rtReadFile(t, rtPath(dir, LogSuffix)))
			rtWriteFile(t, rtPath(dir, LogSuffix), file)
			res, err := Verify(dir, rtBase, VerifyOptions{NextSegment: limit})
			if err != nil {
				t.Fatal(err)
			}

			s, err := Open(dir, rtBase, rtConfig(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var gotBase int64 = -1
			var gotTail []byte
			st, err := s.RecoverWith(RecoverOptions{Limit: limit, Salvage: func(b int64, tail []byte) error {
				gotBase, gotTail = b, bytes.Clone(tail)
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			rtCheckSegment(t, s, batches[:kept])
			wantKept := []KeptRange{{Base: rtBase, Next: next(batches[kept-1]), From: 0, To: int64(pos(batches, kept)), FirstBatch: rtBase}}
			if first < 0 {
				if gotBase != -1 || st.ResumeOffset != -1 {
					t.Fatalf("salvaged %d bytes at %d, want nothing", len(gotTail), gotBase)
				}
			} else {
				from := len(file) - len(bytes.Join(batches[first:], nil))
				if gotBase != base(batches[first]) || !bytes.Equal(gotTail, file[from:]) || st.ResumeOffset != gotBase ||
					st.ResumePosition != int64(from) {
					t.Fatalf("salvaged %d bytes at %d (stats %+v), want the %d bytes from batch %d on, at %d",
						len(gotTail), gotBase, st, len(file)-from, first, base(batches[first]))
				}
				wantKept = append(wantKept, KeptRange{Base: gotBase, From: st.ResumePosition, FirstBatch: gotBase})
			}
			if len(res.Kept) < len(wantKept) || res.Kept[0] != wantKept[0] ||
				len(wantKept) > 1 && (res.Kept[1].Base != wantKept[1].Base || res.Kept[1].From != wantKept[1].From) {
				t.Fatalf("Verify keeps %+v, want it to start with %+v", res.Kept, wantKept)
			}
		})
	}
}
