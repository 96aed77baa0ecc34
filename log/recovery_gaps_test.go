package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// Recovery of damage that is not a torn tail: recovery repairs only what
// is damaged, keeps every later segment whose batches verify, and leaves
// what was lost as a reported offset gap.

// readWithGaps reads the log from its start offset to its end and returns
// every batch, validated (CRC included), and the gaps between them: the
// ranges Read skipped, as it skips the cleaner's. Batches in one Read
// result must be contiguous.
func readWithGaps(t testing.TB, l *tlog.Log) (out []storedBatch, gaps []tlog.OffsetRange) {
	t.Helper()
	off, end := l.StartOffset(), l.NextOffset()
	for off < end {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d (log [%d, %d)): %v", off, l.StartOffset(), end, err)
		}
		if len(b.Data) == 0 {
			// Nothing at or past off: a gap up to the log end.
			gaps = append(gaps, tlog.OffsetRange{From: off, To: end})
			break
		}
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.Validate(b.Data[p:])
			if err != nil {
				b.Release()
				t.Fatalf("read at %d: batch %d bytes into the result: %v", off, p, err)
			}
			if p == 0 && h.LastOffset() < off {
				b.Release()
				t.Fatalf("read at %d returned a batch ending at %d", off, h.LastOffset())
			}
			if p == 0 && h.BaseOffset > off {
				gaps = append(gaps, tlog.OffsetRange{From: off, To: h.BaseOffset})
			} else if p > 0 && h.BaseOffset != off {
				b.Release()
				t.Fatalf("read: batch at %d follows a batch ending before %d in one result", h.BaseOffset, off)
			}
			out = append(out, storedBatch{base: h.BaseOffset, data: bytes.Clone(b.Data[p : p+h.Size()])})
			off = h.NextOffset()
			p += h.Size()
		}
		b.Release()
	}
	return out, gaps
}

// gapFixture is a log of seven segments written with flush.messages=1, as
// a damaged copy in dir, with the batches as stored and the segments'
// base offsets.
type gapFixture struct {
	dir     string
	batches [][]byte
	bases   []int64
}

// segBatches returns the indexes in f.batches of segment i's batches.
func (f *gapFixture) segBatches(i int) []int {
	var out []int
	for j, b := range f.batches {
		h, _ := recordbatch.ParseHeader(b)
		if h.BaseOffset >= f.bases[i] && (i+1 == len(f.bases) || h.BaseOffset < f.bases[i+1]) {
			out = append(out, j)
		}
	}
	return out
}

func (f *gapFixture) base(j int) int64 {
	h, _ := recordbatch.ParseHeader(f.batches[j])
	return h.BaseOffset
}

func (f *gapFixture) end() int64 {
	h, _ := recordbatch.ParseHeader(f.batches[len(f.batches)-1])
	return h.NextOffset()
}

// posIn returns the position of batch j in its segment's .log.
func (f *gapFixture) posIn(seg, j int) int {
	p := 0
	for _, k := range f.segBatches(seg) {
		if k == j {
			return p
		}
		p += len(f.batches[k])
	}
	panic(fmt.Sprintf("batch %d not in segment %d", j, seg))
}

func (f *gapFixture) logPath(seg int) string {
	return rcvFile(f.dir, f.bases[seg], segment.LogSuffix)
}

// How a gapFixture's copy is taken.
const (
	gapClean       = iota // after a clean Close
	gapKill9              // while open: every batch fsynced, the checkpoint's recovery point still 0
	gapKill9Synced        // while open, after a Sync: the recovery point is the log end
)

// newGapFixture writes the log and copies it as mode says, as kill -9 or a
// clean shutdown leaves a log written with flush.messages=1.
func newGapFixture(t *testing.T, mode int) *gapFixture {
	t.Helper()
	cfg := rcvConfig(2048)
	cfg.FlushMessages = 1
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	f := &gapFixture{dir: filepath.Join(t.TempDir(), "log")}
	f.batches = rcvAppend(t, l, 0, 70)
	switch mode {
	case gapClean:
		rcvClose(t, l)
		rcvCopyDir(t, src, f.dir)
	case gapKill9Synced:
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		fallthrough
	default:
		rcvCopyDir(t, src, f.dir)
		rcvClose(t, l)
	}
	f.bases = rcvSegments(t, f.dir)
	if len(f.bases) != 7 {
		t.Fatalf("fixture has segments %v, want 7", f.bases)
	}
	if n := len(f.segBatches(6)); n < 5 {
		t.Fatalf("the active segment holds %d batches, the cases damaging it want at least 5", n)
	}
	return f
}

func patchFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryKeepsSegmentsAfterDamage(t *testing.T) {
	type want struct {
		gone []int // indexes in batches of the batches that must be gone
		lost []tlog.OffsetRange
		end  int64 // log end offset after recovery
		// start is the log start offset after recovery: segments
		// removed at the start move it, and their gap goes with them.
		start int64
	}
	cases := []struct {
		name string
		mode int
		// damage damages f.dir and says what recovery must make of it.
		damage func(t *testing.T, f *gapFixture) want
	}{
		{"truncated middle .log after clean shutdown", gapClean, func(t *testing.T, f *gapFixture) want {
			// Segment 2 of 7 loses its last 100 bytes: its batches
			// from the one those bytes cut into go, nothing else.
			in := f.segBatches(2)
			size := f.posIn(2, in[len(in)-1]) + len(f.batches[in[len(in)-1]])
			if err := os.Truncate(f.logPath(2), int64(size-100)); err != nil {
				t.Fatal(err)
			}
			var gone []int
			for _, j := range in {
				if f.posIn(2, j)+len(f.batches[j]) > size-100 {
					gone = append(gone, j)
				}
			}
			return want{gone, []tlog.OffsetRange{{From: f.base(gone[0]), To: f.bases[3]}}, f.end(), 0}
		}},
		{"flipped byte in segment 0 after kill -9", gapKill9, func(t *testing.T, f *gapFixture) want {
			// Every batch was fsynced; one byte of the second batch's
			// records changes. Only that batch goes: the ones after it
			// in the segment are kept as a segment of their own.
			in := f.segBatches(0)
			victim := in[1]
			at := f.posIn(0, victim) + recordbatch.HeaderSize + 5
			patchFile(t, f.logPath(0), func(b []byte) []byte { b[at] ^= 0x40; return b })
			return want{in[1:2], []tlog.OffsetRange{{From: f.base(victim), To: f.base(in[2])}}, f.end(), 0}
		}},
		{"flipped base offset in a sealed segment", gapKill9, func(t *testing.T, f *gapFixture) want {
			// The base offset is not covered by the CRC: the batch
			// whose base offset changed is valid but out of place; it
			// goes, the batch after it vouches for where the log
			// resumes.
			in := f.segBatches(3)
			victim := in[len(in)-3]
			at := f.posIn(3, victim) + recordbatch.BaseOffsetPos + 7
			patchFile(t, f.logPath(3), func(b []byte) []byte { b[at] ^= 0x02; return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.end(), 0}
		}},
		{"damaged batch, then a damaged base offset in the last batch of a sealed segment", gapKill9, func(t *testing.T, f *gapFixture) want {
			// The second-to-last batch fails its CRC; the last one is
			// CRC-valid but its base offset (which no CRC covers) now
			// names the offset of the batch before it. Nothing vouches
			// for that offset, and the next segment's base offset
			// contradicts it: the batch must not be served there.
			in := f.segBatches(2)
			bad, last := in[len(in)-2], in[len(in)-1]
			patchFile(t, f.logPath(2), func(b []byte) []byte {
				b[f.posIn(2, bad)+recordbatch.HeaderSize+3] ^= 0x10
				recordbatch.SetBaseOffset(b[f.posIn(2, last):], f.base(bad))
				return b
			})
			return want{[]int{bad, last}, []tlog.OffsetRange{{From: f.base(bad), To: f.bases[3]}}, f.end(), 0}
		}},
		{"garbage over two batches of a sealed segment", gapKill9, func(t *testing.T, f *gapFixture) want {
			// 40 bytes across the boundary of two batches: framing
			// lost; the scan past it finds the third batch.
			in := f.segBatches(4)
			v := in[1]
			at := f.posIn(4, v) + len(f.batches[v]) - 20
			patchFile(t, f.logPath(4), func(b []byte) []byte {
				for i := range 40 {
					b[at+i] = byte(i*13 + 1)
				}
				return b
			})
			return want{[]int{v, v + 1}, []tlog.OffsetRange{{From: f.base(v), To: f.base(v + 2)}}, f.end(), 0}
		}},
		{"deleted middle segment", gapClean, func(t *testing.T, f *gapFixture) want {
			if err := segment.RemoveFiles(f.dir, f.bases[3]); err != nil {
				t.Fatal(err)
			}
			return want{f.segBatches(3), []tlog.OffsetRange{{From: f.bases[3], To: f.bases[4]}}, f.end(), 0}
		}},
		{"every segment file deleted after clean shutdown", gapClean, func(t *testing.T, f *gapFixture) want {
			// Nothing is left, but the checkpoint says offsets up to
			// the log end were flushed: they are lost, not given out
			// again.
			all := make([]int, len(f.batches))
			for i, base := range f.bases {
				if err := segment.RemoveFiles(f.dir, base); err != nil {
					t.Fatal(err)
				}
				for _, j := range f.segBatches(i) {
					all[j] = j
				}
			}
			return want{all, []tlog.OffsetRange{{From: 0, To: f.end()}}, f.end(), f.end()}
		}},
		{"deleted middle segment after kill -9", gapKill9, func(t *testing.T, f *gapFixture) want {
			if err := os.Remove(f.logPath(4)); err != nil {
				t.Fatal(err)
			}
			return want{f.segBatches(4), []tlog.OffsetRange{{From: f.bases[4], To: f.bases[5]}}, f.end(), 0}
		}},
		{"garbage appended to a sealed segment", gapKill9, func(t *testing.T, f *gapFixture) want {
			patchFile(t, f.logPath(1), func(b []byte) []byte {
				for i := range 300 {
					b = append(b, byte(i*7+3))
				}
				return b
			})
			return want{nil, nil, f.end(), 0}
		}},
		{"torn last segment after kill -9", gapKill9, func(t *testing.T, f *gapFixture) want {
			// Past the recovery point the last segment's tail may be
			// torn by a crash: it is cut, as Kafka does, and its
			// offsets are given out again.
			in := f.segBatches(6)
			victim := in[len(in)/2]
			if err := os.Truncate(f.logPath(6), int64(f.posIn(6, victim)+30)); err != nil {
				t.Fatal(err)
			}
			return want{in[len(in)/2:], nil, f.base(victim), 0}
		}},
		{"flipped byte mid active segment after kill -9, checkpoint stale", gapKill9, func(t *testing.T, f *gapFixture) want {
			// Every batch was fsynced and acknowledged, but the
			// recovery point is still 0. One byte of a batch's
			// records changes: damage followed by valid batches is
			// not a torn tail. Only that batch goes; every later one
			// stays and no offset is given out again.
			in := f.segBatches(6)
			victim := in[len(in)/2]
			at := f.posIn(6, victim) + recordbatch.HeaderSize + 2
			patchFile(t, f.logPath(6), func(b []byte) []byte { b[at] ^= 0x01; return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.end(), 0}
		}},
		{"damaged length mid active segment after kill -9", gapKill9, func(t *testing.T, f *gapFixture) want {
			// The framing is lost at the damaged batch: the scan
			// finds the next batch, which the one after it vouches
			// for.
			in := f.segBatches(6)
			victim := in[1]
			at := f.posIn(6, victim) + recordbatch.BatchLengthPos
			patchFile(t, f.logPath(6), func(b []byte) []byte { copy(b[at:], []byte{0, 0, 0, 1}); return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.end(), 0}
		}},
		{"flipped byte mid active segment, then a torn tail", gapKill9, func(t *testing.T, f *gapFixture) want {
			// The batches between the damage and the torn tail stay;
			// the torn last batch is cut and its offsets, which no
			// batch holds, are given out again.
			in := f.segBatches(6)
			victim, torn := in[1], in[len(in)-1]
			patchFile(t, f.logPath(6), func(b []byte) []byte {
				b[f.posIn(6, victim)+recordbatch.HeaderSize+5] ^= 0x40
				return b[:f.posIn(6, torn)+40]
			})
			return want{[]int{victim, torn}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.base(torn), 0}
		}},
		{"hole of zeros mid active segment after power loss", gapKill9, func(t *testing.T, f *gapFixture) want {
			// Pages that never reached the disk read as zeros, the
			// pages after them did: the valid batches after the hole
			// are intact and vouch for each other's offsets; the
			// hole is lost, its offsets not given out again.
			in := f.segBatches(6)
			victim := in[1]
			from := f.posIn(6, victim) + 10
			to := f.posIn(6, victim+1) + 20
			patchFile(t, f.logPath(6), func(b []byte) []byte { clear(b[from:to]); return b })
			return want{[]int{victim, victim + 1}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 2)}}, f.end(), 0}
		}},
		{"hole of zeros before the last batch of the active segment", gapKill9, func(t *testing.T, f *gapFixture) want {
			// Nothing vouches for the last batch's base offset (no
			// batch after it, no intact header before it, the
			// recovery point below it): it is cut as a torn tail.
			in := f.segBatches(6)
			victim, last := in[len(in)-2], in[len(in)-1]
			from, to := f.posIn(6, victim), f.posIn(6, last)
			patchFile(t, f.logPath(6), func(b []byte) []byte { clear(b[from:to]); return b })
			return want{[]int{victim, last}, nil, f.base(victim), 0}
		}},
		{"hole of zeros before the last batch of the active segment, flushed", gapKill9Synced, func(t *testing.T, f *gapFixture) want {
			// The same hole below the recovery point: the recovery
			// point, where the last batch ends, vouches for it.
			in := f.segBatches(6)
			victim, last := in[len(in)-2], in[len(in)-1]
			from, to := f.posIn(6, victim), f.posIn(6, last)
			patchFile(t, f.logPath(6), func(b []byte) []byte { clear(b[from:to]); return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(last)}}, f.end(), 0}
		}},
		{"length past the end of the file mid active segment, checkpoint stale", gapKill9, func(t *testing.T, f *gapFixture) want {
			// A batch that follows the log and claims to run past the
			// end of the file reads as a torn tail: it is cut with
			// everything after it, and those offsets are given out
			// again (see "What is not kept" in the package comment).
			in := f.segBatches(6)
			victim := in[1]
			at := f.posIn(6, victim) + recordbatch.BatchLengthPos
			patchFile(t, f.logPath(6), func(b []byte) []byte { copy(b[at:], []byte{0x7f, 0xff, 0, 0}); return b })
			return want{in[1:], nil, f.base(victim), 0}
		}},
		{"length past the end of the file mid active segment, below the checkpoint", gapKill9Synced, func(t *testing.T, f *gapFixture) want {
			// The same damage below the recovery point: those bytes
			// were on stable storage, no crash tore them, so it is
			// not a torn tail and the batches after it stay.
			in := f.segBatches(6)
			victim := in[1]
			at := f.posIn(6, victim) + recordbatch.BatchLengthPos
			patchFile(t, f.logPath(6), func(b []byte) []byte { copy(b[at:], []byte{0x7f, 0xff, 0, 0}); return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.end(), 0}
		}},
		{"damaged last segment after kill -9 past the checkpoint", gapKill9Synced, func(t *testing.T, f *gapFixture) want {
			// The last segment was flushed before the checkpoint: no
			// crash tore it, so as in a sealed segment only the
			// damaged batch goes, the batches after it are kept, and
			// its offsets are not given out again.
			in := f.segBatches(6)
			victim := in[len(in)/2]
			at := f.posIn(6, victim) + recordbatch.HeaderSize + 2
			patchFile(t, f.logPath(6), func(b []byte) []byte { b[at] ^= 0x01; return b })
			return want{[]int{victim}, []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}, f.end(), 0}
		}},
		{"damaged last segment after clean shutdown", gapClean, func(t *testing.T, f *gapFixture) want {
			in := f.segBatches(6)
			victim := in[1]
			if err := os.Truncate(f.logPath(6), int64(f.posIn(6, victim)+30)); err != nil {
				t.Fatal(err)
			}
			return want{in[1:], []tlog.OffsetRange{{From: f.base(victim), To: f.end()}}, f.end(), 0}
		}},
		{"two damaged segments", gapClean, func(t *testing.T, f *gapFixture) want {
			if err := os.Remove(f.logPath(1)); err != nil {
				t.Fatal(err)
			}
			in := f.segBatches(5)
			if err := os.Truncate(f.logPath(5), int64(f.posIn(5, in[2])+1)); err != nil {
				t.Fatal(err)
			}
			return want{append(f.segBatches(1), in[2:]...), []tlog.OffsetRange{
				{From: f.bases[1], To: f.bases[2]}, {From: f.base(in[2]), To: f.bases[6]}}, f.end(), 0}
		}},
		{"first batch unreadable", gapKill9, func(t *testing.T, f *gapFixture) want {
			patchFile(t, f.logPath(0), func(b []byte) []byte { b[recordbatch.MagicPos] = 7; return b })
			in := f.segBatches(0)
			return want{in[:1], []tlog.OffsetRange{{From: 0, To: f.base(in[1])}}, f.end(), f.base(in[1])}
		}},
		{"overlapping segment", gapClean, func(t *testing.T, f *gapFixture) want {
			// A segment named by a batch inside segment 3, holding
			// segment 3's batches from there on and segment 4's, in
			// place of segment 4 (files of a truncated log that came
			// back): its batches below segment 4's base offset go,
			// nothing is lost.
			in := f.segBatches(3)
			var data []byte
			for _, j := range append(in[2:], f.segBatches(4)...) {
				data = append(data, f.batches[j]...)
			}
			if err := segment.RemoveFiles(f.dir, f.bases[4]); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rcvFile(f.dir, f.base(in[2]), segment.LogSuffix), data, 0o644); err != nil {
				t.Fatal(err)
			}
			return want{nil, nil, f.end(), 0}
		}},
		{"segment wholly overlapped", gapKill9, func(t *testing.T, f *gapFixture) want {
			in := f.segBatches(2)
			var data []byte
			for _, j := range in[1:] {
				data = append(data, f.batches[j]...)
			}
			if err := os.WriteFile(rcvFile(f.dir, f.base(in[1]), segment.LogSuffix), data, 0o644); err != nil {
				t.Fatal(err)
			}
			return want{nil, nil, f.end(), 0}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newGapFixture(t, c.mode)
			w := c.damage(t, f)
			var kept [][]byte
			for j, b := range f.batches {
				if !slices.Contains(w.gone, j) {
					kept = append(kept, b)
				}
			}
			// inspect --verify tells beforehand what the open will lose.
			var predicted []tlog.OffsetRange
			for _, r := range verifyPartition(t, f.dir).Lost {
				predicted = append(predicted, r.OffsetRange)
			}
			if !slices.Equal(predicted, w.lost) {
				t.Errorf("VerifyPartition predicts lost %v, want %v", predicted, w.lost)
			}

			cfg := rcvConfig(2048)
			l := rcvOpen(t, f.dir, cfg)
			info := l.Recovery()
			var lost []tlog.OffsetRange
			var total int64
			for _, r := range info.Lost {
				lost = append(lost, r.OffsetRange)
				total += r.Len()
				if r.Cause == "" {
					t.Errorf("lost range %v without a cause", r.OffsetRange)
				}
			}
			if !slices.Equal(lost, w.lost) || info.LostOffsets != total {
				t.Errorf("recovery reported lost %v (%d offsets), want %v", lost, info.LostOffsets, w.lost)
			}
			var gaps []tlog.OffsetRange // the lost ranges left as gaps in the log
			for _, r := range w.lost {
				if r.From >= w.start {
					gaps = append(gaps, r)
				}
			}
			if !slices.Equal(info.Gaps, gaps) {
				t.Errorf("recovery lists gaps %v, want %v", info.Gaps, gaps)
			}
			if l.StartOffset() != w.start {
				t.Errorf("log start offset %d, want %d", l.StartOffset(), w.start)
			}
			gapCheck(t, l, kept, gaps, w.end)

			// Appends continue after the last surviving offset.
			more := rcvAppend(t, l, 500, 2)
			if h, _ := recordbatch.ParseHeader(more[0]); h.BaseOffset != w.end {
				t.Errorf("first append after recovery at %d, want %d", h.BaseOffset, w.end)
			}
			kept = append(kept, more...)
			rcvClose(t, l)
			rcvCheckIndexFiles(t, f.dir)
			if r := verifyPartition(t, f.dir); r.Damaged() {
				t.Errorf("repaired log does not verify: %v", r.Problems)
			}

			// A reopen finds the same log and reports nothing again.
			l = rcvOpen(t, f.dir, cfg)
			defer l.Close()
			if info := l.Recovery(); !info.Clean || len(info.Lost) != 0 || !slices.Equal(info.Gaps, gaps) {
				t.Errorf("reopen: %+v; want clean, nothing newly lost, gaps %v", info, gaps)
			}
			h, _ := recordbatch.ParseHeader(more[len(more)-1])
			gapCheck(t, l, kept, gaps, h.NextOffset())
		})
	}
}

