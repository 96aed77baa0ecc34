package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// chunkSize is the most one read takes from a connection: one chunk
	// is forwarded (and delayed) as a unit.
	chunkSize = 32 << 10
	// chunkQueue is how many chunks one direction of one connection
	// holds between its reader and its writer; a held direction stops
	// reading when it is full.
	chunkQueue = 8
	// DefaultDialTimeout bounds the dial of the target once a new
	// connection may be forwarded.
	DefaultDialTimeout = 5 * time.Second
	// acceptBackoff is the pause after a failed accept that did not
	// come from Close.
	acceptBackoff = 10 * time.Millisecond
)

// ErrClosed is returned by the operations of a closed Proxy or Net.
var ErrClosed = errors.New("faultproxy: closed")

// Direction is one direction of a forwarded connection.
type Direction int

const (
	// Up is from the side that connected to the proxy to the target.
	Up Direction = iota
	// Down is from the target back to the side that connected.
	Down
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Proxy forwards the connections accepted on one listener to one target,
// under the faults set on it. Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	delay   time.Duration      // guarded by mu
	dropped bool               // guarded by mu: Drop
	frozen  bool               // guarded by mu: Freeze
	cut     [2]bool            // guarded by mu: CutOneWay, by Direction
	changed chan struct{}      // guarded by mu: closed and replaced at every fault change
	links   map[*link]bool     // guarded by mu: every connection accepted and not yet ended
	closed  bool               // guarded by mu
	wg      sync.WaitGroup     // every goroutine of the proxy
	dialer  net.Dialer         // read-only after New
	ctx     context.Context    // cancelled by Close: ends dials in flight
	stopAll context.CancelFunc // cancels ctx
}

// New listens on listen (host:port; port 0 picks one) and forwards every
// connection it accepts to target. Close stops it.
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on %s for %s: %w", listen, target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:      ln,
		target:  target,
		changed: make(chan struct{}),
		links:   make(map[*link]bool),
		dialer:  net.Dialer{Timeout: DefaultDialTimeout},
		ctx:     ctx,
		stopAll: cancel,
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on: give it to the side that
// should reach the target through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Delay makes every chunk wait d after it was read before it is written
// on, in order; 0 removes the delay.
func (p *Proxy) Delay(d time.Duration) {
	p.set(func() { p.delay = max(d, 0) })
}

// Drop stops forwarding in both directions, holding what was read, until
// Heal (see the package comment).
func (p *Proxy) Drop() { p.set(func() { p.dropped = true }) }

// Freeze pauses every link until Heal, as a stopped peer would.
func (p *Proxy) Freeze() { p.set(func() { p.frozen = true }) }

// CutOneWay stops forwarding in direction dir only, until Heal.
func (p *Proxy) CutOneWay(dir Direction) {
	p.set(func() { p.cut[dir] = true })
}

// Heal lifts every fault: Drop, Freeze, cuts and delay. What was held is
// forwarded, in order.
func (p *Proxy) Heal() {
	p.set(func() {
		p.delay, p.dropped, p.frozen, p.cut = 0, false, false, [2]bool{}
	})
}

// Reset closes every connection the proxy forwards or holds, both ends,
// with a TCP reset. New connections are accepted as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.end(true)
	}
}

// Conns is how many connections the proxy forwards or holds now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops the listener, resets every connection and returns once
// every goroutine of the proxy has ended. Later calls return ErrClosed.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.stopAll()
	p.Reset()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close listener %s: %w", p.Addr(), err)
	}
	return nil
}

