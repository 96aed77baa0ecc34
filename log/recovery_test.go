package log_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Recovery tests of a partition log: torn tails, flipped bytes, damaged
// indexes and corruption in a middle segment. Every helper carries an rcv
// prefix so that it cannot collide with the package's other tests.

// rcvConfig is a log config with small segments and small preallocated
// indexes, so that tests make many segments and copying a log dir is cheap.
func rcvConfig(segmentBytes int64) tlog.Config {
	c := tlog.DefaultConfig()
	c.SegmentBytes = segmentBytes
	c.SegmentIndexBytes = 4096
	c.IndexIntervalBytes = 256
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

// rcvBatch is batch i of the sequence most tests write: 1-3 records of 10-99
// bytes, timestamps strictly increasing from batch to batch.
func rcvBatch(i int) []byte {
	return recordbatch.Build(1+i%3, 10+(i*37)%90, 10_000+int64(i)*100)
}

func rcvOpen(t testing.TB, dir string, cfg tlog.Config) *tlog.Log {
	t.Helper()
	l, err := tlog.Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open %s: %v", dir, err)
	}
	return l
}

func rcvClose(t testing.TB, l *tlog.Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// rcvAppend appends each batch with its own Append and returns the batches
// as stored (Append rewrites the base offset in the caller's buffer).
func rcvAppend(t testing.TB, l *tlog.Log, from, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := from; i < from+n; i++ {
		b := rcvBatch(i)
		want := l.NextOffset()
		base, err := l.Append(b)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if base != want {
			t.Fatalf("append %d got base %d, want %d", i, base, want)
		}
		if h, _ := recordbatch.ParseHeader(b); h.BaseOffset != base {
			t.Fatalf("append %d: stored base offset %d, returned %d", i, h.BaseOffset, base)
		}
		out = append(out, b)
	}
	return out
}

// rcvCopyDir copies the regular files of a partition dir (it has no subdirs)
// into dst, replacing dst's contents.
func rcvCopyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rcvWalk reads the whole log from StartOffset to NextOffset and calls fn for
// every batch in order. It fails the test unless every batch validates (CRC
// included) and the batches are contiguous: the first starts at StartOffset,
// each starts one past the previous one's last offset, and the last ends
// exactly at NextOffset. The data passed to fn is only valid during the call.
func rcvWalk(t testing.TB, l *tlog.Log, fn func(h recordbatch.Header, data []byte)) {
	t.Helper()
	off, end := l.StartOffset(), l.NextOffset()
	for off < end {
		b, err := l.Read(off, 256<<10)
		if err != nil {
			t.Fatalf("Read(%d) in [%d, %d): %v", off, l.StartOffset(), end, err)
		}
		if len(b.Data) == 0 {
			b.Release()
			t.Fatalf("Read(%d) returned nothing before the log end %d: a gap", off, end)
		}
		if b.BaseOffset != off {
			b.Release()
			t.Fatalf("Read(%d) starts at base offset %d: offsets not contiguous", off, b.BaseOffset)
		}
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.Validate(b.Data[p:])
			if err != nil {
				b.Release()
				t.Fatalf("batch at offset %d does not validate: %v", off, err)
			}
			if h.BaseOffset != off {
				b.Release()
				t.Fatalf("batch after offset %d has base offset %d: gap or overlap", off-1, h.BaseOffset)
			}
			if fn != nil {
				fn(h, b.Data[p:p+h.Size()])
			}
			off = h.NextOffset()
			p += h.Size()
		}
		b.Release()
	}
	if off != end {
		t.Fatalf("last batch ends at %d, past the log end offset %d", off, end)
	}
	if b, err := l.Read(end, 1<<20); err != nil || len(b.Data) != 0 {
		t.Fatalf("Read(log end %d) = %d bytes, %v; want nothing", end, len(b.Data), err)
	}
	if _, err := l.Read(end+1, 1<<20); !errors.Is(err, tlog.ErrOffsetOutOfRange) {
		t.Fatalf("Read(log end + 1) = %v, want ErrOffsetOutOfRange", err)
	}
}

