package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression of a batch's records section. The broker never re-encodes on
// the produce or fetch path (what producers send is what is stored) unless
// a topic's compression.type asks for it; the produce check of compressed
// batches (produced_stream.go) decompresses with the streaming readers of
// these codecs, and with Decompress where a codec cannot stream. This
// serves that, tools, tests, timestamp lookups inside compressed batches
// and any future down-conversion.
//
// Every codec here writes what all Kafka clients read, and reads what every
// Kafka client writes:
//
//   - gzip: an RFC 1952 stream (one or more members).
//   - snappy: the Java client's xerial framing on write (empty input: a
//     bare empty block); xerial framing or a bare snappy block on read
//     (franz-go, librdkafka and sarama may write either). See xerial.go.
//   - lz4: the LZ4 frame format (magic 0x184D2204), which Kafka uses for
//     magic 2 batches.
//   - zstd: one or more RFC 8878 frames.

var (
	// ErrTooLarge means the records decompress to more bytes than the
	// caller's limit allows: either a decompression bomb or a limit set too
	// low. No more than about limit bytes were allocated for the output.
	ErrTooLarge = errors.New("recordbatch: decompressed records too large")
	// ErrUnsupportedCodec means a Codec argument is not one of the five
	// Kafka defines (Kafka's UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCodec = errors.New("recordbatch: unsupported compression codec")
)

// DefaultDecompressLimit bounds decompression where the package picks the
// limit itself (FirstRecordAtOrAfter), and is a sensible limit for callers
// of Records and Recompress. A batch is at most max.message.bytes compressed
// (1 MiB by default) and real records compress 2-20x, so 64 MiB leaves room
// for generous topic configs while a bomb cannot cost more than that.
const DefaultDecompressLimit = 64 << 20

// maxRecordsSize caps every limit: a records section longer than an int32 can
// count is not something any Kafka client can build or read (Java buffers are
// int-indexed), and it keeps limit+1 from overflowing.
const maxRecordsSize = math.MaxInt32

// Compression ratios no valid stream can exceed, used to keep size hints
// taken from untrusted headers proportionate to the input: a claim beyond
// ratio*len(src) is a lie, so it must not decide how much we allocate.
const (
	maxDeflateRatio = 1032     // deflate's longest match: 258 bytes from a 2-bit code, ~1032:1
	maxLZ4Ratio     = 255      // lz4: every 255 more bytes of match cost one more length byte
	maxZstdRatio    = 32 << 10 // zstd: the smallest block (3-byte header, 1 RLE byte) decodes to at most 128 KiB
)

// readHintMin is the smallest first allocation when decompressing a stream
// without a size hint, so that tiny batches do not grow their buffer five
// times.
const readHintMin = 4 << 10

// Compression levels. Kafka's defaults for each codec are the libraries'
// defaults, and producers choose the level anyway; these only matter for
// Recompress.
const (
	gzipLevel = gzip.DefaultCompression // 6, Kafka's compression.gzip.level default
	zstdLevel = zstd.SpeedDefault       // zstd level 3, Kafka's compression.zstd.level default
	// lz4BlockSize is the frame's maximum block size. 64 KiB is what the Java
	// client writes; readers allocate one block-sized buffer, so a small
	// block keeps every consumer's decoding memory small.
	lz4BlockSize = lz4.Block64Kb
)

// Decompress returns the records section src, compressed with c, decompressed.
// For CodecNone it returns src itself. Output longer than limit bytes is
// refused with an error wrapping ErrTooLarge, and no more than about limit
// bytes are allocated to find out, whatever src claims about its size; a
// negative limit counts as 0. Malformed input fails with an error wrapping
// ErrCorrupt, an unknown codec with ErrUnsupportedCodec. Errors are *Error
// with Pos 0.
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	if c == CodecNone {
		if len(src) > clampLimit(limit) {
			return nil, tooLarge(c, len(src), limit)
		}
		return src, nil
	}
	return decompressAppend(nil, c, src, limit)
}

// decompressAppend appends src, compressed with c, decompressed, to dst. On
// error it returns dst unchanged (its spare capacity may have been written).
// The limit counts only the appended bytes.
func decompressAppend(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	limit = clampLimit(limit)
	if c < CodecNone || c > CodecZstd {
		return dst, unsupported(c)
	}
	if c != CodecNone && len(src) == 0 {
		// No codec's stream is empty; decoders disagree on what to make of
		// it (zstd says "nothing", gzip says EOF), so decide here.
		return dst, corrupt(0, "%v records: empty compressed data", c)
	}
	switch c {
	case CodecNone:
		if len(src) > limit {
			return dst, tooLarge(c, len(src), limit)
		}
		return append(dst, src...), nil
	case CodecGzip:
		return gunzipAppend(dst, src, limit)
	case CodecSnappy:
		return unsnappyAppend(dst, src, limit)
	case CodecLZ4:
		return unlz4Append(dst, src, limit)
	}
	return unzstdAppend(dst, src, limit) // CodecZstd, the last one
}

