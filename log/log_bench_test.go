package log_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edsrzf/mmap-go"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// Storage benchmarks. Every speed claimed here is read as a ratio to a
// baseline measured in the same run (the bench machine is small and shared):
//
//	BenchmarkAppend        / BenchmarkBaselineWrite: Log.Append vs write(2) of the same bytes
//	BenchmarkRead          / its baseline=memcpy-* : a 1 MiB Read vs copying 1 MiB
//	BenchmarkRecovery      / its baseline=crc-scan : Open after a crash vs CRC-32C over the file
//
// BENCHMARKS.md at the repository root has the commands, results and caveats.

const (
	// benchTs is the first timestamp of the benchmark batches.
	benchTs = 1_700_000_000_000
	// benchSegmentBytes is where BenchmarkBaselineWrite rotates its file, as
	// the log rolls a segment at the default segment.bytes.
	benchSegmentBytes = log.DefaultSegmentBytes
	// benchLogBytes is the amount of data BenchmarkRead and BenchmarkRecovery
	// fill the log with: eight times the L3 cache, so reads stream from DRAM.
	benchLogBytes = 256 << 20
	// benchFillBatch is the batch size the read and recovery logs are made of.
	benchFillBatch = 16 << 10
	// benchChunk is the maxBytes of each Read, a typical fetch partition size.
	benchChunk = 1 << 20
	// benchPage is the stride of touch=page: one 8-byte load per page.
	benchPage = 4096
)