// rcvCheckBatches checks that the log holds exactly want, byte for byte,
// from offset 0, and that every offset reads back the batch that holds it.
func rcvCheckBatches(t testing.TB, l *tlog.Log, want [][]byte) {
	t.Helper()
	if l.StartOffset() != 0 {
		t.Fatalf("StartOffset %d, want 0", l.StartOffset())
	}
	i := 0
	rcvWalk(t, l, func(h recordbatch.Header, data []byte) {
		if i >= len(want) {
			t.Fatalf("extra batch at offset %d", h.BaseOffset)
		}
		if !bytes.Equal(data, want[i]) {
			t.Fatalf("batch %d at offset %d differs from what was appended", i, h.BaseOffset)
		}
		i++
	})
	if i != len(want) {
		t.Fatalf("log has %d batches, want %d", i, len(want))
	}
	for _, w := range want {
		h, _ := recordbatch.ParseHeader(w)
		for off := h.BaseOffset; off <= h.LastOffset(); off++ {
			b, err := l.Read(off, 1)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			ok := b.BaseOffset == h.BaseOffset && bytes.Equal(b.Data, w)
			b.Release()
			if !ok {
				t.Fatalf("Read(%d) does not return the batch at %d holding it", off, h.BaseOffset)
			}
		}
	}
}

// rcvCheckTimestamps checks OffsetForTimestamp against the batches: the answer
// is the first batch whose max timestamp is >= ts, or -1.
func rcvCheckTimestamps(t testing.TB, l *tlog.Log, batches [][]byte) {
	t.Helper()
	var probes []int64
	for _, b := range batches {
		h, _ := recordbatch.ParseHeader(b)
		probes = append(probes, h.MaxTimestamp-1, h.MaxTimestamp, h.MaxTimestamp+1)
	}
	probes = append(probes, -1, 0, 1<<62)
	for _, ts := range probes {
		wantOff, wantTs := int64(-1), int64(-1)
		for _, b := range batches {
			// The first record with timestamp >= ts (the batches are
			// uncompressed; record walking has its own unit test).
			if o, rts, found, err := recordbatch.FirstRecordAtOrAfter(b, ts); err == nil && found {
				wantOff, wantTs = o, rts
				break
			}
		}
		off, gotTs, err := l.OffsetForTimestamp(ts)
		if err != nil || off != wantOff || gotTs != wantTs {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, gotTs, err, wantOff, wantTs)
		}
	}
}

