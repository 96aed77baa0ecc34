package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/internal/faultproxy"
)

// Network faults (Config.Faults): every listener a node is dialled on
// has a fault proxy in front of it, on the node's own address, and every
// node is told the proxies' addresses:
//
//	node N on 127.0.0.(N+1)       what is dialled (Node)      what is bound (serve flags)
//	  Kafka listener              Addr            (proxy) -> --listen
//	  etcd peer (voter entry)     ControllerAddr  (proxy) -> --controller-listen
//	  etcd client (entry port+1)  ControllerAddr+1 (proxy) -> --controller.client.listener
//
// Node N advertises Addr (--advertise) and the voters list names every
// ControllerAddr, so every connection between nodes, and every client's
// connection, goes through the proxy of the node it reaches. With
// --inter.broker.source.bind.enable every node dials from its own
// address, which names it to the proxy; what a node still dials from the
// kernel's default source 127.0.0.1 (an embedded etcd member's peer
// traffic: etcd binds a member's local address only when it is not
// loopback) is named by the process that holds the dialling socket
// (faultproxy.SocketOwner); anything else is a client (ClientSource).
// Faults are then set per ordered pair of sources and nodes (faultproxy's
// package comment), and the Cluster's methods below name nodes by id.
//
// The harness's own probes (readiness, Metadata, DescribeCluster, the
// controller and leader lookups) dial each node's bound address, around
// its proxy: they observe the cluster and must not be held by a fault
// they observe. Its clients (Client, Admin, CreateTopic, the producers
// and consumers on Seeds) go through the proxies, as clients.
//
// The proxies live as long as the Cluster, on the same addresses, across
// restarts; while a node's process is not running its proxies refuse
// connections (faultproxy.Proxy.Refuse), as its own listeners would, so
// a dead broker is told from a partitioned one as it is without them.

// The listeners of a node in the Net, and the source name of clients.
const (
	ListenerKafka      = "kafka"
	ListenerEtcdPeer   = "etcd-peer"
	ListenerEtcdClient = "etcd-client"
	// ClientSource names every connection that comes from no node: the
	// test's clients.
	ClientSource = "client"
)

// ErrNoFaults is returned by the fault methods of a Cluster started
// without Config.Faults.
var ErrNoFaults = errors.New("clustertest: the cluster runs without fault proxies (Config.Faults)")

// NodeName is node id's name in the Net (faultproxy's node and source
// names): "n1", "n2", ...
func NodeName(id int) string { return "n" + strconv.Itoa(id) }

// nodeBind are the addresses a node binds when proxies stand in front of
// its listeners.
type nodeBind struct {
	kafka            string
	controller       string // "" without a quorum
	controllerClient string // "" without a quorum
}

// startNet picks every node's bound ports and starts its proxies.
func (c *Cluster) startNet() error {
	hosts := make(map[string]string, len(c.Nodes))
	for _, n := range c.Nodes {
		hosts[n.Host] = NodeName(n.ID)
	}
	byHost := faultproxy.ByHost(hosts, "")
	c.net = faultproxy.NewNet(func(remote, local net.Addr) string {
		if name := byHost(remote, local); name != "" {
			return name
		}
		if id := c.socketOwner(remote, local); id != 0 {
			return NodeName(id)
		}
		return ClientSource
	})
	for _, n := range c.Nodes {
		b, err := pickBind(c, n)
		if err != nil {
			return err
		}
		n.bind = b
		add := func(listener, listen, target string) error {
			_, err := c.net.Add(NodeName(n.ID), listener, listen, target)
			return err
		}
		if err := add(ListenerKafka, n.Addr, b.kafka); err != nil {
			return err
		}
		if !c.cfg.Quorum {
			continue
		}
		if err := add(ListenerEtcdPeer, n.ControllerAddr, b.controller); err != nil {
			return err
		}
		if err := add(ListenerEtcdClient, clientAddr(n.ControllerAddr), b.controllerClient); err != nil {
			return err
		}
	}
	return nil
}

