package testnet

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// echo serves, on a free loopback port, connections that echo each line.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// dialFrom dials addr from the loopback IP src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// roundTrip writes a line and reads it back; it fails on a dead connection.
func roundTrip(c net.Conn, line string) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return got, err
}

func TestForwarderForwardsAndRecordsWhereConnectionsComeFrom(t *testing.T) {
	f := Forward(t, "127.0.0.1:0", echo(t))
	a := dialFrom(t, "127.0.0.5", f.Addr())
	b := dialFrom(t, "127.0.0.6", f.Addr())
	for _, c := range []net.Conn{a, b} {
		if got, err := roundTrip(c, "hello"); err != nil || got != "hello\n" {
			t.Fatalf("through the forwarder: %q, %v", got, err)
		}
	}
	if src := f.Sources(); src["127.0.0.5"] != 1 || src["127.0.0.6"] != 1 || len(src) != 2 || f.Accepted() != 2 {
		t.Errorf("sources %v, accepted %d; want one each from 127.0.0.5 and 127.0.0.6", src, f.Accepted())
	}
}

func TestForwarderCutClosesOpenConnectionsAndKeepsAccepting(t *testing.T) {
	f := Forward(t, "127.0.0.1:0", echo(t))
	a := dialFrom(t, "127.0.0.1", f.Addr())
	if _, err := roundTrip(a, "before"); err != nil {
		t.Fatal(err)
	}
	f.Cut()
	if got, err := roundTrip(a, "after"); err == nil {
		t.Fatalf("a connection cut still answered %q", got)
	}
	b := dialFrom(t, "127.0.0.1", f.Addr())
	if got, err := roundTrip(b, "again"); err != nil || got != "again\n" {
		t.Fatalf("a new connection after Cut: %q, %v", got, err)
	}
}

func TestForwarderWithoutTargetClosesUntilOneIsSet(t *testing.T) {
	f := Forward(t, "127.0.0.1:0", "")
	if got, err := roundTrip(dialFrom(t, "127.0.0.1", f.Addr()), "x"); err == nil {
		t.Fatalf("answered %q without a target", got)
	}
	f.SetTarget(echo(t))
	if got, err := roundTrip(dialFrom(t, "127.0.0.1", f.Addr()), "y"); err != nil || got != "y\n" {
		t.Fatalf("after SetTarget: %q, %v", got, err)
	}
	if f.Accepted() != 2 {
		t.Errorf("accepted %d, want 2", f.Accepted())
	}
}

func TestForwarderCloseEndsEveryConnection(t *testing.T) {
	f := Forward(t, "127.0.0.1:0", echo(t))
	a := dialFrom(t, "127.0.0.1", f.Addr())
	if _, err := roundTrip(a, "x"); err != nil {
		t.Fatal(err)
	}
	f.Close() // waits for its goroutines
	if got, err := roundTrip(a, "y"); err == nil {
		t.Fatalf("answered %q after Close", got)
	}
	if _, err := net.DialTimeout("tcp", f.Addr(), time.Second); err == nil {
		t.Error("still accepting after Close")
	}
	f.Close() // idempotent: the cleanup calls it again
}

func TestListenOnceReportsTheSourceIP(t *testing.T) {
	o := ListenOnce(t, "127.0.0.3")
	c := dialFrom(t, "127.0.0.7", o.Addr())
	if got := o.Source(); got != "127.0.0.7" {
		t.Errorf("source %s, want 127.0.0.7", got)
	}
	c.Close()
}

func TestFreePortPairLeavesTwoConsecutivePortsFree(t *testing.T) {
	p := FreePortPair(t, "127.0.0.1")
	for _, port := range []int{p, p + 1} {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		ln.Close()
	}
	if _, _, err := net.SplitHostPort(FreeAddr(t, "127.0.0.1")); err != nil {
		t.Error(err)
	}
}

// TestPortsArePickedBelowTheEphemeralRangeAndNeverTwice: a port an
// outgoing connection may take as its source port is never handed out,
// and no port is handed out twice in one process.
func TestPortsArePickedBelowTheEphemeralRangeAndNeverTwice(t *testing.T) {
	low := EphemeralPortLow()
	if low == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range here")
	}
	seen := map[int]bool{}
	for range 50 {
		p := FreePortPair(t, "127.0.0.1")
		_, a, _ := net.SplitHostPort(FreeAddr(t, "127.0.0.1"))
		q, _ := strconv.Atoi(a)
		for _, port := range []int{p, p + 1, q} {
			if port < minPort || port >= low || port >= maxPort {
				t.Fatalf("port %d outside [%d, min(%d, %d))", port, minPort, low, maxPort)
			}
			if seen[port] {
				t.Fatalf("port %d handed out twice", port)
			}
			seen[port] = true
		}
	}
}
