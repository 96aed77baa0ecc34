package clustertest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestQuorumNodesGetTheServeLineOfIssue14(t *testing.T) {
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary", Args: []string{"--min.insync.replicas", "2"}})
	var voters []string
	for _, n := range c.Nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ControllerAddr))
	}
	for _, n := range c.Nodes {
		host := fmt.Sprintf("127.0.0.%d", n.ID+1)
		want := []string{"serve", "--data-dir", n.DataDir, "--listen", n.Addr, "--metrics-listen", n.MetricsAddr,
			"--node-id", strconv.Itoa(n.ID), "--controller-listen", n.ControllerAddr,
			"--controller-quorum-voters", strings.Join(voters, ","), "--min.insync.replicas", "2"}
		if got := n.args(); !slices.Equal(got, want) {
			t.Errorf("node %d:\n got %q\nwant %q", n.ID, got, want)
		}
		// Every port on the node's own address, distinct, the etcd client
		// port (controller + 1) included, and free now.
		ports := map[string]bool{}
		for _, a := range []string{n.Addr, n.MetricsAddr, n.ControllerAddr} {
			h, p, err := net.SplitHostPort(a)
			if err != nil || h != host {
				t.Fatalf("node %d: address %s, want host %s", n.ID, a, host)
			}
			ports[p] = true
		}
		_, cp, _ := net.SplitHostPort(n.ControllerAddr)
		cport, _ := strconv.Atoi(cp)
		ports[strconv.Itoa(cport+1)] = true
		if len(ports) != 4 {
			t.Errorf("node %d: ports not distinct: %v", n.ID, ports)
		}
		for p := range ports {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, p))
			if err != nil {
				t.Errorf("node %d: port %s not free: %v", n.ID, p, err)
				continue
			}
			ln.Close()
		}
	}
}

func TestSingleNodeHasNoClusterFlags(t *testing.T) {
	_, rng := Seed(t)
	c := newCluster(t, Config{Rand: rng, Bin: "tributary"})
	n := c.Nodes[0]
	want := []string{"serve", "--data-dir", n.DataDir, "--listen", n.Addr, "--metrics-listen", n.MetricsAddr}
	if got := n.args(); !slices.Equal(got, want) || n.ControllerAddr != "" || len(c.Nodes) != 1 {
		t.Fatalf("single node: %q, controller %q", got, n.ControllerAddr)
	}
}
