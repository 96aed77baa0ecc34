package recordbatch_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// fuzzLimit keeps fuzzing fast: bombs hit it early.
const fuzzLimit = 1 << 20

// compressFuzzSeeds are the valid batches the codec fuzz targets start from,
// one per codec, each compressed by franz-go, plus our own encodings.
func compressFuzzSeeds(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(11, 12))
	recs, lod := testRecords(rng, 4)
	for i := range recs {
		if len(recs[i].Value) > 60 {
			recs[i].Value = recs[i].Value[:60] // keep the committed corpus small
		}
	}
	h := batchHeaders(lod, len(recs))["transactional+high bits"]
	seeds := map[string][]byte{}
	for _, c := range allCodecs {
		b := kmsgBatch(t, h, recs, c)
		seeds["kgo-"+c.String()] = b
		if c != recordbatch.CodecNone {
			ours, err := recordbatch.Recompress(nil, seeds["kgo-none"], c, fuzzLimit)
			if err != nil {
				t.Fatal(err)
			}
			seeds["ours-"+c.String()] = ours
		}
	}
	return seeds
}

// FuzzDecompress: any input, under any codec, decompresses to at most the
// limit or fails with the package's error contract; what does decompress
// survives a round trip through our encoder.
func FuzzDecompress(f *testing.F) {
	for _, b := range compressFuzzSeeds(f) {
		h, _ := recordbatch.ParseHeader(b)
		f.Add(byte(h.Codec()), b[recordbatch.HeaderSize:])
	}
	f.Add(byte(recordbatch.CodecSnappy), []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x01\x00"))
	f.Add(byte(recordbatch.CodecZstd), zstdFrameClaiming(1<<40))
	f.Fuzz(func(t *testing.T, codec byte, src []byte) {
		c := recordbatch.Codec(codec % 8)
		orig := bytes.Clone(src)
		out, err := recordbatch.Decompress(c, src, fuzzLimit)
		if !bytes.Equal(src, orig) {
			t.Fatal("input modified")
		}
		if err != nil {
			checkCodecErr(t, err)
			if c > recordbatch.CodecZstd && !errors.Is(err, recordbatch.ErrUnsupportedCodec) {
				t.Fatalf("codec %d: %v", c, err)
			}
			return
		}
		if len(out) > fuzzLimit {
			t.Fatalf("%d bytes past the %d limit", len(out), fuzzLimit)
		}
		enc, err := recordbatch.Compress(c, nil, out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := recordbatch.Decompress(c, enc, len(out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(out), len(again), err)
		}
	})
}

// FuzzRecompress: Recompress never panics; what it returns validates, keeps
// the header, and holds the same records, and recompressing back does too.
func FuzzRecompress(f *testing.F) {
	for _, b := range compressFuzzSeeds(f) {
		for _, to := range allCodecs {
			f.Add(b, byte(to))
		}
	}
	f.Add(recordbatch.Build(2, 3, 0), byte(7))
	f.Fuzz(func(t *testing.T, batch []byte, to byte) {
		c := recordbatch.Codec(to % 8)
		orig := bytes.Clone(batch)
		out, err := recordbatch.Recompress(nil, batch, c, fuzzLimit)
		if !bytes.Equal(batch, orig) {
			t.Fatal("input modified")
		}
		if err != nil {
			checkCodecErr(t, err)
			return
		}
		in, _ := recordbatch.Validate(batch) // Recompress validated it
		got, err := recordbatch.Validate(out)
		if err != nil || got.Size() != len(out) {
			t.Fatalf("result: %+v, %v (%d bytes)", got, err, len(out))
		}
		want := in
		if !in.Control() {
			want.Attributes = in.Attributes&^recordbatch.AttrCodecMask | int16(c)
		}
		want.BatchLength, want.CRC = got.BatchLength, got.CRC
		if got != want {
			t.Fatalf("header\n got %+v\nwant %+v", got, want)
		}
		if in.Control() || in.Codec() == c {
			// Passed through as is, records unread.
			if !bytes.Equal(out, batch[:in.Size()]) {
				t.Fatal("batch changed")
			}
			return
		}
		recs := collect(t, out)
		if err := recordbatch.Records(batch, fuzzLimit, func(recordbatch.Record) error { return nil }); err != nil {
			t.Fatalf("input records fail after Recompress succeeded: %v", err)
		}
		if inRecs := collect(t, batch); !reflect.DeepEqual(recs, inRecs) {
			t.Fatal("records differ")
		}
		back, err := recordbatch.Recompress(nil, out, in.Codec(), fuzzLimit)
		if err != nil {
			t.Fatalf("back to %v: %v", in.Codec(), err)
		}
		if backRecs := collect(t, back); !reflect.DeepEqual(backRecs, recs) {
			t.Fatal("records differ after recompressing back")
		}
	})
}

// TestWriteCompressFuzzCorpus rewrites the committed seed corpus of the codec
// fuzz targets:
//
//	go test -run TestWriteCompressFuzzCorpus -update-corpus ./recordbatch
func TestWriteCompressFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range compressFuzzSeeds(t) {
		h, _ := recordbatch.ParseHeader(b)
		write("FuzzDecompress", name, fmt.Appendf(nil, "go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", byte(h.Codec()), b[recordbatch.HeaderSize:]))
		// Each seed batch goes to the next codec round, so every pair of
		// source and target codec shows up across the corpus.
		to := byte((h.Codec() + 1) % 5)
		write("FuzzRecompress", name, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nbyte(%q)\n", b, to))
	}
	torn := compressFuzzSeeds(t)["kgo-zstd"]
	write("FuzzRecompress", "torn-zstd", fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nbyte(%q)\n", torn[:len(torn)-7], byte(0)))
	write("FuzzDecompress", "zstd-lying-size", fmt.Appendf(nil, "go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", byte(recordbatch.CodecZstd), zstdFrameClaiming(1<<40)))
}
