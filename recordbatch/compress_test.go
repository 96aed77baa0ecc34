package recordbatch_test

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/recordbatch"
)

var allCodecs = []recordbatch.Codec{
	recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd,
}

var compressedCodecs = allCodecs[1:]

// kgoCodec maps our codec to franz-go's, the peer implementation the tests
// check against.
func kgoCodec(c recordbatch.Codec) kgo.CompressionCodec {
	switch c {
	case recordbatch.CodecGzip:
		return kgo.GzipCompression()
	case recordbatch.CodecSnappy:
		return kgo.SnappyCompression()
	case recordbatch.CodecLZ4:
		return kgo.Lz4Compression()
	case recordbatch.CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// kgoCompress compresses src as a franz-go producer does.
func kgoCompress(t testing.TB, c recordbatch.Codec, src []byte) []byte {
	t.Helper()
	if c == recordbatch.CodecNone {
		return bytes.Clone(src)
	}
	comp, err := kgo.DefaultCompressor(kgoCodec(c))
	if err != nil {
		t.Fatal(err)
	}
	out, used := comp.Compress(new(bytes.Buffer), src)
	if int8(used) != int8(c) {
		t.Fatalf("franz-go compressed with codec %d, want %v", used, c)
	}
	return bytes.Clone(out)
}

// kgoDecompress decompresses as a franz-go consumer does.
func kgoDecompress(t testing.TB, c recordbatch.Codec, src []byte) []byte {
	t.Helper()
	out, err := kgo.DefaultDecompressor().Decompress(src, kgo.CompressionCodecType(c))
	if err != nil {
		t.Fatalf("franz-go cannot decompress our %v: %v", c, err)
	}
	return out
}

// payloads are the inputs every codec must round-trip.
func payloads() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":       {},
		"one byte":    {'x'},
		"short text":  []byte("hello, tributary"),
		"random 100K": random,
		"zeros 300K":  make([]byte, 300<<10),
		"json 1M":     jsonRecords(rng, 1<<20),
		"chunk edge":  bytes.Repeat([]byte("0123456789abcdef"), 2<<10), // exactly 32 KiB: one xerial chunk
		"chunk edge+": bytes.Repeat([]byte("0123456789abcdef"), 2<<10+1),
	}
}

// jsonRecords returns about size bytes of JSON-ish text, as semi-compressible
// as real event payloads: repeated field names and vocabulary, random ids.
func jsonRecords(rng *rand.Rand, size int) []byte {
	var b []byte
	for len(b) < size {
		b = appendJSONValue(b, rng, 1000)
	}
	return b[:size]
}

var words = strings.Fields(`checkout login logout search view click purchase refund signup
	cart wishlist review share subscribe unsubscribe mobile desktop tablet europe americas
	asia pending complete failed retry premium basic trial visa mastercard paypal`)

// appendJSONValue appends one JSON object of about n bytes.
func appendJSONValue(b []byte, rng *rand.Rand, n int) []byte {
	start := len(b)
	b = fmt.Appendf(b, `{"id":"%016x","user":%d,"event":%q,"ts":%d,"tags":[`,
		rng.Uint64(), rng.IntN(1_000_000), words[rng.IntN(len(words))], 1_700_000_000_000+rng.Int64N(1e9))
	for i := 0; len(b)-start < n-40; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q", words[rng.IntN(len(words))])
		if i%7 == 6 {
			b = fmt.Appendf(b, `,"%08x"`, rng.Uint32())
		}
	}
	b = append(b, `],"ok":true}`...)
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	for name, p := range payloads() {
		for _, c := range allCodecs {
			t.Run(fmt.Sprintf("%s/%v", name, c), func(t *testing.T) {
				prefix := []byte("prefix")
				enc, err := recordbatch.Compress(c, bytes.Clone(prefix), p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(enc, prefix) {
					t.Fatalf("dst prefix lost: %q", enc[:min(len(enc), 10)])
				}
				enc = enc[len(prefix):]
				got, err := recordbatch.Decompress(c, enc, len(p))
				if err != nil {
					t.Fatalf("Decompress with limit = size: %v", err)
				}
				if !bytes.Equal(got, p) {
					t.Fatalf("round trip: got %d bytes, want %d", len(got), len(p))
				}
				if len(p) > 0 {
					if _, err := recordbatch.Decompress(c, enc, len(p)-1); !errors.Is(err, recordbatch.ErrTooLarge) {
						t.Fatalf("Decompress with limit = size-1: %v, want ErrTooLarge", err)
					}
				}
				// Peer check: franz-go reads what we write.
				if c != recordbatch.CodecNone {
					if got := kgoDecompress(t, c, enc); !bytes.Equal(got, p) {
						t.Fatalf("franz-go decodes %d bytes, want %d", len(got), len(p))
					}
				}
				if c == recordbatch.CodecSnappy && len(p) > 0 && !bytes.HasPrefix(enc, []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")) {
					t.Fatalf("snappy output lacks the xerial header: %q", enc[:min(len(enc), 16)])
				}
				if c == recordbatch.CodecGzip {
					zr, err := stdgzip.NewReader(bytes.NewReader(enc))
					if err != nil {
						t.Fatal(err)
					}
					if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, p) {
						t.Fatalf("compress/gzip: %d bytes, %v", len(got), err)
					}
				}
			})
		}
	}
}

