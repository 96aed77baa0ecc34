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
// under the faults set on it. A fault applies to every connection, or,
// set through For, to the connections of some sources only: a proxy
// made by NewClassified names each connection's source once, from its
// remote address, when it accepts it. Its methods are safe for
// concurrent use.
type Proxy struct {
	addr     string // the address it listens on, fixed by New
	target   string
	classify Classifier // read-only after New; nil names every source ""

	mu      sync.Mutex
	ln      net.Listener       // guarded by mu; nil while refusing (Refuse) and once closed
	rules   map[string]*rule   // guarded by mu: the faults, by the key of the Sources they apply to
	changed chan struct{}      // guarded by mu: closed and replaced at every fault change
	links   map[*link]bool     // guarded by mu: every connection accepted and not yet ended
	closed  bool               // guarded by mu
	wg      sync.WaitGroup     // every goroutine of the proxy
	dialer  net.Dialer         // read-only after New
	ctx     context.Context    // cancelled by Close: ends dials in flight
	stopAll context.CancelFunc // cancels ctx
}

// rule is the faults set on the connections of some sources.
type rule struct {
	from   Sources
	delay  time.Duration
	drop   bool
	freeze bool
	cut    [2]bool // by Direction
}

// held reports whether the rule holds direction dir.
func (r *rule) held(dir Direction) bool { return r.drop || r.freeze || r.cut[dir] }

// New listens on listen (host:port; port 0 picks one) and forwards every
// connection it accepts to target. Close stops it.
func New(listen, target string) (*Proxy, error) {
	return NewClassified(listen, target, nil)
}

// NewClassified is New with every accepted connection attributed to the
// source classify names from its remote address, so that For can fault
// the connections of some sources and leave the others alone. A nil
// classify names every source "".
func NewClassified(listen, target string, classify Classifier) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on %s for %s: %w", listen, target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		addr:     ln.Addr().String(),
		ln:       ln,
		target:   target,
		classify: classify,
		rules:    make(map[string]*rule),
		changed:  make(chan struct{}),
		links:    make(map[*link]bool),
		dialer:   net.Dialer{Timeout: DefaultDialTimeout},
		ctx:      ctx,
		stopAll:  cancel,
	}
	p.wg.Add(1)
	go p.accept(ln)
	return p, nil
}

// Addr is the address the proxy listens on: give it to the side that
// should reach the target through the proxy.
func (p *Proxy) Addr() string { return p.addr }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Delay makes every chunk wait d after it was read before it is written
// on, in order; 0 removes the delay. It is For(AllSources()).Delay.
func (p *Proxy) Delay(d time.Duration) { p.For(AllSources()).Delay(d) }

// Drop stops forwarding in both directions, holding what was read, until
// Heal (see the package comment).
func (p *Proxy) Drop() { p.For(AllSources()).Drop() }

// Freeze pauses every link until Heal, as a stopped peer would.
func (p *Proxy) Freeze() { p.For(AllSources()).Freeze() }

// CutOneWay stops forwarding in direction dir only, until Heal.
func (p *Proxy) CutOneWay(dir Direction) { p.For(AllSources()).CutOneWay(dir) }

// Heal lifts every fault, of every source: Drop, Freeze, cuts and
// delays. What was held is forwarded, in order.
func (p *Proxy) Heal() {
	p.mu.Lock()
	clear(p.rules)
	p.wakeLocked()
	p.mu.Unlock()
}

// Reset closes every connection the proxy forwards or holds, both ends,
// with a TCP reset. New connections are accepted as before.
func (p *Proxy) Reset() { p.For(AllSources()).Reset() }

// For is the faults of the connections from the sources s selects (by
// the names the proxy's Classifier gives them).
func (p *Proxy) For(s Sources) Faults { return Faults{p: p, from: s} }

// Faults sets faults on the connections of a proxy that come from some
// sources (Proxy.For); each fault lasts until its Heal or the proxy's. A
// connection under several faults is held while any of them holds it
// and waits for the longest of their delays.
type Faults struct {
	p    *Proxy
	from Sources
}

// Delay makes every chunk of these connections wait d after it was read
// before it is written on, in order; 0 removes the delay set through
// the same Sources.
func (f Faults) Delay(d time.Duration) { f.set(func(r *rule) { r.delay = max(d, 0) }) }

// Drop holds both directions of these connections, and new ones from
// these sources, until Heal.
func (f Faults) Drop() { f.set(func(r *rule) { r.drop = true }) }

