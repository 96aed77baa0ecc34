package server

import (
	"io"
	"net"
	"testing"
)

// BenchmarkTLSRecordsResponse writes a Fetch response's pieces (a head,
// four 1 MiB segment views, the few bytes between them) through
// tlsRecords into a writer that drops them: the broker's own part of a
// TLS response, which allocates nothing (crypto/tls's is in
// bench.BenchmarkTLSWriteFloor).
func BenchmarkTLSRecordsResponse(b *testing.B) {
	head, gap, view := make([]byte, 90), make([]byte, 17), make([]byte, 1<<20)
	tr := newTLSRecords(io.Discard)
	pieces := net.Buffers{head, view, gap, view, gap, view, gap, view}
	var size int64
	for _, p := range pieces {
		size += int64(len(p))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	bufs := make(net.Buffers, 0, len(pieces))
	for b.Loop() {
		bufs = append(bufs[:0], pieces...)
		if _, err := bufs.WriteTo(tr); err != nil {
			b.Fatal(err)
		}
		if err := tr.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
