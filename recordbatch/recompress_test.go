package recordbatch_test

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// kmsgBatch builds a batch with franz-go's kmsg: records with Record.AppendTo,
// the records section compressed by franz-go's compressor, the header with
// RecordBatch.AppendTo. h supplies every header field but the derived ones.
func kmsgBatch(t testing.TB, h recordbatch.Header, recs []kmsg.Record, c recordbatch.Codec) []byte {
	t.Helper()
	var raw []byte
	for i := range recs {
		r := recs[i]
		r.Length = 0
		body := len(r.AppendTo(nil)) - 1 // Length 0 is one varint byte
		r.Length = int32(body)
		raw = r.AppendTo(raw)
	}
	return kmsgBatchRaw(t, h, raw, c, len(recs))
}

func kmsgBatchRaw(t testing.TB, h recordbatch.Header, raw []byte, c recordbatch.Codec, n int) []byte {
	t.Helper()
	rb := kmsg.RecordBatch{
		FirstOffset:          h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           h.Attributes&^7 | int16(c),
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       h.BaseTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		FirstSequence:        h.BaseSequence,
		NumRecords:           int32(n),
		Records:              kgoCompress(t, c, raw),
	}
	b := rb.AppendTo(nil)
	rb.Length = int32(len(b) - 12)
	rb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}

// testRecords returns n records exercising every field shape: null and empty
// keys and values, headers with null and empty values, negative and large
// timestamp deltas, and offset gaps as compaction leaves them.
func testRecords(rng *rand.Rand, n int) (recs []kmsg.Record, lastOffsetDelta int32) {
	off := int32(0)
	for i := range n {
		r := kmsg.NewRecord()
		r.OffsetDelta = off
		off += 1 + int32(rng.IntN(3)) // gaps
		r.TimestampDelta64 = int64(i*1000) - 500 + rng.Int64N(1000)
		switch i % 4 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", rng.IntN(100))
		}
		switch i % 5 {
		case 0:
			r.Value = nil
		case 1:
			r.Value = []byte{}
		default:
			r.Value = appendJSONValue(nil, rng, 50+rng.IntN(1500))
		}
		for j := range i % 4 {
			hv := fmt.Appendf(nil, "h%d", j)
			if j == 1 {
				hv = nil
			} else if j == 2 {
				hv = []byte{}
			}
			r.Headers = append(r.Headers, kmsg.Header{Key: fmt.Sprintf("hk%d", j), Value: hv})
		}
		if i%9 == 8 {
			r.Headers = append(r.Headers, kmsg.Header{Key: "", Value: []byte("empty key")})
		}
		recs = append(recs, r)
	}
	return recs, max(off-1, int32(n)-1, 0)
}

// wantRecords is what Records should hand out for recs in a batch with
// header h.
func wantRecords(h recordbatch.Header, recs []kmsg.Record) []recordbatch.Record {
	var out []recordbatch.Record
	for _, r := range recs {
		w := recordbatch.Record{
			Offset:    h.BaseOffset + int64(r.OffsetDelta),
			Timestamp: h.BaseTimestamp + r.TimestampDelta64,
			Key:       r.Key,
			Value:     r.Value,
		}
		if h.Attributes&recordbatch.AttrLogAppendTime != 0 {
			w.Timestamp = h.MaxTimestamp
		}
		for _, hd := range r.Headers {
			w.Headers = append(w.Headers, recordbatch.RecordHeader{Key: hd.Key, Value: hd.Value})
		}
		out = append(out, w)
	}
	return out
}

// collect returns every record of batch, copied.
func collect(t testing.TB, batch []byte) []recordbatch.Record {
	t.Helper()
	var out []recordbatch.Record
	err := recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(r recordbatch.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	return out
}

// batchHeaders are the header shapes Recompress must carry over.
func batchHeaders(lastOffsetDelta int32, n int) map[string]recordbatch.Header {
	plain := recordbatch.Header{
		BaseOffset: 1234567, PartitionLeaderEpoch: 42, LastOffsetDelta: lastOffsetDelta,
		BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + int64(n)*1000,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	txn := plain
	txn.ProducerID, txn.ProducerEpoch, txn.BaseSequence = 987654321, 7, 1_000_000
	txn.Attributes = recordbatch.AttrTransactional | 0x40 | -0x8000 // plus bits we do not interpret
	lat := plain
	lat.Attributes = recordbatch.AttrLogAppendTime
	lat.MaxTimestamp = 1_800_000_000_000
	return map[string]recordbatch.Header{"plain": plain, "transactional+high bits": txn, "LogAppendTime": lat}
}

func TestRecordsKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 37} {
		recs, lod := testRecords(rng, n)
		for hname, h := range batchHeaders(lod, n) {
			for _, c := range allCodecs {
				t.Run(fmt.Sprintf("n=%d/%s/%v", n, hname, c), func(t *testing.T) {
					b := kmsgBatch(t, h, recs, c)
					if _, err := recordbatch.Validate(b); err != nil {
						t.Fatal(err)
					}
					got := collect(t, b)
					if want := wantRecords(h, recs); !reflect.DeepEqual(got, want) {
						t.Fatalf("records differ:\n got %+v\nwant %+v", got, want)
					}
				})
			}
		}
	}
}

func TestRecompressMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	recs, lod := testRecords(rng, 60)
	for hname, h := range batchHeaders(lod, len(recs)) {
		want := wantRecords(h, recs)
		for _, from := range allCodecs {
			src := kmsgBatch(t, h, recs, from) // compressed by franz-go
			srcHeader, err := recordbatch.Validate(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, to := range allCodecs {
				t.Run(fmt.Sprintf("%s/from=%v/to=%v", hname, from, to), func(t *testing.T) {
					prefix := []byte("dst prefix")
					out, err := recordbatch.Recompress(bytes.Clone(prefix), src, to, recordbatch.DefaultDecompressLimit)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(out, prefix) {
						t.Fatal("dst prefix lost")
					}
					out = out[len(prefix):]
					got, err := recordbatch.Validate(out)
					if err != nil {
						t.Fatalf("result does not validate: %v", err)
					}
					if got.Size() != len(out) {
						t.Fatalf("result is %d bytes, header says %d", len(out), got.Size())
					}
					wantH := srcHeader
					wantH.Attributes = srcHeader.Attributes&^recordbatch.AttrCodecMask | int16(to)
					wantH.BatchLength, wantH.CRC = got.BatchLength, got.CRC
					if got != wantH {
						t.Fatalf("header\n got %+v\nwant %+v", got, wantH)
					}
					if from == to && !bytes.Equal(out, src) {
						t.Fatal("same codec: batch changed")
					}
					if r := collect(t, out); !reflect.DeepEqual(r, want) {
						t.Fatalf("records differ after recompression")
					}
					// A client decodes it: franz-go decompresses the records
					// and kmsg parses each one.
					raw := out[recordbatch.HeaderSize:]
					if to != recordbatch.CodecNone {
						raw = kgoDecompress(t, to, raw)
					}
					for i := range recs {
						var r kmsg.Record
						if err := r.ReadFrom(raw); err != nil {
							t.Fatalf("kmsg record %d: %v", i, err)
						}
						raw = raw[int(r.Length)+varintLen(int64(r.Length)):]
						if r.OffsetDelta != recs[i].OffsetDelta || !bytes.Equal(r.Value, recs[i].Value) || (r.Key == nil) != (recs[i].Key == nil) {
							t.Fatalf("kmsg record %d = %+v", i, r)
						}
					}
					if len(raw) != 0 {
						t.Fatalf("%d bytes after the records", len(raw))
					}
					// And back.
					back, err := recordbatch.Recompress(nil, out, from, recordbatch.DefaultDecompressLimit)
					if err != nil {
						t.Fatal(err)
					}
					if r := collect(t, back); !reflect.DeepEqual(r, want) {
						t.Fatal("records differ after recompressing back")
					}
					if from == recordbatch.CodecNone && !bytes.Equal(back, src) {
						t.Fatal("none -> codec -> none is not the original batch")
					}
				})
			}
		}
	}
}

func varintLen(x int64) int {
	var b [10]byte
	n := 0
	for u := uint64(x<<1) ^ uint64(x>>63); ; u >>= 7 {
		b[n] = byte(u)
		n++
		if u < 0x80 {
			return n
		}
	}
}