// Freeze pauses these connections until Heal, as a stopped process
// would.
func (f Faults) Freeze() { f.set(func(r *rule) { r.freeze = true }) }

// CutOneWay holds direction dir of these connections until Heal.
func (f Faults) CutOneWay(dir Direction) { f.set(func(r *rule) { r.cut[dir] = true }) }

// Heal lifts the faults set through the same Sources (an equal
// selection), and only those: a fault set through other Sources, or on
// the whole proxy, stays until its own Heal or the proxy's.
func (f Faults) Heal() {
	p := f.p
	p.mu.Lock()
	delete(p.rules, f.from.key())
	p.wakeLocked()
	p.mu.Unlock()
}

// Reset closes these connections now, both ends, with a TCP reset.
func (f Faults) Reset() {
	p := f.p
	p.mu.Lock()
	var ls []*link
	for l := range p.links {
		if f.from.Has(l.src) {
			ls = append(ls, l)
		}
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.end(true)
	}
}

// set changes the rule of f's sources under mu and wakes every waiter.
func (f Faults) set(change func(*rule)) {
	p := f.p
	key := f.from.key()
	p.mu.Lock()
	r := p.rules[key]
	if r == nil {
		r = &rule{from: f.from}
		p.rules[key] = r
	}
	change(r)
	p.wakeLocked()
	p.mu.Unlock()
}

// Conns is how many connections the proxy forwards or holds now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// ConnsFrom counts, by source, the connections the proxy forwards or
// holds now.
func (p *Proxy) ConnsFrom() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int)
	for l := range p.links {
		m[l.src]++
	}
	return m
}

// Refuse closes the proxy's listener until Reopen: a new connection is
// refused (ECONNREFUSED), as at the address of a process that is gone,
// whatever its source and the faults; the connections forwarded or held
// are left alone. A harness calls it when the target's process dies, so
// that its peers tell a dead process from a partition as they would
// without the proxy (Tributary's fast fencing does: a refused dial).
func (p *Proxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// Reopen listens again, on the same address, after Refuse; it does
// nothing while the proxy listens.
func (p *Proxy) Reopen() error {
	p.mu.Lock()
	open, closed := p.ln != nil, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case open:
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listen again on %s for %s: %w", p.addr, p.target, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln != nil {
		ln.Close() // Close, or another Reopen, came first
		if p.closed {
			return ErrClosed
		}
		return nil
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	return nil
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
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	p.stopAll()
	p.Reset()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close listener %s: %w", p.addr, err)
	}
	return nil
}

// wakeLocked tells every waiter that the faults changed.
func (p *Proxy) wakeLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// faultsLocked are the faults on the connections of source src now:
// whether direction dir is held, and the delay.
func (p *Proxy) faultsLocked(src string, dirs []Direction) (held bool, delay time.Duration) {
	for _, r := range p.rules {
		if !r.from.Has(src) {
			continue
		}
		delay = max(delay, r.delay)
		for _, d := range dirs {
			held = held || r.held(d)
		}
	}
	return held, delay
}

// await returns true once every direction in dirs of a connection from
// src is open and at + its delay has passed, re-reading the faults
// whenever they change; false if stop is closed first.
func (p *Proxy) await(src string, at time.Time, stop <-chan struct{}, dirs ...Direction) bool {
	for {
		p.mu.Lock()
		changed := p.changed
		held, delay := p.faultsLocked(src, dirs)
		p.mu.Unlock()
		if held {
			select {
			case <-changed:
				continue
			case <-stop:
				return false
			}
		}
		wait := time.Until(at.Add(delay))
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

// accept forwards the connections ln accepts until ln is closed (by
// Close or Refuse).
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // Close or Refuse owns the listener
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

// source names the source of an accepted connection.
func (p *Proxy) source(c net.Conn) string {
	if p.classify == nil {
		return ""
	}
	return p.classify(c.RemoteAddr(), c.LocalAddr())
}

// link is one accepted connection and, once dialled, its target.
type link struct {
	p      *Proxy
	client net.Conn
	src    string   // the source the proxy's Classifier named
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
	// Named here, not in the accept loop: a Classifier may take a while
	// (SocketOwner reads /proc) and must not hold up other accepts.
	src := p.source(l.client)
	p.mu.Lock()
	l.src = src
	p.mu.Unlock()
	if !p.await(src, accepted, l.stop, Up, Down) {
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
		if !l.p.await(l.src, c.at, l.stop, dir) {
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