// TestRecoveryRestartsAfterCrashBetweenSalvageAndCut reproduces by hand
// the files a crash leaves in the middle of a repair: the valid batches past
// a damaged batch already written as a segment of their own, the damaged
// segment not cut yet (or its cut not yet on disk). The recovery checkpoint
// lies between the salvaged segment's base offset and the next segment's,
// so the damaged segment is now followed by a segment below the recovery
// point. The open must finish the repair as the interrupted one would have:
// the damaged batch is not served, nothing else is lost, and the offsets
// that were not lost are not reported lost.
func TestRecoveryRestartsAfterCrashBetweenSalvageAndCut(t *testing.T) {
	cfg := rcvConfig(2048)
	cfg.FlushMessages = 1
	// A first run learns where the segments fall (the batches are the
	// same every run, so is where the log rolls).
	probe := rcvOpen(t, t.TempDir(), cfg)
	rcvAppend(t, probe, 0, 70)
	f := &gapFixture{dir: filepath.Join(t.TempDir(), "log")}
	f.bases = rcvSegments(t, probe.Dir())
	rcvClose(t, probe)
	if len(f.bases) != 7 {
		t.Fatalf("probe has segments %v, want 7", f.bases)
	}

	// The real run checkpoints in the middle of segment 2, then is
	// killed with every batch fsynced.
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	for i := 0; i < 70; i++ {
		f.batches = append(f.batches, rcvAppend(t, l, i, 1)...)
		if i > 0 && f.base(i-1) < f.bases[2]+6 && f.base(i) >= f.bases[2]+6 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rcvCopyDir(t, src, f.dir)
	rcvClose(t, l)
	if got := rcvSegments(t, f.dir); !slices.Equal(got, f.bases) {
		t.Fatalf("segments %v, want %v", got, f.bases)
	}

	in := f.segBatches(2)
	victim := in[1]
	if f.base(victim+1) > f.bases[2]+6 {
		t.Fatalf("fixture: the batch after the victim starts at %d, past the checkpoint at about %d", f.base(victim+1), f.bases[2]+6)
	}
	patchFile(t, f.logPath(2), func(b []byte) []byte { b[f.posIn(2, victim)+recordbatch.HeaderSize+5] ^= 0x40; return b })
	// What the interrupted repair had written: the batches past the
	// victim, as the segment named by the first of them.
	var salvaged []byte
	for _, j := range in[2:] {
		salvaged = append(salvaged, f.batches[j]...)
	}
	if err := os.WriteFile(rcvFile(f.dir, f.base(victim+1), segment.LogSuffix), salvaged, 0o644); err != nil {
		t.Fatal(err)
	}

	var kept [][]byte
	for j, b := range f.batches {
		if j != victim {
			kept = append(kept, b)
		}
	}
	lost := []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}
	l = rcvOpen(t, f.dir, rcvConfig(2048))
	var reported []tlog.OffsetRange
	for _, r := range l.Recovery().Lost {
		reported = append(reported, r.OffsetRange)
	}
	if !slices.Equal(reported, lost) {
		t.Errorf("recovery reported lost %v, want %v", reported, lost)
	}
	gapCheck(t, l, kept, lost, f.end())
	rcvClose(t, l)

	l = rcvOpen(t, f.dir, rcvConfig(2048))
	defer l.Close()
	if info := l.Recovery(); !info.Clean || len(info.Lost) != 0 || !slices.Equal(info.Gaps, lost) {
		t.Errorf("reopen: %+v; want clean, nothing newly lost, gaps %v", info, lost)
	}
	gapCheck(t, l, kept, lost, f.end())
}

