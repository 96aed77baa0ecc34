package recordbatch_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// encodeBatch writes h's fields and body by hand, independently of the
// package's own encoder, and stores the correct CRC unless h.CRC is nonzero.
// h.BatchLength is computed when zero.
func encodeBatch(h recordbatch.Header, body []byte) []byte {
	b := make([]byte, 61+len(body))
	if h.BatchLength == 0 {
		h.BatchLength = int32(49 + len(body))
	}
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(h.BaseOffset))
	be.PutUint32(b[8:], uint32(h.BatchLength))
	be.PutUint32(b[12:], uint32(h.PartitionLeaderEpoch))
	b[16] = byte(h.Magic)
	be.PutUint16(b[21:], uint16(h.Attributes))
	be.PutUint32(b[23:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[27:], uint64(h.BaseTimestamp))
	be.PutUint64(b[35:], uint64(h.MaxTimestamp))
	be.PutUint64(b[43:], uint64(h.ProducerID))
	be.PutUint16(b[51:], uint16(h.ProducerEpoch))
	be.PutUint32(b[53:], uint32(h.BaseSequence))
	be.PutUint32(b[57:], uint32(h.RecordCount))
	copy(b[61:], body)
	crc := h.CRC
	if crc == 0 {
		crc = crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	}
	be.PutUint32(b[17:], crc)
	return b
}

// sampleHeader has a distinct, non-trivial value in every field.
func sampleHeader() recordbatch.Header {
	return recordbatch.Header{
		BaseOffset:           0x0102030405060708,
		PartitionLeaderEpoch: 0x11223344,
		Magic:                2,
		Attributes:           int16(recordbatch.CodecZstd) | recordbatch.AttrLogAppendTime | recordbatch.AttrTransactional,
		LastOffsetDelta:      41,
		BaseTimestamp:        1_700_000_000_000,
		MaxTimestamp:         1_700_000_000_999,
		ProducerID:           987654321,
		ProducerEpoch:        7,
		BaseSequence:         1234,
		RecordCount:          42,
	}
}