// clientAddr is the etcd client address brokers dial for a voter entry:
// its port + 1.
func clientAddr(controller string) string {
	host, port, _ := net.SplitHostPort(controller)
	p, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

// pickBind picks the ports node n binds behind its proxies: free now
// (the proxies' own are taken by then, or about to be) and none of the
// node's other ports.
func pickBind(c *Cluster, n *Node) (*nodeBind, error) {
	var taken []int
	for _, a := range []string{n.Addr, n.MetricsAddr, n.ControllerAddr} {
		if _, p, err := net.SplitHostPort(a); err == nil {
			port, _ := strconv.Atoi(p)
			taken = append(taken, port, port+1)
		}
	}
	for range portTries {
		ports, err := pickPorts(c.cfg.Rand, n.Host)
		if err != nil {
			return nil, err
		}
		if slices.Contains(taken, ports.kafka) || slices.Contains(taken, ports.controller) || slices.Contains(taken, ports.controller+1) {
			continue
		}
		b := &nodeBind{kafka: net.JoinHostPort(n.Host, strconv.Itoa(ports.kafka))}
		if c.cfg.Quorum {
			b.controller = net.JoinHostPort(n.Host, strconv.Itoa(ports.controller))
			b.controllerClient = net.JoinHostPort(n.Host, strconv.Itoa(ports.controller+1))
		}
		return b, nil
	}
	return nil, fmt.Errorf("clustertest: no free ports for node %d's listeners behind its proxies after %d tries", n.ID, portTries)
}

// socketOwner is the node whose process holds the dialling end of a
// connection a proxy accepted; 0 when none does.
func (c *Cluster) socketOwner(remote, local net.Addr) int {
	byPID := make(map[int]int, len(c.Nodes))
	pids := make([]int, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		if pid := n.PID(); pid != 0 && n.Running() {
			byPID[pid] = n.ID
			pids = append(pids, pid)
		}
	}
	return byPID[faultproxy.SocketOwner(remote, local, pids)]
}

// bindArgs are the serve flags of a node behind proxies, beside --listen
// and --controller-listen (args passes the bound addresses there).
func (n *Node) bindArgs() []string {
	if n.bind == nil {
		return nil
	}
	a := []string{"--advertise", n.Addr}
	if n.c.cfg.Quorum {
		a = append(a, "--controller.client.listener", n.bind.controllerClient,
			"--inter.broker.source.bind.enable", "true")
	}
	return a
}

// listenAddr is the Kafka address node n binds: Addr, or the one behind
// its proxy.
func (n *Node) listenAddr() string {
	if n.bind != nil {
		return n.bind.kafka
	}
	return n.Addr
}

// controllerListen is the etcd peer address node n binds.
func (n *Node) controllerListen() string {
	if n.bind != nil {
		return n.bind.controller
	}
	return n.ControllerAddr
}

// direct are the client options that reach node n alone, at its bound
// address, around its proxy: every broker the client learns of is dialled
// there too, so a request meant for n never goes elsewhere.
func (n *Node) direct() []kgo.Opt {
	addr := n.listenAddr()
	var d net.Dialer
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}),
	}
}

// proxies are node n's proxies (none without Faults).
func (n *Node) proxies() []*faultproxy.Proxy {
	c := n.c
	if c.net == nil {
		return nil
	}
	var ps []*faultproxy.Proxy
	for _, l := range []string{ListenerKafka, ListenerEtcdPeer, ListenerEtcdClient} {
		if p := c.net.Proxy(NodeName(n.ID), l); p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// netUp makes node n's proxies listen, before its process starts.
func (n *Node) netUp() error {
	for _, p := range n.proxies() {
		if err := p.Reopen(); err != nil {
			return fmt.Errorf("clustertest: node %d: %w", n.ID, err)
		}
	}
	return nil
}

// netDown makes node n's proxies refuse new connections, once its
// process has exited.
func (n *Node) netDown() {
	for _, p := range n.proxies() {
		p.Refuse()
	}
}

// closeNet closes every proxy, once every node is killed.
func (c *Cluster) closeNet() {
	if c.net != nil {
		if err := c.net.Close(); err != nil && !errors.Is(err, faultproxy.ErrClosed) {
			c.t.Logf("clustertest: closing the proxies: %v", err)
		}
	}
}

// Net is the fault proxies (nil without Config.Faults), for faults the
// methods below do not name: nodes are NodeName(id), clients
// ClientSource.
func (c *Cluster) Net() *faultproxy.Net { return c.net }

// names checks ids and returns their Net names.
func (c *Cluster) names(ids ...int) ([]string, error) {
	if c.net == nil {
		return nil, ErrNoFaults
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		if _, err := c.Node(id); err != nil {
			return nil, err
		}
		s[i] = NodeName(id)
	}
	return s, nil
}

// Partition holds, until Heal, every connection between a node of a and
// a node of b (broker to broker, broker to etcd, etcd peers), whichever
// opened it; clients still reach every node.
func (c *Cluster) Partition(a, b []int) error {
	as, err := c.names(a...)
	if err != nil {
		return err
	}
	bs, err := c.names(b...)
	if err != nil {
		return err
	}
	c.net.Partition(as, bs)
	return nil
}

// Isolate partitions node id from every other node, until Heal; clients
// still reach it (to cut them too, c.Net().Isolate(NodeName(id))).
func (c *Cluster) Isolate(id int) error {
	var others []int
	for _, n := range c.Nodes {
		if n.ID != id {
			others = append(others, n.ID)
		}
	}
	if _, err := c.names(id); err != nil {
		return err
	}
	return c.Partition([]int{id}, others)
}

// Freeze pauses, until Heal, every connection node id is part of, the
// clients' included, as if its process were stopped but seen only
// through the network: the process runs on, its clocks and timers too.
func (c *Cluster) Freeze(id int) error {
	s, err := c.names(id)
	if err != nil {
		return err
	}
	c.net.Freeze(s[0])
	return nil
}

// CutOneWay stops, until Heal, the bytes node from sends to node to;
// to's bytes still reach from.
func (c *Cluster) CutOneWay(from, to int) error {
	s, err := c.names(from, to)
	if err != nil {
		return err
	}
	c.net.CutOneWay(s[0], s[1])
	return nil
}

// Delay makes every byte between nodes a and b wait d, each way, until
// Heal.
func (c *Cluster) Delay(a, b int, d time.Duration) error {
	s, err := c.names(a, b)
	if err != nil {
		return err
	}
	c.net.Delay(s[0], s[1], d)
	return nil
}

// Heal lifts every network fault.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.Heal()
	return nil
}
