package testnet

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ports are picked at random below the kernel's ephemeral range, which it
// never hands out by itself: a port picked there cannot be taken by an
// outgoing connection's source port (or a :0 listener) between the pick
// and the bind, or while a node is down between a stop and a restart on
// the same port. Such a race made "bind: address already in use" flakes
// while several test packages ran at once.
const (
	// minPort is the lowest port picked: above the well-known and the
	// usual registered service ports.
	minPort = 10000
	// maxPort bounds the picks from above: internal/clustertest picks
	// its brokers' ports from here up to the ephemeral range, so that the
	// two pickers of tests running at once do not meet.
	maxPort = 20000
	// defaultEphemeralLow is the ephemeral range's start where
	// /proc/sys/net/ipv4/ip_local_port_range cannot be read (Linux's
	// default).
	defaultEphemeralLow = 32768
	// portTries bounds the random picks.
	portTries = 200
)

var (
	pickMu sync.Mutex
	picked = map[string]bool{} // host:port handed out by this process
	rng    = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
)

// EphemeralPortLow is the first port of the kernel's ephemeral range, or
// 0 where it cannot be read.
func EphemeralPortLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// pick finds n consecutive ports on host, below the ephemeral range, that
// nothing listens on now and that this process has not handed out.
func pick(t testing.TB, host string, n int) int {
	t.Helper()
	hi := EphemeralPortLow()
	if hi <= minPort+100 {
		hi = defaultEphemeralLow
	}
	hi = min(hi, maxPort)
	pickMu.Lock()
	defer pickMu.Unlock()
	free := func(port int) bool {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		if picked[addr] {
			return false
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
next:
	for range portTries {
		port := minPort + rng.IntN(hi-minPort-n)
		for i := range n {
			if !free(port + i) {
				continue next
			}
		}
		for i := range n {
			picked[net.JoinHostPort(host, strconv.Itoa(port+i))] = true
		}
		return port
	}
	t.Fatalf("testnet: no %d consecutive free ports on %s below %d", n, host, hi)
	return 0
}

// FreeAddr is a free port on host as host:port (another process may
// still take it before the caller binds it: loopback tests live with
// that, but no outgoing connection will).
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	return net.JoinHostPort(host, strconv.Itoa(pick(t, host, 1)))
}

// FreePortPair is a free port on host whose next port is free too: a
// voter's etcd serves its peers on its controller port and its clients
// on the next one.
func FreePortPair(t testing.TB, host string) int {
	t.Helper()
	return pick(t, host, 2)
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
