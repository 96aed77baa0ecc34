package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFaultNodesBindBehindProxiesAndAdvertiseThem(t *testing.T) {
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary", Faults: true})
	var voters []string
	for _, n := range c.Nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ControllerAddr))
	}
	for _, n := range c.Nodes {
		b := n.bind
		want := []string{"serve", "--data-dir", n.DataDir, "--listen", b.kafka, "--metrics-listen", n.MetricsAddr,
			"--node-id", strconv.Itoa(n.ID), "--controller-listen", b.controller,
			"--controller-quorum-voters", strings.Join(voters, ","),
			"--advertise", n.Addr, "--controller.client.listener", b.controllerClient,
			"--inter.broker.source.bind.enable", "true"}
		if got := n.args(); !slices.Equal(got, want) {
			t.Errorf("node %d:\n got %q\nwant %q", n.ID, got, want)
		}
		// One proxy per listener, at the address the others dial, in
		// front of the one the node binds.
		for _, tc := range []struct{ listener, addr, target string }{
			{ListenerKafka, n.Addr, b.kafka},
			{ListenerEtcdPeer, n.ControllerAddr, b.controller},
			{ListenerEtcdClient, clientAddr(n.ControllerAddr), b.controllerClient},
		} {
			p := c.Net().Proxy(NodeName(n.ID), tc.listener)
			if p == nil || p.Addr() != tc.addr || p.Target() != tc.target {
				t.Errorf("node %d %s: proxy %v, want one at %s for %s", n.ID, tc.listener, p, tc.addr, tc.target)
			}
		}
		// Every bound port on the node's address, distinct from the
		// dialled ones, and free.
		ports := map[string]bool{}
		for _, a := range []string{n.Addr, n.MetricsAddr, n.ControllerAddr, clientAddr(n.ControllerAddr), b.kafka, b.controller, b.controllerClient} {
			h, p, err := net.SplitHostPort(a)
			if err != nil || h != n.Host {
				t.Fatalf("node %d: address %s, want host %s", n.ID, a, n.Host)
			}
			ports[p] = true
		}
		if len(ports) != 7 {
			t.Errorf("node %d: ports not distinct: %v", n.ID, ports)
		}
		for _, a := range []string{b.kafka, b.controller, b.controllerClient, n.MetricsAddr} {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Errorf("node %d: %s not free: %v", n.ID, a, err)
				continue
			}
			ln.Close()
		}
	}
}

func TestFaultProxiesNameNodesByTheirAddress(t *testing.T) {
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary", Faults: true})
	p := c.Net().Proxy(NodeName(3), ListenerKafka)
	// Nothing listens behind the proxy: its dial of the target fails and
	// it resets the connection, but it names the source first. Hold the
	// connections with a fault so that they stay to be counted.
	p.Freeze()
	for _, host := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"} {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
		conn, err := d.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
	}
	want := map[string]int{NodeName(1): 1, NodeName(2): 1, ClientSource: 1}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := p.ConnsFrom()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections by source %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFaultMethodsNeedFaultsAndKnownNodes(t *testing.T) {
	_, rng := Seed(t)
	plain := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary"})
	if plain.Net() != nil || plain.Nodes[0].bind != nil {
		t.Fatal("a cluster without Faults has proxies")
	}
	for name, err := range map[string]error{
		"Isolate": plain.Isolate(1), "Partition": plain.Partition([]int{1}, []int{2}), "Freeze": plain.Freeze(1),
		"CutOneWay": plain.CutOneWay(1, 2), "Delay": plain.Delay(1, 2, time.Second), "Heal": plain.Heal(),
	} {
		if !errors.Is(err, ErrNoFaults) {
			t.Errorf("%s without Faults: %v, want ErrNoFaults", name, err)
		}
	}
	c := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary", Faults: true})
	for name, err := range map[string]error{
		"Isolate": c.Isolate(4), "Partition": c.Partition([]int{1}, []int{0}), "Freeze": c.Freeze(-1),
		"CutOneWay": c.CutOneWay(1, 9), "Delay": c.Delay(7, 2, time.Second),
	} {
		if !errors.Is(err, errNoNode) {
			t.Errorf("%s of an unknown node: %v, want errNoNode", name, err)
		}
	}
	if err := c.Heal(); err != nil {
		t.Errorf("Heal: %v", err)
	}
}

// TestFaultsHoldAClientAndHealLetsItThrough runs one broker behind its
// proxy: the client's connections are named as such, a partition between
// the clients and the node holds a produce that Heal then completes,
// while the harness's own probes reach the node around the proxy; a
// killed node's proxy refuses connections as the node's port would, and
// a restarted node is reached at the same address.
func TestFaultsHoldAClientAndHealLetsItThrough(t *testing.T) {
	skipShort(t)
	_, rng := Seed(t)
	c := Start(t, Config{Nodes: 1, Rand: rng, Args: singleArgs, Faults: true})
	n := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.CreateTopic(ctx, "net", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(kgo.DefaultProduceTopic("net"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatalf("produce through the proxy: %v", err)
	}
	p := c.Net().Proxy(NodeName(1), ListenerKafka)
	if got := p.ConnsFrom(); got[ClientSource] == 0 || len(got) != 1 {
		t.Errorf("connections by source %v, want the clients' only", got)
	}

	c.Net().Partition([]string{ClientSource}, []string{NodeName(1)})
	done := make(chan error, 1)
	go func() { done <- cl.ProduceSync(ctx, kgo.StringRecord("during")).FirstErr() }()
	select {
	case err := <-done:
		t.Fatalf("a produce across the partition ended (err %v); want it held", err)
	case <-time.After(time.Second):
	}
	if !answers(n, 5*time.Second) {
		t.Error("the harness's probe is held by a fault between the clients and the node")
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the held produce after Heal: %v", err)
	}

	if err := c.Kill9(1); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", n.Addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("a dial of a killed node's proxy: %v, want ECONNREFUSED", err)
	}
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatalf("produce after a restart: %v", err)
	}
	ends, err := c.EndOffsets(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	if ends[0] != 3 {
		t.Errorf("end offset %d after three produces, want 3", ends[0])
	}
}
