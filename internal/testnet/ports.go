package testnet

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// FreeAddr is a free port on host as host:port, found by binding it once
// (another process may take it before the caller does: loopback tests
// live with that).
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("testnet: free port on %s: %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePortPair is a free port on host whose next port is free too: a
// voter's etcd serves its peers on its controller port and its clients
// on the next one.
func FreePortPair(t testing.TB, host string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("testnet: free port on %s: %v", host, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		next, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port+1)))
		ln.Close()
		if err == nil {
			next.Close()
			return port
		}
	}
	t.Fatalf("testnet: no two consecutive free ports on %s", host)
	return 0
}

// sourceWait bounds OneConn.Source's wait for its connection.
const sourceWait = 10 * time.Second

// OneConn is a listener that takes one connection, notes the IP it came
// from and closes it: what a test of where a dialer binds needs.
type OneConn struct {
	ln   net.Listener
	from chan string
}

// ListenOnce listens on a free port of host for one connection; it is
// closed with the test, or by Source.
func ListenOnce(t testing.TB, host string) *OneConn {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("testnet: listen on %s: %v", host, err)
	}
	o := &OneConn{ln: ln, from: make(chan string, 1)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			o.from <- "nowhere: " + err.Error()
			return
		}
		o.from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	t.Cleanup(func() { ln.Close() })
	return o
}

// Addr is where it listens.
func (o *OneConn) Addr() string { return o.ln.Addr().String() }

// Source waits (up to sourceWait) for the connection, closes the
// listener and returns the IP the connection came from, or "nowhere"
// with why if none came.
func (o *OneConn) Source() string {
	defer o.ln.Close()
	select {
	case ip := <-o.from:
		return ip
	case <-time.After(sourceWait):
		return "nowhere: no connection in " + sourceWait.String()
	}
}
