package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 32 << 10
	c.SegmentIndexBytes = 4 << 10
	c.IndexIntervalBytes = 1024
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// fill appends n batches of 3 records and returns copies as stored.
func fill(t testing.TB, l *Log, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := recordbatch.Build(3, 200, int64(1_000_000+i*3))
		if _, err := l.Append(b); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out
}

func TestAppendAssignsContiguousOffsetsAcrossSegments(t *testing.T) {
	l, err := Open(t.TempDir(), smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batches := fill(t, l, 200)
	if l.NumSegments() < 5 {
		t.Fatalf("expected rolls at 32 KiB, have %d segments", l.NumSegments())
	}
	if l.NextOffset() != 600 || l.StartOffset() != 0 {
		t.Fatalf("start %d next %d", l.StartOffset(), l.NextOffset())
	}
	// Walk the log with small reads: every batch exactly once, in order.
	var got [][]byte
	for off := int64(0); off < l.NextOffset(); {
		r, err := l.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := recordbatch.Validate(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != off {
			t.Fatalf("read at %d returned batch at %d", off, h.BaseOffset)
		}
		got = append(got, append([]byte(nil), r.Data...))
		r.Release()
		off = h.NextOffset()
	}
	if len(got) != len(batches) {
		t.Fatalf("walked %d batches, appended %d", len(got), len(batches))
	}
	for i := range got {
		if !bytes.Equal(got[i], batches[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestAppendSeveralBatchesAtOnce(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	multi := append(recordbatch.Build(2, 10, 0), recordbatch.Build(5, 10, 0)...)
	multi = append(multi, recordbatch.Build(1, 10, 0)...)
	base, err := l.Append(multi)
	if err != nil || base != 0 || l.NextOffset() != 8 {
		t.Fatalf("append = %d, %v; next %d", base, err, l.NextOffset())
	}
	r, err := l.Read(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if r.BaseOffset != 2 {
		t.Fatalf("offset 3 is in the batch at 2, got %d", r.BaseOffset)
	}
}

func TestReadBounds(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 2)
	for _, off := range []int64{-1, 7, 1 << 40} {
		if _, err := l.Read(off, 100); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("Read(%d) = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	r, err := l.Read(6, 100)
	if err != nil || len(r.Data) != 0 {
		t.Fatalf("read at the end: %d bytes, %v", len(r.Data), err)
	}
	r.Release()
	r.Release() // idempotent
}

func TestAppendRejectsBadInput(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := recordbatch.Build(1, 10, 0)
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 0xff
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrCorruptBatch},
		{"crc", corrupt, ErrCorruptBatch},
		{"truncated", good[:len(good)-1], ErrCorruptBatch},
		{"good then corrupt", append(append([]byte(nil), good...), corrupt...), ErrCorruptBatch},
		{"garbage", bytes.Repeat([]byte{0xab}, 100), ErrCorruptBatch},
	}
	for _, tt := range tests {
		if _, err := l.Append(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if l.NextOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected appends wrote: next %d size %d", l.NextOffset(), l.Size())
	}
}

func TestReopenCleanAndUnclean(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	batches := fill(t, l, 100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		if l.NextOffset() != 300 {
			t.Fatalf("next %d", l.NextOffset())
		}
		for i, b := range batches {
			r, err := l.Read(int64(3*i+2), 1)
			if err != nil || !bytes.Equal(r.Data, b) {
				t.Fatalf("batch %d: %v", i, err)
			}
			r.Release()
		}
	}
	l, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Recovery().Clean || l.Recovery().BytesScanned != 0 {
		t.Fatalf("clean reopen scanned: %+v", l.Recovery())
	}
	check(l)
	l.Close()
	// Unclean: no checkpoint at all means a full scan.
	os.Remove(filepath.Join(dir, CheckpointFile))
	l, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.Recovery().Clean || l.Recovery().BytesScanned != l.Size() {
		t.Fatalf("unclean reopen: %+v, size %d", l.Recovery(), l.Size())
	}
	check(l)
	l.Close()
}

func TestCheckpointEncodingRefusesEveryFlippedByte(t *testing.T) {
	c := checkpoint{clean: true, indexFormat: 1, recoveryOffset: 1 << 40, logStartOffset: 12345}
	b := encodeCheckpoint(c)
	got, err := decodeCheckpoint(b)
	if err != nil || got != c {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if _, err := decodeCheckpoint(bad); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := decodeCheckpoint(b[:len(b)-1]); err == nil {
		t.Fatal("short checkpoint accepted")
	}
}

func TestConfigWith(t *testing.T) {
	c, err := DefaultConfig().With(map[string]string{
		"retention.ms": "1000", "segment.bytes": "1048576", "flush.messages": "1",
		"message.timestamp.type": "LogAppendTime",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.RetentionMs != 1000 || c.SegmentBytes != 1<<20 || c.FlushMessages != 1 || c.MessageTimestampType != TimestampTypeLogAppend {
		t.Fatalf("%+v", c)
	}
	back, err := DefaultConfig().With(c.Map())
	if err != nil || back.RetentionMs != c.RetentionMs || back.SegmentBytes != c.SegmentBytes {
		t.Fatalf("Map round trip: %+v %v", back, err)
	}
	for _, bad := range []map[string]string{
		{"retention.ms": "soon"},
		{"retention.ms": "-2"},
		{"segment.bytes": "1"},
		{"segment.bytes": "4294967296"},
		{"flush.messages": "0"},
		{"cleanup.policy": "shred"},
		{"cleanup.policy": "compact,compact"},
		{"cleanup.policy": ""},
		{"delete.retention.ms": "-1"},
		{"min.cleanable.dirty.ratio": "1.5"},
		{"min.cleanable.dirty.ratio": "NaN"},
		{"min.compaction.lag.ms": "-1"},
		{"max.compaction.lag.ms": "0"},
		{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
		{"message.timestamp.type": "Now"},
		{"no.such.config": "1"},
	} {
		if _, err := DefaultConfig().With(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestIndexPreallocationFitsTheSegment(t *testing.T) {
	c := DefaultConfig()
	// 1 GiB / 4 KiB = 262,144 entries (+3) of 12 bytes, page-rounded.
	if got, want := c.indexBytes(), ((1<<30/4096+3)*12+4095)/4096*4096; got != want {
		t.Errorf("default: %d, want %d", got, want)
	}
	c.SegmentIndexBytes = 1 << 20 // the configured cap wins when smaller
	if got := c.indexBytes(); got != 1<<20 {
		t.Errorf("capped: %d", got)
	}
	// A log of small segments fills them by size before its indexes fill.
	c = smallConfig()
	c.SegmentIndexBytes = 10 << 20
	l, err := Open(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 300)
	l.segMu.RLock()
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.Size()+int64(len(recordbatch.Build(3, 200, 0))) <= c.SegmentBytes {
			t.Errorf("segment %d rolled at %d bytes, before segment.bytes", s.BaseOffset(), s.Size())
		}
	}
	l.segMu.RUnlock()
}

// TestRollGivesBackAddressSpace: the active segment reserves address space
// for a whole segment; once sealed (and unread) it keeps only its size, or
// thousands of partitions would run out of the 47-bit address space.
func TestRollGivesBackAddressSpace(t *testing.T) {
	c := smallConfig()
	c.SegmentBytes = 64 << 20
	l, err := Open(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 10)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 10)
	l.segMu.RLock()
	sealed, active := l.segs[0], l.segs[1]
	l.segMu.RUnlock()
	mapped := func(path string) int64 {
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Skip("no /proc/self/maps")
		}
		var total int64
		for _, line := range bytes.Split(maps, []byte("\n")) {
			if !bytes.HasSuffix(line, []byte(path)) {
				continue
			}
			var lo, hi int64
			if _, err := fmt.Sscanf(string(line), "%x-%x", &lo, &hi); err == nil {
				total += hi - lo
			}
		}
		return total
	}
	if got := mapped(sealed.Path()); got == 0 || got > sealed.Size()+int64(os.Getpagesize()) {
		t.Errorf("sealed segment of %d bytes has %d bytes mapped", sealed.Size(), got)
	}
	if got := mapped(active.Path()); got < c.SegmentBytes {
		t.Errorf("active segment reserves %d bytes, want at least segment.bytes %d", got, c.SegmentBytes)
	}

	// A reader holding a view across the roll keeps the reservation (its
	// view lives in it); the next retention run, after it let go, shrinks it.
	r, err := l.Read(active.BaseOffset(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	view := bytes.Clone(r.Data)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if got := mapped(active.Path()); got < c.SegmentBytes || !bytes.Equal(r.Data, view) {
		t.Fatalf("segment shrunk under a reader's view (%d bytes mapped)", got)
	}
	r.Release()
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if got := mapped(active.Path()); got > active.Size()+int64(os.Getpagesize()) {
		t.Errorf("after the reader let go and retention ran: %d bytes mapped for %d", got, active.Size())
	}
}

// TestStrayEmptySegmentIsRemovedAlone: an empty .log left inside another
// segment's range (a roll that died between creating the file and using it,
// after the end had moved on) is removed, and nothing after it is lost.
func TestStrayEmptySegmentIsRemovedAlone(t *testing.T) {
	dir := t.TempDir()
	c := smallConfig()
	l, err := Open(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	first := fill(t, l, 7) // offsets 0..20
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	second := fill(t, l, 3) // 21..29
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, segment.FileName(5, segment.LogSuffix))
	if err := os.WriteFile(stray, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, unclean := range []bool{false, true} {
		if unclean {
			os.WriteFile(stray, nil, 0o644)
			os.Remove(filepath.Join(dir, CheckpointFile))
		}
		l, err = Open(dir, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("unclean=%v: stray segment still there: %v", unclean, err)
		}
		if l.NextOffset() != 30 || l.NumSegments() != 2 {
			t.Fatalf("unclean=%v: end %d, %d segments; want 30, 2", unclean, l.NextOffset(), l.NumSegments())
		}
		for i, b := range append(append([][]byte(nil), first...), second...) {
			r, err := l.Read(int64(3*i), 1)
			if err != nil || !bytes.Equal(r.Data, b) {
				t.Fatalf("unclean=%v: batch %d: %v", unclean, i, err)
			}
			r.Release()
		}
		l.Close()
	}
}
