package faultproxy

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// BenchmarkProxyRoundTrip echoes a payload over one connection, straight
// to an echo target (the baseline) and through a proxy with no fault and
// with a fault on another source (which every chunk's check must skip):
// what the proxy costs a request and its answer.
func BenchmarkProxyRoundTrip(b *testing.B) {
	tg := newTargetOn(b, "127.0.0.1", true)
	direct := func(*testing.B) string { return tg.addr() }
	proxied := func(faulted bool) func(*testing.B) string {
		return func(b *testing.B) string {
			p, err := NewClassified("127.0.0.1:0", tg.addr(), ByHost(testHosts, clientSource))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			if faulted {
				p.For(Only("a")).Drop()
			}
			return p.Addr()
		}
	}
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, path := range []struct {
			name string
			addr func(*testing.B) string
		}{
			{"direct", direct},
			{"proxy", proxied(false)},
			{"proxy-other-source-dropped", proxied(true)},
		} {
			b.Run(fmt.Sprintf("size=%dKiB/%s", size>>10, path.name), func(b *testing.B) {
				c, err := net.Dial("tcp", path.addr(b))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				out, in := make([]byte, size), make([]byte, size)
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := c.Write(out); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
