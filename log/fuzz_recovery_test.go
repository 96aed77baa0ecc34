package log_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
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
// and opens the log. Open must succeed and keep exactly the valid prefix the
// oracle finds; the result must be contiguous and readable at every offset,
// take an append, and reopen to the same place.
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
		cfg := rcvConfig(1 << 20)
		l, err := tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("Open of a damaged log failed: %v", err)
		}
		defer func() { l.Close() }()
		if l.StartOffset() != 0 || l.NextOffset() != wantNext {
			t.Fatalf("log is [%d, %d) after recovery, want [0, %d)", l.StartOffset(), l.NextOffset(), wantNext)
		}
		if fi, err := os.Stat(logPath); err != nil || fi.Size() != int64(validBytes) {
			t.Fatalf(".log after recovery: %v, want %d bytes", err, validBytes)
		}
		// Contiguous, CRC-valid, byte for byte the valid prefix.
		var got []byte
		rcvWalk(t, l, func(_ recordbatch.Header, b []byte) { got = append(got, b...) })
		if !bytes.Equal(got, data[:validBytes]) {
			t.Fatalf("recovered batches (%d bytes) differ from the valid prefix (%d bytes)", len(got), validBytes)
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
		if err != nil || base != wantNext {
			t.Fatalf("append after recovery: base %d, %v; want base %d", base, err, wantNext)
		}
		h, _ := recordbatch.ParseHeader(extra)
		end := h.NextOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = tlog.Open(dir, cfg)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if !l.Recovery().Clean || l.NextOffset() != end {
			t.Fatalf("reopen: %+v, log end %d; want clean at %d", l.Recovery(), l.NextOffset(), end)
		}
		got = got[:0]
		rcvWalk(t, l, func(_ recordbatch.Header, b []byte) { got = append(got, b...) })
		if !bytes.Equal(got, append(data[:validBytes:validBytes], extra...)) {
			t.Fatal("log after reopen differs from the valid prefix plus the append")
		}
	})
}