// Compress appends src compressed with c to dst and returns the extended
// slice. CodecNone appends src as is. The only error is ErrUnsupportedCodec
// for a codec Kafka does not define. Encoders are pooled, so repeated calls
// allocate little beyond growing dst.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return gzipAppend(dst, src), nil
	case CodecSnappy:
		if len(src) == 0 {
			// A lone xerial header would be right (snappy-java reads it as
			// nothing) but franz-go takes 16 bytes for a bare block; an
			// empty bare block is read by everyone.
			return append(dst, 0), nil
		}
		return xerialAppend(dst, src), nil
	case CodecLZ4:
		return lz4Append(dst, src), nil
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, unsupported(c)
}

func clampLimit(limit int) int {
	return min(max(limit, 0), maxRecordsSize)
}

func tooLarge(c Codec, size any, limit int) error {
	return &Error{Reason: fmt.Sprintf("%v records decompress to %v bytes, limit is %d", c, size, limit), Err: ErrTooLarge}
}

func unsupported(c Codec) error {
	return &Error{Reason: fmt.Sprintf("codec %d", int8(c)), Err: ErrUnsupportedCodec}
}

// appendWriter is an io.Writer that appends to a slice, so that stream
// encoders write straight into the caller's dst.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readAppend reads r to EOF, appending to dst, sizing the first allocation
// from hint (the expected output size, untrusted). However much r produces,
// the capacity added to dst never exceeds limit+1 bytes (plus allocator
// rounding): the extra byte is how a stream of exactly limit bytes is told
// from a longer one.
func readAppend(dst []byte, r io.Reader, c Codec, hint, limit int) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, min(max(hint, readHintMin), limit+1))
	for stalls := 0; ; {
		if len(dst) == cap(dst) {
			// Double what has been read so far, but never past limit+1.
			// len(dst)-start <= limit holds here, so this grows by >= 1.
			dst = slices.Grow(dst, min(max(len(dst)-start, readHintMin), start+limit+1-len(dst)))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		switch {
		case len(dst)-start > limit:
			return dst[:start], tooLarge(c, fmt.Sprintf("more than %d", limit), limit)
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst[:start], corrupt(0, "%v records: %v", c, err)
		case n == 0:
			if stalls++; stalls > 100 {
				return dst[:start], corrupt(0, "%v records: %v", c, io.ErrNoProgress)
			}
		default:
			stalls = 0
		}
	}
}

// gzip

// gzipDecoder bundles a reader with the bytes.Reader it reads from, so a
// pooled decode allocates nothing.
type gzipDecoder struct {
	zr gzip.Reader
	br bytes.Reader
}

var gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}

func gunzipAppend(dst, src []byte, limit int) ([]byte, error) {
	d := gzipDecoders.Get().(*gzipDecoder)
	defer func() {
		d.br.Reset(nil) // do not pin src (possibly a segment mapping) in the pool
		gzipDecoders.Put(d)
	}()
	d.br.Reset(src)
	if err := d.zr.Reset(&d.br); err != nil {
		return dst, corrupt(0, "gzip records: %v", err)
	}
	// The trailer's ISIZE is the size mod 2^32 of the last member: exact for
	// every single-member stream Kafka clients write, and only a hint here.
	hint := 0
	if len(src) >= 18 { // the smallest gzip member
		isize := int64(binary.LittleEndian.Uint32(src[len(src)-4:]))
		hint = int(min(isize+1, int64(len(src))*maxDeflateRatio))
	}
	return readAppend(dst, &d.zr, CodecGzip, hint, limit)
}

type gzipEncoder struct {
	zw  *gzip.Writer
	out appendWriter
}

var gzipEncoders = sync.Pool{New: func() any {
	e := new(gzipEncoder)
	e.zw, _ = gzip.NewWriterLevel(&e.out, gzipLevel) // a valid constant level cannot fail
	return e
}}

func gzipAppend(dst, src []byte) []byte {
	e := gzipEncoders.Get().(*gzipEncoder)
	e.out.b = dst
	e.zw.Reset(&e.out)
	// Writes to an appendWriter cannot fail, so neither can these.
	_, _ = e.zw.Write(src)
	_ = e.zw.Close()
	dst, e.out.b = e.out.b, nil
	gzipEncoders.Put(e)
	return dst
}

// lz4

type lz4Decoder struct {
	zr *lz4.Reader
	br bytes.Reader
}

var lz4Decoders = sync.Pool{New: func() any { return &lz4Decoder{zr: lz4.NewReader(nil)} }}

// LZ4 frame descriptor layout, for the optional content size.
const (
	lz4MagicSize      = 4    // 0x184D2204, little-endian
	lz4FlagContentSet = 0x08 // FLG bit 3: an 8-byte content size follows BD
	lz4ContentSizePos = 6    // after magic, FLG and BD
)