func TestParseHeaderRoundTrip(t *testing.T) {
	body := []byte("opaque compressed records, never decoded here")
	tests := []struct {
		name          string
		edit          func(*recordbatch.Header)
		codec         recordbatch.Codec
		logAppendTime bool
		transactional bool
		control       bool
	}{
		{"all fields", func(*recordbatch.Header) {}, recordbatch.CodecZstd, true, true, false},
		{"none", func(h *recordbatch.Header) { h.Attributes = 0 }, recordbatch.CodecNone, false, false, false},
		{"gzip", func(h *recordbatch.Header) { h.Attributes = 1 }, recordbatch.CodecGzip, false, false, false},
		{"snappy", func(h *recordbatch.Header) { h.Attributes = 2 }, recordbatch.CodecSnappy, false, false, false},
		{"lz4", func(h *recordbatch.Header) { h.Attributes = 3 }, recordbatch.CodecLZ4, false, false, false},
		{"control marker", func(h *recordbatch.Header) {
			h.Attributes = recordbatch.AttrTransactional | recordbatch.AttrControl
			h.LastOffsetDelta, h.RecordCount = 0, 1
		}, recordbatch.CodecNone, false, true, true},
		{"unknown high bits kept", func(h *recordbatch.Header) { h.Attributes = -0x8000 | 0x40 | 2 }, recordbatch.CodecSnappy, false, false, false},
		{"empty after compaction", func(h *recordbatch.Header) { h.RecordCount = 0 }, recordbatch.CodecZstd, true, true, false},
		{"gaps after compaction", func(h *recordbatch.Header) { h.RecordCount = 3 }, recordbatch.CodecZstd, true, true, false},
		{"negative and extreme values", func(h *recordbatch.Header) {
			h.BaseOffset, h.PartitionLeaderEpoch = -1, -1
			h.BaseTimestamp, h.MaxTimestamp = -1, -1
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = -1, -1, -1
			h.LastOffsetDelta, h.RecordCount = 1<<31-1, 1<<31-1
		}, recordbatch.CodecZstd, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := sampleHeader()
			tt.edit(&want)
			b := encodeBatch(want, body)
			want.BatchLength = int32(len(b) - 12)
			want.CRC = binary.BigEndian.Uint32(b[17:])
			b = append(b, "next batch bytes"...) // trailing bytes are not this batch's business

			for name, parse := range map[string]func([]byte) (recordbatch.Header, error){
				"ParseHeader": recordbatch.ParseHeader, "Validate": recordbatch.Validate,
			} {
				h, err := parse(b)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if h != want {
					t.Fatalf("%s:\n got %+v\nwant %+v", name, h, want)
				}
			}
			h, _ := recordbatch.Validate(b)
			if got := h.Size(); got != len(b)-len("next batch bytes") {
				t.Errorf("Size() = %d, want %d", got, len(b)-len("next batch bytes"))
			}
			if got, want := h.LastOffset(), want.BaseOffset+int64(want.LastOffsetDelta); got != want {
				t.Errorf("LastOffset() = %d, want %d", got, want)
			}
			if got := h.NextOffset(); got != h.LastOffset()+1 {
				t.Errorf("NextOffset() = %d, want %d", got, h.LastOffset()+1)
			}
			if got := h.Codec(); got != tt.codec {
				t.Errorf("Codec() = %v, want %v", got, tt.codec)
			}
			if got := h.LogAppendTime(); got != tt.logAppendTime {
				t.Errorf("LogAppendTime() = %v, want %v", got, tt.logAppendTime)
			}
			if got := h.Transactional(); got != tt.transactional {
				t.Errorf("Transactional() = %v, want %v", got, tt.transactional)
			}
			if got := h.Control(); got != tt.control {
				t.Errorf("Control() = %v, want %v", got, tt.control)
			}
			if got := recordbatch.ComputeCRC(b); got != want.CRC {
				t.Errorf("ComputeCRC = %#x, want %#x", got, want.CRC)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	valid := recordbatch.Build(3, 10, 1000)
	// edit returns a modified copy of valid; fixCRC recomputes the CRC
	// afterwards so that only the structural problem remains.
	tests := []struct {
		name    string
		edit    func(b []byte) []byte
		fixCRC  bool
		want    error
		reason  string // substring of the message
		parseOK bool   // only the CRC is wrong: ParseHeader accepts it
	}{
		{"magic 0", setByte(16, 0), true, recordbatch.ErrCorrupt, "magic", false},
		{"magic 1", setByte(16, 1), true, recordbatch.ErrCorrupt, "magic", false},
		{"magic 3", setByte(16, 3), true, recordbatch.ErrCorrupt, "magic", false},
		{"magic -1", setByte(16, 0xff), true, recordbatch.ErrCorrupt, "magic", false},
		{"crc field flipped", xorByte(20, 1), false, recordbatch.ErrCorrupt, "crc mismatch", true},
		{"record byte flipped", xorByte(70, 0x80), false, recordbatch.ErrCorrupt, "crc mismatch", true},
		{"attributes flipped", xorByte(22, 0x10), false, recordbatch.ErrCorrupt, "crc mismatch", true},
		{"last byte flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false, recordbatch.ErrCorrupt, "crc mismatch", true},
		{"batchLength 48", setU32(8, 48), false, recordbatch.ErrCorrupt, "batchLength", false},
		{"batchLength 0", setU32(8, 0), false, recordbatch.ErrCorrupt, "batchLength", false},
		{"batchLength -1", setU32(8, 0xffffffff), false, recordbatch.ErrCorrupt, "batchLength", false},
		{"batchLength min int32", setU32(8, 0x80000000), false, recordbatch.ErrCorrupt, "batchLength", false},
		{"batchLength one past input", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12+1))
			return b
		}, false, recordbatch.ErrTruncated, "batchLength", false},
		{"batchLength max int32", setU32(8, 0x7fffffff), false, recordbatch.ErrTruncated, "batchLength", false},
		{"negative recordCount", setU32(57, 0xffffffff), true, recordbatch.ErrCorrupt, "recordCount", false},
		{"negative lastOffsetDelta", setU32(23, 0xfffffffe), true, recordbatch.ErrCorrupt, "lastOffsetDelta", false},
		{"recordCount beyond lastOffsetDelta", setU32(57, 4), true, recordbatch.ErrCorrupt, "lastOffsetDelta 2 cannot hold recordCount 4", false},
		{"codec 5", setByte(22, 5), true, recordbatch.ErrCorrupt, "codec 5", false},
		{"codec 6", setByte(22, 6), true, recordbatch.ErrCorrupt, "codec 6", false},
		{"codec 7 with flags", setByte(22, 0x3f), true, recordbatch.ErrCorrupt, "codec 7", false},
		{"empty input", cut(0), false, recordbatch.ErrTruncated, "0 bytes", false},
		{"before batchLength ends", cut(11), false, recordbatch.ErrTruncated, "11 bytes", false},
		{"only log overhead", cut(12), false, recordbatch.ErrTruncated, "header needs 61", false},
		{"header minus one", cut(60), false, recordbatch.ErrTruncated, "header needs 61", false},
		{"header only", cut(61), false, recordbatch.ErrTruncated, "input has 61", false},
		{"last byte missing", func(b []byte) []byte { return b[:len(b)-1] }, false, recordbatch.ErrTruncated, "batchLength", false},
		{"short and bad magic", func(b []byte) []byte { b[16] = 1; return b[:20] }, false, recordbatch.ErrCorrupt, "magic", false},
		{"short and bad batchLength", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 3); return b[:12] }, false, recordbatch.ErrCorrupt, "batchLength", false},
		{"bad field before missing body", func(b []byte) []byte { b[22] = 7; return b[:61] }, false, recordbatch.ErrCorrupt, "codec", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(append([]byte(nil), valid...))
			if tt.fixCRC {
				recordbatch.SetCRC(b)
			}
			_, perr := recordbatch.ParseHeader(b)
			if tt.parseOK != (perr == nil) {
				t.Fatalf("ParseHeader error = %v, want ok=%v", perr, tt.parseOK)
			}
			h, err := recordbatch.Validate(b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate error = %v, want %v", err, tt.want)
			}
			if h != (recordbatch.Header{}) {
				t.Errorf("Validate returned non-zero header %+v with error", h)
			}
			var e *recordbatch.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *recordbatch.Error", err)
			}
			if e.Pos != 0 {
				t.Errorf("Pos = %d, want 0", e.Pos)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "recordbatch: ") || !strings.Contains(msg, tt.reason) {
				t.Errorf("message %q: want prefix %q and %q", msg, "recordbatch: ", tt.reason)
			}
			if errors.Is(err, recordbatch.ErrCorrupt) == errors.Is(err, recordbatch.ErrTruncated) {
				t.Errorf("error %v must wrap exactly one sentinel", err)
			}
		})
	}
}

