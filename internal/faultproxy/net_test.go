package faultproxy

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// The nodes of the Net tests, each on a loopback address of its own, and
// the clients, which dial from 127.0.0.1 as the kernel picks by default.
var testHosts = map[string]string{"127.0.0.2": "a", "127.0.0.3": "b", "127.0.0.4": "c"}

const clientSource = "client"

// hostOf is the address node dials from and listens on.
func hostOf(node string) string {
	for h, n := range testHosts {
		if n == node {
			return h
		}
	}
	return "127.0.0.1" // a client
}

// newNet starts a Net over nodes a, b and c, with one target each on the
// node's address and one proxy in front of it on the same address.
func newNet(t *testing.T, echo bool) (*Net, map[string]*target) {
	t.Helper()
	n := NewNet(ByHost(testHosts, clientSource))
	t.Cleanup(func() { n.Close() })
	targets := make(map[string]*target)
	for _, node := range []string{"a", "b", "c"} {
		targets[node] = newTargetOn(t, hostOf(node), echo)
		if _, err := n.Add(node, "kafka", net.JoinHostPort(hostOf(node), "0"), targets[node].addr()); err != nil {
			t.Fatal(err)
		}
	}
	return n, targets
}

// dialFrom connects to addr from the address of node from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: patience, LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostOf(from))}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answers reports whether an echo from node from through node to's
// proxy comes back within silence.
func answers(t *testing.T, n *Net, from, to string) bool {
	t.Helper()
	c := dialFrom(t, from, n.Proxy(to, "kafka").Addr())
	defer c.Close()
	write(t, c, []byte("?"))
	c.SetReadDeadline(time.Now().Add(silence))
	var b [1]byte
	_, err := c.Read(b[:])
	return err == nil
}

func TestByHostNamesTheSourceByItsIP(t *testing.T) {
	classify := ByHost(testHosts, clientSource)
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 40000}, "a"},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.4"), Port: 1}, "c"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 3).To16(), Port: 1}, "b"}, // the 16-byte form of an IPv4 address
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, clientSource},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 40000}, clientSource},
		{&net.UDPAddr{IP: net.ParseIP("127.0.0.3"), Port: 1}, "b"}, // read from its string
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, clientSource},
	} {
		if got := classify(tc.addr, nil); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestSourcesSelectByName(t *testing.T) {
	for _, tc := range []struct {
		s    Sources
		src  string
		want bool
	}{
		{AllSources(), "a", true}, {AllSources(), "", true},
		{Only("a", "b"), "a", true}, {Only("a", "b"), "c", false}, {Only(), "a", false},
		{AllBut("a"), "a", false}, {AllBut("a"), "b", true}, {AllBut("a"), clientSource, true},
		{Sources{}, "a", false},
	} {
		if got := tc.s.Has(tc.src); got != tc.want {
			t.Errorf("%v has %q: %v, want %v", tc.s, tc.src, got, tc.want)
		}
	}
	if Only("b", "a", "a").key() != Only("a", "b").key() || Only("a").key() == AllBut("a").key() {
		t.Error("Sources that select the same connections have different keys, or the other way round")
	}
}

func TestNetAttributesEachConnectionToItsSource(t *testing.T) {
	n, _ := newNet(t, true)
	p := n.Proxy("c", "kafka")
	for _, from := range []string{"a", "b", "b", clientSource, "c"} {
		c := dialFrom(t, from, p.Addr())
		write(t, c, []byte("!"))
		readN(t, c, 1)
	}
	got := p.ConnsFrom()
	want := map[string]int{"a": 1, "b": 2, clientSource: 1, "c": 1}
	if len(got) != len(want) {
		t.Fatalf("connections by source %v, want %v", got, want)
	}
	for src, k := range want {
		if got[src] != k {
			t.Errorf("connections by source %v, want %v", got, want)
		}
	}
}

// TestNetFaultsHoldExactlyTheConnectionsTheyName checks, for each fault,
// every ordered pair (from, to) of the nodes and the client: whether a
// connection from opens to to's proxy still answers.
func TestNetFaultsHoldExactlyTheConnectionsTheyName(t *testing.T) {
	sources := []string{"a", "b", "c", clientSource}
	for _, tc := range []struct {
		name   string
		inject func(*Net)
		held   func(from, to string) bool
	}{
		{"partition a from b and c", func(n *Net) { n.Partition([]string{"a"}, []string{"b", "c"}) },
			func(from, to string) bool { return (from == "a") != (to == "a") && from != clientSource }},
		{"partition the clients from b", func(n *Net) { n.Partition([]string{clientSource}, []string{"b"}) },
			func(from, to string) bool { return from == clientSource && to == "b" }},
		{"isolate b", func(n *Net) { n.Isolate("b") },
			func(from, to string) bool { return (from == "b") != (to == "b") }},
		{"freeze b", func(n *Net) { n.Freeze("b") },
			func(from, to string) bool { return (from == "b") != (to == "b") }},
		{"isolate the clients", func(n *Net) { n.Isolate(clientSource) },
			func(from, _ string) bool { return from == clientSource }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := newNet(t, true)
			tc.inject(n)
			for _, from := range sources {
				for _, to := range []string{"a", "b", "c"} {
					want := !tc.held(from, to)
					if got := answers(t, n, from, to); got != want {
						t.Errorf("%s->%s answers %v, want %v", from, to, got, want)
					}
				}
			}
			n.Heal()
			for _, from := range sources {
				for _, to := range []string{"a", "b", "c"} {
					if !answers(t, n, from, to) {
						t.Errorf("%s->%s does not answer after Heal", from, to)
					}
				}
			}
		})
	}
}