// TestRecoveryRestartsAfterCrashWhileRenamingARepairedSegment stops an
// open, as a crash would, at each step of writing a damaged segment's
// batches back under its own name (garbage before its first batch), and
// opens again: every batch is kept and nothing is reported lost.
func TestRecoveryRestartsAfterCrashWhileRenamingARepairedSegment(t *testing.T) {
	for _, step := range []string{"written", "replace"} {
		t.Run(step, func(t *testing.T) {
			f := newGapFixture(t, gapKill9)
			patchFile(t, f.logPath(2), func(b []byte) []byte {
				return append(bytes.Repeat([]byte{0xa5}, 50), b...)
			})
			crash := errors.New("crash")
			tlog.SetRepairHook(func(s string) error {
				if s == step {
					return crash
				}
				return nil
			})
			_, err := tlog.Open(f.dir, rcvConfig(2048))
			tlog.SetRepairHook(nil)
			if !errors.Is(err, crash) {
				t.Fatalf("open stopped at %q: %v, want the crash", step, err)
			}
			l := rcvOpen(t, f.dir, rcvConfig(2048))
			defer l.Close()
			if info := l.Recovery(); len(info.Lost) != 0 {
				t.Errorf("recovery after the crash lost %v, want nothing", info.Lost)
			}
			gapCheck(t, l, f.batches, nil, f.end())
		})
	}
}