func unlz4Append(dst, src []byte, limit int) ([]byte, error) {
	d := lz4Decoders.Get().(*lz4Decoder)
	defer func() {
		d.br.Reset(nil)
		d.zr.Reset(nil)
		lz4Decoders.Put(d)
	}()
	d.br.Reset(src)
	d.zr.Reset(&d.br)
	hint := 4 * len(src) // lz4 on record data: usually 2-4x
	if len(src) >= lz4ContentSizePos+8 && src[lz4MagicSize]&lz4FlagContentSet != 0 {
		size := binary.LittleEndian.Uint64(src[lz4ContentSizePos:])
		hint = int(min(size, uint64(len(src))*maxLZ4Ratio) + 1)
	}
	return readAppend(dst, d.zr, CodecLZ4, hint, limit)
}

type lz4Encoder struct {
	zw  *lz4.Writer
	out appendWriter
}

var lz4Encoders = sync.Pool{New: func() any {
	e := new(lz4Encoder)
	e.zw = lz4.NewWriter(&e.out)
	// Options are checked when applied; these are constants, so it cannot fail.
	_ = e.zw.Apply(lz4.BlockSizeOption(lz4BlockSize))
	return e
}}

func lz4Append(dst, src []byte) []byte {
	e := lz4Encoders.Get().(*lz4Encoder)
	e.out.b = dst
	e.zw.Reset(&e.out) // keeps the options
	_, _ = e.zw.Write(src)
	_ = e.zw.Close()
	dst, e.out.b = e.out.b, nil
	lz4Encoders.Put(e)
	return dst
}

// zstd
//
// klauspost's zstd Encoder and Decoder are safe for concurrent EncodeAll and
// DecodeAll calls and each holds a few block coders, so one of each serves
// the whole package. They are built on first use: most binaries importing
// this package never compress anything.

var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		// One block decoder per P: as many concurrent DecodeAll calls as
		// can run at once. With a nil reader no goroutine is started.
		zstd.WithDecoderConcurrency(0),
		// The per-call limit is the capacity of the buffer DecodeAll
		// appends to; see unzstdAppend.
		zstd.WithDecodeAllCapLimit(true),
		// A ceiling under that, should a caller pass a huge buffer. The
		// window size is left at the library's maximum: DecodeAll decodes
		// into its output, so a window costs no memory of its own, and
		// producers at compression.zstd.level 20-22 declare 32-128 MiB.
		zstd.WithDecoderMaxMemory(maxRecordsSize),
	)
	if err != nil {
		panic("recordbatch: zstd decoder options: " + err.Error()) // constant options: a programming error
	}
	return d
})

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstdLevel),
		// An empty input still makes a frame: Java's zstd-jni refuses
		// empty input.
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		panic("recordbatch: zstd encoder options: " + err.Error())
	}
	return e
})

// zstdHintMin is the first buffer for a frame without a content size (the
// Java client streams, so it never writes one).
const zstdHintMin = 64 << 10

func unzstdAppend(dst, src []byte, limit int) ([]byte, error) {
	start := len(dst)
	// The first frame's content size, when present, sizes the buffer
	// exactly. Otherwise guess 8x (zstd on record data), and when the guess
	// is short decode again with 4x the room: the wasted work is at most a
	// third of the final decode, and memory never exceeds limit.
	budget := min(max(8*len(src), zstdHintMin), limit)
	var fh zstd.Header
	if fh.Decode(src) == nil && fh.HasFCS {
		if fh.FrameContentSize > uint64(limit) {
			return dst, tooLarge(CodecZstd, fh.FrameContentSize, limit)
		}
		budget = int(min(fh.FrameContentSize, uint64(len(src))*maxZstdRatio))
	}
	for {
		// DecodeAll refuses to grow past the capacity it is given
		// (WithDecodeAllCapLimit).
		buf := slices.Grow(dst, budget)[: start : start+budget]
		out, err := zstdDecoder().DecodeAll(src, buf)
		if err == nil {
			return out, nil
		}
		if !zstdOutOfRoom(err, out, start+budget) {
			return dst, corrupt(0, "zstd records: %v", err)
		}
		if budget == limit {
			return dst, tooLarge(CodecZstd, fmt.Sprintf("more than %d", limit), limit)
		}
		budget = int(min(4*int64(budget)+1, int64(limit)))
		dst = buf[:start] // reuse the bigger buffer's prefix if it grew
	}
}

// zstdBlockMax is the most one zstd block decodes to.
const zstdBlockMax = 128 << 10

// zstdOutOfRoom reports whether a DecodeAll error means the output did not
// fit the capacity end. A frame whose declared content size is too big fails
// with ErrDecoderSizeExceeded before decoding; a frame without one runs until
// a block does not fit, and then the library (v1.20) reports an unexported
// "output bigger than max block size" error instead. DecodeAll returns the
// output decoded so far, so a block that did not fit is recognised by the
// room left being under a block's worth. Corrupt data failing within the
// last block's worth of room is taken for a lack of room: it is decoded
// again with more, and fails again as corrupt, or is refused as too large
// at the limit, an error either way.
func zstdOutOfRoom(err error, out []byte, end int) bool {
	return errors.Is(err, zstd.ErrDecoderSizeExceeded) || end-len(out) < zstdBlockMax
}