func setByte(pos int, v byte) func([]byte) []byte {
	return func(b []byte) []byte { b[pos] = v; return b }
}

func xorByte(pos int, v byte) func([]byte) []byte {
	return func(b []byte) []byte { b[pos] ^= v; return b }
}

func setU32(pos int, v uint32) func([]byte) []byte {
	return func(b []byte) []byte { binary.BigEndian.PutUint32(b[pos:], v); return b }
}

func cut(n int) func([]byte) []byte {
	return func(b []byte) []byte { return b[:n] }
}

func TestErrorMessage(t *testing.T) {
	b := recordbatch.Build(1, 5, 0)
	binary.BigEndian.PutUint32(b[17:], 0xdeadbeef)
	_, err := recordbatch.Validate(b)
	want := "recordbatch: corrupt batch at byte 0: crc mismatch (stored 0xdeadbeef, computed 0x"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want prefix %q", err, want)
	}
}

// Every strict prefix of a valid batch is a torn write, never corruption.
func TestEveryPrefixIsTruncated(t *testing.T) {
	b := recordbatch.Build(4, 20, 0)
	for n := range len(b) {
		if _, err := recordbatch.Validate(b[:n]); !errors.Is(err, recordbatch.ErrTruncated) {
			t.Fatalf("Validate(b[:%d]) = %v, want ErrTruncated", n, err)
		}
	}
}

func TestSetFieldsOutsideCRC(t *testing.T) {
	tests := []struct {
		name string
		set  func([]byte)
		want func(recordbatch.Header) bool
	}{
		{"base offset", func(b []byte) { recordbatch.SetBaseOffset(b, 123456789012) },
			func(h recordbatch.Header) bool {
				return h.BaseOffset == 123456789012 && h.LastOffset() == 123456789012+4
			}},
		{"negative base offset", func(b []byte) { recordbatch.SetBaseOffset(b, -1) },
			func(h recordbatch.Header) bool { return h.BaseOffset == -1 }},
		{"leader epoch", func(b []byte) { recordbatch.SetPartitionLeaderEpoch(b, 17) },
			func(h recordbatch.Header) bool { return h.PartitionLeaderEpoch == 17 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := recordbatch.Build(5, 100, 42)
			crc := recordbatch.ComputeCRC(b)
			tt.set(b)
			h, err := recordbatch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(h) || h.CRC != crc || recordbatch.ComputeCRC(b) != crc {
				t.Fatalf("after set: %+v (crc was %#x)", h, crc)
			}
		})
	}
}

// concat returns the batches back to back, with consecutive base offsets.
func concat(batches ...[]byte) []byte {
	var out []byte
	var next int64
	for _, b := range batches {
		b = append([]byte(nil), b...)
		recordbatch.SetBaseOffset(b, next)
		h, err := recordbatch.Validate(b)
		if err != nil {
			panic(err)
		}
		next = h.NextOffset()
		out = append(out, b...)
	}
	return out
}

