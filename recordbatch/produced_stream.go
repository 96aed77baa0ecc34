package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The records of a compressed batch a producer sends are checked as they
// are decompressed, a window at a time, as Kafka's LogValidator walks them
// with a streaming iterator: no copy of the whole decompressed records is
// held, except where the codec itself needs one (a bare snappy block, whose
// back-references may reach anywhere in it, and a zstd frame whose window
// is larger than streamZstdMaxWindow).
const (
	// streamWindow is the decompressed bytes the walk holds at once. A
	// record longer than the window grows it to the record's length, up
	// to the caller's limit; the pool keeps only windows up to
	// maxPooledStreamWindow.
	streamWindow = 64 << 10
	// maxPooledStreamWindow keeps the window of a rare huge record from
	// being pinned in the pool.
	maxPooledStreamWindow = 1 << 20
	// streamZstdMaxWindow is the largest zstd window decoded as a stream:
	// a streaming decoder holds a window's worth of history (the Java
	// client at compression.zstd.level 19 declares 8 MiB). A frame
	// declaring more (levels 20-22 and crafted frames) is decoded whole
	// into a pooled buffer under the caller's limit instead, which costs
	// its decompressed size, not its declared window.
	streamZstdMaxWindow = 8 << 20
	// maxStalls is how many reads in a row may return nothing before a
	// decoder is taken to be stuck.
	maxStalls = 100
)

// producedStream walks the decompressed records of one compressed batch.
// Pooled with its decoders, so that a walk allocates nothing once warm.
type producedStream struct {
	buf   []byte // buf[r:w] is decompressed and not yet walked
	r, w  int
	src   io.Reader // nil once everything decompressed is in buf
	eof   bool      // src is drained
	codec Codec
	// read counts decompressed bytes, limit bounds them.
	read, limit int

	window []byte // the reusable window (buf when streaming)
	whole  []byte // the reusable whole-output buffer (bare snappy, zstd fallback)

	in bytes.Reader // the compressed records
	gz gzip.Reader
	lz *lz4.Reader
	zd *zstd.Decoder
	xr xerialReader
}

var producedStreams = sync.Pool{New: func() any { return new(producedStream) }}

// streamZstdDecoder builds the streaming zstd decoder of a producedStream:
// synchronous (no goroutines: concurrency 1), its window capped.
func streamZstdDecoder() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(streamZstdMaxWindow),
		zstd.WithDecoderLowmem(true),
	)
	if err != nil {
		panic("recordbatch: zstd stream decoder options: " + err.Error()) // constant options
	}
	return d
}

// checkCompressedRecords checks that the compressed records of the batch
// (header h, already checked, CRC included) decompress, within limit bytes,
// to exactly h.RecordCount well-formed records with offset deltas 0, 1, 2,
// ... and nothing after them. Every problem is ErrInvalidRecords (the CRC
// holds, so the producer built it so) but going over the limit, which is
// ErrTooLarge.
func checkCompressedRecords(batch []byte, h *Header, limit int) error {
	s := producedStreams.Get().(*producedStream)
	defer s.release()
	recs := batch[HeaderSize:]
	if err := s.reset(h.Codec(), recs, clampLimit(limit)); err != nil {
		return err
	}
	err := s.walk(h)
	if errors.Is(err, errZstdWindow) {
		// A later frame declares a window too large to stream: start
		// over, decoding it all at once.
		if err = s.decodeWhole(CodecZstd, recs); err == nil {
			err = s.walk(h)
		}
	}
	return err
}

// errZstdWindow says a zstd frame after the first declares a window over
// streamZstdMaxWindow. It never leaves the package.
var errZstdWindow = errors.New("recordbatch: zstd window too large to stream")

// reset points s at the compressed records src.
func (s *producedStream) reset(c Codec, src []byte, limit int) error {
	s.codec, s.limit, s.read = c, limit, 0
	s.r, s.w, s.eof = 0, 0, false
	if len(src) == 0 {
		return invalidRecords(0, "%v records: empty compressed data", c)
	}
	s.in.Reset(src)
	if s.window == nil {
		s.window = make([]byte, streamWindow)
	}
	s.buf = s.window
	switch c {
	case CodecGzip:
		if err := s.gz.Reset(&s.in); err != nil {
			return s.decodeErr(err)
		}
		s.src = &s.gz
	case CodecLZ4:
		if s.lz == nil {
			s.lz = lz4.NewReader(nil)
		}
		s.lz.Reset(&s.in)
		s.src = s.lz
	case CodecZstd:
		var fh zstd.Header
		if fh.Decode(src) == nil && fh.WindowSize > streamZstdMaxWindow {
			return s.decodeWhole(c, src)
		}
		if s.zd == nil {
			s.zd = streamZstdDecoder()
		}
		if err := s.zd.Reset(&s.in); err != nil {
			return s.decodeErr(err)
		}
		s.src = s.zd
	case CodecSnappy:
		if !bytes.HasPrefix(src, xerialMagic) {
			return s.decodeWhole(c, src)
		}
		if err := s.xr.reset(src, limit); err != nil {
			return err
		}
		s.src = &s.xr
	default:
		return unsupported(c)
	}
	return nil
}

// decodeWhole decompresses src at once into the reusable whole buffer,
// for the codecs that cannot be streamed here.
func (s *producedStream) decodeWhole(c Codec, src []byte) error {
	out, err := decompressAppend(s.whole[:0], c, src, s.limit)
	if cap(out) > cap(s.whole) {
		s.whole = out[:0]
	}
	if err != nil {
		return s.decodeErr(err)
	}
	s.buf, s.r, s.w = out, 0, len(out)
	s.src, s.eof, s.read = nil, true, len(out)
	return nil
}

