package wire_test

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// updateCorpus rewrites the committed seed corpus in testdata/fuzz:
//
//	go test ./server/wire -run TestWriteFuzzCorpus -update-corpus
var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files")

// fuzzVersions is how many versions the fuzzer's version byte maps onto:
// -1 through two past kmsg's maximum.
var fuzzVersions = uint8(maxVersion) + 4

func fuzzVersion(b uint8) int16 { return int16(b%fuzzVersions) - 1 }

type fuzzSeed struct {
	name    string
	version uint8 // fuzzVersion(version) is the Fetch version
	data    []byte
}

// fuzzSeeds are small kmsg encodings of random responses at the versions
// where the format changes, plus inputs kmsg rejects.
func fuzzSeeds() []fuzzSeed {
	seeds := []fuzzSeed{
		{"garbage", 5, []byte("\x00\x00\x00\x01\xff\xff")},
		{"empty-v18", 19, nil},
	}
	rng := rand.New(rand.NewSource(7))
	for _, v := range []int16{0, 1, 4, 5, 7, 11, 12, 13, 16, maxVersion} {
		for range 1000 { // until a small one with records turns up
			r := randFetchResponse(rng, v)
			if b := r.AppendTo(nil); len(b) < 1024 && nonEmptyBatches(r) > 0 {
				seeds = append(seeds, fuzzSeed{fmt.Sprintf("random-v%d", v), uint8(v + 1), b})
				break
			}
		}
		r := fixedResponse(v, 1, 2, []byte("records"))
		seeds = append(seeds, fuzzSeed{fmt.Sprintf("broker-v%d", v), uint8(v + 1), r.AppendTo(nil)})
	}
	return seeds
}

// FuzzAppendFetchResponse decodes arbitrary bytes as a Fetch response with
// kmsg and, when they parse, requires our encoding of the result to equal
// kmsg's.
func FuzzAppendFetchResponse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.version, s.data)
	}
	f.Fuzz(func(t *testing.T, version uint8, data []byte) {
		r := kmsg.NewPtrFetchResponse()
		r.Version = fuzzVersion(version)
		if err := r.ReadFrom(data); err != nil {
			return
		}
		want := r.AppendTo(nil)
		prefix := []byte{version, 0xee}
		got, nsplices := encode(bytes.Clone(prefix), r)
		if !bytes.HasPrefix(got, prefix) {
			t.Fatal("prefix clobbered")
		}
		if got = got[len(prefix):]; !bytes.Equal(got, want) {
			t.Fatalf("v%d: encoding differs from kmsg at byte %d\n got %x\nwant %x",
				r.Version, firstDiff(got, want), head(got), head(want))
		}
		if n := nonEmptyBatches(r); nsplices != n {
			t.Fatalf("%d splices for %d non-empty RecordBatches", nsplices, n)
		}
	})
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAppendFetchResponse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzSeeds() {
		data := fmt.Appendf(nil, "go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.version, s.data)
		if err := os.WriteFile(filepath.Join(dir, s.name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