// rcvSegments returns the base offsets of the .log files in dir, sorted.
func rcvSegments(t testing.TB, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, e := range ents {
		if base, suf, ok := segment.ParseFileName(e.Name()); ok && suf == segment.LogSuffix {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

func rcvFile(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segment.FileName(base, suffix))
}

// rcvCheckIndexFiles checks the index files of every segment in dir against
// its .log, which must hold only whole valid batches (a closed log): each
// offset index entry points at the start of the batch with that offset, each
// time index entry names a batch's last offset and max timestamp, both are
// strictly increasing and hold whole entries. Call it on a closed log, whose
// indexes are trimmed. It returns the index sizes per segment.
func rcvCheckIndexFiles(t testing.TB, dir string) map[int64][2]int64 {
	t.Helper()
	sizes := map[int64][2]int64{}
	for _, base := range rcvSegments(t, dir) {
		data, err := os.ReadFile(rcvFile(dir, base, segment.LogSuffix))
		if err != nil {
			t.Fatal(err)
		}
		baseAt := map[uint32]int64{}
		maxTsOfLast := map[int64]int64{}
		for p := 0; p < len(data); {
			h, err := recordbatch.Validate(data[p:])
			if err != nil {
				t.Fatalf("segment %d: batch at %d: %v", base, p, err)
			}
			baseAt[uint32(p)] = h.BaseOffset
			maxTsOfLast[h.LastOffset()] = h.MaxTimestamp
			p += h.Size()
		}
		idx, err := os.ReadFile(rcvFile(dir, base, segment.IndexSuffix))
		if err != nil {
			t.Fatalf("segment %d: %v", base, err)
		}
		if len(idx)%8 != 0 {
			t.Fatalf("segment %d: .index is %d bytes, not whole 8-byte entries", base, len(idx))
		}
		for i := 0; i < len(idx); i += 8 {
			rel, pos := binary.BigEndian.Uint32(idx[i:]), binary.BigEndian.Uint32(idx[i+4:])
			if got, ok := baseAt[pos]; !ok || got != base+int64(rel) {
				t.Fatalf("segment %d: .index entry %d (%d→%d) does not point at the batch with that offset", base, i/8, rel, pos)
			}
			if i > 0 && (rel <= binary.BigEndian.Uint32(idx[i-8:]) || pos <= binary.BigEndian.Uint32(idx[i-4:])) {
				t.Fatalf("segment %d: .index entry %d does not follow the previous one", base, i/8)
			}
		}
		tidx, err := os.ReadFile(rcvFile(dir, base, segment.TimeIndexSuffix))
		if err != nil {
			t.Fatalf("segment %d: %v", base, err)
		}
		if len(tidx)%12 != 0 {
			t.Fatalf("segment %d: .timeindex is %d bytes, not whole 12-byte entries", base, len(tidx))
		}
		for i := 0; i < len(tidx); i += 12 {
			ts, rel := int64(binary.BigEndian.Uint64(tidx[i:])), binary.BigEndian.Uint32(tidx[i+8:])
			if got, ok := maxTsOfLast[base+int64(rel)]; !ok || got != ts {
				t.Fatalf("segment %d: .timeindex entry %d (%d→%d) names no batch ending there with that timestamp", base, i/12, ts, rel)
			}
			if i > 0 && ts <= int64(binary.BigEndian.Uint64(tidx[i-12:])) {
				t.Fatalf("segment %d: .timeindex entry %d does not follow the previous one", base, i/12)
			}
		}
		sizes[base] = [2]int64{int64(len(idx)), int64(len(tidx))}
	}
	return sizes
}

// rcvTornFixture writes a log of several sealed segments, syncs it, appends
// an active segment of six batches, and copies the dir while the log is
// still open (an unclean checkpoint whose recovery point is the active
// segment's base offset, and untrimmed active indexes, as kill -9 leaves
// them). The active segment is the unflushed tail a crash may tear. It
// returns the copy and the batches as stored.
func rcvTornFixture(t *testing.T) (snap string, batches [][]byte, activeBase int64) {
	t.Helper()
	cfg := rcvConfig(2048)
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	batches = rcvAppend(t, l, 0, 30)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	activeBase = l.NextOffset()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	batches = append(batches, rcvAppend(t, l, 30, 6)...)
	if l.NumSegments() < 4 {
		t.Fatalf("fixture has %d segments, want several", l.NumSegments())
	}
	snap = filepath.Join(t.TempDir(), "snap")
	rcvCopyDir(t, src, snap)
	rcvClose(t, l)
	return snap, batches, activeBase
}

// rcvRecoverAndCheck opens the damaged copy in dir and checks that it holds
// exactly want, that TruncatedBytes is as expected (-1: don't check), that an
// append continues at the log end, and that a clean reopen is stable.
// afterOpen, if set, runs right after the recovering Open.
func rcvRecoverAndCheck(t *testing.T, dir string, want [][]byte, truncated int64, afterOpen func(*tlog.Log)) {
	t.Helper()
	cfg := rcvConfig(2048)
	l := rcvOpen(t, dir, cfg)
	if afterOpen != nil {
		afterOpen(l)
	}
	if info := l.Recovery(); info.Clean || (truncated >= 0 && info.TruncatedBytes != truncated) {
		l.Close()
		t.Fatalf("recovery info %+v, want unclean with %d truncated bytes", info, truncated)
	}
	var wantNext int64
	if len(want) > 0 {
		h, _ := recordbatch.ParseHeader(want[len(want)-1])
		wantNext = h.NextOffset()
	}
	if l.NextOffset() != wantNext {
		l.Close()
		t.Fatalf("NextOffset after recovery %d, want %d", l.NextOffset(), wantNext)
	}
	rcvCheckBatches(t, l, want)
	want = append(want[:len(want):len(want)], rcvAppend(t, l, 1000, 2)...) // never into the caller's array
	rcvCheckBatches(t, l, want)
	rcvClose(t, l)
	l = rcvOpen(t, dir, cfg)
	if !l.Recovery().Clean {
		t.Fatalf("reopen after a clean close was not clean: %+v", l.Recovery())
	}
	rcvCheckBatches(t, l, want)
	rcvClose(t, l)
}

// TestRecoverTornTailEveryByte cuts the active segment's .log at every byte
// within its last two batches, as a crash in the middle of a write leaves it,
// and checks that recovery keeps exactly the whole batches before the cut.
func TestRecoverTornTailEveryByte(t *testing.T) {
	snap, batches, activeBase := rcvTornFixture(t)
	activeLog := rcvFile(snap, activeBase, segment.LogSuffix)
	full, err := os.ReadFile(activeLog)
	if err != nil {
		t.Fatal(err)
	}
	// Positions in the active segment of its batches.
	var ends []int
	var first int // index in batches of the active segment's first batch
	for i, b := range batches {
		h, _ := recordbatch.ParseHeader(b)
		if h.BaseOffset < activeBase {
			first = i + 1
			continue
		}
		prev := 0
		if len(ends) > 0 {
			prev = ends[len(ends)-1]
		}
		ends = append(ends, prev+len(b))
	}
	if ends[len(ends)-1] != len(full) || len(ends) != 6 {
		t.Fatalf("active segment is %d bytes, batches end at %v", len(full), ends)
	}
	stride := 1
	if testing.Short() {
		stride = 5
	}
	work := filepath.Join(t.TempDir(), "work")
	for cut := ends[len(ends)-3]; cut <= len(full); cut += stride {
		kept := first
		keptEnd := 0
		for i, e := range ends {
			if e <= cut {
				kept, keptEnd = first+i+1, e
			}
		}
		rcvCopyDir(t, snap, work)
		if err := os.Truncate(filepath.Join(work, filepath.Base(activeLog)), int64(cut)); err != nil {
			t.Fatal(err)
		}
		if cut%4 == 1 {
			// No checkpoint at all: everything is scanned.
			if err := os.Remove(filepath.Join(work, tlog.CheckpointFile)); err != nil {
				t.Fatal(err)
			}
		}
		ok := t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			rcvRecoverAndCheck(t, work, batches[:kept], int64(cut-keptEnd), nil)
		})
		if !ok {
			t.Fatalf("cut at byte %d of the %d-byte active segment", cut, len(full))
		}
	}
}

