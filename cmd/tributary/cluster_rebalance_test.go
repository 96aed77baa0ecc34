package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testnet"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// cliClusterNode is one broker of an in-process cluster for the CLI's
// tests: brokers 1-3 are the etcd voters, on 127.0.0.2-4; others join
// as brokers only, on 127.0.0.<id+1>.
type cliClusterNode struct {
	id   int32
	addr string // Kafka listener
	srv  *server.Server
	mgr  *tlog.Manager
}

type cliCluster struct {
	t      *testing.T
	voters []server.Voter
	ctrl   map[int32]string
	mu     sync.Mutex // guards nodes while the voters start at once
	nodes  map[int32]*cliClusterNode
	// configure, when set, adjusts a node's cluster settings before it
	// starts.
	configure func(id int32, cc *server.ClusterConfig)
}

// startCLICluster starts the three voters at once and waits until each
// is in the cluster; everything stops at the end of the test. configure,
// if given, adjusts each node's settings, joined ones too.
func startCLICluster(t *testing.T, configure ...func(id int32, cc *server.ClusterConfig)) *cliCluster {
	t.Helper()
	c := &cliCluster{t: t, ctrl: map[int32]string{}, nodes: map[int32]*cliClusterNode{}}
	if len(configure) > 0 {
		c.configure = configure[0]
	}
	for id := int32(1); id <= 3; id++ {
		host := fmt.Sprintf("127.0.0.%d", id+1)
		port := testnet.FreePortPair(t, host)
		c.voters = append(c.voters, server.Voter{ID: id, Host: host, Port: uint16(port)})
		c.ctrl[id] = net.JoinHostPort(host, strconv.Itoa(port))
	}
	t.Cleanup(func() {
		// All at once: one by one, the last voters each wait out their
		// controlled shutdown with the quorum already gone.
		var wg sync.WaitGroup
		for _, n := range c.nodes {
			wg.Go(func() {
				n.srv.Close()
				n.mgr.Close()
			})
		}
		wg.Wait()
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.start(int32(i + 1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	c.waitBrokers(3)
	return c
}

// start starts broker id (a voter if it is one of 1-3).
func (c *cliCluster) start(id int32) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var srv *server.Server
	mgr, err := tlog.OpenManager(c.t.TempDir(), tlog.Options{Logger: logger, ReplicatedLeadership: true,
		ProducerIDBlocks: func() (int64, int64, error) { return srv.ProducerIDBlock() }})
	if err != nil {
		return err
	}
	cc := server.DefaultClusterConfig()
	cc.NodeID = id
	cc.Voters = c.voters
	cc.ControllerListen = c.ctrl[id]
	cc.SessionTimeout = 3 * time.Second
	cc.HeartbeatInterval = time.Second
	cc.ReplicaFetchWaitMax = 100 * time.Millisecond
	if c.configure != nil {
		c.configure(id, &cc)
	}
	cfg := server.DefaultConfig()
	cfg.Cluster = &server.ClusterOptions{Config: cc, UnsafeNoFsync: true, StartTimeout: 30 * time.Second}
	if srv, err = server.New(mgr, cfg, logger); err != nil {
		mgr.Close()
		return err
	}
	host := fmt.Sprintf("127.0.0.%d", id+1)
	addr, err := srv.ListenOn(server.Listener{Name: server.DefaultListenerName, Protocol: auth.Plaintext, Addr: net.JoinHostPort(host, "0")})
	if err == nil {
		err = srv.StartCluster(context.Background())
	}
	if err != nil {
		srv.Close()
		mgr.Close()
		return err
	}
	c.mu.Lock()
	c.nodes[id] = &cliClusterNode{id: id, addr: addr.String(), srv: srv, mgr: mgr}
	c.mu.Unlock()
	return nil
}

// join starts broker id, not a voter, and waits until every broker is
// in the cluster.
func (c *cliCluster) join(id int32) {
	c.t.Helper()
	if err := c.start(id); err != nil {
		c.t.Fatalf("node %d: %v", id, err)
	}
	c.waitBrokers(len(c.nodes))
}

func (c *cliCluster) admin() *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitBrokers waits until every node's own metadata shows n brokers:
// CreateTopics goes to the controller, whose copy of the metadata may
// trail node 1's by a watch event, and places replicas over the brokers
// that copy holds.
func (c *cliCluster) waitBrokers(n int) {
	c.t.Helper()
	for _, node := range c.nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(node.addr))
		if err != nil {
			c.t.Fatal(err)
		}
		seed := cl.SeedBrokers()[0]
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, seed)
			cancel()
			if err == nil && len(m.Brokers) == n {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				c.t.Fatalf("node %d's metadata shows no %d brokers within 20 s: %+v %v", node.id, n, m, err)
			}
		}
		cl.Close()
	}
}

func (c *cliCluster) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, "", append([]string{"--brokers", c.nodes[1].addr}, args...)...)
}