var benchBatchSizes = []struct {
	name string
	size int
}{
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// benchConfig is the default config with logging silenced (recovery logs a
// line per Open).
func benchConfig() log.Config {
	cfg := log.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// BenchmarkAppend appends one prebuilt batch per op to a log with the default
// config: the base offset is rewritten in place, so the same buffer is valid
// for every append. Segments roll at 1 GiB, as in production.
//
// At the default 1 s benchtime the b.Loop ramp-up writes several GiB per run
// for the larger batches; BENCHMARKS.md runs it at fixed volumes (-benchtime
// Nx), one of them past 1 GiB so that a roll is measured.
func BenchmarkAppend(b *testing.B) {
	for _, s := range benchBatchSizes {
		b.Run("batch="+s.name, func(b *testing.B) {
			l, err := log.Open(b.TempDir(), benchConfig())
			if err != nil {
				b.Fatal(err)
			}
			batch := recordbatch.BuildSized(s.size, benchTs)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkBaselineWrite is the floor for BenchmarkAppend: the same bytes
// written with plain sequential write(2) to a file in the same kind of
// directory, starting a new file every 1 GiB as the log rolls segments.
func BenchmarkBaselineWrite(b *testing.B) {
	for _, s := range benchBatchSizes {
		b.Run("batch="+s.name, func(b *testing.B) {
			dir := b.TempDir()
			batch := recordbatch.BuildSized(s.size, benchTs)
			var (
				f       *os.File
				written int64
				files   int
			)
			rotate := func() {
				if f != nil {
					if err := f.Close(); err != nil {
						b.Fatal(err)
					}
				}
				var err error
				f, err = os.OpenFile(filepath.Join(dir, fmt.Sprintf("%020d.log", files)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				files++
				written = 0
			}
			rotate()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if written+int64(len(batch)) > benchSegmentBytes {
					rotate()
				}
				n, err := f.Write(batch)
				if err != nil {
					b.Fatal(err)
				}
				written += int64(n)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// filledLog returns a log in a fresh temp dir holding benchLogBytes of
// batchSize batches, and the number of records per batch.
func filledLog(b *testing.B, dir string, batchSize int) (*log.Log, int64) {
	b.Helper()
	l, err := log.Open(dir, benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	batch := recordbatch.BuildSized(batchSize, benchTs)
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n+len(batch) <= benchLogBytes; n += len(batch) {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	return l, int64(h.LastOffsetDelta) + 1
}

// BenchmarkRead reads a 256 MiB log of 16 KiB batches sequentially in 1 MiB
// chunks, as a consumer catching up does, wrapping around at the end. Each op
// returns 1 MiB of whole batches as a view of the segment mapping. The touch
// variants say how much of the view the op actually reads:
//
//	touch=view  nothing: the cost of Read itself (locks, index lookup, header walk)
//	touch=page  one 8-byte load per 4 KiB page: what sendfile/writev-style
//	            consumers pay to fault the pages in (they are resident here)
//	touch=all   every byte, xor-folded: comparable to the memcpy baselines
//
// Baselines copy 1 MiB per op, sequentially and wrapping, from a mapping of
// the same segment file and from a 256 MiB heap buffer: the physical limit
// for moving the bytes once through the CPU.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	l, recordsPerBatch := filledLog(b, dir, benchFillBatch)
	defer l.Close()
	batch := recordbatch.BuildSized(benchFillBatch, benchTs)

	first, err := l.Read(0, benchChunk)
	if err != nil {
		b.Fatal(err)
	}
	chunkLen := len(first.Data)
	first.Release()
	if chunkLen == 0 || chunkLen%len(batch) != 0 {
		b.Fatalf("first chunk has %d bytes, batch size %d", chunkLen, len(batch))
	}

	touches := []struct {
		name  string
		touch func([]byte) uint64
	}{
		{"view", func(d []byte) uint64 { return uint64(len(d)) }},
		{"page", touchPages},
		{"all", touchAll},
	}
	for _, t := range touches {
		b.Run("batch=16KiB/chunk=1MiB/touch="+t.name, func(b *testing.B) {
			b.SetBytes(int64(chunkLen))
			b.ReportAllocs()
			var offset int64
			var sink uint64
			for b.Loop() {
				bs, err := l.Read(offset, benchChunk)
				if err != nil {
					b.Fatal(err)
				}
				if len(bs.Data) == 0 { // log end: wrap around
					offset = 0
					if bs, err = l.Read(offset, benchChunk); err != nil {
						b.Fatal(err)
					}
				}
				if len(bs.Data) != chunkLen {
					b.Fatalf("read at %d returned %d bytes, want %d", offset, len(bs.Data), chunkLen)
				}
				sink += t.touch(bs.Data)
				// Every batch is the same size, so the next offset needs no
				// header walk.
				offset = bs.BaseOffset + int64(len(bs.Data)/len(batch))*recordsPerBatch
				bs.Release()
			}
			benchSink = sink
		})
	}

	segPath := filepath.Join(dir, fmt.Sprintf("%020d.log", 0))
	f, err := os.Open(segPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	m, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Unmap()
	heap := make([]byte, len(m))
	copy(heap, m)
	for _, src := range []struct {
		name string
		buf  []byte
	}{{"mapping", m}, {"heap", heap}} {
		b.Run("batch=16KiB/chunk=1MiB/baseline=memcpy-"+src.name, func(b *testing.B) {
			dst := make([]byte, chunkLen)
			b.SetBytes(int64(chunkLen))
			b.ReportAllocs()
			pos := 0
			for b.Loop() {
				if pos+chunkLen > len(src.buf) {
					pos = 0
				}
				copy(dst, src.buf[pos:pos+chunkLen])
				pos += chunkLen
			}
		})
	}
}

// benchSink keeps the touch loops from being optimised away.
var benchSink uint64

func touchPages(d []byte) uint64 {
	var x uint64
	for i := 0; i+8 <= len(d); i += benchPage {
		x ^= binary.LittleEndian.Uint64(d[i:])
	}
	return x
}

func touchAll(d []byte) uint64 {
	var x0, x1, x2, x3 uint64
	i := 0
	for ; i+32 <= len(d); i += 32 {
		w := d[i : i+32 : i+32]
		x0 ^= binary.LittleEndian.Uint64(w[0:])
		x1 ^= binary.LittleEndian.Uint64(w[8:])
		x2 ^= binary.LittleEndian.Uint64(w[16:])
		x3 ^= binary.LittleEndian.Uint64(w[24:])
	}
	for ; i < len(d); i++ {
		x0 ^= uint64(d[i])
	}
	return x0 ^ x1 ^ x2 ^ x3
}

// BenchmarkRecovery measures Open after an unclean shutdown of a 256 MiB log
// of 16 KiB batches: with the recovery checkpoint gone, Open CRC-scans every
// batch and rebuilds both indexes, then fsyncs and writes a checkpoint. Each
// op is Open plus Close; MB/s is the recovery scan rate. The segment file is
// in the page cache (it was just written): this is the CPU cost of recovery,
// not the disk's read speed.
//
// Baseline: recordbatch.ValidateAll (header walk plus CRC-32C) over a mapping
// of the same file, the least any CRC scan can cost.
func BenchmarkRecovery(b *testing.B) {
	dir := b.TempDir()
	l, _ := filledLog(b, dir, benchFillBatch)
	size := l.Size()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	ckpt := filepath.Join(dir, log.CheckpointFile)

	b.Run("batch=16KiB/log=256MiB/open", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			// What a crash leaves: segments and indexes, but no checkpoint
			// saying they were flushed.
			if err := os.Remove(ckpt); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			l, err := log.Open(dir, benchConfig())
			if err != nil {
				b.Fatal(err)
			}
			if r := l.Recovery(); r.Clean || r.BytesScanned != size || r.TruncatedBytes != 0 {
				b.Fatalf("recovery %+v, want a full scan of %d bytes", r, size)
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("batch=16KiB/log=256MiB/baseline=crc-scan", func(b *testing.B) {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("%020d.log", 0)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		m, err := mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Unmap()
		b.SetBytes(int64(len(m)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := recordbatch.ValidateAll(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendLatency reports the tail of single-append latency, where a
// producer feels stalls: 16 KiB batches into 8 MiB segments, so the run
// crosses many rolls and many fresh index pages. p50, p99 and max are
// reported as custom metrics next to ns/op.
func BenchmarkAppendLatency(b *testing.B) {
	cfg := benchConfig()
	cfg.SegmentBytes = 8 << 20
	l, err := log.Open(b.TempDir(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := recordbatch.BuildSized(16<<10, benchTs)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		start := time.Now()
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}
