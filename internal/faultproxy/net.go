package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
)

// Pair names the proxy that carries the connections node From opens to
// node To.
type Pair struct{ From, To string }

func (p Pair) String() string { return p.From + "->" + p.To }

// ErrPairExists is returned by Net.Add for a pair that already has a
// proxy.
var ErrPairExists = errors.New("faultproxy: pair already has a proxy")

// Net owns one Proxy per ordered pair of nodes and injects faults by
// node: which pairs a fault touches is decided here, once. Its methods
// are safe for concurrent use.
type Net struct {
	host string // the host every proxy listens on

	mu      sync.Mutex
	proxies map[Pair]*Proxy // guarded by mu
	closed  bool            // guarded by mu
}

// NewNet returns an empty Net whose proxies listen on host (for example
// "127.0.0.1"), each on a port of its own.
func NewNet(host string) *Net {
	return &Net{host: host, proxies: make(map[Pair]*Proxy)}
}

// Add starts the proxy of pair (from, to), forwarding to target (to's
// real address); node from is then configured with its Addr as to's
// address.
func (n *Net) Add(from, to, target string) (*Proxy, error) {
	pair := Pair{from, to}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.proxies[pair]; ok {
		return nil, fmt.Errorf("faultproxy: add %v: %w", pair, ErrPairExists)
	}
	p, err := New(net.JoinHostPort(n.host, "0"), target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: add %v: %w", pair, err)
	}
	n.proxies[pair] = p
	return p, nil
}

// Proxy is the proxy of pair (from, to), or nil.
func (n *Net) Proxy(from, to string) *Proxy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proxies[Pair{from, to}]
}

// each calls f for every proxy whose pair match selects, outside mu.
func (n *Net) each(match func(Pair) bool, f func(*Proxy)) {
	n.mu.Lock()
	var ps []*Proxy
	for pair, p := range n.proxies {
		if match(pair) {
			ps = append(ps, p)
		}
	}
	n.mu.Unlock()
	for _, p := range ps {
		f(p)
	}
}

// Partition drops every pair between a node of a and a node of b, both
// ways, until Heal; pairs within a set and pairs with other nodes (the
// clients, say) keep flowing.
func (n *Net) Partition(a, b []string) {
	across := func(p Pair) bool {
		return slices.Contains(a, p.From) && slices.Contains(b, p.To) ||
			slices.Contains(b, p.From) && slices.Contains(a, p.To)
	}
	n.each(across, (*Proxy).Drop)
}

// Isolate drops every pair node is part of, until Heal.
func (n *Net) Isolate(node string) {
	n.each(func(p Pair) bool { return p.From == node || p.To == node }, (*Proxy).Drop)
}

// Freeze pauses every pair node is part of, as if its process were
// stopped, until Heal.
func (n *Net) Freeze(node string) {
	n.each(func(p Pair) bool { return p.From == node || p.To == node }, (*Proxy).Freeze)
}

// CutOneWay stops the bytes node from sends to node to, over the
// connections either of them opened, until Heal; to's bytes still reach
// from.
func (n *Net) CutOneWay(from, to string) {
	n.each(func(p Pair) bool { return p == Pair{from, to} }, func(p *Proxy) { p.CutOneWay(Up) })
	n.each(func(p Pair) bool { return p == Pair{to, from} }, func(p *Proxy) { p.CutOneWay(Down) })
}

// Heal lifts every fault of every proxy.
func (n *Net) Heal() {
	n.each(func(Pair) bool { return true }, (*Proxy).Heal)
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