func TestRecompressUnchanged(t *testing.T) {
	// A control batch (a commit marker) stays as is, whatever is asked.
	control := sampleHeader()
	control.Attributes = recordbatch.AttrTransactional | recordbatch.AttrControl
	control.LastOffsetDelta, control.RecordCount = 0, 1
	marker := encodeBatch(control, []byte{0x14, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, to := range allCodecs {
		out, err := recordbatch.Recompress([]byte("x"), marker, to, 1<<20)
		if err != nil || !bytes.Equal(out, append([]byte("x"), marker...)) {
			t.Errorf("control batch to %v: changed (%v)", to, err)
		}
	}
	// Bytes after the batch are not part of it.
	b := recordbatch.Build(3, 10, 5)
	out, err := recordbatch.Recompress(nil, append(bytes.Clone(b), "trailing"...), recordbatch.CodecNone, 1<<20)
	if err != nil || !bytes.Equal(out, b) {
		t.Errorf("trailing bytes: %q, %v", out, err)
	}
	// An empty batch (compaction removed every record) has nothing to encode.
	empty := recordbatch.Build(0, 0, 5)
	for _, to := range allCodecs {
		out, err := recordbatch.Recompress(nil, empty, to, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := recordbatch.Validate(out); err != nil || h.Codec() != to || len(out) != recordbatch.HeaderSize {
			t.Errorf("empty batch to %v: %+v, %v", to, h, err)
		}
		if r := collect(t, out); len(r) != 0 {
			t.Errorf("empty batch to %v: %d records", to, len(r))
		}
	}
}

func TestRecompressErrors(t *testing.T) {
	good := recordbatch.Build(3, 10, 5)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	extra := append(bytes.Clone(good), 0) // one byte after the last record, inside the batch
	extra[11]++
	recordbatch.SetCRC(extra)
	mislabelled := bytes.Clone(good)
	mislabelled[recordbatch.AttributesPos+1] |= byte(recordbatch.CodecGzip)
	recordbatch.SetCRC(mislabelled)
	tests := []struct {
		name  string
		batch []byte
		to    recordbatch.Codec
		limit int
		want  error
	}{
		{"bad crc", badCRC, recordbatch.CodecZstd, 1 << 20, recordbatch.ErrCorrupt},
		{"torn", good[:len(good)-1], recordbatch.CodecZstd, 1 << 20, recordbatch.ErrTruncated},
		{"trailing record bytes", extra, recordbatch.CodecLZ4, 1 << 20, recordbatch.ErrCorrupt},
		{"not gzip", mislabelled, recordbatch.CodecNone, 1 << 20, recordbatch.ErrCorrupt},
		{"bad codec", good, 5, 1 << 20, recordbatch.ErrUnsupportedCodec},
	}
	big, _ := recordbatch.Recompress(nil, recordbatch.BuildSized(100<<10, 0), recordbatch.CodecGzip, 1<<20)
	tests = append(tests, struct {
		name  string
		batch []byte
		to    recordbatch.Codec
		limit int
		want  error
	}{"over limit", big, recordbatch.CodecSnappy, 50 << 10, recordbatch.ErrTooLarge})
	for _, tt := range tests {
		dst := []byte("keep")
		out, err := recordbatch.Recompress(dst, tt.batch, tt.to, tt.limit)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			continue
		}
		checkCodecErr(t, err)
		if string(out) != "keep" {
			t.Errorf("%s: dst changed to %q", tt.name, out)
		}
	}
}

// TestRecordsGarbage: hand-made bad records give ErrCorrupt, never a panic.
func TestRecordsGarbage(t *testing.T) {
	h := recordbatch.Header{Magic: 2, LastOffsetDelta: 1, RecordCount: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	rec := func(fields ...[]byte) []byte { // length-prefixed record body
		body := bytes.Join(fields, nil)
		return append([]byte{byte(len(body) << 1)}, body...)
	}
	v := func(x int64) []byte { // zigzag varint
		var b []byte
		for u := uint64(x<<1) ^ uint64(x>>63); ; u >>= 7 {
			if u < 0x80 {
				return append(b, byte(u))
			}
			b = append(b, byte(u)|0x80)
		}
	}
	ok := rec([]byte{0}, v(0), v(0), v(-1), v(1), []byte("x"), v(0))
	tests := map[string][]byte{
		"no records":           {},
		"length past end":      {0x7f},
		"negative length":      {0x01},
		"unterminated length":  {0xff, 0xff},
		"empty body":           rec(),
		"cut after attributes": rec([]byte{0}),
		"offsetDelta too big":  rec([]byte{0}, v(0), v(2), v(-1), v(-1), v(0)),
		"offsetDelta negative": rec([]byte{0}, v(0), v(-1), v(-1), v(-1), v(0)),
		"key length -2":        rec([]byte{0}, v(0), v(0), v(-2), v(-1), v(0)),
		"value past record":    rec([]byte{0}, v(0), v(0), v(-1), v(5), []byte("x"), v(0)),
		"header count huge":    rec([]byte{0}, v(0), v(0), v(-1), v(-1), v(1<<30)),
		"header count -1":      rec([]byte{0}, v(0), v(0), v(-1), v(-1), v(-1)),
		"header key null":      rec([]byte{0}, v(0), v(0), v(-1), v(-1), v(1), v(-1), v(-1)),
		"header value cut":     rec([]byte{0}, v(0), v(0), v(-1), v(-1), v(1), v(0), v(3), []byte("a")),
		"bytes after fields":   rec([]byte{0}, v(0), v(0), v(-1), v(-1), v(0), []byte{0}),
		"bytes after records":  append(bytes.Clone(ok), 0),
		"huge varint":          rec([]byte{0}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
	}
	if err := recordbatch.Records(encodeBatch(h, ok), 1<<20, func(recordbatch.Record) error { return nil }); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for name, recs := range tests {
		b := encodeBatch(h, recs)
		err := recordbatch.Records(b, 1<<20, func(recordbatch.Record) error { return nil })
		if !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Errorf("%s: Records: %v, want ErrCorrupt", name, err)
			continue
		}
		checkCodecErr(t, err)
		if _, err := recordbatch.Recompress(nil, b, recordbatch.CodecZstd, 1<<20); !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Errorf("%s: Recompress: %v, want ErrCorrupt", name, err)
		}
	}
	// fn's error stops the walk and comes back as is.
	stop := errors.New("stop")
	calls := 0
	err := recordbatch.Records(recordbatch.Build(5, 1, 0), 1<<20, func(recordbatch.Record) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("fn error: %v after %d calls", err, calls)
	}
}