// TestRecoveryRepairsLastSegmentBelowCheckpointAndCutsTornTail damages
// the last segment twice after kill -9: a flipped byte in a batch below the
// recovery checkpoint's offset, and a torn tail past it. The flushed
// batches after the flipped byte are kept, its batch is a reported gap,
// and the torn tail is cut and its offsets given out again, as Kafka does.
func TestRecoveryRepairsLastSegmentBelowCheckpointAndCutsTornTail(t *testing.T) {
	cfg := rcvConfig(1 << 20) // one segment
	cfg.FlushMessages = 1
	src := t.TempDir()
	l := rcvOpen(t, src, cfg)
	batches := rcvAppend(t, l, 0, 10)
	if err := l.Sync(); err != nil { // the recovery point: after batch 9
		t.Fatal(err)
	}
	batches = append(batches, rcvAppend(t, l, 10, 5)...)
	dir := filepath.Join(t.TempDir(), "log")
	rcvCopyDir(t, src, dir) // kill -9
	rcvClose(t, l)
	f := &gapFixture{dir: dir, batches: batches, bases: rcvSegments(t, dir)}
	if len(f.bases) != 1 {
		t.Fatalf("segments %v, want one", f.bases)
	}
	victim, torn := 4, 12
	patchFile(t, f.logPath(0), func(b []byte) []byte {
		b[f.posIn(0, victim)+recordbatch.HeaderSize+5] ^= 0x40
		return b[:f.posIn(0, torn)+30]
	})
	l = rcvOpen(t, dir, rcvConfig(1<<20))
	defer l.Close()
	lost := []tlog.OffsetRange{{From: f.base(victim), To: f.base(victim + 1)}}
	var reported []tlog.OffsetRange
	for _, r := range l.Recovery().Lost {
		reported = append(reported, r.OffsetRange)
	}
	if !slices.Equal(reported, lost) {
		t.Errorf("recovery reported lost %v, want %v", reported, lost)
	}
	kept := slices.Concat(batches[:victim], batches[victim+1:torn])
	gapCheck(t, l, kept, lost, f.base(torn))
	if base, err := l.Append(rcvBatch(99)); err != nil || base != f.base(torn) {
		t.Fatalf("append after recovery at %d, %v; want %d", base, err, f.base(torn))
	}
}

