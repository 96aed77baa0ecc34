package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// streamCodecs are the ways a producer's records section can be
// compressed, each read by its own path in produced_stream.go.
var streamCodecs = []struct {
	name  string
	codec Codec
	// compress compresses a records section as that producer would.
	compress func(t testing.TB, recs []byte) []byte
}{
	{"gzip", CodecGzip, compressWith(CodecGzip)},
	{"snappy-xerial", CodecSnappy, compressWith(CodecSnappy)}, // the Java client's framing
	{"snappy-block", CodecSnappy, func(_ testing.TB, recs []byte) []byte { return snappy.Encode(nil, recs) }},
	{"lz4", CodecLZ4, compressWith(CodecLZ4)},
	{"zstd", CodecZstd, compressWith(CodecZstd)}, // one frame with its content size, as franz-go writes
}

func compressWith(c Codec) func(testing.TB, []byte) []byte {
	return func(t testing.TB, recs []byte) []byte {
		out, err := Compress(c, nil, recs)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// rawRecords encodes records with the given offset deltas and values,
// each with a key and a header, back to back as a records section.
func rawRecords(deltas []int32, value []byte) []byte {
	var recs []byte
	for _, d := range deltas {
		r := kmsg.Record{OffsetDelta: d, TimestampDelta64: int64(d), Key: []byte("k"), Value: value,
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // without its own 1-byte length
		recs = r.AppendTo(recs)
	}
	return recs
}

// deltas returns 0, 1, ..., n-1.
func deltas(n int) []int32 {
	d := make([]int32, n)
	for i := range d {
		d[i] = int32(i)
	}
	return d
}

// wrapRecords puts a (compressed) records section under a header claiming
// count records and lastOffsetDelta lod, flagged with codec c, CRC set.
func wrapRecords(c Codec, recs []byte, count, lod int32) []byte {
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(c), LastOffsetDelta: lod, FirstTimestamp: time.Now().UnixMilli(),
		MaxTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: count, Records: recs}
	b.Length = int32(len(b.AppendTo(nil)) - LogOverhead)
	out := b.AppendTo(nil)
	SetCRC(out)
	return out
}

// TestValidateProducedCompressed: every codec's records are decompressed
// and walked on produce, so whatever a consumer could not read is refused.
func TestValidateProducedCompressed(t *testing.T) {
	const n = 5
	value := bytes.Repeat([]byte("payload "), 20)
	good := rawRecords(deltas(n), value)
	badLength := append(rawRecords(deltas(n-1), value), binary.AppendVarint(nil, 1<<20)...) // claims 1 MiB
	unendedVarint := append(rawRecords(deltas(n-1), value), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	badKey := rawRecords(deltas(n), value)
	_, ln := binary.Varint(badKey)
	badKey[ln+3] = 0x7e // record 0's key length, after attributes, timestampDelta and offsetDelta: 63 bytes
	for _, c := range streamCodecs {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				batch []byte
				limit int
				want  error // nil: accepted
			}{
				{"good", wrapRecords(c.codec, c.compress(t, good), n, n-1), DefaultDecompressLimit, nil},
				{"one large record over many windows", wrapRecords(c.codec, c.compress(t, rawRecords(deltas(1), bytes.Repeat([]byte("x"), 5*streamWindow/2))), 1, 0), DefaultDecompressLimit, nil},
				{"large records across windows", wrapRecords(c.codec, c.compress(t, rawRecords(deltas(40), bytes.Repeat([]byte("y"), streamWindow/7))), 40, 39), DefaultDecompressLimit, nil},
				{"not actually compressed", wrapRecords(c.codec, good, n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"truncated stream", wrapRecords(c.codec, halve(c.compress(t, good)), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"count above the records", wrapRecords(c.codec, c.compress(t, good), n+1, n), DefaultDecompressLimit, ErrInvalidRecords},
				{"count below the records", wrapRecords(c.codec, c.compress(t, good), n-2, n-3), DefaultDecompressLimit, ErrInvalidRecords},
				{"header says 3, 10 inside", wrapRecords(c.codec, c.compress(t, rawRecords(deltas(10), value)), 3, 2), DefaultDecompressLimit, ErrInvalidRecords},
				{"offset delta gap", wrapRecords(c.codec, c.compress(t, rawRecords([]int32{0, 1, 3, 4, 5}, value)), n, n), DefaultDecompressLimit, ErrInvalidRecords},
				{"offset deltas out of order", wrapRecords(c.codec, c.compress(t, rawRecords([]int32{0, 2, 1, 3, 4}, value)), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"record length past the end", wrapRecords(c.codec, c.compress(t, badLength), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"record length varint never ends", wrapRecords(c.codec, c.compress(t, unendedVarint), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"key length past the record", wrapRecords(c.codec, c.compress(t, badKey), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"bytes after the last record", wrapRecords(c.codec, c.compress(t, append(bytes.Clone(good), 0, 0, 0)), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"garbage after the compressed stream", wrapRecords(c.codec, append(c.compress(t, good), "garbage!"...), n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"empty records section", wrapRecords(c.codec, nil, n, n-1), DefaultDecompressLimit, ErrInvalidRecords},
				{"crc mismatch", flipByte(wrapRecords(c.codec, c.compress(t, good), n, n-1), -1), DefaultDecompressLimit, ErrCorrupt},
				{"decompression bomb over the limit", wrapRecords(c.codec, c.compress(t, rawRecords(deltas(1), make([]byte, 4<<20))), 1, 0), 1 << 20, ErrTooLarge},
				{"many records over the limit", wrapRecords(c.codec, c.compress(t, rawRecords(deltas(3000), value)), 3000, 2999), 100 << 10, ErrTooLarge},
			} {
				h, err := ValidateProduced(tc.batch, tc.limit)
				switch {
				case tc.want == nil && err != nil:
					t.Errorf("%s: %v", tc.name, err)
				case tc.want == nil && (h.Size() != len(tc.batch) || h.Codec() != c.codec):
					t.Errorf("%s: header of %d bytes, codec %v, for a %d-byte %v batch", tc.name, h.Size(), h.Codec(), len(tc.batch), c.codec)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
				case tc.want != nil:
					var e *Error
					if !errors.As(err, &e) {
						t.Errorf("%s: %T is not an *Error", tc.name, err)
					}
				}
			}
		})
	}
}

// halve returns the first half of b: a compressed stream cut short.
func halve(b []byte) []byte { return bytes.Clone(b[:len(b)/2]) }

// TestValidateProducedZstdLargeWindow: a zstd frame whose window is too
// large to stream (the Java client at compression.zstd.level 20-22) is
// decoded whole under the limit and checked the same way.
func TestValidateProducedZstdLargeWindow(t *testing.T) {
	const n = 80
	recs := rawRecords(deltas(n), bytes.Repeat([]byte("big window "), 10<<10)) // ~9 MiB
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithWindowSize(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(recs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var fh zstd.Header
	if err := fh.Decode(out.Bytes()); err != nil || fh.WindowSize <= streamZstdMaxWindow {
		t.Fatalf("frame window %d (%v), want over %d", fh.WindowSize, err, streamZstdMaxWindow)
	}
	if _, err := ValidateProduced(wrapRecords(CodecZstd, out.Bytes(), n, n-1), DefaultDecompressLimit); err != nil {
		t.Errorf("good batch: %v", err)
	}
	if _, err := ValidateProduced(wrapRecords(CodecZstd, out.Bytes(), n+1, n), DefaultDecompressLimit); !errors.Is(err, ErrInvalidRecords) {
		t.Errorf("count above the records: %v, want ErrInvalidRecords", err)
	}
	if _, err := ValidateProduced(wrapRecords(CodecZstd, out.Bytes(), n, n-1), 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over a 1 MiB limit: %v, want ErrTooLarge", err)
	}
	// The same window in a second frame, after a small first one that
	// streams: the check starts over and decodes it all at once.
	first, err := Compress(CodecZstd, nil, rawRecords([]int32{0}, []byte("first frame")))
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	w, err = zstd.NewWriter(&second, zstd.WithWindowSize(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	rest := rawRecordsFrom(1, n, bytes.Repeat([]byte("big window "), 10<<10))
	if _, err := w.Write(rest); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	two := append(first, second.Bytes()...)
	if _, err := ValidateProduced(wrapRecords(CodecZstd, two, n+1, n), DefaultDecompressLimit); err != nil {
		t.Errorf("large window in the second frame: %v", err)
	}
	if _, err := ValidateProduced(wrapRecords(CodecZstd, two, n, n-1), DefaultDecompressLimit); !errors.Is(err, ErrInvalidRecords) {
		t.Errorf("large window in the second frame, count below the records: %v, want ErrInvalidRecords", err)
	}
}

// rawRecordsFrom is rawRecords for offset deltas from, from+1, ...,
// from+n-1.
func rawRecordsFrom(from int32, n int, value []byte) []byte {
	d := deltas(n)
	for i := range d {
		d[i] += from
	}
	return rawRecords(d, value)
}

// compressedProduced is Build's batch of n records with values of size
// bytes, its records compressed with c.
func compressedProduced(t testing.TB, c Codec, n, size int) []byte {
	out, err := Recompress(nil, Build(n, size, 1), c, DefaultDecompressLimit)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateProducedCompressedBuilt(t *testing.T) {
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		for _, n := range []int{1, 7, 300} {
			b := compressedProduced(t, c, n, 1000)
			if _, err := ValidateProduced(b, DefaultDecompressLimit); err != nil {
				t.Errorf("%v, %d records: %v", c, n, err)
			}
			if _, err := ValidateProduced(b, len(b)/10); !errors.Is(err, ErrTooLarge) && c != CodecNone {
				t.Errorf("%v, %d records under a limit of %d: %v, want ErrTooLarge", c, n, len(b)/10, err)
			}
		}
	}
}

func ExampleValidateProduced() {
	plain := Build(3, 10, 1)
	batch, _ := Recompress(nil, plain, CodecGzip, DefaultDecompressLimit)
	// A producer's bug: the header claims one record more than it holds.
	binary.BigEndian.PutUint32(batch[RecordCountPos:], 4)
	binary.BigEndian.PutUint32(batch[LastOffsetDeltaPos:], 3)
	SetCRC(batch)
	_, err := ValidateProduced(batch, DefaultDecompressLimit)
	fmt.Println(errors.Is(err, ErrInvalidRecords))
	// Output: true
}

// FuzzValidateProducedCompressed: any records section under any codec, with
// any record count, gives an answer, never a panic: accepted only when
// decompressing it whole and reading it with Records finds exactly the
// records the header announces, refused otherwise as ErrInvalidRecords or,
// past the limit, ErrTooLarge.
func FuzzValidateProducedCompressed(f *testing.F) {
	for _, c := range streamCodecs {
		recs := rawRecords(deltas(3), []byte("fuzz value"))
		f.Add(byte(c.codec), uint8(3), c.compress(f, recs))
		f.Add(byte(c.codec), uint8(2), c.compress(f, recs))
	}
	f.Fuzz(func(t *testing.T, codec byte, count uint8, recs []byte) {
		c := Codec(codec%4 + 1)
		n := int32(count%16) + 1
		batch := wrapRecords(c, recs, n, n-1)
		h, err := ValidateProduced(batch, fuzzStreamLimit)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecords) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%v records: %v", c, err)
			}
			return
		}
		if h.RecordCount != n {
			t.Fatalf("header says %d records, got %d", n, h.RecordCount)
		}
		var got int32
		err = Records(batch, fuzzStreamLimit, func(r Record) error {
			if r.Offset != int64(got) {
				t.Fatalf("record %d has offset %d", got, r.Offset)
			}
			got++
			return nil
		})
		if err != nil || got != n {
			t.Fatalf("accepted, but Records reads %d of %d records: %v", got, n, err)
		}
	})
}

// fuzzStreamLimit keeps fuzzing fast: bombs hit it early.
const fuzzStreamLimit = 1 << 20