// peerEncodings returns p compressed with c by encoders other than ours, in
// every shape Kafka clients produce.
func peerEncodings(t testing.TB, c recordbatch.Codec, p []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"franz-go": kgoCompress(t, c, p)}
	switch c {
	case recordbatch.CodecGzip:
		var b bytes.Buffer
		zw, _ := stdgzip.NewWriterLevel(&b, stdgzip.BestSpeed)
		zw.Write(p)
		zw.Close()
		out["compress/gzip"] = bytes.Clone(b.Bytes())
		// Two members: RFC 1952 readers concatenate them.
		half := len(p) / 2
		var m bytes.Buffer
		for _, part := range [][]byte{p[:half], p[half:]} {
			zw := stdgzip.NewWriter(&m)
			zw.Write(part)
			zw.Close()
		}
		out["two members"] = m.Bytes()
	case recordbatch.CodecSnappy:
		out["raw block"] = snappy.Encode(nil, p)
		out["raw block s2 fast"] = s2.EncodeSnappy(nil, p)
		out["xerial (klauspost)"] = xerial.Encode(nil, p)
		out["xerial 64K chunks"] = xerialChunks(p, 64<<10)
	case recordbatch.CodecLZ4:
		var b bytes.Buffer
		zw := lz4.NewWriter(&b)
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.BlockChecksumOption(true), lz4.SizeOption(uint64(len(p)))); err != nil {
			t.Fatal(err)
		}
		zw.Write(p)
		zw.Close()
		out["4MB blocks, block checksums, content size"] = b.Bytes()
	case recordbatch.CodecZstd:
		// The Java client streams through zstd-jni: no content size.
		var b bytes.Buffer
		zw, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(p)
		zw.Close()
		out["stream, no content size"] = bytes.Clone(b.Bytes())
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
		half := len(p) / 2
		out["two frames"] = enc.EncodeAll(p[half:], enc.EncodeAll(p[:half], nil))
	}
	return out
}

// xerialChunks frames p as snappy-java does, with the given chunk size.
func xerialChunks(p []byte, chunk int) []byte {
	b := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
	for len(p) > 0 {
		n := min(chunk, len(p))
		block := snappy.Encode(nil, p[:n])
		b = append(b, byte(len(block)>>24), byte(len(block)>>16), byte(len(block)>>8), byte(len(block)))
		b = append(b, block...)
		p = p[n:]
	}
	return b
}

func TestDecompressPeers(t *testing.T) {
	for name, p := range payloads() {
		if len(p) == 0 {
			continue // not every peer makes a stream of nothing
		}
		for _, c := range compressedCodecs {
			for peer, enc := range peerEncodings(t, c, p) {
				got, err := recordbatch.Decompress(c, enc, len(p))
				if err != nil || !bytes.Equal(got, p) {
					t.Errorf("%s/%v/%s: %d bytes, %v; want %d bytes", name, c, peer, len(got), err, len(p))
				}
			}
		}
	}
}