// TestRecoveryDoesNotReportDeletedRecordsLost damages batches a
// DeleteRecords had already deleted (below the log start offset, in the
// segment that holds it): nothing acknowledged and still readable was
// lost, so nothing is reported lost; damage straddling the log start
// offset reports only what lies past it.
func TestRecoveryDoesNotReportDeletedRecordsLost(t *testing.T) {
	for _, straddle := range []bool{false, true} {
		t.Run(fmt.Sprintf("straddle=%v", straddle), func(t *testing.T) {
			cfg := rcvConfig(2048)
			cfg.FlushMessages = 1
			src := t.TempDir()
			l := rcvOpen(t, src, cfg)
			f := &gapFixture{dir: filepath.Join(t.TempDir(), "log")}
			f.batches = rcvAppend(t, l, 0, 70)
			f.bases = rcvSegments(t, src)
			in := f.segBatches(1)
			start := f.base(in[3])
			if _, err := l.DeleteRecordsBefore(start); err != nil {
				t.Fatal(err)
			}
			rcvCopyDir(t, src, f.dir) // kill -9
			rcvClose(t, l)
			f.bases = rcvSegments(t, f.dir)
			victim := in[1] // below the log start, not straddling it
			if straddle {
				victim = in[2] // damage from it through the log start
			}
			patchFile(t, f.logPath(0), func(b []byte) []byte {
				at := f.posIn(0, victim) + recordbatch.HeaderSize + 5
				if straddle {
					// Garbage over the victim and the batch at the log start.
					for i := range len(f.batches[victim]) + 20 {
						b[f.posIn(0, victim)+i] = byte(i*13 + 1)
					}
					return b
				}
				b[at] ^= 0x40
				return b
			})
			// Without its indexes the segment is CRC-scanned, although
			// the checkpoint calls it flushed.
			if err := segment.RemoveFiles(f.dir, f.bases[0], segment.IndexSuffix, segment.TimeIndexSuffix); err != nil {
				t.Fatal(err)
			}
			var want []tlog.OffsetRange
			if straddle {
				want = []tlog.OffsetRange{{From: start, To: f.base(in[4])}}
			}
			var predicted []tlog.OffsetRange
			for _, r := range verifyPartition(t, f.dir).Lost {
				predicted = append(predicted, r.OffsetRange)
			}
			if !slices.Equal(predicted, want) {
				t.Errorf("VerifyPartition predicts lost %v, want %v", predicted, want)
			}
			l = rcvOpen(t, f.dir, rcvConfig(2048))
			defer l.Close()
			var lost []tlog.OffsetRange
			for _, r := range l.Recovery().Lost {
				lost = append(lost, r.OffsetRange)
			}
			if !slices.Equal(lost, want) {
				t.Errorf("recovery reported lost %v, want %v", lost, want)
			}
			if l.StartOffset() != start && !straddle {
				t.Errorf("log start %d, want %d", l.StartOffset(), start)
			}
		})
	}
}