func (c *cliCluster) must(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("tributary %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// assignmentOf is every partition's replicas, as Metadata gives them
// (uncached: readAssignment's).
func (c *cliCluster) assignmentOf(t *testing.T) map[cluster.TopicPartition][]int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, parts, err := readAssignment(ctx, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cluster.Assignments(parts)
}

// TestClusterRebalanceAndDecommissionPlanOnALiveCluster: three brokers
// hold a topic of rf 3; a fourth joins. cluster rebalance proposes
// moving exactly the two replicas that even the counts out (9 over 4:
// 3,2,2,2), all to broker 4, prints Kafka's reassignment JSON of the
// current and proposed assignment, and without --execute changes
// nothing. cluster decommission proposes replacing exactly the
// broker's replicas, refuses when the others cannot hold a partition's
// replicas, and refuses a broker it does not know.
func TestClusterRebalanceAndDecommissionPlanOnALiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	c := startCLICluster(t)
	adm := c.admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "events"); err != nil {
		t.Fatal(err)
	}
	c.join(4)
	before := c.assignmentOf(t)

	r := c.must(t, "cluster", "rebalance", "--topic", "events", "--output", "json")
	var rep rebalanceReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.ReplicaMoves != 2 || len(rep.Reassignments) < 2 || len(rep.Proposed.Partitions) != len(rep.Reassignments) {
		t.Fatalf("plan %+v, want two replicas moved", rep)
	}
	for _, ra := range rep.Reassignments {
		if add := ra.Adding(); len(add) > 0 && !slices.Equal(add, []int32{4}) {
			t.Errorf("%s-%d: adds %v, want only broker 4", ra.Topic, ra.Partition, add)
		}
		if !slices.Equal(ra.Replicas, before[cluster.TopicPartition{Topic: ra.Topic, Partition: ra.Partition}]) {
			t.Errorf("%s-%d: replicas %v, metadata %v", ra.Topic, ra.Partition, ra.Replicas, before)
		}
	}
	for _, b := range rep.Brokers {
		want := 2
		if b.Replicas == 3 && b.ProposedReplicas == 3 {
			want = 3
		}
		if b.ProposedReplicas != want || b.ProposedPreferredLeader > 1 {
			t.Errorf("broker %+v: want %d replicas and at most one preferred leadership", b, want)
		}
	}

	r = c.must(t, "cluster", "rebalance", "--topic", "events")
	for _, want := range []string{"BROKER", "PROPOSED", "2 replica(s) to copy", "Current partition replica assignment (to roll back)\n{\"version\":1,\"partitions\":[{\"topic\":\"events\"",
		"Proposed partition reassignment configuration\n{\"version\":1,", "\"log_dirs\":[\"any\",\"any\",\"any\"]", "run again with --execute"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	if after := c.assignmentOf(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a plan without --execute changed the assignment: %v, was %v", after, before)
	}

	// Broker 4 holds nothing: nothing to move. Broker 2 holds a replica
	// of each partition: each goes to broker 4, in broker 2's place.
	r = c.must(t, "cluster", "decommission", "4", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Reassignments) != 0 {
		t.Errorf("decommission of an empty broker: %+v %v", rep, err)
	}
	r = c.must(t, "cluster", "decommission", "2", "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Reassignments) != 3 || rep.ReplicaMoves != 3 {
		t.Fatalf("decommission 2: %+v, want each of the 3 partitions to move its replica off 2", rep.Reassignments)
	}
	for _, ra := range rep.Reassignments {
		i := slices.Index(ra.Replicas, 2)
		if i < 0 || ra.Target[i] != 4 || !slices.Equal(ra.Removing(), []int32{2}) {
			t.Errorf("%s-%d: %v -> %v, want 4 in 2's place", ra.Topic, ra.Partition, ra.Replicas, ra.Target)
		}
	}
	for _, b := range rep.Brokers {
		if b.Broker == 2 && (b.ProposedReplicas != 0 || b.ProposedPreferredLeader != 0) {
			t.Errorf("broker 2 after its decommission: %+v", b)
		}
	}

	if _, err := adm.CreateTopic(ctx, 1, 4, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cluster", "decommission", "1"}, 1, "wide-0 has 4 replicas, 3 brokers would remain"},
		{[]string{"cluster", "decommission", "9"}, 1, "unknown broker"},
		{[]string{"cluster", "decommission", "x"}, 2, "want a node.id"},
		{[]string{"cluster", "decommission"}, 2, "accepts 1 arg"},
		{[]string{"cluster", "rebalance", "--topic", "missing"}, 1, "missing"},
	} {
		r := c.run(t, tc.args...)
		if r.code != tc.code {
			t.Errorf("tributary %s: exit %d, want %d\n%s%s", strings.Join(tc.args, " "), r.code, tc.code, r.stdout, r.stderr)
			continue
		}
		checkOneLineError(t, r.stderr, tc.want)
	}
}

// TestClusterRebalanceOnOneBrokerHasNothingToMove: a single broker is
// balanced by definition.
func TestClusterRebalanceOnOneBrokerHasNothingToMove(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "3")
	r := b.must(t, "", "cluster", "rebalance", "--execute")
	if !strings.Contains(r.stdout, "The assignment is balanced: nothing to move.") || strings.Contains(r.stdout, "submitted") {
		t.Errorf("output:\n%s", r.stdout)
	}
	b.fails(t, 1, "unknown broker", "cluster", "decommission", "3")
}
