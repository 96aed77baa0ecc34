package recordbatch

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestFirstRecordAtOrAfter(t *testing.T) {
	b := Build(10, 5, 1000) // record i: offset 100+i, timestamp 1000+i
	SetBaseOffset(b, 100)
	tests := []struct {
		ts, wantOff, wantTs int64
		found               bool
	}{
		{0, 100, 1000, true},
		{1000, 100, 1000, true},
		{1003, 103, 1003, true},
		{1009, 109, 1009, true},
		{1010, 0, 0, false},
	}
	for _, tt := range tests {
		off, ts, found, err := FirstRecordAtOrAfter(b, tt.ts)
		if err != nil || found != tt.found || (found && (off != tt.wantOff || ts != tt.wantTs)) {
			t.Errorf("FirstRecordAtOrAfter(%d) = %d %d %v %v, want %d %d %v", tt.ts, off, ts, found, err, tt.wantOff, tt.wantTs, tt.found)
		}
	}
	if n := testing.AllocsPerRun(100, func() { FirstRecordAtOrAfter(b, 1005) }); n != 0 {
		t.Errorf("%v allocs", n)
	}

	// Compressed batches answer the same, record by record.
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		cb, err := Recompress(nil, b, c, DefaultDecompressLimit)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		for _, tt := range tests {
			off, ts, found, err := FirstRecordAtOrAfter(cb, tt.ts)
			if err != nil || found != tt.found || (found && (off != tt.wantOff || ts != tt.wantTs)) {
				t.Errorf("%v: FirstRecordAtOrAfter(%d) = %d %d %v %v, want %d %d %v", c, tt.ts, off, ts, found, err, tt.wantOff, tt.wantTs, tt.found)
			}
		}
		// Decompression buffers and decoders are pooled: a lookup in a
		// compressed batch should allocate next to nothing once warm.
		if n := testing.AllocsPerRun(100, func() { FirstRecordAtOrAfter(cb, 1005) }); n > 2 && PoolsKeepItems() {
			t.Errorf("%v: %v allocs per lookup", c, n)
		}
		// A torn compressed stream is corrupt, never a wrong answer.
		torn := append([]byte(nil), cb[:len(cb)-3]...)
		binary.BigEndian.PutUint32(torn[BatchLengthPos:], uint32(len(torn)-LogOverhead))
		SetCRC(torn)
		if _, _, _, err := FirstRecordAtOrAfter(torn, 1005); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%v: torn stream: %v, want ErrCorrupt", c, err)
		}
	}

	logAppend := Build(3, 5, 1000)
	SetLogAppendTime(logAppend, 5000)
	if off, ts, found, err := FirstRecordAtOrAfter(logAppend, 4000); err != nil || !found || off != 0 || ts != 5000 {
		t.Errorf("LogAppendTime batch: %d %d %v %v", off, ts, found, err)
	}

	// Records labelled zstd but stored raw are not a zstd stream.
	mislabelled := Build(3, 5, 1000)
	binary.BigEndian.PutUint16(mislabelled[AttributesPos:], uint16(CodecZstd))
	SetCRC(mislabelled)
	if _, _, _, err := FirstRecordAtOrAfter(mislabelled, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("mislabelled batch: %v, want ErrCorrupt", err)
	}

	empty := Build(0, 0, 1000)
	if _, _, found, err := FirstRecordAtOrAfter(empty, 0); found || err != nil {
		t.Errorf("empty batch: found %v, %v", found, err)
	}

	broken := Build(3, 5, 1000)
	broken[HeaderSize] = 0x7f // first record's length varint: 63 bytes, past the batch
	if _, _, _, err := FirstRecordAtOrAfter(broken, 2000); !errors.Is(err, ErrCorrupt) {
		t.Errorf("broken record length: %v, want ErrCorrupt", err)
	}
}

// FuzzFirstRecordAtOrAfter: record walking over arbitrary bytes after a
// valid header never panics and never answers an offset outside the batch.
func FuzzFirstRecordAtOrAfter(f *testing.F) {
	f.Add(Build(5, 10, 1000), int64(1002))
	f.Add(Build(0, 0, 0), int64(0))
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		cb, err := Recompress(nil, Build(5, 10, 1000), c, DefaultDecompressLimit)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cb, int64(1002))
	}
	f.Fuzz(func(t *testing.T, b []byte, ts int64) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		off, _, found, err := FirstRecordAtOrAfter(b, ts)
		if err == nil && found && (off < h.BaseOffset || off > h.LastOffset()) {
			t.Fatalf("offset %d outside the batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
		}
	})
}
