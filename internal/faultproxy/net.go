package faultproxy

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Endpoint names one listener of one node: the proxy in front of it.
type Endpoint struct{ Node, Listener string }

func (e Endpoint) String() string { return e.Node + "/" + e.Listener }

// ErrEndpointExists is returned by Net.Add for a listener that already
// has a proxy.
var ErrEndpointExists = errors.New("faultproxy: endpoint already has a proxy")

// Net is the proxies in front of the listeners of a set of nodes, all
// attributing connections to their source with one Classifier, and
// injects faults between pairs of sources and nodes: which connections a
// fault touches is decided here, once. A fault between from and to
// touches the connections from opened to any listener of to; clients are
// a source like any other (whatever name the Classifier gives them).
// Its methods are safe for concurrent use.
type Net struct {
	classify Classifier

	mu      sync.Mutex
	proxies map[Endpoint]*Proxy // guarded by mu
	closed  bool                // guarded by mu
}

// NewNet returns an empty Net whose proxies name the source of each
// connection with classify.
func NewNet(classify Classifier) *Net {
	return &Net{classify: classify, proxies: make(map[Endpoint]*Proxy)}
}

// Add starts the proxy in front of the listener named listener of node:
// it listens on listen (host:port, port 0 picks one) and forwards to
// target (the listener's real address). The other nodes and the clients
// are then told its Addr as that listener's address.
func (n *Net) Add(node, listener, listen, target string) (*Proxy, error) {
	e := Endpoint{node, listener}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.proxies[e]; ok {
		return nil, fmt.Errorf("faultproxy: add %v: %w", e, ErrEndpointExists)
	}
	p, err := NewClassified(listen, target, n.classify)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: add %v: %w", e, err)
	}
	n.proxies[e] = p
	return p, nil
}

// Proxy is the proxy in front of node's listener, or nil.
func (n *Net) Proxy(node, listener string) *Proxy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proxies[Endpoint{node, listener}]
}

// each calls f, outside mu, with the proxies of every node in nodes.
func (n *Net) each(nodes []string, f func(*Proxy)) {
	n.mu.Lock()
	var ps []*Proxy
	for e, p := range n.proxies {
		if slices.Contains(nodes, e.Node) {
			ps = append(ps, p)
		}
	}
	n.mu.Unlock()
	for _, p := range ps {
		f(p)
	}
}

// between calls f with the faults of the connections each of a and b
// opened to the other: those from a on b's proxies and those from b on
// a's.
func (n *Net) between(a, b []string, f func(Faults)) {
	n.each(b, func(p *Proxy) { f(p.For(Only(a...))) })
	n.each(a, func(p *Proxy) { f(p.For(Only(b...))) })
}

// Partition drops, until Heal, every connection between a node of a and
// a node of b, whichever of them opened it; connections within a set
// and with other sources (the clients, say) keep flowing.
func (n *Net) Partition(a, b []string) { n.between(a, b, Faults.Drop) }

// Isolate drops, until Heal, every connection node is part of but its
// connections to itself: those it opened to any other node and those
// any other source, clients included, opened to it. To keep the clients
// reaching it, Partition it from the other nodes instead.
func (n *Net) Isolate(node string) {
	n.each([]string{node}, func(p *Proxy) { p.For(AllBut(node)).Drop() })
	n.each(n.others(node), func(p *Proxy) { p.For(Only(node)).Drop() })
}

// Freeze pauses, until Heal, every connection node is part of but its
// connections to itself, as if its process were stopped (SIGSTOP).
func (n *Net) Freeze(node string) {
	n.each([]string{node}, func(p *Proxy) { p.For(AllBut(node)).Freeze() })
	n.each(n.others(node), func(p *Proxy) { p.For(Only(node)).Freeze() })
}

// CutOneWay stops, until Heal, the bytes from sends to to over the
// connections either of them opened (the Up direction of from's
// connections to to, the Down direction of to's connections to from);
// to's bytes still reach from.
func (n *Net) CutOneWay(from, to string) {
	n.each([]string{to}, func(p *Proxy) { p.For(Only(from)).CutOneWay(Up) })
	n.each([]string{from}, func(p *Proxy) { p.For(Only(to)).CutOneWay(Down) })
}

// Delay makes, until Heal, every byte between a and b, both ways and
// whichever of them opened the connection, wait d (a round trip takes
// 2d more).
func (n *Net) Delay(a, b string, d time.Duration) {
	n.between([]string{a}, []string{b}, func(f Faults) { f.Delay(d) })
}

// Reset closes every connection between a and b now, whichever opened
// it, with a TCP reset, as a crashed peer's kernel or a middlebox would.
func (n *Net) Reset(a, b string) { n.between([]string{a}, []string{b}, Faults.Reset) }

// Heal lifts every fault of every proxy.
func (n *Net) Heal() {
	n.mu.Lock()
	ps := make([]*Proxy, 0, len(n.proxies))
	for _, p := range n.proxies {
		ps = append(ps, p)
	}
	n.mu.Unlock()
	for _, p := range ps {
		p.Heal()
	}
}

// others are the nodes with a proxy but node.
func (n *Net) others(node string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s []string
	for e := range n.proxies {
		if e.Node != node && !slices.Contains(s, e.Node) {
			s = append(s, e.Node)
		}
	}
	return s
}

// Close closes every proxy and waits for their goroutines.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.closed = true
	ps := n.proxies
	n.proxies = nil
	n.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