// TestRecoverFlippedByte flips each byte of the last two batches of the
// active segment in turn. Every byte but the partition leader epoch is
// checked by the batch's structure, base offset chain or CRC-32C, so the log
// is cut at the damaged batch; a flipped epoch leaves a valid batch. A
// damaged second-to-last batch is not a torn tail when its header still
// frames it and says the last batch comes next: the last batch is kept,
// past a gap where the damaged one was.
func TestRecoverFlippedByte(t *testing.T) {
	snap, batches, activeBase := rcvTornFixture(t)
	activeLog := rcvFile(snap, activeBase, segment.LogSuffix)
	full, err := os.ReadFile(activeLog)
	if err != nil {
		t.Fatal(err)
	}
	n := len(batches)
	lastTwo := len(batches[n-2]) + len(batches[n-1])
	stride := 1
	if testing.Short() {
		stride = 3
	}
	work := filepath.Join(t.TempDir(), "work")
	for at := len(full) - lastTwo; at < len(full); at += stride {
		victim, inBatch := n-2, at-(len(full)-lastTwo)
		if inBatch >= len(batches[n-2]) {
			victim, inBatch = n-1, inBatch-len(batches[n-2])
		}
		damaged := bytes.Clone(full)
		damaged[at] ^= 0xff
		rcvCopyDir(t, snap, work)
		if err := os.WriteFile(filepath.Join(work, filepath.Base(activeLog)), damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		want := append([][]byte{}, batches[:victim]...)
		truncated := int64(lastTwo)
		if victim == n-1 {
			truncated = int64(len(batches[n-1]))
		}
		if inBatch >= recordbatch.PartitionLeaderEpochPos && inBatch < recordbatch.MagicPos {
			// Not covered by the CRC, and any epoch is valid.
			b := bytes.Clone(batches[victim])
			b[inBatch] ^= 0xff
			want = append(append(want, b), batches[victim+1:]...)
			truncated = 0
		} else if h, err := recordbatch.ParseHeader(damaged[at-inBatch:]); victim == n-2 && err == nil &&
			h.Size() == len(batches[victim]) && h.NextOffset() == rcvBatchBase(batches[n-1]) {
			// The damaged batch's header vouches for the last one: it
			// is kept, the damaged batch's offsets are a reported gap.
			ok := t.Run(fmt.Sprintf("batch=%d/byte=%d", victim, inBatch), func(t *testing.T) {
				l := rcvOpen(t, work, rcvConfig(2048))
				defer l.Close()
				gap := []tlog.OffsetRange{{From: rcvBatchBase(batches[n-2]), To: rcvBatchBase(batches[n-1])}}
				var lost []tlog.OffsetRange
				for _, r := range l.Recovery().Lost {
					lost = append(lost, r.OffsetRange)
				}
				if info := l.Recovery(); info.TruncatedBytes != int64(len(batches[n-2])) || !slices.Equal(lost, gap) {
					t.Fatalf("recovery info %+v, want %d bytes truncated and %v lost", info, len(batches[n-2]), gap)
				}
				last, _ := recordbatch.ParseHeader(batches[n-1])
				gapCheck(t, l, append(want, batches[n-1]), gap, last.NextOffset())
			})
			if !ok {
				t.Fatalf("flipped byte %d of batch %d (byte %d of the active segment)", inBatch, victim, at)
			}
			continue
		}
		ok := t.Run(fmt.Sprintf("batch=%d/byte=%d", victim, inBatch), func(t *testing.T) {
			rcvRecoverAndCheck(t, work, want, truncated, nil)
		})
		if !ok {
			t.Fatalf("flipped byte %d of batch %d (byte %d of the active segment)", inBatch, victim, at)
		}
	}
}

// rcvBatchBase is the base offset of a stored batch.
func rcvBatchBase(b []byte) int64 {
	h, _ := recordbatch.ParseHeader(b)
	return h.BaseOffset
}

// rcvIndexFixture writes a log with timestamps into several segments and
// returns a copy of it after a clean Close and a copy taken while it was open
// (synced, unclean), with the batches as stored.
func rcvIndexFixture(t *testing.T) (clean, unclean string, batches [][]byte) {
	t.Helper()
	src := t.TempDir()
	l := rcvOpen(t, src, rcvConfig(3000))
	batches = rcvAppend(t, l, 0, 90)
	if l.NumSegments() < 5 {
		t.Fatalf("fixture has %d segments, want at least 5", l.NumSegments())
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	unclean = filepath.Join(t.TempDir(), "unclean")
	rcvCopyDir(t, src, unclean)
	rcvClose(t, l)
	clean = filepath.Join(t.TempDir(), "clean")
	rcvCopyDir(t, src, clean)
	return clean, unclean, batches
}

// TestRecoverDamagedIndexes damages the index files of a sealed segment (and
// of the active one) in the ways a crash or a bad disk does and checks that
// Open rebuilds them: every offset and every timestamp lookup still answers
// right, and the index files on disk are consistent with the log again.
func TestRecoverDamagedIndexes(t *testing.T) {
	clean, unclean, batches := rcvIndexFixture(t)
	bases := rcvSegments(t, clean)
	sealed := bases[2]            // a sealed segment in the middle of the log
	active := bases[len(bases)-1] // the active one
	truncateBy := func(base int64, suf string, by int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := rcvFile(dir, base, suf)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() < by+8 {
				t.Fatalf("setup: %s has only %d bytes", p, fi.Size())
			}
			if err := os.Truncate(p, fi.Size()-by); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(base int64, sufs ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for _, suf := range sufs {
				if err := os.Remove(rcvFile(dir, base, suf)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	overwrite := func(base int64, suf string, at int, b []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := rcvFile(dir, base, suf)
			f, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if at < 0 {
				at += len(f)
			}
			if at < 0 || at+len(b) > len(f) {
				t.Fatalf("setup: %s has only %d bytes", p, len(f))
			}
			copy(f[at:], b)
			if err := os.WriteFile(p, f, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	zeroFill := func(base int64, sufs ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for _, suf := range sufs {
				// Untrimmed: the preallocated size (segment.index.bytes
				// rounded down to whole entries), zeros after the entries.
				size := int64(4096 / 8 * 8)
				if suf == segment.TimeIndexSuffix {
					size = 4096 / 12 * 12
				}
				if err := os.Truncate(rcvFile(dir, base, suf), size); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	garbage := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		seg    int64 // the segment whose indexes must have been rebuilt
	}{
		{"sealed: both indexes deleted", remove(sealed, segment.IndexSuffix, segment.TimeIndexSuffix), sealed},
		{"sealed: offset index deleted", remove(sealed, segment.IndexSuffix), sealed},
		{"sealed: time index deleted", remove(sealed, segment.TimeIndexSuffix), sealed},
		{"sealed: offset index not whole entries", truncateBy(sealed, segment.IndexSuffix, 3), sealed},
		{"sealed: time index not whole entries", truncateBy(sealed, segment.TimeIndexSuffix, 5), sealed},
		{"sealed: offset index entry garbage", overwrite(sealed, segment.IndexSuffix, 8, garbage[:8]), sealed},
		{"sealed: last offset index entry garbage", overwrite(sealed, segment.IndexSuffix, -8, garbage[:8]), sealed},
		{"sealed: time index entry garbage", overwrite(sealed, segment.TimeIndexSuffix, 0, garbage[:12]), sealed},
		{"sealed: indexes zero-filled (untrimmed)", zeroFill(sealed, segment.IndexSuffix, segment.TimeIndexSuffix), sealed},
		{"active: both indexes deleted", remove(active, segment.IndexSuffix, segment.TimeIndexSuffix), active},
		{"active: offset index garbage", overwrite(active, segment.IndexSuffix, 0, bytes.Repeat([]byte{0xff}, 8)), active},
		{"active: indexes zero-filled (untrimmed)", zeroFill(active, segment.IndexSuffix, segment.TimeIndexSuffix), active},
		{"first segment: both indexes deleted", remove(bases[0], segment.IndexSuffix, segment.TimeIndexSuffix), bases[0]},
	}
	for _, tt := range tests {
		for _, mode := range []string{"clean", "unclean", "no checkpoint"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				src := clean
				if mode != "clean" {
					src = unclean
				}
				dir := filepath.Join(t.TempDir(), "log")
				rcvCopyDir(t, src, dir)
				if mode == "no checkpoint" {
					if err := os.Remove(filepath.Join(dir, tlog.CheckpointFile)); err != nil {
						t.Fatal(err)
					}
				}
				tt.damage(t, dir)
				l := rcvOpen(t, dir, rcvConfig(3000))
				rcvCheckBatches(t, l, batches)
				rcvCheckTimestamps(t, l, batches)
				rcvClose(t, l)
				sizes := rcvCheckIndexFiles(t, dir)
				if sizes[tt.seg][0] == 0 || sizes[tt.seg][1] == 0 {
					t.Fatalf("segment %d: indexes not rebuilt: .index %d bytes, .timeindex %d bytes", tt.seg, sizes[tt.seg][0], sizes[tt.seg][1])
				}
				// And they serve a second, clean open.
				l = rcvOpen(t, dir, rcvConfig(3000))
				if !l.Recovery().Clean {
					t.Fatalf("second open not clean: %+v", l.Recovery())
				}
				rcvCheckBatches(t, l, batches)
				rcvCheckTimestamps(t, l, batches)
				rcvClose(t, l)
			})
		}
	}
}

// TestRecoverPlausibleIndexEntry shifts one offset index entry of a sealed
// segment to a position that still passes a structural sanity check (the
// entries stay increasing and inside the file) but is not a batch boundary:
// reads must still work, and the index must be rebuilt.
func TestRecoverPlausibleIndexEntry(t *testing.T) {
	clean, _, batches := rcvIndexFixture(t)
	bases := rcvSegments(t, clean)
	sealed := bases[1]
	p := rcvFile(clean, sealed, segment.IndexSuffix)
	idx, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) < 16 {
		t.Fatalf("setup: sealed segment has %d index bytes", len(idx))
	}
	pos := binary.BigEndian.Uint32(idx[4:])
	binary.BigEndian.PutUint32(idx[4:], pos+1) // still below entry 1's position
	if err := os.WriteFile(p, idx, 0o644); err != nil {
		t.Fatal(err)
	}
	l := rcvOpen(t, clean, rcvConfig(3000))
	rcvCheckBatches(t, l, batches)
	rcvCheckTimestamps(t, l, batches)
	rcvClose(t, l)
	if sizes := rcvCheckIndexFiles(t, clean); sizes[sealed][0] == 0 {
		t.Fatalf("segment %d: offset index not rebuilt", sealed)
	}
}

// TestRecoverKeepsLogStartOffset crashes right after DeleteRecordsBefore:
// the new log start offset was persisted before the call returned, so it
// survives, and nothing at or past it is lost.
func TestRecoverKeepsLogStartOffset(t *testing.T) {
	cfg := rcvConfig(2048)
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	batches := rcvAppend(t, l, 0, 40)
	h, _ := recordbatch.ParseHeader(batches[25])
	start := h.BaseOffset
	if got, err := l.DeleteRecordsBefore(start); err != nil || got != start {
		t.Fatalf("DeleteRecordsBefore(%d) = %d, %v", start, got, err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	rcvCopyDir(t, src, crashed) // no Sync since the appends: unclean
	rcvClose(t, l)
	l = rcvOpen(t, crashed, cfg)
	defer func() { l.Close() }()
	if l.StartOffset() != start {
		t.Fatalf("log start offset %d after the crash, want %d", l.StartOffset(), start)
	}
	if _, err := l.Read(start-1, 1); !errors.Is(err, tlog.ErrOffsetOutOfRange) {
		t.Fatalf("Read below the log start offset: %v, want ErrOffsetOutOfRange", err)
	}
	i := 25
	rcvWalk(t, l, func(_ recordbatch.Header, data []byte) {
		if i >= len(batches) || !bytes.Equal(data, batches[i]) {
			t.Fatalf("batch %d differs after the crash", i)
		}
		i++
	})
	if i != len(batches) {
		t.Fatalf("%d batches from the log start offset, want %d", i-25, len(batches)-25)
	}
}

// TestRecoverCrashAfterRoll crashes right after a roll, before the new
// segment got its first batch, with the checkpoint already past the old
// segment: the empty segment goes, the old one becomes active again, and
// appends and reopens work.
func TestRecoverCrashAfterRoll(t *testing.T) {
	cfg := rcvConfig(2048)
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	batches := rcvAppend(t, l, 0, 30)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	segs := l.NumSegments()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	rcvCopyDir(t, src, crashed)
	rcvClose(t, l)
	rcvRecoverAndCheck(t, crashed, batches, -1, func(l *tlog.Log) {
		if l.NumSegments() != segs-1 {
			t.Errorf("%d segments after recovery, want %d (the empty one dropped)", l.NumSegments(), segs-1)
		}
	})
	rcvCheckIndexFiles(t, crashed)
}
