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

	logAppend := Build(3, 5, 1000)
	SetLogAppendTime(logAppend, 5000)
	if off, ts, found, err := FirstRecordAtOrAfter(logAppend, 4000); err != nil || !found || off != 0 || ts != 5000 {
		t.Errorf("LogAppendTime batch: %d %d %v %v", off, ts, found, err)
	}

	compressed := Build(3, 5, 1000)
	binary.BigEndian.PutUint16(compressed[AttributesPos:], uint16(CodecZstd))
	SetCRC(compressed)
	if _, _, _, err := FirstRecordAtOrAfter(compressed, 0); !errors.Is(err, ErrCompressed) {
		t.Errorf("compressed batch: %v, want ErrCompressed", err)
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
