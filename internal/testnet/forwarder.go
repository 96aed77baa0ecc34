package testnet

import (
	"io"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dialTimeout bounds the forwarder's dial of its target.
const dialTimeout = 5 * time.Second

// Forwarder stands where a fault proxy would, in front of a listener: it
// accepts, records the remote IP of every connection, and forwards its
// bytes both ways to the target. A connection accepted while there is no
// target (SetTarget not called yet) or that the target refuses is closed.
type Forwarder struct {
	ln     net.Listener
	target atomic.Pointer[string]

	mu     sync.Mutex
	from   map[string]int        // guarded by mu: remote IP → connections accepted
	conns  map[net.Conn]struct{} // guarded by mu: open, both sides
	closed bool                  // guarded by mu: Close began; no new pair
	wg     sync.WaitGroup        // the accept loop and every pump
}

// Forward listens on listen (host:port; port 0 for any) and forwards
// every connection to target ("" to set it later with SetTarget). It is
// closed with the test.
func Forward(t testing.TB, listen, target string) *Forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("testnet: forwarder on %s: %v", listen, err)
	}
	f := &Forwarder{ln: ln, from: map[string]int{}, conns: map[net.Conn]struct{}{}}
	if target != "" {
		f.SetTarget(target)
	}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

// Addr is where the forwarder listens.
func (f *Forwarder) Addr() string { return f.ln.Addr().String() }

// SetTarget makes later connections go to addr.
func (f *Forwarder) SetTarget(addr string) { f.target.Store(&addr) }

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.from[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
		f.mu.Unlock()
		target := f.target.Load()
		if target == nil {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", *target, dialTimeout)
		if err != nil {
			c.Close()
			continue
		}
		if !f.track(c, up) {
			return
		}
		f.wg.Add(2)
		go f.pump(c, up)
		go f.pump(up, c)
	}
}

// track registers a forwarded pair; false (both closed) once Close began.
func (f *Forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		f.conns[c] = struct{}{}
	}
	return true
}

// pump copies src to dst; when src ends, both are closed (the
// connections forwarded are request/response: a half-closed one is a
// dead one).
func (f *Forwarder) pump(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	src.Close()
	dst.Close()
	f.mu.Lock()
	delete(f.conns, src)
	delete(f.conns, dst)
	f.mu.Unlock()
}

// Sources are the remote IPs of the connections accepted so far, with
// how many each.
func (f *Forwarder) Sources() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.from)
}

// Accepted is how many connections the forwarder accepted so far.
func (f *Forwarder) Accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.from {
		n += c
	}
	return n
}

// Cut closes every connection open through the forwarder, as a peer that
// drops its clients does; it keeps accepting new ones.
func (f *Forwarder) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}

// Close stops accepting, closes every connection and waits for the
// forwarder's goroutines. It is idempotent.
func (f *Forwarder) Close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
