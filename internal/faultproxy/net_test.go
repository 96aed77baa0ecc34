package faultproxy

import (
	"errors"
	"net"
	"testing"
	"time"
)

// newNet starts a Net over nodes, each with a target of its own, and a
// proxy for every ordered pair.
func newNet(t *testing.T, echo bool, nodes ...string) (*Net, map[string]*target) {
	t.Helper()
	n := NewNet("127.0.0.1")
	t.Cleanup(func() { n.Close() })
	targets := make(map[string]*target)
	for _, to := range nodes {
		targets[to] = newTarget(t, echo)
	}
	for _, from := range nodes {
		for _, to := range nodes {
			if from == to {
				continue
			}
			if _, err := n.Add(from, to, targets[to].addr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return n, targets
}

// answers reports whether an echo through p comes back within silence.
func answers(t *testing.T, p *Proxy) bool {
	t.Helper()
	c := dial(t, p.Addr())
	defer c.Close()
	write(t, c, []byte("?"))
	c.SetReadDeadline(time.Now().Add(silence))
	var b [1]byte
	_, err := c.Read(b[:])
	return err == nil
}

func TestNetPartitionDropsOnlyPairsAcrossTheSets(t *testing.T) {
	n, _ := newNet(t, true, "a", "b", "c", "client")
	n.Partition([]string{"a"}, []string{"b", "c"})
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"a", "b", false}, {"b", "a", false}, {"a", "c", false}, {"c", "a", false},
		{"b", "c", true}, {"c", "b", true},
		{"client", "a", true}, {"a", "client", true}, {"client", "b", true},
	} {
		if got := answers(t, n.Proxy(tc.from, tc.to)); got != tc.want {
			t.Errorf("%s->%s answers %v under the partition, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	n.Heal()
	for _, pair := range [][2]string{{"a", "b"}, {"c", "a"}} {
		if !answers(t, n.Proxy(pair[0], pair[1])) {
			t.Errorf("%s->%s does not answer after Heal", pair[0], pair[1])
		}
	}
}

func TestNetIsolateDropsEveryPairOfTheNode(t *testing.T) {
	n, _ := newNet(t, true, "a", "b", "c")
	n.Isolate("b")
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"a", "b", false}, {"b", "a", false}, {"c", "b", false}, {"b", "c", false},
		{"a", "c", true}, {"c", "a", true},
	} {
		if got := answers(t, n.Proxy(tc.from, tc.to)); got != tc.want {
			t.Errorf("%s->%s answers %v with b isolated, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestNetCutOneWayStopsOneNodesBytesOnBothPairs(t *testing.T) {
	n, targets := newNet(t, false, "a", "b")
	// a's connection to b and b's connection to a, opened before the cut.
	aToB := dial(t, n.Proxy("a", "b").Addr())
	bSide := targets["b"].next(t)
	bToA := dial(t, n.Proxy("b", "a").Addr())
	aSide := targets["a"].next(t)

	n.CutOneWay("a", "b")
	for _, c := range []net.Conn{aToB, aSide} {
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
	// ... what a sends does not reach b, until Heal.
	quiet(t, bSide)
	quiet(t, bToA)
	n.Heal()
	for _, c := range []net.Conn{bSide, bToA} {
		if got := readN(t, c, 6); string(got) != "from a" {
			t.Errorf("after Heal b got %q", got)
		}
	}
}

func TestNetAddRefusesADuplicatePairAndCloseEndsAll(t *testing.T) {
	n, targets := newNet(t, true, "a", "b")
	if _, err := n.Add("a", "b", targets["b"].addr()); !errors.Is(err, ErrPairExists) {
		t.Errorf("a second a->b: %v, want ErrPairExists", err)
	}
	p := n.Proxy("a", "b")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("a closed Net's proxy still accepts")
	}
	if _, err := n.Add("a", "c", targets["b"].addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}