func TestValidateAll(t *testing.T) {
	b1, b2, b3 := recordbatch.Build(1, 3, 0), recordbatch.Build(5, 100, 10), recordbatch.BuildSized(4096, 20)
	h3, _ := recordbatch.Validate(b3)
	all := concat(b1, b2, b3)
	tests := []struct {
		name        string
		in          []byte
		wantBatches int
		wantDelta   int64
		wantErr     error
		wantPos     int
	}{
		{"one", b1, 1, 1, nil, 0},
		{"three", all, 3, 1 + 5 + int64(h3.LastOffsetDelta) + 1, nil, 0},
		{"corrupt second", func() []byte {
			b := append([]byte(nil), all...)
			b[len(b1)+recordbatch.HeaderSize+2] ^= 0xff
			return b
		}(), 1, 1, recordbatch.ErrCorrupt, len(b1)},
		{"bad magic third", func() []byte {
			b := append([]byte(nil), all...)
			b[len(b1)+len(b2)+recordbatch.MagicPos] = 1
			return b
		}(), 2, 6, recordbatch.ErrCorrupt, len(b1) + len(b2)},
		{"torn third", all[:len(all)-1], 2, 6, recordbatch.ErrTruncated, len(b1) + len(b2)},
		{"trailing garbage", append(append([]byte(nil), b1...), 0, 0, 0), 1, 1, recordbatch.ErrTruncated, len(b1)},
		{"empty", nil, 0, 0, recordbatch.ErrTruncated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, delta, err := recordbatch.ValidateAll(tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantBatches || delta != tt.wantDelta {
				t.Errorf("got %d batches, delta %d; want %d, %d", n, delta, tt.wantBatches, tt.wantDelta)
			}
			if err != nil {
				var e *recordbatch.Error
				if !errors.As(err, &e) || e.Pos != tt.wantPos {
					t.Errorf("err = %#v, want Pos %d", err, tt.wantPos)
				}
			}
		})
	}
}

func TestScan(t *testing.T) {
	b1, b2, b3 := recordbatch.Build(2, 50, 0), recordbatch.Build(1, 0, 5), recordbatch.Build(7, 33, 9)
	all := concat(b1, b2, b3)
	prefix := len(b1) + len(b2)

	if n, batches, err := recordbatch.Scan(all); n != len(all) || batches != 3 || err != nil {
		t.Fatalf("Scan(all) = %d, %d, %v; want %d, 3, nil", n, batches, err, len(all))
	}
	if n, batches, err := recordbatch.Scan(nil); n != 0 || batches != 0 || err != nil {
		t.Fatalf("Scan(nil) = %d, %d, %v; want 0, 0, nil", n, batches, err)
	}
	// A crash can tear the last batch at any byte.
	for end := prefix; end < len(all); end++ {
		n, batches, err := recordbatch.Scan(all[:end])
		if end == prefix {
			if n != prefix || batches != 2 || err != nil {
				t.Fatalf("cut at %d: Scan = %d, %d, %v; want %d, 2, nil", end, n, batches, err, prefix)
			}
			continue
		}
		var e *recordbatch.Error
		if n != prefix || batches != 2 || !errors.Is(err, recordbatch.ErrTruncated) || !errors.As(err, &e) || e.Pos != prefix {
			t.Fatalf("cut at %d: Scan = %d, %d, %v; want %d, 2, ErrTruncated at %d", end, n, batches, err, prefix, prefix)
		}
	}
	// Corruption anywhere in the CRC-covered part of the last batch.
	for p := prefix + recordbatch.AttributesPos; p < len(all); p++ {
		b := append([]byte(nil), all...)
		b[p] ^= 0x01
		n, batches, err := recordbatch.Scan(b)
		if n != prefix || batches != 2 || !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Fatalf("flip at %d: Scan = %d, %d, %v; want %d, 2, ErrCorrupt", p, n, batches, err, prefix)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	one := recordbatch.BuildSized(16<<10, 0)
	many := concat(one, one, one, recordbatch.Build(3, 3, 3))
	tests := []struct {
		name string
		fn   func()
	}{
		{"ParseHeader", func() { _, _ = recordbatch.ParseHeader(one) }},
		{"Validate", func() { _, _ = recordbatch.Validate(one) }},
		{"ValidateAll", func() { _, _, _ = recordbatch.ValidateAll(many) }},
		{"Scan", func() { _, _, _ = recordbatch.Scan(many) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, tt.fn); allocs != 0 {
				t.Fatalf("%s: %v allocs per run, want 0", tt.name, allocs)
			}
		})
	}
}

func TestCodecString(t *testing.T) {
	tests := []struct {
		c    recordbatch.Codec
		want string
	}{
		{recordbatch.CodecNone, "none"}, {recordbatch.CodecGzip, "gzip"}, {recordbatch.CodecSnappy, "snappy"},
		{recordbatch.CodecLZ4, "lz4"}, {recordbatch.CodecZstd, "zstd"}, {5, "Codec(5)"}, {-1, "Codec(-1)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Codec(%d).String() = %q, want %q", int8(tt.c), got, tt.want)
		}
	}
}