// gapCheck checks that l holds exactly the batches kept, byte for byte,
// with gaps exactly at lost, that every offset of a gap reads the first
// batch after it, and that the log ends at end.
func gapCheck(t *testing.T, l *tlog.Log, kept [][]byte, lost []tlog.OffsetRange, end int64) {
	t.Helper()
	if l.NextOffset() != end {
		t.Fatalf("log end %d, want %d", l.NextOffset(), end)
	}
	got, gaps := readWithGaps(t, l)
	if len(got) != len(kept) {
		t.Fatalf("%d batches survive, want %d", len(got), len(kept))
	}
	for i, b := range got {
		if !bytes.Equal(b.data, kept[i]) {
			t.Fatalf("batch %d at offset %d is not the one that was appended", i, b.base)
		}
	}
	if !slices.Equal(gaps, lost) {
		t.Fatalf("reading the log skips %v, want %v", gaps, lost)
	}
	for _, g := range lost {
		for _, off := range []int64{g.From, (g.From + g.To) / 2, g.To - 1} {
			b, err := l.Read(off, 1)
			if err != nil {
				t.Fatalf("Read(%d) in the gap %v: %v", off, g, err)
			}
			if g.To < l.NextOffset() && b.BaseOffset != g.To || g.To >= l.NextOffset() && len(b.Data) != 0 {
				b.Release()
				t.Fatalf("Read(%d) in the gap %v returned the batch at %d", off, g, b.BaseOffset)
			}
			b.Release()
		}
	}
	if _, err := l.Read(end+1, 1); !errors.Is(err, tlog.ErrOffsetOutOfRange) {
		t.Fatalf("Read past the end: %v", err)
	}
}

// TestRecoveryForgetsLostProducerBatches loses the tail of an idempotent
// producer's batches (the last segment, flushed and cleanly closed, cut):
// the producer snapshot, which covers them, is not trusted; the state is
// rebuilt from the batches that survive, so a retry of the first lost
// batch is appended again, after the lost offsets, rather than answered
// with offsets that now hold nothing.
func TestRecoveryForgetsLostProducerBatches(t *testing.T) {
	const pid = 7
	cfg := rcvConfig(2048)
	dir := t.TempDir()
	l := rcvOpen(t, dir, cfg)
	var batches [][]byte
	for seq := range int32(60) {
		b := pidBatch(pb{pid: pid, seq: seq, n: 1})
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	end := l.NextOffset()
	rcvClose(t, l) // writes the producer snapshot at the log end

	segs := rcvSegments(t, dir)
	lastSeg := segs[len(segs)-1]
	first := -1 // the first batch of the last segment
	for i, b := range batches {
		if h, _ := recordbatch.ParseHeader(b); h.BaseOffset == lastSeg {
			first = i
		}
	}
	if first < 0 || len(batches)-first < 4 {
		t.Fatalf("last segment at %d starts no batch, or holds too few", lastSeg)
	}
	// Keep two batches of the last segment and a torn third.
	keep := len(batches[first]) + len(batches[first+1])
	if err := os.Truncate(rcvFile(dir, lastSeg, segment.LogSuffix), int64(keep+10)); err != nil {
		t.Fatal(err)
	}
	lostSeq := int32(first + 2)
	lostFrom, _ := recordbatch.ParseHeader(batches[lostSeq])

	l = rcvOpen(t, dir, cfg)
	defer l.Close()
	if got, want := l.Recovery().Gaps, []tlog.OffsetRange{{From: lostFrom.BaseOffset, To: end}}; !slices.Equal(got, want) {
		t.Fatalf("gaps %v, want %v", got, want)
	}
	ps := l.Producers()
	if len(ps) != 1 || ps[0].ProducerID != pid || ps[0].LastSequence != lostSeq-1 {
		t.Fatalf("producers after recovery: %+v, want %d with last sequence %d", ps, pid, lostSeq-1)
	}
	info, err := l.AppendBatches(pidBatch(pb{pid: pid, seq: lostSeq, n: 1}))
	if err != nil || info.Duplicate || info.BaseOffset != end {
		t.Fatalf("retry of the first lost batch: %+v, %v; want a new append at %d", info, err, end)
	}
}

// TestRecoveryDamageInCleanedSegment damages a batch of a segment the
// cleaner rewrote (gaps between its batches and before the next segment):
// only that batch goes, the cleaner's gaps are not reported as lost, and
// the batches after the damage are kept.
func TestRecoveryDamageInCleanedSegment(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	var all []rec
	for seg := range 2 {
		for i := range 10 {
			off := seg*10 + i
			key := fmt.Sprintf("gone-%d", i%2)
			if off%2 == 0 || off == 15 {
				key = fmt.Sprintf("kept-%d", off)
			}
			all = append(all, appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + int64(off)*100, key: []byte(key), value: []byte("v")}})...)
		}
		l.Roll()
	}
	last := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + 5000, key: []byte("gone-0"), value: []byte("w")}, {ts: tsBase + 5000, key: []byte("gone-1"), value: []byte("w")}})
	cfg.SegmentBytes = 200 // one cleaned segment each
	l.SetConfig(cfg)
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	rcvClose(t, l)
	// Flip a record byte of the batch at offset 4 and make the open scan.
	data, err := os.ReadFile(rcvFile(dir, 0, segment.LogSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var next int64 // the offset after the batch before it
	for p := 0; p < len(data); {
		h, err := recordbatch.ParseHeader(data[p:])
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset == 4 {
			data[p+h.Size()-3] ^= 0x20
			break
		}
		next = h.NextOffset()
		p += h.Size()
	}
	if next != 3 {
		t.Fatalf("the batch before offset 4 ends at %d, want 3", next)
	}
	if err := os.WriteFile(rcvFile(dir, 0, segment.LogSuffix), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, tlog.CheckpointFile)); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, cfg)
	defer l.Close()
	// The cut is where the batch before the damage ends, 3; the log
	// resumes at the next batch, 6. Only 4 held a record, but nothing
	// tells the cleaner's gaps from the damage in between.
	want := []tlog.OffsetRange{{From: 3, To: 6}}
	var lost []tlog.OffsetRange
	for _, r := range l.Recovery().Lost {
		lost = append(lost, r.OffsetRange)
	}
	if !slices.Equal(lost, want) || !slices.Equal(l.Recovery().Gaps, want) {
		t.Fatalf("lost %v, gaps %v; want %v", lost, l.Recovery().Gaps, want)
	}
	var kept []rec
	for _, r := range all {
		if r.offset%2 == 0 && r.offset != 4 || r.offset == 15 {
			kept = append(kept, r)
		}
	}
	checkRecords(t, readRecords(t, l), append(kept, last...))
}

