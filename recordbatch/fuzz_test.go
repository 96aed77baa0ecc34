package recordbatch_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-io/tributary/recordbatch"
)

// updateCorpus rewrites the committed seed corpus in testdata/fuzz:
//
//	go test -run TestWriteFuzzCorpus -update-corpus ./recordbatch
var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files")

// fuzzSeeds are the inputs both fuzz targets start from, also written to
// testdata/fuzz by TestWriteFuzzCorpus.
func fuzzSeeds() map[string][]byte {
	one := recordbatch.Build(3, 8, 1_700_000_000_000)
	two := concat(recordbatch.Build(1, 0, 0), recordbatch.Build(2, 70, 5))
	badCRC := append([]byte(nil), one...)
	badCRC[len(badCRC)-1] ^= 0xff
	compressed := encodeBatch(sampleHeader(), []byte("zstd frame would be here"))
	return map[string][]byte{
		"valid-one":        one,
		"valid-two":        two,
		"valid-compressed": compressed,
		"torn-tail":        two[:len(two)-5],
		"header-only":      one[:recordbatch.HeaderSize],
		"bad-crc":          badCRC,
		"garbage":          []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\xff\xffnot a batch at all"),
		"zeros":            make([]byte, 80),
	}
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for _, target := range []string{"FuzzParseHeader", "FuzzScan"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, seed := range fuzzSeeds() {
			data := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed)
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkError asserts the error contract: an *Error at pos wrapping exactly
// one sentinel.
func checkError(t *testing.T, err error, pos int) {
	t.Helper()
	var e *recordbatch.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *recordbatch.Error", err, err)
	}
	if e.Pos != pos {
		t.Fatalf("error %v: Pos %d, want %d", err, e.Pos, pos)
	}
	if errors.Is(err, recordbatch.ErrCorrupt) == errors.Is(err, recordbatch.ErrTruncated) {
		t.Fatalf("error %v must wrap exactly one of ErrCorrupt, ErrTruncated", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		h, perr := recordbatch.ParseHeader(b)
		v, verr := recordbatch.Validate(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("input modified")
		}
		if perr != nil {
			checkError(t, perr, 0)
			if verr == nil || verr.Error() != perr.Error() {
				t.Fatalf("ParseHeader: %v but Validate: %v", perr, verr)
			}
			return
		}
		if h.Size() < recordbatch.HeaderSize || h.Size() > len(b) {
			t.Fatalf("Size %d outside [%d, %d]", h.Size(), recordbatch.HeaderSize, len(b))
		}
		// The batch alone parses the same: nothing after it matters.
		if h2, err := recordbatch.ParseHeader(b[:h.Size()]); err != nil || h2 != h {
			t.Fatalf("batch alone: %+v, %v; want %+v", h2, err, h)
		}
		if verr != nil {
			checkError(t, verr, 0)
			if !errors.Is(verr, recordbatch.ErrCorrupt) || recordbatch.ComputeCRC(b) == h.CRC {
				t.Fatalf("Validate: %v after ParseHeader succeeded with matching CRC", verr)
			}
			return
		}
		if v != h || recordbatch.ComputeCRC(b) != h.CRC {
			t.Fatalf("Validate %+v, ParseHeader %+v", v, h)
		}
		if v2, err := recordbatch.Validate(b[:h.Size()]); err != nil || v2 != v {
			t.Fatalf("re-Validate: %+v, %v", v2, err)
		}
		// Offsets are not covered by the CRC.
		c := bytes.Clone(b[:h.Size()])
		recordbatch.SetBaseOffset(c, h.BaseOffset^0x5555)
		if v3, err := recordbatch.Validate(c); err != nil || v3.BaseOffset != h.BaseOffset^0x5555 {
			t.Fatalf("after SetBaseOffset: %+v, %v", v3, err)
		}
		// Any strict prefix is a torn batch.
		if _, err := recordbatch.Validate(b[:h.Size()-1]); !errors.Is(err, recordbatch.ErrTruncated) {
			t.Fatalf("prefix: %v, want ErrTruncated", err)
		}
	})
}

func FuzzScan(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, batches, err := recordbatch.Scan(b)
		if n < 0 || n > len(b) || batches < 0 || batches > n/recordbatch.HeaderSize {
			t.Fatalf("Scan = %d bytes, %d batches for %d input bytes", n, batches, len(b))
		}
		if err == nil && n != len(b) {
			t.Fatalf("Scan = %d bytes of %d with nil error", n, len(b))
		}
		if err != nil {
			checkError(t, err, n)
		}
		if n2, batches2, err2 := recordbatch.Scan(b[:n]); n2 != n || batches2 != batches || err2 != nil {
			t.Fatalf("prefix re-scan = %d, %d, %v; want %d, %d, nil", n2, batches2, err2, n, batches)
		}
		vb, _, verr := recordbatch.ValidateAll(b)
		switch {
		case len(b) == 0:
			if !errors.Is(verr, recordbatch.ErrTruncated) {
				t.Fatalf("ValidateAll(empty) = %v", verr)
			}
		case vb != batches || (verr == nil) != (err == nil):
			t.Fatalf("ValidateAll = %d, %v; Scan = %d, %v", vb, verr, batches, err)
		case err != nil && verr.Error() != err.Error():
			t.Fatalf("ValidateAll error %q, Scan error %q", verr, err)
		}
	})
}