// release returns s to the pool without pinning the caller's bytes: the
// decoders read them only through s.in and s.xr.
func (s *producedStream) release() {
	s.in.Reset(nil)
	s.xr.src = nil
	s.src, s.buf = nil, nil
	if cap(s.window) > maxPooledStreamWindow {
		s.window = nil
	}
	if cap(s.whole) > maxPooledScratch {
		s.whole = nil
	}
	if cap(s.xr.chunk) > maxPooledScratch {
		s.xr.chunk = nil
	}
	producedStreams.Put(s)
}

// walk checks the records, in order, then that nothing follows them.
func (s *producedStream) walk(h *Header) error {
	var raw rawRecord
	for i := int32(0); i < h.RecordCount; i++ {
		if err := s.fill(binary.MaxVarintLen32); err != nil {
			return err
		}
		avail := s.buf[s.r:s.w]
		length, n := binary.Varint(avail)
		switch {
		case n == 0 && len(avail) == 0:
			return invalidRecords(0, "%v records end after %d of %d records", s.codec, i, h.RecordCount)
		case n == 0:
			return invalidRecords(0, "%v records end inside record %d's length", s.codec, i)
		case n < 0 || length < 0 || length > maxRecordsSize-binary.MaxVarintLen32:
			return invalidRecords(0, "record %d: %s", i, badRecordLength)
		}
		if err := s.fill(n + int(length)); err != nil {
			return err
		}
		if s.w-s.r < n+int(length) {
			return invalidRecords(0, "%v records end inside record %d (%d of its %d bytes present)", s.codec, i, s.w-s.r-n, length)
		}
		body := s.buf[s.r+n : s.r+n+int(length)]
		s.r += n + int(length)
		if p := parseRecordBody(body, &raw, h.LastOffsetDelta); p != recordsOK {
			return invalidRecords(0, "record %d: %s", i, p)
		}
		if raw.offsetDelta != i {
			return invalidRecords(0, "record %d: %s (%d)", i, unexpectedOffset, raw.offsetDelta)
		}
	}
	// Draining the decoder to its end also checks the codec's own
	// checksums (gzip's CRC-32, lz4's and zstd's xxhash).
	if err := s.fill(1); err != nil {
		return err
	}
	if s.w > s.r {
		return invalidRecords(0, "bytes after the last of %d records", h.RecordCount)
	}
	return nil
}

// fill reads until need bytes are available in buf[r:w] or the stream
// ends, moving what is left to the front of the window first.
func (s *producedStream) fill(need int) error {
	if s.w-s.r >= need || s.eof {
		return nil
	}
	if s.r > 0 && s.r+need > len(s.buf) {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	for stalls := 0; s.w-s.r < need; {
		if s.w == len(s.buf) {
			// A record longer than the window (r is 0 here): grow toward
			// it by doubling, so that a record claiming more than the
			// stream holds costs at most twice what was decompressed,
			// and never past the limit (one byte more tells it is over).
			grown := make([]byte, min(need, 2*len(s.buf), s.limit+1))
			copy(grown, s.buf[:s.w])
			s.buf, s.window = grown, grown
		}
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		s.read += n
		switch {
		case s.read > s.limit:
			return tooLarge(s.codec, fmt.Sprintf("more than %d", s.limit), s.limit)
		case err == io.EOF:
			s.eof = true
			return nil
		case err != nil && s.codec == CodecZstd && (errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)):
			return errZstdWindow
		case err != nil:
			return s.decodeErr(err)
		case n == 0:
			if stalls++; stalls > maxStalls {
				return s.decodeErr(io.ErrNoProgress)
			}
		default:
			stalls = 0
		}
	}
	return nil
}

// decodeErr is the error for a codec stream that does not decode.
func (s *producedStream) decodeErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return invalidRecords(0, "%s", e.Reason)
	}
	return invalidRecords(0, "%v records: %v", s.codec, err)
}

// xerialReader decodes xerial-framed snappy one chunk at a time.
type xerialReader struct {
	src   []byte // the whole framed records section
	pos   int    // next chunk's length prefix
	limit int    // decompressed bytes allowed
	total int    // decompressed bytes declared so far
	chunk []byte // the current chunk, decoded; chunk[off:] is unread
	off   int
}

func (x *xerialReader) reset(src []byte, limit int) error {
	if len(src) < xerialHeaderSize {
		return invalidRecords(0, "snappy records: xerial header cut at %d bytes, want %d", len(src), xerialHeaderSize)
	}
	x.src, x.pos, x.limit, x.total = src, xerialHeaderSize, limit, 0
	x.chunk, x.off = x.chunk[:0], 0
	return nil
}

func (x *xerialReader) Read(p []byte) (int, error) {
	for x.off == len(x.chunk) {
		if x.pos == len(x.src) {
			return 0, io.EOF
		}
		block, next, err := xerialChunk(x.src, x.pos)
		if err != nil {
			return 0, err
		}
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return 0, corrupt(0, "snappy records: block at byte %d: %v", x.pos, err)
		}
		if n > x.limit-x.total {
			return 0, tooLarge(CodecSnappy, fmt.Sprintf("more than %d", x.limit), x.limit)
		}
		x.total += n
		if x.chunk, err = snappyBlockAppend(x.chunk[:0], block, n, x.pos); err != nil {
			return 0, err
		}
		x.off, x.pos = 0, next
	}
	n := copy(p, x.chunk[x.off:])
	x.off += n
	return n, nil
}
