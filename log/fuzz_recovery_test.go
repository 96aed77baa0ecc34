package log_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// fuzzPrefix returns n valid batches with base offsets 0, 1, ...: the part of
// a fuzz input's .log that is known good, so the fuzzer spends its time on
// tails.
func fuzzPrefix(n int) []byte {
	var out []byte
	next := int64(0)
	for i := range n {
		b := rcvBatch(i)
		recordbatch.SetBaseOffset(b, next)
		h, _ := recordbatch.ParseHeader(b)
		next = h.NextOffset()
		out = append(out, b...)
	}
	return out
}

// fuzzValidPrefix is the recovery oracle: the length of the longest prefix of
// data made of whole CRC-valid batches whose offsets chain from 0 and fit a
// segment's uint32 relative offsets, and the offset after it.
func fuzzValidPrefix(data []byte) (validBytes int, next int64) {
	for validBytes < len(data) {
		h, err := recordbatch.Validate(data[validBytes:])
		if err != nil || h.BaseOffset != next || h.LastOffset() > math.MaxUint32 {
			break
		}
		next = h.NextOffset()
		validBytes += h.Size()
	}
	return validBytes, next
}

// FuzzRecover writes a valid prefix of nValid%6 batches followed by tail as
// the only segment's .log, with no checkpoint (a crash before the first one),
// and opens the log. Open must succeed and keep the valid prefix the oracle
// finds, byte for byte (from offset 0 when there is one); past it, only whole CRC-valid batches of tail, in
// file order (a run past damage is kept, a torn tail cut); the gaps a
// reader meets must be those recovery reports and VerifyPartition predicted;
// every offset of the prefix must read back its batch; and the log must
// take an append past every kept offset and reopen to the same place.
func FuzzRecover(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(3), []byte{})
	f.Add(uint8(1), make([]byte, 64))
	f.Fuzz(func(t *testing.T, nValid uint8, tail []byte) {
		data := append(fuzzPrefix(int(nValid%6)), tail...)
		validBytes, wantNext := fuzzValidPrefix(data)
		dir := t.TempDir()
		logPath := filepath.Join(dir, segment.FileName(0, segment.LogSuffix))
		if err := os.WriteFile(logPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		predicted := verifyPartition(t, dir).Lost
		cfg := rcvConfig(1 << 20)
		l, err := tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open of a damaged log failed: %v", err)
		}
		defer func() { l.Close() }()
		got, gaps := readWithGaps(t, l)
		if start := l.StartOffset(); validBytes > 0 && start != 0 || len(got) > 0 && start > got[0].base {
			// Damage before the first batch that is kept moves the
			// log start to it, as in a sealed segment.
			t.Fatalf("log starts at %d after recovery, want 0 or the first kept batch", start)
		}
		p, end := 0, int64(0)
		for i, b := range got {
			if p < validBytes {
				// The valid prefix, byte for byte.
				if !bytes.Equal(b.data, data[p:min(p+len(b.data), len(data))]) {
					t.Fatalf("batch %d at %d is not the valid prefix's batch at byte %d", i, b.base, p)
				}
			} else if q := bytes.Index(data[p:], b.data); q < 0 {
				t.Fatalf("batch %d at %d is not in the file past byte %d", i, b.base, p)
			} else {
				p += q
			}
			p += len(b.data)
			h, _ := recordbatch.ParseHeader(b.data)
			end = h.NextOffset()
		}
		if p < validBytes || end < wantNext {
			t.Fatalf("recovery kept %d bytes up to offset %d, want at least the valid prefix, %d bytes up to %d", p, end, validBytes, wantNext)
		}
		if l.NextOffset() != end {
			t.Fatalf("log end %d, its last batch ends at %d", l.NextOffset(), end)
		}
		info := l.Recovery()
		if !slices.Equal(gaps, info.Gaps) {
			t.Fatalf("a reader meets gaps %v, recovery reports %v", gaps, info.Gaps)
		}
		if !slices.Equal(lostRanges(predicted), lostRanges(info.Lost)) {
			t.Fatalf("VerifyPartition predicted lost %v, recovery lost %v", predicted, info.Lost)
		}
		// Every offset reads back the batch holding it (sampled within
		// batches claiming huge offset ranges).
		for p := 0; p < validBytes; {
			h, _ := recordbatch.ParseHeader(data[p:])
			probes := []int64{h.BaseOffset, h.BaseOffset + int64(h.LastOffsetDelta)/2, h.LastOffset()}
			if h.LastOffsetDelta < 64 {
				probes = probes[:0]
				for off := h.BaseOffset; off <= h.LastOffset(); off++ {
					probes = append(probes, off)
				}
			}
			for _, off := range probes {
				b, err := l.Read(off, 1)
				if err != nil || b.BaseOffset != h.BaseOffset || !bytes.Equal(b.Data, data[p:p+h.Size()]) {
					b.Release()
					t.Fatalf("Read(%d) = batch at %d, %v; want the batch at %d", off, b.BaseOffset, err, h.BaseOffset)
				}
				b.Release()
			}
			p += h.Size()
		}
		// Appends continue at the recovered end and survive a reopen.
		extra := rcvBatch(7)
		base, err := l.Append(extra)
		if err != nil || base != end {
			t.Fatalf("append after recovery: base %d, %v; want base %d", base, err, end)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if info := l.Recovery(); !info.Clean || len(info.Lost) != 0 {
			t.Fatalf("reopen: %+v; want clean, nothing lost again", info)
		}
		again, gaps2 := readWithGaps(t, l)
		if len(again) != len(got)+1 || !slices.Equal(gaps2, gaps) || !bytes.Equal(again[len(got)].data, extra) {
			t.Fatalf("reopen: %d batches and gaps %v, want %d and %v", len(again), gaps2, len(got)+1, gaps)
		}
	})
}