// set changes the faults under mu and wakes every waiter.
func (p *Proxy) set(change func()) {
	p.mu.Lock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// heldLocked reports whether direction dir may not forward now.
func (p *Proxy) heldLocked(dir Direction) bool {
	return p.dropped || p.frozen || p.cut[dir]
}

// await returns true once every direction in dirs is open and at + the
// delay has passed, re-reading the faults whenever they change; false if
// stop is closed first.
func (p *Proxy) await(at time.Time, stop <-chan struct{}, dirs ...Direction) bool {
	for {
		p.mu.Lock()
		changed, due, held := p.changed, at.Add(p.delay), false
		for _, d := range dirs {
			held = held || p.heldLocked(d)
		}
		p.mu.Unlock()
		if held {
			select {
			case <-changed:
				continue
			case <-stop:
				return false
			}
		}
		wait := time.Until(due)
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-stop:
			t.Stop()
			return false
		}
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // Close owns the listener
			}
			// Out of file descriptors, say: the listener still stands,
			// so wait a little and accept again rather than stop
			// forwarding for the rest of the run.
			select {
			case <-time.After(acceptBackoff):
				continue
			case <-p.ctx.Done():
				return
			}
		}
		l := &link{p: p, client: c, stop: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			abort(c)
			return
		}
		p.links[l] = true
		p.wg.Add(1)
		p.mu.Unlock()
		go l.serve(time.Now())
	}
}

// link is one accepted connection and, once dialled, its target.
type link struct {
	p      *Proxy
	client net.Conn
	server net.Conn // guarded by p.mu; nil until dialled

	stop     chan struct{} // closed by end
	once     sync.Once
	finished atomic.Int32 // directions that ended with a FIN
}

// serve waits until the link may carry a handshake, dials the target and
// starts the four pumps.
func (l *link) serve(accepted time.Time) {
	p := l.p
	defer p.wg.Done()
	if !p.await(accepted, l.stop, Up, Down) {
		return
	}
	server, err := p.dialer.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		l.end(true) // the client sees a reset, as for a refused connection
		return
	}
	p.mu.Lock()
	select {
	case <-l.stop:
		p.mu.Unlock()
		abort(server)
		return
	default:
	}
	l.server = server
	p.wg.Add(4)
	p.mu.Unlock()
	l.pump(Up, l.client, server)
	l.pump(Down, server, l.client)
}

// chunk is what one read returned: bytes, or the end of the stream.
type chunk struct {
	at    time.Time
	b     []byte
	end   bool // the reader saw the end of the stream
	reset bool // ... and it was not a clean FIN
}

func (l *link) pump(dir Direction, src, dst net.Conn) {
	q := make(chan chunk, chunkQueue)
	go l.read(src, q)
	go l.write(dir, dst, q)
}

func (l *link) read(src net.Conn, q chan<- chunk) {
	defer l.p.wg.Done()
	// One buffer per reader; each chunk gets a copy of what was read, so
	// what a held direction keeps is the bytes it read, not chunkSize per
	// chunk.
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		var c chunk
		switch {
		case n > 0:
			c = chunk{at: time.Now(), b: bytes.Clone(buf[:n])}
		case err != nil:
			c = chunk{at: time.Now(), end: true, reset: !errors.Is(err, io.EOF)}
		default:
			continue
		}
		select {
		case q <- c:
		case <-l.stop:
			return
		}
		if n > 0 && err != nil {
			select {
			case q <- chunk{at: time.Now(), end: true, reset: !errors.Is(err, io.EOF)}:
			case <-l.stop:
			}
			return
		}
		if c.end {
			return
		}
	}
}

func (l *link) write(dir Direction, dst net.Conn, q <-chan chunk) {
	defer l.p.wg.Done()
	for {
		var c chunk
		select {
		case c = <-q:
		case <-l.stop:
			return
		}
		if !l.p.await(c.at, l.stop, dir) {
			return
		}
		switch {
		case c.reset:
			l.end(true)
			return
		case c.end:
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				if cw.CloseWrite() != nil {
					l.end(true)
					return
				}
			}
			if l.finished.Add(1) == 2 {
				l.end(false)
			}
			return
		}
		if _, err := dst.Write(c.b); err != nil {
			l.end(true)
			return
		}
	}
}

// end closes both connections of the link, with a reset when abrupt, and
// forgets it; the pumps see stop or a closed connection and return.
func (l *link) end(abrupt bool) {
	l.once.Do(func() {
		p := l.p
		p.mu.Lock()
		close(l.stop)
		server := l.server
		delete(p.links, l)
		p.mu.Unlock()
		for _, c := range []net.Conn{l.client, server} {
			if c == nil {
				continue
			}
			if abrupt {
				abort(c)
			} else {
				c.Close()
			}
		}
	})
}

// abort closes c with a TCP reset rather than a FIN.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
