package server

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

var benchBatchSizes = []int{1 << 10, 64 << 10, 1 << 20}

// BenchmarkProduce: one connection, one Produce request in flight (acks=1,
// one batch), broker in process. The baseline is the physical limit of the
// same exchange without a broker: the request's bytes over a loopback
// socket to a reader that answers with a response-sized reply.
func BenchmarkProduce(b *testing.B) {
	for _, size := range benchBatchSizes {
		batch := recordbatch.BuildSized(size, time.Now().UnixMilli())
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(11, "bench", batch), 1)
		b.Run(fmt.Sprintf("batch=%s/broker=tributary", sizeName(size)), func(b *testing.B) {
			br := startBroker(b)
			if _, err := br.mgr.CreateTopic("bench", 1, nil); err != nil {
				b.Fatal(err)
			}
			c := br.raw()
			c.nc.SetDeadline(time.Now().Add(10 * time.Minute))
			buf := make([]byte, 4096)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.exchange(frame, buf)
			}
		})
		b.Run(fmt.Sprintf("batch=%s/baseline=loopback", sizeName(size)), func(b *testing.B) {
			benchLoopback(b, len(frame), 64, nil)
		})
		b.Run(fmt.Sprintf("batch=%s/baseline=loopback+write", sizeName(size)), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "baseline"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			benchLoopback(b, len(frame), 64, f)
		})
	}
}

// BenchmarkFetch: one connection reading a 256 MiB log 1 MiB per Fetch,
// wrapping at the end. The baseline sends the same number of bytes per
// round trip over a loopback socket from a buffer in memory.
func BenchmarkFetch(b *testing.B) {
	const logBytes, chunk = 256 << 20, 1 << 20
	for _, size := range []int{16 << 10} {
		b.Run(fmt.Sprintf("batch=%s/chunk=1MiB/broker=tributary", sizeName(size)), func(b *testing.B) {
			br := startBroker(b)
			if _, err := br.mgr.CreateTopic("bench", 1, nil); err != nil {
				b.Fatal(err)
			}
			l, _ := br.mgr.Partition("bench", 0)
			batch := recordbatch.BuildSized(size, time.Now().UnixMilli())
			for range logBytes / size {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			end := l.NextOffset()
			c := br.raw()
			c.nc.SetDeadline(time.Now().Add(10 * time.Minute))
			buf := make([]byte, 2*chunk)
			formatter := kmsg.NewRequestFormatter()
			var offset int64
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				frame := formatter.AppendRequest(buf[:0:0], fetchReq(12, "bench", [16]byte{}, offset, chunk), 1)
				resp := c.exchange(frame, buf)
				offset += int64(len(resp)/size) * int64(recordbatch.Build(1, 0, 0)[recordbatch.LastOffsetDeltaPos+3]+1)
				if offset >= end {
					offset = 0
				}
			}
		})
		b.Run(fmt.Sprintf("batch=%s/chunk=1MiB/baseline=loopback", sizeName(size)), func(b *testing.B) {
			benchLoopback(b, 64, chunk, nil)
		})
	}
}

// benchLoopback measures round trips of req bytes one way and resp bytes
// back over a loopback TCP connection, with b.SetBytes the larger of them.
// With a file, the server side also appends each request to it with
// write(2), keeping everything as the broker does: the least a broker that
// stores what it receives must do. (On this VM, fresh page-cache memory is
// much slower to write than memory just freed: a baseline that truncated
// and rewrote its file would not be comparable.)
func benchLoopback(b *testing.B, req, resp int, file *os.File) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		in, out := make([]byte, req), make([]byte, resp)
		for {
			if _, err := io.ReadFull(sc, in); err != nil {
				return
			}
			if file != nil {
				if _, err := file.Write(in); err != nil {
					return
				}
			}
			if _, err := sc.Write(out); err != nil {
				return
			}
		}
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	in, out := make([]byte, resp), make([]byte, req)
	b.SetBytes(int64(max(req, resp)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := cc.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(cc, in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cc.Close()
	<-done
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