// lostRanges is the offset ranges of lost, without their causes.
func lostRanges(lost []tlog.LostRange) []tlog.OffsetRange {
	var out []tlog.OffsetRange
	for _, r := range lost {
		out = append(out, r.OffsetRange)
	}
	return out
}

// Damage kinds of FuzzRecoverSealed.
const (
	fuzzOverwrite = iota // damage replaces the bytes at pos
	fuzzInsert           // damage is inserted at pos
	fuzzXor              // damage is XORed into the bytes at pos
	fuzzTruncate         // the file is cut at pos
	fuzzKinds
)

// FuzzRecoverSealed damages the first of three segments (two sealed, then
// the active one) at a position, in one of four ways, with no checkpoint
// (everything is scanned), and opens the log. Recovery must keep every
// batch of the sealed segment that the damage did not touch (a CRC-valid
// batch that overlaps no kept one survives, past the damage too) and
// every batch of the later segments; everything it serves must be a
// CRC-valid batch at the offset it was appended at; the gaps a reader
// meets must be exactly those recovery reports; and the log must take an
// append and reopen clean, reporting nothing again.
func FuzzRecoverSealed(f *testing.F) {
	f.Add(uint8(5), uint16(100), uint8(fuzzOverwrite), []byte{1, 2, 3, 4})
	f.Add(uint8(3), uint16(0), uint8(fuzzInsert), []byte("garbage"))
	f.Add(uint8(7), uint16(300), uint8(fuzzXor), []byte{0x40})
	f.Add(uint8(4), uint16(250), uint8(fuzzTruncate), []byte{})
	f.Add(uint8(6), uint16(70), uint8(fuzzXor), []byte{0, 0, 0, 0, 0, 0, 0, 1}) // a base offset
	// The last byte of the second-to-last batch of three, and the last
	// batch's base offset moved from 3 onto the offset of the damaged
	// batch, 1: that offset is not the batch's, and the next segment,
	// beginning at 6, says so.
	f.Add(uint8(0), uint16(len(rcvBatch(0))+len(rcvBatch(1))-1), uint8(fuzzXor), []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 3 ^ 1})
	f.Fuzz(func(t *testing.T, nA uint8, pos16 uint16, kind uint8, damage []byte) {
		// Segments A (sealed, damaged), B (sealed) and C (active).
		batches, files, bases, next := fuzzSegments(3+int(nA%8), 3, 2)
		pos := int(pos16) % (len(files[0]) + 1)
		damaged, lo, hi := fuzzDamage(files[0], pos, kind, damage)
		// Recovery follows a damaged batch's framing before it scans byte
		// by byte (so that a batch stored inside a record is never taken
		// for a real one): when the damage rewrote a length field so that
		// the damaged batch now ends exactly where a later batch of the
		// segment begins (or at the end of the file), the batches it now
		// covers are part of the damaged batch, not untouched ones.
		if k := kind % fuzzKinds; k == fuzzOverwrite || k == fuzzXor {
			for _, b := range batches {
				lenAt := b.from + recordbatch.BatchLengthPos
				if b.seg != 0 || lenAt+4 <= lo || lenAt >= hi || lenAt+4 > len(damaged) {
					continue
				}
				end := lenAt + 4 + int(int32(binary.BigEndian.Uint32(damaged[lenAt:])))
				if end <= b.to || end > len(damaged) {
					continue
				}
				onBoundary := end == len(damaged)
				for _, c := range batches {
					onBoundary = onBoundary || (c.seg == 0 && c.from == end)
				}
				if onBoundary {
					hi = max(hi, end)
				}
			}
		}
		files[0] = damaged
		dir := t.TempDir()
		for seg, data := range files {
			if err := os.WriteFile(filepath.Join(dir, segment.FileName(bases[seg], segment.LogSuffix)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := rcvConfig(1 << 20)
		l, err := tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open of a damaged log failed: %v", err)
		}
		defer func() { l.Close() }()

		got, gaps := readWithGaps(t, l)
		byBase := map[int64][]byte{}
		for _, b := range got {
			byBase[b.base] = b.data
		}
		orig := map[int64][]byte{}
		for _, b := range batches {
			orig[b.base] = b.data
			untouched := b.seg != 0 || b.to <= lo || b.from >= hi
			if kind%fuzzKinds == fuzzInsert && b.from == pos && len(damage) > 0 {
				untouched = true // the batch right after the inserted bytes
			}
			if untouched && !bytes.Equal(byBase[b.base], b.data) {
				t.Fatalf("batch at %d (segment %d, bytes [%d, %d), damage at [%d, %d)) lost; lost ranges %v",
					b.base, b.seg, b.from, b.to, lo, hi, l.Recovery().Lost)
			}
		}
		for _, b := range got {
			// Served: only batches appended at that offset (the leader
			// epoch, which no CRC covers, may have changed).
			want, ok := orig[b.base]
			if !ok || len(want) != len(b.data) ||
				!bytes.Equal(want[recordbatch.MagicPos:], b.data[recordbatch.MagicPos:]) ||
				!bytes.Equal(want[:recordbatch.PartitionLeaderEpochPos], b.data[:recordbatch.PartitionLeaderEpochPos]) {
				t.Fatalf("served a batch at %d that was not appended there", b.base)
			}
		}
		if !slices.Equal(gaps, l.Recovery().Gaps) {
			t.Fatalf("a reader meets gaps %v, recovery reports %v (lost %v)", gaps, l.Recovery().Gaps, l.Recovery().Lost)
		}
		var lost int64
		for _, r := range l.Recovery().Lost {
			lost += r.Len()
		}
		if lost != l.Recovery().LostOffsets {
			t.Fatalf("LostOffsets %d, ranges add up to %d", l.Recovery().LostOffsets, lost)
		}
		if l.NextOffset() != next {
			t.Fatalf("log end %d, want %d (the active segment is intact)", l.NextOffset(), next)
		}

		// A crash in the middle of that repair, right after the batches
		// past the damage were written as a segment of their own and
		// before the damaged segment was cut, leaves the damaged files
		// and that segment, uncut: an open from there ends where the
		// uninterrupted repair did.
		for _, base := range rcvSegments(t, dir) {
			if slices.Contains(bases, base) {
				continue
			}
			kept, err := os.ReadFile(filepath.Join(dir, segment.FileName(base, segment.LogSuffix)))
			if err != nil {
				t.Fatal(err)
			}
			q := bytes.Index(damaged, kept)
			if len(kept) == 0 || q < 0 {
				break // not salvaged from the damaged segment itself
			}
			crashed := t.TempDir()
			for seg, data := range files {
				if err := os.WriteFile(filepath.Join(crashed, segment.FileName(bases[seg], segment.LogSuffix)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(crashed, segment.FileName(base, segment.LogSuffix)), damaged[q:], 0o644); err != nil {
				t.Fatal(err)
			}
			l2, err := tlog.Open(crashed, cfg)
			if err != nil {
				t.Fatalf("open after a crash in the repair: %v", err)
			}
			got2, gaps2 := readWithGaps(t, l2)
			l2.Close()
			if len(got2) != len(got) || !slices.Equal(gaps2, gaps) {
				t.Fatalf("after a crash in the repair: %d batches and gaps %v, want %d and %v", len(got2), gaps2, len(got), gaps)
			}
			for i := range got {
				if got2[i].base != got[i].base || !bytes.Equal(got2[i].data, got[i].data) {
					t.Fatalf("after a crash in the repair: batch %d at %d, want the batch at %d", i, got2[i].base, got[i].base)
				}
			}
			break // only the first salvage is from the damaged segment
		}

		extra := rcvBatch(7)
		if base, err := l.Append(extra); err != nil || base != next {
			t.Fatalf("append after recovery: base %d, %v; want %d", base, err, next)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if info := l.Recovery(); !info.Clean || len(info.Lost) != 0 {
			t.Fatalf("reopen: %+v; want clean, nothing lost again", info)
		}
		again, gaps2 := readWithGaps(t, l)
		if len(again) != len(got)+1 || !slices.Equal(gaps2, gaps) {
			t.Fatalf("reopen: %d batches and gaps %v, want %d and %v", len(again), gaps2, len(got)+1, gaps)
		}
	})
}

// FuzzRecoverActive damages the last (active) segment of three, at a
// position, in one of four ways, after kill -9 of a log written with
// flush.messages=1 whose recovery point is still 0 (a stale checkpoint:
// everything is scanned), and opens the log. The two sealed segments and
// every batch before the damage must be kept. Past the damage: when it
// left a torn tail (the batch at the cut follows the log and runs past the
// end of the file, or fewer bytes than a batch length remain), everything
// from the cut goes and its offsets are given out again; otherwise two or
// more untouched batches after the damage vouch for each other and must
// all be kept, the log end stays where it was, and nothing is reused.
// Everything served must be a batch appended at that offset; the gaps a
// reader meets must be exactly those recovery reports and VerifyPartition
// predicted; an append lands past every kept offset; a crash between
// salvage and cut ends in the same log; and a reopen is clean.
func FuzzRecoverActive(f *testing.F) {
	f.Add(uint8(5), uint16(100), uint8(fuzzOverwrite), []byte{1, 2, 3, 4})
	f.Add(uint8(3), uint16(0), uint8(fuzzInsert), []byte("garbage"))
	f.Add(uint8(7), uint16(300), uint8(fuzzXor), []byte{0x40})
	f.Add(uint8(4), uint16(250), uint8(fuzzTruncate), []byte{})
	f.Add(uint8(6), uint16(70), uint8(fuzzXor), []byte{0, 0, 0, 0, 0, 0, 0, 1})   // a base offset
	f.Add(uint8(6), uint16(80), uint8(fuzzOverwrite), make([]byte, 200))          // a hole of zeros
	f.Add(uint8(2), uint16(8), uint8(fuzzOverwrite), []byte{0x7f, 0xff, 0xff, 0}) // a length past the end
	f.Fuzz(func(t *testing.T, nC uint8, pos16 uint16, kind uint8, damage []byte) {
		batches, files, bases, next := fuzzSegments(3, 3, 3+int(nC%8))
		pos := int(pos16) % (len(files[2]) + 1)
		damaged, lo, hi := fuzzDamage(files[2], pos, kind, damage)
		files[2] = damaged
		// The cut: the end of the batches of C that still chain.
		cut, cutNext := 0, bases[2]
		for cut < len(damaged) {
			h, err := recordbatch.Validate(damaged[cut:])
			if err != nil || h.BaseOffset != cutNext {
				break
			}
			cut, cutNext = cut+h.Size(), h.NextOffset()
		}
		torn := false
		if rest := damaged[cut:]; len(rest) > 0 {
			torn = len(rest) < recordbatch.LogOverhead
			if !torn {
				n := int64(int32(binary.BigEndian.Uint32(rest[recordbatch.BatchLengthPos:])))
				torn = n >= recordbatch.MinBatchLength && recordbatch.LogOverhead+n > int64(len(rest)) &&
					int64(binary.BigEndian.Uint64(rest[recordbatch.BaseOffsetPos:])) == cutNext
			}
		}
		// Untouched batches of C after the damage.
		var after []fuzzBatch
		for _, b := range batches {
			if b.seg == 2 && b.from >= hi && !(kind%fuzzKinds == fuzzInsert && b.to <= lo) {
				after = append(after, b)
			}
		}

		dir := t.TempDir()
		for seg, data := range files {
			if err := os.WriteFile(filepath.Join(dir, segment.FileName(bases[seg], segment.LogSuffix)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		predicted := verifyPartition(t, dir).Lost
		cfg := rcvConfig(1 << 20)
		l, err := tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open of a damaged log failed: %v", err)
		}
		defer func() { l.Close() }()

		got, gaps := readWithGaps(t, l)
		byBase := map[int64][]byte{}
		for _, b := range got {
			byBase[b.base] = b.data
		}
		orig := map[int64][]byte{}
		for _, b := range batches {
			orig[b.base] = b.data
			kept := b.seg < 2 || b.to <= lo || !torn && len(after) >= 2 && b.from >= after[0].from
			if kept && !bytes.Equal(byBase[b.base], b.data) {
				t.Fatalf("batch at %d (segment %d, bytes [%d, %d), damage at [%d, %d), torn %v) lost; lost ranges %v",
					b.base, b.seg, b.from, b.to, lo, hi, torn, l.Recovery().Lost)
			}
		}
		end := int64(0)
		for _, b := range got {
			want, ok := orig[b.base]
			if !ok || len(want) != len(b.data) ||
				!bytes.Equal(want[recordbatch.MagicPos:], b.data[recordbatch.MagicPos:]) ||
				!bytes.Equal(want[:recordbatch.PartitionLeaderEpochPos], b.data[:recordbatch.PartitionLeaderEpochPos]) {
				t.Fatalf("served a batch at %d that was not appended there", b.base)
			}
			h, _ := recordbatch.ParseHeader(b.data)
			end = h.NextOffset()
		}
		switch {
		case l.NextOffset() != end:
			t.Fatalf("log end %d, its last batch ends at %d", l.NextOffset(), end)
		case torn && end != cutNext:
			t.Fatalf("log end %d, want %d: a torn tail is cut at byte %d", end, cutNext, cut)
		case !torn && len(after) >= 2 && end != next:
			t.Fatalf("log end %d, want %d: the batches after the damage are intact", end, next)
		}
		info := l.Recovery()
		if !slices.Equal(gaps, info.Gaps) {
			t.Fatalf("a reader meets gaps %v, recovery reports %v (lost %v)", gaps, info.Gaps, info.Lost)
		}
		if !slices.Equal(lostRanges(predicted), lostRanges(info.Lost)) {
			t.Fatalf("VerifyPartition predicted lost %v, recovery lost %v", predicted, info.Lost)
		}

		// A crash between salvage and cut: the salvaged segment and the
		// damaged one, uncut. The open ends where the uninterrupted
		// repair did.
		for _, base := range rcvSegments(t, dir) {
			if slices.Contains(bases, base) {
				continue
			}
			kept, err := os.ReadFile(filepath.Join(dir, segment.FileName(base, segment.LogSuffix)))
			if err != nil {
				t.Fatal(err)
			}
			q := bytes.Index(damaged, kept)
			if len(kept) == 0 || q < 0 {
				break
			}
			crashed := t.TempDir()
			for seg, data := range files {
				if err := os.WriteFile(filepath.Join(crashed, segment.FileName(bases[seg], segment.LogSuffix)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(crashed, segment.FileName(base, segment.LogSuffix)), damaged[q:], 0o644); err != nil {
				t.Fatal(err)
			}
			l2, err := tlog.Open(crashed, cfg)
			if err != nil {
				t.Fatalf("open after a crash in the repair: %v", err)
			}
			got2, gaps2 := readWithGaps(t, l2)
			l2.Close()
			if len(got2) != len(got) || !slices.Equal(gaps2, gaps) {
				t.Fatalf("after a crash in the repair: %d batches and gaps %v, want %d and %v", len(got2), gaps2, len(got), gaps)
			}
			break
		}

		extra := rcvBatch(7)
		if base, err := l.Append(extra); err != nil || base != end {
			t.Fatalf("append after recovery: base %d, %v; want %d", base, err, end)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if info := l.Recovery(); !info.Clean || len(info.Lost) != 0 {
			t.Fatalf("reopen: %+v; want clean, nothing lost again", info)
		}
		again, gaps2 := readWithGaps(t, l)
		if len(again) != len(got)+1 || !slices.Equal(gaps2, gaps) {
			t.Fatalf("reopen: %d batches and gaps %v, want %d and %v", len(again), gaps2, len(got)+1, gaps)
		}
	})
}

// fuzzBatch is a batch the recovery fuzzers wrote: its segment, base
// offset and bytes [from, to) in the segment's original file.
type fuzzBatch struct {
	seg      int
	base     int64
	from, to int
	data     []byte
}

// fuzzSegments builds three segments of counts[i] batches each, offsets
// following on, and returns the batches, each segment's file bytes, each
// segment's base offset and the offset after the last batch.
func fuzzSegments(counts ...int) ([]fuzzBatch, [][]byte, []int64, int64) {
	var batches []fuzzBatch
	files := make([][]byte, len(counts))
	bases := make([]int64, len(counts))
	next := int64(0)
	for seg, n := range counts {
		bases[seg] = next
		for range n {
			b := rcvBatch(len(batches))
			recordbatch.SetBaseOffset(b, next)
			h, _ := recordbatch.ParseHeader(b)
			batches = append(batches, fuzzBatch{seg: seg, base: next, from: len(files[seg]), to: len(files[seg]) + len(b), data: b})
			files[seg] = append(files[seg], b...)
			next = h.NextOffset()
		}
	}
	return batches, files, bases, next
}

// fuzzDamage damages a copy of data at pos in one of the fuzzKinds ways
// and returns it with [lo, hi), the original bytes the damage touches (an
// insertion splits the batch straddling pos).
func fuzzDamage(data []byte, pos int, kind uint8, damage []byte) (damaged []byte, lo, hi int) {
	lo, hi = pos, pos
	switch kind % fuzzKinds {
	case fuzzOverwrite, fuzzXor:
		damaged = bytes.Clone(data)
		n := min(len(damage), len(data)-pos)
		for i := range n {
			if kind%fuzzKinds == fuzzXor {
				damaged[pos+i] ^= damage[i]
			} else {
				damaged[pos+i] = damage[i]
			}
		}
		hi = pos + n
	case fuzzInsert:
		damaged = append(append(bytes.Clone(data[:pos]), damage...), data[pos:]...)
		if len(damage) > 0 {
			hi, lo = pos+1, pos-1
		}
	case fuzzTruncate:
		damaged = bytes.Clone(data[:pos])
		hi = len(data)
	}
	return damaged, lo, hi
}
