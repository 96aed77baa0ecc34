package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// patience bounds every wait a test expects to end; it is generous
	// because the machine is shared.
	patience = 10 * time.Second
	// silence is how long a test watches a held direction stay quiet.
	silence = 200 * time.Millisecond
)

// target is a listener the test owns: each accepted connection is handed
// to the test (accepted) or echoed back (echo).
type target struct {
	ln       net.Listener
	accepted chan net.Conn
	wg       sync.WaitGroup
}

func newTarget(t testing.TB, echo bool) *target {
	t.Helper()
	return newTargetOn(t, "127.0.0.1", echo)
}

// newTargetOn is newTarget listening on host.
func newTargetOn(t testing.TB, host string, echo bool) *target {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, accepted: make(chan net.Conn, 64)}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !echo {
				tg.accepted <- c
				continue
			}
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(tg.close)
	return tg
}

func (tg *target) close() {
	tg.ln.Close()
	tg.wg.Wait()
	close(tg.accepted)
	for c := range tg.accepted {
		c.Close()
	}
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// next is the target's side of the next connection through the proxy.
func (tg *target) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-tg.accepted:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(patience):
		t.Fatal("the target accepted no connection")
		return nil
	}
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readN reads exactly n bytes from c within patience.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// quiet fails the test if c receives anything within silence.
func quiet(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(silence))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := c.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a held direction delivered %d bytes (err %v)", n, err)
	}
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(patience))
	defer c.SetWriteDeadline(time.Time{})
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestProxyForwardsBytesUnchangedBothWays(t *testing.T) {
	tg := newTarget(t, true)
	p := newProxy(t, tg.addr())
	const conns, size = 16, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c := dial(t, p.Addr())
		payload := make([]byte, size)
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(patience))
			if _, err := c.Write(payload); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(patience))
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, payload) {
				errs <- errors.New("echoed bytes differ from those sent")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestProxyDelayKeepsOrder(t *testing.T) {
	tg := newTarget(t, true)
	p := newProxy(t, tg.addr())
	const d = 50 * time.Millisecond
	p.Delay(d)
	c := dial(t, p.Addr())
	start := time.Now()
	var sent []byte
	for i := range 100 {
		b := []byte{byte(i), byte(i >> 8), 0xAA}
		write(t, c, b)
		sent = append(sent, b...)
	}
	got := readN(t, c, len(sent))
	// Up and down are each delayed by d at least: a lower bound only.
	if el := time.Since(start); el < 2*d {
		t.Errorf("round trip took %v under a delay of %v each way", el, d)
	}
	if !bytes.Equal(got, sent) {
		t.Error("delayed bytes came back reordered or changed")
	}
	p.Delay(0)
	write(t, c, []byte("after"))
	if got := readN(t, c, 5); string(got) != "after" {
		t.Errorf("after the delay was removed got %q", got)
	}
}

func TestProxyDropHoldsAndHealDeliversInOrder(t *testing.T) {
	tg := newTarget(t, true)
	p := newProxy(t, tg.addr())
	c := dial(t, p.Addr())
	write(t, c, []byte("before"))
	if got := readN(t, c, 6); string(got) != "before" {
		t.Fatalf("got %q", got)
	}

	p.Drop()
	write(t, c, []byte("during1"))
	write(t, c, []byte("during2"))
	// A request made during the partition times out on the client: the
	// connection is neither answered nor closed.
	quiet(t, c)
	// A connection opened during the partition is held, not refused.
	c2 := dial(t, p.Addr())
	write(t, c2, []byte("new"))
	quiet(t, c2)

	p.Heal()
	if got := readN(t, c, 14); string(got) != "during1during2" {
		t.Errorf("after Heal the held connection gave %q", got)
	}
	if got := readN(t, c2, 3); string(got) != "new" {
		t.Errorf("after Heal the held new connection gave %q", got)
	}
	write(t, c, []byte("after"))
	if got := readN(t, c, 5); string(got) != "after" {
		t.Errorf("after Heal got %q", got)
	}
}

func TestProxyFreezeHoldsAndHealResumes(t *testing.T) {
	tg := newTarget(t, true)
	p := newProxy(t, tg.addr())
	c := dial(t, p.Addr())
	p.Freeze()
	write(t, c, []byte("frozen"))
	quiet(t, c)
	p.Heal()
	if got := readN(t, c, 6); string(got) != "frozen" {
		t.Errorf("after Heal got %q", got)
	}
}

func TestProxyCutOneWayLetsTheOtherDirectionThrough(t *testing.T) {
	for _, cut := range []Direction{Up, Down} {
		t.Run(cut.String(), func(t *testing.T) {
			tg := newTarget(t, false)
			p := newProxy(t, tg.addr())
			client := dial(t, p.Addr())
			server := tg.next(t)
			p.CutOneWay(cut)

			write(t, client, []byte("up"))
			write(t, server, []byte("down"))
			if cut == Up {
				quiet(t, server)
				if got := readN(t, client, 4); string(got) != "down" {
					t.Errorf("the open direction gave %q", got)
				}
			} else {
				quiet(t, client)
				if got := readN(t, server, 2); string(got) != "up" {
					t.Errorf("the open direction gave %q", got)
				}
			}
			p.Heal()
			if cut == Up {
				if got := readN(t, server, 2); string(got) != "up" {
					t.Errorf("after Heal the cut direction gave %q", got)
				}
			} else {
				if got := readN(t, client, 4); string(got) != "down" {
					t.Errorf("after Heal the cut direction gave %q", got)
				}
			}
		})
	}
}

func TestProxyResetClosesBothEnds(t *testing.T) {
	tg := newTarget(t, false)
	p := newProxy(t, tg.addr())
	client := dial(t, p.Addr())
	server := tg.next(t)
	write(t, client, []byte("x"))
	readN(t, server, 1)

	p.Reset()
	for name, c := range map[string]net.Conn{"client": client, "target": server} {
		c.SetReadDeadline(time.Now().Add(patience))
		_, err := io.ReadAll(c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the %s side was not closed by Reset", name)
		}
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("%d connections left after Reset", n)
	}
	// The proxy still accepts and forwards.
	c2 := dial(t, p.Addr())
	s2 := tg.next(t)
	write(t, c2, []byte("y"))
	if got := readN(t, s2, 1); string(got) != "y" {
		t.Errorf("after Reset got %q", got)
	}
}

func TestProxyEndOfStreamIsForwarded(t *testing.T) {
	tg := newTarget(t, false)
	p := newProxy(t, tg.addr())
	client := dial(t, p.Addr())
	server := tg.next(t)
	write(t, client, []byte("last"))
	client.(*net.TCPConn).CloseWrite()
	server.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "last" {
		t.Fatalf("the target read %q, %v; want the bytes and a FIN", got, err)
	}
	write(t, server, []byte("reply"))
	server.(*net.TCPConn).CloseWrite()
	client.SetReadDeadline(time.Now().Add(patience))
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "reply" {
		t.Fatalf("the client read %q, %v; want the reply and a FIN", got, err)
	}
	waitFor(t, "the link to end after both FINs", func() bool { return p.Conns() == 0 })
}

func TestProxyCloseLeavesNoGoroutine(t *testing.T) {
	tg := newTarget(t, true)
	before := runtime.NumGoroutine()
	p, err := New("127.0.0.1:0", tg.addr())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 4 {
		c := dial(t, p.Addr())
		write(t, c, []byte("ping"))
		readN(t, c, 4)
		conns = append(conns, c)
	}
	// Some goroutines wait on a fault, some on a dial, some on I/O.
	p.Drop()
	conns = append(conns, dial(t, p.Addr()))
	write(t, conns[0], bytes.Repeat([]byte("z"), 3*chunkSize))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	for _, c := range conns {
		c.Close()
	}
	// The echo target's goroutines end when the proxy's connections
	// close; the count settles back to what it was.
	waitFor(t, "the goroutine count to settle", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// waitFor polls cond until it holds, failing after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("waited %v for %s; goroutines:\n%s", patience, what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProxyDropHoldsTheEndOfStreamBehindTheData(t *testing.T) {
	tg := newTarget(t, false)
	p := newProxy(t, tg.addr())
	client := dial(t, p.Addr())
	server := tg.next(t)
	p.Drop()
	write(t, client, []byte("tail"))
	client.(*net.TCPConn).CloseWrite()
	quiet(t, server)
	p.Heal()
	server.SetReadDeadline(time.Now().Add(patience))
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "tail" {
		t.Errorf("after Heal the target read %q, %v; want the bytes then a FIN", got, err)
	}
}

func TestProxyDropBlocksTheSenderAndLosesNothing(t *testing.T) {
	tg := newTarget(t, false)
	p := newProxy(t, tg.addr())
	client := dial(t, p.Addr())
	server := tg.next(t)
	p.Drop()
	// Far more than the proxy's queue and any loopback socket buffers:
	// the sender must block, as behind a dead network.
	payload := make([]byte, 64<<20)
	rand.NewChaCha8([32]byte{7}).Read(payload)
	client.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := client.Write(payload)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a write of %d bytes under Drop returned %d, %v; want it blocked", len(payload), n, err)
	}
	p.Heal()
	if got := readN(t, server, n); !bytes.Equal(got, payload[:n]) {
		t.Errorf("the %d bytes held by Drop came out changed", n)
	}
}

func TestProxyFaultsForSomeSourcesTouchOnlyTheirConnections(t *testing.T) {
	tg := newTargetOn(t, "127.0.0.2", true)
	p, err := NewClassified("127.0.0.2:0", tg.addr(), ByHost(testHosts, clientSource))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fromA, fromB := dialFrom(t, "a", p.Addr()), dialFrom(t, "b", p.Addr())
	for _, c := range []net.Conn{fromA, fromB} {
		write(t, c, []byte("0"))
		readN(t, c, 1)
	}

	p.For(Only("a")).Drop()
	p.For(AllBut("a")).Delay(time.Hour)
	p.For(AllBut("a")).Delay(0) // removes the delay it set, and only that
	write(t, fromA, []byte("1"))
	write(t, fromB, []byte("1"))
	if got := readN(t, fromB, 1); string(got) != "1" {
		t.Errorf("b's connection got %q while a's is dropped", got)
	}
	quiet(t, fromA)

	// Healing other Sources leaves a's Drop; a second fault on a's
	// connections holds them once the first is healed through its own
	// Sources, until the proxy's Heal.
	p.For(AllBut("a")).Heal()
	quiet(t, fromA)
	p.For(Only("a", "c")).CutOneWay(Down)
	p.For(Only("a")).Heal()
	quiet(t, fromA)
	p.For(Only("b")).Reset()
	fromB.SetReadDeadline(time.Now().Add(patience))
	var b [1]byte
	if _, err := fromB.Read(b[:]); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("b's connection was not closed by its Reset: %v", err)
	}
	if got := p.ConnsFrom(); got["a"] != 1 || got["b"] != 0 {
		t.Errorf("connections by source after b's Reset: %v", got)
	}
	p.Heal()
	if got := readN(t, fromA, 1); string(got) != "1" {
		t.Errorf("after Heal a's connection got %q", got)
	}
}

func TestProxyRefuseRefusesNewConnectionsUntilReopen(t *testing.T) {
	tg := newTarget(t, true)
	p := newProxy(t, tg.addr())
	old := dial(t, p.Addr())
	p.Refuse()
	p.Refuse() // twice is once
	if c, err := net.DialTimeout("tcp", p.Addr(), patience); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a dial while refusing: %v, want ECONNREFUSED", err)
	}
	// What it forwards already goes on.
	write(t, old, []byte("still"))
	if got := readN(t, old, 5); string(got) != "still" {
		t.Errorf("a forwarded connection while refusing gave %q", got)
	}
	if err := p.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := p.Reopen(); err != nil {
		t.Errorf("Reopen of a listening proxy: %v", err)
	}
	c := dial(t, p.Addr())
	write(t, c, []byte("again"))
	if got := readN(t, c, 5); string(got) != "again" {
		t.Errorf("after Reopen got %q", got)
	}
	p.Refuse()
	if err := p.Close(); err != nil {
		t.Errorf("Close while refusing: %v", err)
	}
	if err := p.Reopen(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reopen after Close: %v, want ErrClosed", err)
	}
}