// TestRecoveryDoesNotServeBatchesStoredInRecords writes, with
// flush.messages=1, a batch whose one record's value is itself a chain of
// two well-formed, CRC-valid batches at offsets far past the log's, and
// damages the log around it after kill -9 (the recovery point still 0).
// Recovery must never serve those stored batches as the log's: not when the
// outer batch's framing is intact (nothing inside it is looked at), not
// when its length is damaged (the scan lands inside it, but the real
// batches after it contradict the stored ones' offsets), and not when the
// outer batch is a torn tail cut right after them (a torn tail is cut, not
// searched).
func TestRecoveryDoesNotServeBatchesStoredInRecords(t *testing.T) {
	stored := make([]byte, 0, 512)
	for i, base := range []int64{1_000_000, 1_000_003} {
		b := recordbatch.Build(3, 20, 50_000+int64(i))
		recordbatch.SetBaseOffset(b, base)
		stored = append(stored, b...)
	}
	outer, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, []recordbatch.Record{{Timestamp: 40_000, Value: stored}})
	if err != nil {
		t.Fatal(err)
	}
	valueAt := bytes.Index(outer, stored) // where the stored batches lie in the outer one
	if valueAt < 0 {
		t.Fatal("the stored batches are not in the outer batch verbatim")
	}
	cases := []struct {
		name  string
		after int // batches appended after the outer one
		// damage changes the .log (outer: the outer batch's position)
		// and says whether the outer batch is lost (reported) or cut
		// as a torn tail (its offsets given out again).
		damage func(b []byte, outer int) ([]byte, bool)
	}{
		{"records damaged, framing intact", 4, func(b []byte, at int) ([]byte, bool) {
			b[at+recordbatch.HeaderSize+1] ^= 0x08
			return b, true
		}},
		{"length damaged", 4, func(b []byte, at int) ([]byte, bool) {
			copy(b[at+recordbatch.BatchLengthPos:], []byte{0, 0, 0, 1})
			return b, true
		}},
		{"torn right after the stored batches", 0, func(b []byte, at int) ([]byte, bool) {
			return b[:at+valueAt+len(stored)], false
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := rcvConfig(1 << 20) // one segment
			cfg.FlushMessages = 1
			src := t.TempDir()
			l := rcvOpen(t, src, cfg)
			before := rcvAppend(t, l, 0, 5)
			ob := bytes.Clone(outer)
			outerBase, err := l.Append(ob)
			if err != nil {
				t.Fatal(err)
			}
			after := rcvAppend(t, l, 6, c.after)
			dir := filepath.Join(t.TempDir(), "log")
			rcvCopyDir(t, src, dir) // kill -9
			rcvClose(t, l)
			bases := rcvSegments(t, dir)
			path := rcvFile(dir, bases[0], segment.LogSuffix)
			at := len(bytes.Join(before, nil))
			var lostOuter bool
			patchFile(t, path, func(b []byte) []byte {
				b, lostOuter = c.damage(b, at)
				return b
			})
			var lost []tlog.OffsetRange
			end := outerBase
			if lostOuter {
				lost = []tlog.OffsetRange{{From: outerBase, To: outerBase + 1}}
				h, _ := recordbatch.ParseHeader(after[len(after)-1])
				end = h.NextOffset()
			}
			if got := lostRanges(verifyPartition(t, dir).Lost); !slices.Equal(got, lost) {
				t.Errorf("VerifyPartition predicts lost %v, want %v", got, lost)
			}
			l = rcvOpen(t, dir, rcvConfig(1<<20))
			defer l.Close()
			if got := lostRanges(l.Recovery().Lost); !slices.Equal(got, lost) {
				t.Errorf("recovery reported lost %v, want %v", got, lost)
			}
			gapCheck(t, l, slices.Concat(before, after), lost, end)
			if base, err := l.Append(rcvBatch(99)); err != nil || base != end {
				t.Fatalf("append after recovery at %d, %v; want %d", base, err, end)
			}
		})
	}
}