func TestNetCutOneWayStopsOneNodesBytesOverEitherNodesConnection(t *testing.T) {
	n, targets := newNet(t, false)
	// a's connection to b and b's connection to a, opened before the cut,
	// and c's connection to b, which the cut leaves alone.
	aToB := dialFrom(t, "a", n.Proxy("b", "kafka").Addr())
	bSide := targets["b"].next(t)
	bToA := dialFrom(t, "b", n.Proxy("a", "kafka").Addr())
	aSide := targets["a"].next(t)
	cToB := dialFrom(t, "c", n.Proxy("b", "kafka").Addr())
	bSideOfC := targets["b"].next(t)

	n.CutOneWay("a", "b")
	for _, c := range []net.Conn{aToB, aSide, cToB} {
		write(t, c, []byte("from a"))
	}
	for _, c := range []net.Conn{bSide, bToA} {
		write(t, c, []byte("from b"))
	}
	// What b sends reaches a on both connections...
	for _, c := range []net.Conn{aToB, aSide} {
		if got := readN(t, c, 6); string(got) != "from b" {
			t.Errorf("a got %q", got)
		}
	}
	// ... and c's bytes reach b...
	if got := readN(t, bSideOfC, 6); string(got) != "from a" {
		t.Errorf("b got %q from c", got)
	}
	// ... but what a sends does not reach b, until Heal.
	quiet(t, bSide)
	quiet(t, bToA)
	n.Heal()
	for _, c := range []net.Conn{bSide, bToA} {
		if got := readN(t, c, 6); string(got) != "from a" {
			t.Errorf("after Heal b got %q", got)
		}
	}
}

func TestNetDelaySlowsOnlyTheConnectionsBetweenThePair(t *testing.T) {
	n, _ := newNet(t, true)
	const d = 100 * time.Millisecond
	n.Delay("a", "b", d)
	// A lower bound only: each way waits d at least.
	for _, pair := range [][2]string{{"a", "b"}, {"b", "a"}} {
		c := dialFrom(t, pair[0], n.Proxy(pair[1], "kafka").Addr())
		start := time.Now()
		write(t, c, []byte("x"))
		readN(t, c, 1)
		if el := time.Since(start); el < 2*d {
			t.Errorf("%s->%s: a round trip took %v under a delay of %v each way", pair[0], pair[1], el, d)
		}
	}
	// The pairs outside are not held; their timing is not asserted (the
	// machine is shared), only that they answer.
	for _, pair := range [][2]string{{"a", "c"}, {clientSource, "b"}} {
		if !answers(t, n, pair[0], pair[1]) {
			t.Errorf("%s->%s does not answer under a delay between a and b", pair[0], pair[1])
		}
	}
}

func TestNetResetClosesOnlyTheConnectionsBetweenThePair(t *testing.T) {
	n, _ := newNet(t, true)
	aToB := dialFrom(t, "a", n.Proxy("b", "kafka").Addr())
	bToA := dialFrom(t, "b", n.Proxy("a", "kafka").Addr())
	cToB := dialFrom(t, "c", n.Proxy("b", "kafka").Addr())
	clientToB := dialFrom(t, clientSource, n.Proxy("b", "kafka").Addr())
	for _, c := range []net.Conn{aToB, bToA, cToB, clientToB} {
		write(t, c, []byte("1"))
		readN(t, c, 1)
	}
	n.Reset("a", "b")
	for name, c := range map[string]net.Conn{"a->b": aToB, "b->a": bToA} {
		c.SetReadDeadline(time.Now().Add(patience))
		var b [1]byte
		if _, err := c.Read(b[:]); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s was not closed by Reset: %v", name, err)
		}
	}
	for name, c := range map[string]net.Conn{"c->b": cToB, "client->b": clientToB} {
		write(t, c, []byte("2"))
		if got := readN(t, c, 1); string(got) != "2" {
			t.Errorf("%s after Reset(a, b) got %q", name, got)
		}
	}
}

func TestNetAddRefusesADuplicateEndpointAndCloseEndsAll(t *testing.T) {
	n, targets := newNet(t, true)
	if _, err := n.Add("a", "kafka", "127.0.0.2:0", targets["a"].addr()); !errors.Is(err, ErrEndpointExists) {
		t.Errorf("a second a/kafka: %v, want ErrEndpointExists", err)
	}
	if _, err := n.Add("a", "etcd", "127.0.0.2:0", targets["a"].addr()); err != nil {
		t.Errorf("a second listener of a: %v", err)
	}
	p := n.Proxy("a", "kafka")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("a closed Net's proxy still accepts")
	}
	if _, err := n.Add("d", "kafka", "127.0.0.5:0", targets["b"].addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}