// TestSnappyShapes: both snappy shapes decode, and each is told apart by the
// magic alone.
func TestSnappyShapes(t *testing.T) {
	p := []byte(strings.Repeat("snappy xerial framing ", 5000))
	for name, enc := range map[string][]byte{
		"raw":          snappy.Encode(nil, p),
		"xerial":       xerial.Encode(nil, p),
		"xerial empty": []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"),
	} {
		want := p
		if name == "xerial empty" {
			want = []byte{}
		}
		got, err := recordbatch.Decompress(recordbatch.CodecSnappy, enc, 1<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	bad := map[string][]byte{
		"header cut":        []byte("\x82SNAPPY\x00\x00\x00\x00\x01"),
		"length cut":        []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00"),
		"chunk past end":    append([]byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x01\x00"), snappy.Encode(nil, p[:10])...),
		"zero-length chunk": []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00"),
		"raw garbage":       []byte("\xff\xff\xff\xff\xff\xff"),
		"raw short":         snappy.Encode(nil, p)[:100],
	}
	for name, enc := range bad {
		if _, err := recordbatch.Decompress(recordbatch.CodecSnappy, enc, 1<<20); !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// zeros is an io.Reader of n zero bytes that allocates nothing, to build
// bombs without holding their output.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.n))
	clear(p[:n])
	z.n -= int64(n)
	return n, nil
}

// bombs returns, per codec, a small stream that decompresses to size zero
// bytes, in the shapes that hide their size best (streams without content
// size).
func bombs(t testing.TB, size int64) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	stream := func(name string, w io.WriteCloser, b *bytes.Buffer) {
		if _, err := io.Copy(w, &zeros{size}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out[name] = b.Bytes()
	}
	var gz, l4, zs bytes.Buffer
	gw, _ := stdgzip.NewWriterLevel(&gz, stdgzip.BestCompression)
	stream("gzip", gw, &gz)
	stream("lz4", lz4.NewWriter(&l4), &l4)
	zw, err := zstd.NewWriter(&zs, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	stream("zstd", zw, &zs)
	// xerial: the same 32 KiB chunk of zeros, repeated.
	block := snappy.Encode(nil, make([]byte, 32<<10))
	x := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
	for range size / (32 << 10) {
		x = append(x, byte(len(block)>>24), byte(len(block)>>16), byte(len(block)>>8), byte(len(block)))
		x = append(x, block...)
	}
	out["snappy"] = x
	return out
}

func TestDecompressBomb(t *testing.T) {
	const size = 256 << 20 // 256 MiB of zeros each
	const limit = 1 << 20
	codecOf := map[string]recordbatch.Codec{
		"gzip": recordbatch.CodecGzip, "lz4": recordbatch.CodecLZ4, "zstd": recordbatch.CodecZstd, "snappy": recordbatch.CodecSnappy,
	}
	// Headers claiming more than the limit, with next to nothing behind.
	lyingGzip := gzipOf(t, []byte("tiny"))
	copy(lyingGzip[len(lyingGzip)-4:], []byte{0xff, 0xff, 0xff, 0xff}) // ISIZE
	lies := map[string][]byte{
		"snappy raw claims 4 GiB": {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00},
		"zstd claims 1 TiB":       zstdFrameClaiming(1 << 40),
		"gzip ISIZE claims 4 GiB": lyingGzip,
	}
	for name, enc := range bombs(t, size) {
		t.Run(name, func(t *testing.T) {
			t.Logf("%d MiB of zeros in %d bytes", size>>20, len(enc))
			allocated := measureAlloc(func() {
				if _, err := recordbatch.Decompress(codecOf[name], enc, limit); !errors.Is(err, recordbatch.ErrTooLarge) {
					t.Errorf("bomb: %v, want ErrTooLarge", err)
				}
			})
			// The refused output costs about limit (doubling up to it),
			// plus the codec's own buffers, which do not grow with the
			// output: lz4 allocates two buffers of the frame's block size
			// (4 MiB here, as franz-go writes).
			t.Logf("refused after allocating %.1f MiB", float64(allocated)/(1<<20))
			if allocated > 4*limit+10<<20 {
				t.Errorf("refusing the bomb allocated %d bytes, limit is %d", allocated, limit)
			}
		})
	}
	for name, enc := range lies {
		c := codecOf[strings.Fields(name)[0]]
		allocated := measureAlloc(func() {
			_, err := recordbatch.Decompress(c, enc, limit)
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		})
		if allocated > 2*limit {
			t.Errorf("%s: allocated %d bytes", name, allocated)
		}
	}
}

func gzipOf(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := stdgzip.NewWriter(&b)
	zw.Write(p)
	zw.Close()
	return b.Bytes()
}

// zstdFrameClaiming is a zstd frame header declaring size bytes of content,
// followed by one empty last raw block (so it is also a lie).
func zstdFrameClaiming(size uint64) []byte {
	// Magic, then the frame header descriptor: FCS flag 3 (an 8-byte
	// content size) and single segment (no window descriptor).
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
	for i := range 8 {
		b = append(b, byte(size>>(8*i)))
	}
	return append(b, 0x01, 0x00, 0x00) // last raw block of 0 bytes
}

// measureAlloc returns the bytes f allocated on the heap.
func measureAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkCodecErr asserts the error contract of the codec functions: an
// *recordbatch.Error wrapping exactly one of the sentinels.
func checkCodecErr(t testing.TB, err error) {
	t.Helper()
	var e *recordbatch.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *recordbatch.Error", err, err)
	}
	n := 0
	for _, s := range []error{recordbatch.ErrCorrupt, recordbatch.ErrTruncated, recordbatch.ErrTooLarge, recordbatch.ErrUnsupportedCodec} {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 || !strings.HasPrefix(err.Error(), "recordbatch: ") {
		t.Fatalf("error %q wraps %d sentinels", err, n)
	}
}

func TestDecompressGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := jsonRecords(rng, 64<<10)
	for _, c := range compressedCodecs {
		var inputs [][]byte
		for range 200 {
			g := make([]byte, rng.IntN(300))
			for j := range g {
				g[j] = byte(rng.Uint32())
			}
			inputs = append(inputs, g)
		}
		for _, enc := range peerEncodings(t, c, p) {
			for range 50 {
				inputs = append(inputs, enc[:rng.IntN(len(enc))]) // torn
				flipped := bytes.Clone(enc)
				flipped[rng.IntN(len(flipped))] ^= byte(1 + rng.IntN(255))
				inputs = append(inputs, flipped)
			}
		}
		for _, in := range inputs {
			got, err := recordbatch.Decompress(c, in, 1<<20)
			if err != nil {
				checkCodecErr(t, err)
				continue
			}
			// A bit flip can still decode (no checksum covers it, or it
			// hit a literal); then the output must at least be bounded.
			if len(got) > 1<<20 {
				t.Fatalf("%v: %d bytes past the limit", c, len(got))
			}
		}
	}
	for _, c := range []recordbatch.Codec{5, 6, 7, -1} {
		if _, err := recordbatch.Decompress(c, []byte("x"), 10); !errors.Is(err, recordbatch.ErrUnsupportedCodec) {
			t.Errorf("Decompress(codec %d): %v", c, err)
		}
		if _, err := recordbatch.Compress(c, nil, []byte("x")); !errors.Is(err, recordbatch.ErrUnsupportedCodec) {
			t.Errorf("Compress(codec %d): %v", c, err)
		}
	}
	for _, c := range compressedCodecs {
		if _, err := recordbatch.Decompress(c, nil, 10); !errors.Is(err, recordbatch.ErrCorrupt) {
			t.Errorf("%v of nothing: %v, want ErrCorrupt", c, err)
		}
	}
}

// TestCompressAllocs: pooled encoders leave only the growth of dst.
func TestCompressAllocs(t *testing.T) {
	p := jsonRecords(rand.New(rand.NewPCG(5, 6)), 256<<10)
	for _, c := range allCodecs {
		dst, _ := recordbatch.Compress(c, nil, p)
		dst = make([]byte, 0, 2*len(dst))
		recordbatch.Compress(c, dst, p) // warm the pools
		n := testing.AllocsPerRun(20, func() {
			if _, err := recordbatch.Compress(c, dst[:0], p); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%v: %v allocs per Compress", c, n)
		if n > 2 && recordbatch.PoolsKeepItems() {
			t.Errorf("%v: %v allocs per Compress into a big enough dst", c, n)
		}
	}
}
