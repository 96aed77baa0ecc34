package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/internal/testnet"
	tlog "github.com/tributary-io/tributary/log"
)

// clusterTestNode is one broker of an in-process cluster: its own data dir
// and loopback address (127.0.0.2, .3, .4), an embedded etcd voter.
type clusterTestNode struct {
	t    *testing.T
	id   int32
	host string
	dir  string
	ctrl string // controller (etcd peer) address; its port + 1 serves etcd clients
	addr string // Kafka listener
	// store, when set, is the node's metadata.store (an external etcd:
	// here a voter's client address); else a node without ctrl joins by
	// naming the voters.
	store string
	// listener, when set, is the node's one listener (its Addr's port
	// 0); else PLAINTEXT on host. opts are what a client of it needs.
	listener *Listener
	opts     []kgo.Opt
	// interBroker is how the node's fetchers dial the others' listener
	// (the security opts gives a client).
	interBroker InterBrokerClient
	// joinDelay, when set, is how long the node listens before it starts
	// joining the cluster (a quorum slow to answer).
	joinDelay time.Duration
	// joinStarted, when set, is told the listener's address once the
	// node listens, before it joins.
	joinStarted func(addr string)
	mgr         *tlog.Manager
	srv         *Server
}

type testCluster struct {
	t      *testing.T
	voters []Voter
	nodes  []*clusterTestNode
	// configure, when set, adjusts each node's Config before it starts.
	configure func(*clusterTestNode, *Config)
}

// freeControllerAddr is a free port on host whose next port is free too.
func freeControllerAddr(t *testing.T, host string) string {
	t.Helper()
	return net.JoinHostPort(host, strconv.Itoa(testnet.FreePortPair(t, host)))
}

// startTestCluster starts three voters at once (a quorum forms only once
// a majority runs) and waits until each sees all three brokers.
func startTestCluster(t *testing.T) *testCluster {
	t.Helper()
	return startTestClusterWith(t, nil)
}

// startTestClusterWith is startTestCluster with each node's Config
// adjusted by configure (nil: none), at every start.
func startTestClusterWith(t *testing.T, configure func(*clusterTestNode, *Config)) *testCluster {
	t.Helper()
	return startTestClusterPrepared(t, configure, nil)
}

// startTestClusterPrepared is startTestClusterWith with each node
// adjusted by prepare (nil: none) before its first start: its data dir
// or listener, say.
func startTestClusterPrepared(t *testing.T, configure func(*clusterTestNode, *Config), prepare func(*clusterTestNode)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, configure: configure}
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+2)
		n := &clusterTestNode{t: t, id: int32(i + 1), host: host, dir: t.TempDir(), ctrl: freeControllerAddr(t, host)}
		if prepare != nil {
			prepare(n)
		}
		h, p, _ := net.SplitHostPort(n.ctrl)
		port, _ := strconv.Atoi(p)
		tc.voters = append(tc.voters, Voter{ID: n.id, Host: h, Port: uint16(port)})
		tc.nodes = append(tc.nodes, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tc.nodes))
	for i, n := range tc.nodes {
		wg.Go(func() { errs[i] = tc.start(n) })
	}
	wg.Wait()
	// Stop the nodes that did start even when another failed to.
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			n.stop(false)
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", tc.nodes[i].id, err)
		}
	}
	for _, n := range tc.nodes {
		tc.waitFor(n, "3 brokers and a controller", func(m *kmsg.MetadataResponse) bool {
			return len(m.Brokers) == 3 && m.ControllerID >= 1
		})
	}
	return tc
}

// start opens n's data dir and joins it to the cluster.
func (tc *testCluster) start(n *clusterTestNode) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{n.t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", n.id)
	}
	var srv *Server // the Manager's producer ID blocks come through it once built
	mgr, err := tlog.OpenManager(n.dir, tlog.Options{Logger: logger, ReplicatedLeadership: true,
		ProducerIDBlocks: func() (int64, int64, error) { return srv.ProducerIDBlock() }})
	if err != nil {
		return err
	}
	cc := DefaultClusterConfig()
	cc.NodeID = n.id
	if n.store != "" {
		u, err := ParseMetadataStore(n.store)
		if err != nil {
			return err
		}
		cc.MetadataStoreURL, cc.MetadataStore = u, u.HostPorts()
	} else {
		cc.Voters = tc.voters
		cc.ControllerListen = n.ctrl
	}
	cc.SessionTimeout = 3 * time.Second
	cc.HeartbeatInterval = time.Second
	cc.ReplicaFetchWaitMax = 100 * time.Millisecond
	cfg := DefaultConfig()
	cfg.Cluster = &ClusterOptions{Config: cc, UnsafeNoFsync: true, StartTimeout: 30 * time.Second,
		Security: ClusterSecurity{InterBroker: n.opts, InterBrokerConn: n.interBroker}}
	if tc.configure != nil {
		tc.configure(n, &cfg)
	}
	srv, err = New(mgr, cfg, logger)
	if err != nil {
		mgr.Close()
		return err
	}
	l := Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: net.JoinHostPort(n.host, "0")}
	if n.listener != nil {
		l = *n.listener
	}
	addr, err := srv.ListenOn(l)
	if err != nil {
		srv.Close()
		mgr.Close()
		return err
	}
	if n.joinStarted != nil {
		n.joinStarted(addr.String())
	}
	time.Sleep(n.joinDelay)
	if err := srv.StartCluster(context.Background()); err != nil {
		srv.Close()
		mgr.Close()
		return err
	}
	n.addr, n.mgr, n.srv = addr.String(), mgr, srv
	return nil
}

// stop closes n: abrupt skips the controlled shutdown, as a killed
// broker's would be skipped (its registration still ends at once).
func (n *clusterTestNode) stop(abrupt bool) {
	if n.srv == nil {
		return
	}
	if abrupt {
		n.srv.node.abrupt.Store(true)
	}
	n.srv.Close()
	if err := n.mgr.Close(); err != nil {
		n.t.Errorf("node %d: manager close: %v", n.id, err)
	}
	n.srv, n.mgr = nil, nil
}

// metadata asks n itself (not any broker) for the metadata of every topic.
func (n *clusterTestNode) metadata(ctx context.Context) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.addr)}, n.opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	return resp, err
}

// waitFor polls n's Metadata until ok holds, for at most 15 s.
func (tc *testCluster) waitFor(n *clusterTestNode, what string, ok func(*kmsg.MetadataResponse) bool) *kmsg.MetadataResponse {
	tc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *kmsg.MetadataResponse
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		m, err := n.metadata(ctx)
		cancel()
		if err == nil && ok(m) {
			return m
		}
		last, lastErr = m, err
		time.Sleep(100 * time.Millisecond)
	}
	tc.t.Fatalf("node %d: no %s within 15 s; last metadata %s, err %v", n.id, what, describeMetadata(last), lastErr)
	return nil
}

// waitLocal polls n's log.Manager until ok holds, for at most 10 s.
func (tc *testCluster) waitLocal(n *clusterTestNode, what string, ok func(*tlog.Manager) bool) {
	tc.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(n.mgr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tc.t.Fatalf("node %d: no %s in its logs within 10 s", n.id, what)
		}
	}
}

func (tc *testCluster) node(id int32) *clusterTestNode { return tc.nodes[id-1] }

// describeMetadata is a Metadata answer's brokers and partitions, for
// comparing answers and for failures.
func describeMetadata(m *kmsg.MetadataResponse) string {
	if m == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %v controller %d brokers", deref(m.ClusterID), m.ControllerID)
	for _, br := range m.Brokers {
		fmt.Fprintf(&b, " %d@%s:%d", br.NodeID, br.Host, br.Port)
	}
	topics := slices.Clone(m.Topics)
	slices.SortFunc(topics, func(a, b kmsg.MetadataResponseTopic) int { return strings.Compare(deref(a.Topic), deref(b.Topic)) })
	for _, t := range topics {
		fmt.Fprintf(&b, "; %s %x:", deref(t.Topic), t.TopicID)
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, " p%d leader %d epoch %d replicas %v isr %v offline %v err %d",
				p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.OfflineReplicas, p.ErrorCode)
		}
	}
	return b.String()
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func topicOf(m *kmsg.MetadataResponse, name string) (kmsg.MetadataResponseTopic, bool) {
	for _, t := range m.Topics {
		if deref(t.Topic) == name {
			return t, true
		}
	}
	return kmsg.MetadataResponseTopic{}, false
}

func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestClusterThreeNodesInProcess: three brokers in one process, each its
// own data dir, address and embedded etcd voter, hand out distinct
// producer ids. A topic created with
// RF=3 through one broker is placed with leaders spread, every broker
// answers the same Metadata (ISR = replicas, epoch 0) and holds the
// topic's log under the cluster's topic ID; topic configs altered through
// one broker reach every broker's log, and so do topics grown and
// deleted through any broker; every broker names the leader
// of a group's __consumer_offsets partition its coordinator (the topic
// created in the cluster with RF 3); a controlled shutdown moves
// a broker's leaderships away before it stops; the broker restarts into
// the same cluster and a preferred election refuses a replica out of
// the ISR; a broker closed without controlled shutdown has its
// partitions led by another ISR member at a higher epoch within seconds;
// a fenced broker registers again under a new epoch.
func TestClusterThreeNodesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	ctx := testContext(t)

	// DescribeQuorum reads the etcd quorum through the node's client.
	dq := kmsg.NewPtrDescribeQuorumRequest()
	dt := kmsg.NewDescribeQuorumRequestTopic()
	dt.Topic = "__cluster_metadata"
	dt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	dq.Topics = append(dq.Topics, dt)
	dqr, err := dq.RequestWith(ctx, mustClient(t, tc.node(1).addr))
	if err != nil || dqr.ErrorCode != 0 || len(dqr.Topics) != 1 || len(dqr.Topics[0].Partitions) != 1 ||
		len(dqr.Topics[0].Partitions[0].CurrentVoters) != 3 {
		t.Errorf("describe quorum: %+v, %v; want three voters", dqr, err)
	}

	// Producer ids are unique across brokers: an idempotent producer's
	// id names its sequence stream on every partition leader.
	pids := map[int64]int32{}
	for _, n := range tc.nodes {
		for range 2 {
			ip := kmsg.NewPtrInitProducerIDRequest()
			ip.TransactionTimeoutMillis = 60000
			r, err := ip.RequestWith(ctx, mustClient(t, n.addr).SeedBrokers()[0])
			if err != nil || r.ErrorCode != 0 {
				t.Fatalf("node %d: init producer id: %v %v", n.id, err, kerr.ErrorForCode(r.ErrorCode))
			}
			if other, dup := pids[r.ProducerID]; dup {
				t.Errorf("producer id %d handed out by nodes %d and %d", r.ProducerID, other, n.id)
			}
			pids[r.ProducerID] = n.id
		}
	}

	// Create through node 2, with RF=3.
	adm := kadm.NewClient(mustClient(t, tc.node(2).addr))
	resp, err := adm.CreateTopic(ctx, 3, 3, nil, "rf3")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	// RF above the live broker count.
	if resp, err := adm.CreateTopic(ctx, 1, 4, nil, "rf4"); !errors.Is(err, kerr.InvalidReplicationFactor) || !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("RF 4 on three brokers: %v %v, want INVALID_REPLICATION_FACTOR", err, resp.Err)
	}

	settled := func(m *kmsg.MetadataResponse) bool {
		tp, ok := topicOf(m, "rf3")
		if !ok || len(tp.Partitions) != 3 {
			return false
		}
		for _, p := range tp.Partitions {
			if p.Leader < 1 || len(p.Replicas) != 3 {
				return false
			}
		}
		return len(m.Brokers) == 3
	}
	var answers []string
	var first *kmsg.MetadataResponse
	for _, n := range tc.nodes {
		m := tc.waitFor(n, "rf3 with three replicas", settled)
		answers = append(answers, describeMetadata(m))
		if first == nil {
			first = m
		}
	}
	for i := 1; i < len(answers); i++ {
		if answers[i] != answers[0] {
			t.Errorf("node %d's metadata differs from node 1's:\n%s\n%s", i+1, answers[i], answers[0])
		}
	}
	tp, _ := topicOf(first, "rf3")
	leaders := map[int32]bool{}
	for _, p := range tp.Partitions {
		leaders[p.Leader] = true
		if !sameSet(p.ISR, p.Replicas) || p.LeaderEpoch != 0 || len(p.OfflineReplicas) != 0 {
			t.Errorf("partition %d: %+v, want ISR = replicas, epoch 0, none offline", p.Partition, p)
		}
	}
	if len(leaders) != 3 {
		t.Errorf("leaders %v, want the three partitions led by three brokers", leaders)
	}
	if deref(first.ClusterID) == "" || deref(first.ClusterID) == DefaultConfig().ClusterID {
		t.Errorf("cluster id %q, want the cluster's own", deref(first.ClusterID))
	}
	for _, n := range tc.nodes {
		// The reconciler creates the log once the snapshot shows the topic.
		var lt *tlog.Topic
		var ok bool
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if lt, ok = n.mgr.Topic("rf3"); ok {
				break
			}
		}
		if !ok || [16]byte(lt.ID) != tp.TopicID || len(lt.Partitions) != 3 {
			t.Errorf("node %d: local topic %+v %v, want id %x with 3 partitions", n.id, lt, ok, tp.TopicID)
		}
		b, err := os.ReadFile(filepath.Join(n.dir, "meta", clusterIDFile))
		if err != nil || strings.TrimSpace(string(b)) != deref(first.ClusterID) {
			t.Errorf("node %d: meta/cluster-id %q %v, want %q", n.id, b, err, deref(first.ClusterID))
		}
	}

	// A topic grown through node 1 and one deleted through node 3: every
	// broker's logs follow.
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "gone"); err != nil {
		t.Fatalf("create gone: %v", err)
	}
	// Metadata reaches each broker through its own watch: kadm asks node
	// 1 for the topic's partition count first, so node 1 must know it.
	tc.waitLocal(tc.node(1), "gone", func(m *tlog.Manager) bool {
		_, ok := m.Topic("gone")
		return ok
	})
	if r, err := kadm.NewClient(mustClient(t, tc.node(1).addr)).CreatePartitions(ctx, 2, "gone"); err != nil || r["gone"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, r["gone"].Err)
	}
	for _, n := range tc.nodes {
		tc.waitLocal(n, "gone with 3 partitions", func(m *tlog.Manager) bool {
			lt, ok := m.Topic("gone")
			return ok && len(lt.Partitions) == 3
		})
	}
	if r, err := kadm.NewClient(mustClient(t, tc.node(3).addr)).DeleteTopics(ctx, "gone"); err != nil || r["gone"].Err != nil {
		t.Fatalf("delete topic: %v %v", err, r["gone"].Err)
	}
	for _, n := range tc.nodes {
		tc.waitLocal(n, "gone deleted", func(m *tlog.Manager) bool {
			_, ok := m.Topic("gone")
			return !ok
		})
		tc.waitFor(n, "gone out of the metadata", func(m *kmsg.MetadataResponse) bool {
			_, ok := topicOf(m, "gone")
			return !ok
		})
	}

	// Topic configs altered through node 3 land in the metadata: every
	// broker's log takes them (min.insync.replicas stays in the metadata,
	// for the replication layer).
	alt, err := kadm.NewClient(mustClient(t, tc.node(3).addr)).AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("123456")},
		{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("2")},
	}, "rf3")
	if err == nil {
		_, err = alt.On("rf3", nil)
	}
	if err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	for _, n := range tc.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			lt, _ := n.mgr.Topic("rf3")
			cfgs := n.srv.node.snapshot().Topics["rf3"].Configs
			if lt != nil && lt.Overrides["retention.ms"] == "123456" && cfgs["min.insync.replicas"] == "2" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: local overrides %v, metadata configs %v after the alteration", n.id, lt.Overrides, cfgs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	dc, err := kadm.NewClient(mustClient(t, tc.node(1).addr)).DescribeTopicConfigs(ctx, "rf3")
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := dc.On("rf3", nil); err != nil {
		t.Fatal(err)
	} else {
		got := map[string]string{}
		for _, c := range rc.Configs {
			got[c.Key] = c.MaybeValue()
		}
		if got["min.insync.replicas"] != "2" || got["retention.ms"] != "123456" {
			t.Errorf("described configs min.insync.replicas=%q retention.ms=%q, want 2 and 123456", got["min.insync.replicas"], got["retention.ms"])
		}
	}

	// FindCoordinator: every broker names the leader of the group's
	// __consumer_offsets partition, created on the first lookup.
	const group = "g1"
	var coordinators []int32
	for _, n := range tc.nodes {
		coordinators = append(coordinators, findCoordinator(t, ctx, n, group))
	}
	om := tc.waitFor(tc.node(1), "__consumer_offsets led", func(m *kmsg.MetadataResponse) bool {
		ot, ok := topicOf(m, "__consumer_offsets")
		return ok && len(ot.Partitions) > 0 && ot.Partitions[0].Leader >= 1
	})
	ot, _ := topicOf(om, "__consumer_offsets")
	want := ot.Partitions[tc.node(1).srv.groups.PartitionFor(group)].Leader
	for i, c := range coordinators {
		if c != want || !ot.IsInternal || len(ot.Partitions[0].Replicas) != 3 {
			t.Errorf("node %d: coordinator of %s is %d, want %d, the leader of its partition of %s", i+1, group, c, want, describeMetadata(om))
		}
	}

	// Controlled shutdown of the leader of partition 0: once Close returns,
	// the others already show the partition led elsewhere.
	p0 := tp.Partitions[0]
	victim := tc.node(p0.Leader)
	victim.stop(false)
	var other *clusterTestNode
	for _, n := range tc.nodes {
		if n != victim {
			other = n
			break
		}
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	m, err := other.metadata(ctx2)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := topicOf(m, "rf3")
	for _, p := range after.Partitions {
		if p.Leader == victim.id {
			t.Errorf("after the controlled shutdown of %d, partition %d is still led by it: %s", victim.id, p.Partition, describeMetadata(m))
		}
	}
	if p := after.Partitions[0]; p.LeaderEpoch <= p0.LeaderEpoch || !slices.Contains(p0.ISR, p.Leader) {
		t.Errorf("partition 0 after the controlled shutdown: leader %d epoch %d, want an ISR member of %v above epoch %d", p.Leader, p.LeaderEpoch, p0.ISR, p0.LeaderEpoch)
	}

	// The broker comes back into the same cluster from its data dir.
	if err := tc.start(victim); err != nil {
		t.Fatalf("restart node %d: %v", victim.id, err)
	}
	tc.waitFor(victim, "three brokers again", func(m *kmsg.MetadataResponse) bool {
		return len(m.Brokers) == 3 && deref(m.ClusterID) == deref(first.ClusterID)
	})

	// Preferred leader election: partition 0's preferred replica came
	// back; not in sync yet, it is PREFERRED_LEADER_NOT_AVAILABLE, and
	// once it has caught up (it may within the first few hundred
	// milliseconds: the partition holds little) it is elected. The
	// others are led by theirs (ELECTION_NOT_NEEDED).
	el, err := kadm.NewClient(mustClient(t, tc.node(victim.id).addr)).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"rf3": {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatalf("elect leaders: %v", err)
	}
	for p := range int32(3) {
		got := el["rf3"][p].Err
		switch {
		case p == 0 && got == nil:
			tc.waitFor(victim, "partition 0 led by its preferred replica", func(m *kmsg.MetadataResponse) bool {
				tp, ok := topicOf(m, "rf3")
				return ok && len(tp.Partitions) > 0 && tp.Partitions[0].Leader == victim.id
			})
		case p == 0 && !errors.Is(got, kerr.PreferredLeaderNotAvailable):
			t.Errorf("preferred election of partition 0: %v, want PREFERRED_LEADER_NOT_AVAILABLE or its preferred replica %d elected", got, victim.id)
		case p != 0 && !errors.Is(got, kerr.ElectionNotNeeded):
			t.Errorf("preferred election of partition %d: %v, want %v", p, got, kerr.ElectionNotNeeded)
		}
	}

	// Kill (close without controlled shutdown) the leader of partition 1,
	// once the restarted broker is back in its ISR: the metadata read just
	// after the restart may still have it out, and the new leader may be it.
	m = tc.waitFor(tc.node(victim.id), "partition 1's ISR whole again", func(m *kmsg.MetadataResponse) bool {
		tp, ok := topicOf(m, "rf3")
		return ok && len(tp.Partitions) > 1 && sameSet(tp.Partitions[1].ISR, tp.Partitions[1].Replicas)
	})
	cur, _ := topicOf(m, "rf3")
	p1 := cur.Partitions[1]
	killed := tc.node(p1.Leader)
	killed.stop(true)
	var survivor *clusterTestNode
	for _, n := range tc.nodes {
		if n != killed && n.srv != nil {
			survivor = n
			break
		}
	}
	m = tc.waitFor(survivor, "partition 1 led by another ISR member", func(m *kmsg.MetadataResponse) bool {
		tp, ok := topicOf(m, "rf3")
		if !ok {
			return false
		}
		p := tp.Partitions[1]
		return p.Leader >= 1 && p.Leader != killed.id && p.LeaderEpoch > p1.LeaderEpoch && slices.Contains(p1.ISR, p.Leader)
	})
	final, _ := topicOf(m, "rf3")
	if p := final.Partitions[1]; slices.Contains(p.ISR, killed.id) || !slices.Contains(p.OfflineReplicas, killed.id) {
		t.Errorf("partition 1 after node %d died: ISR %v offline %v, want it out of the ISR and offline", killed.id, p.ISR, p.OfflineReplicas)
	}

	// A broker whose registration lapses is fenced: it steps down from
	// every partition and registers again under a new broker epoch.
	var fenced *clusterTestNode
	for _, n := range tc.nodes {
		if n.srv != nil && n != survivor {
			fenced = n
		}
	}
	tc.fenceAndWait(ctx, fenced, survivor)
}

// fenceAndWait deletes n's registration key, as a lapsed lease would,
// and waits until n has registered again under a higher broker epoch
// and every broker shows it live.
func (tc *testCluster) fenceAndWait(ctx context.Context, n *clusterTestNode, others ...*clusterTestNode) {
	tc.t.Helper()
	node := n.srv.node
	before := node.currentReg().Epoch()
	key := cluster.DefaultKeyRoot + "/" + node.clusterID + "/brokers/" + strconv.Itoa(int(n.id))
	if _, err := node.client.Delete(ctx, key); err != nil {
		tc.t.Fatalf("delete %s: %v", key, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if r := node.currentReg(); r != nil && r.Epoch() > before && node.registered.Load() {
			break
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("node %d did not register again after its fencing (epoch %d)", n.id, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, o := range append(others, n) {
		tc.waitFor(o, fmt.Sprintf("node %d live again", n.id), func(m *kmsg.MetadataResponse) bool {
			return slices.ContainsFunc(m.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == n.id })
		})
	}
}

func mustClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// findCoordinator asks n itself for group's coordinator, retrying while
// the offsets topic is being created.
func findCoordinator(t *testing.T, ctx context.Context, n *clusterTestNode, group string) int32 {
	t.Helper()
	cl := mustClient(t, n.addr)
	deadline := time.Now().Add(15 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		req.CoordinatorKeys = []string{group}
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err == nil {
			code, node := resp.ErrorCode, resp.NodeID
			if len(resp.Coordinators) > 0 {
				code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
			}
			if code == 0 {
				return node
			}
			err = kerr.ErrorForCode(code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: find coordinator of %s: %v", n.id, group, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterBrokersJoinByVotersOrExternalStore: a broker that is not a
// voter joins by naming the voters, and one given metadata.store (here
// the voter's etcd client address, as an external etcd) joins the same
// cluster: every broker sees all three.
func TestClusterBrokersJoinByVotersOrExternalStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	voter := &clusterTestNode{t: t, id: 1, host: "127.0.0.2", dir: t.TempDir()}
	voter.ctrl = freeControllerAddr(t, voter.host)
	h, p, _ := net.SplitHostPort(voter.ctrl)
	port, _ := strconv.Atoi(p)
	tc := &testCluster{t: t, voters: []Voter{{ID: 1, Host: h, Port: uint16(port)}}}
	byVoters := &clusterTestNode{t: t, id: 2, host: "127.0.0.3", dir: t.TempDir()}
	external := &clusterTestNode{t: t, id: 3, host: "127.0.0.4", dir: t.TempDir(),
		store: "etcd://" + net.JoinHostPort(h, strconv.Itoa(port+1))}
	tc.nodes = []*clusterTestNode{voter, byVoters, external}
	t.Cleanup(func() {
		for i := len(tc.nodes) - 1; i >= 0; i-- {
			tc.nodes[i].stop(false)
		}
	})
	for _, n := range tc.nodes {
		if err := tc.start(n); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
	}
	var ids []string
	for _, n := range tc.nodes {
		m := tc.waitFor(n, "three brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 3 })
		ids = append(ids, deref(m.ClusterID))
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("cluster ids %v, want one", ids)
	}
	if byVoters.srv.node.member != nil || external.srv.node.member != nil {
		t.Error("a broker that is not a voter runs an etcd member")
	}
}

// TestClusterInterBrokerTLS: brokers whose only listener is SSL replicate
// over it: each follower's fetcher dials its leaders with the listener's
// certificate and truststore, and its fetches go through.
func TestClusterInterBrokerTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	ca := authtest.NewCA(t, "cluster CA")
	leaf := ca.Server("broker") // names 127.0.0.1: the three nodes share it
	sec := map[string]string{"ssl.keystore.type": "PEM", "ssl.keystore.location": leaf.File,
		"ssl.truststore.type": "PEM", "ssl.truststore.location": ca.CertFile}
	tc := &testCluster{t: t}
	for i := range 3 {
		n := &clusterTestNode{t: t, id: int32(i + 1), host: "127.0.0.1", dir: t.TempDir(), ctrl: freeControllerAddr(t, "127.0.0.1"),
			listener:    &Listener{Name: "SSL", Protocol: auth.SSL, Addr: "127.0.0.1:0", Security: sec},
			opts:        []kgo.Opt{kgo.DialTLSConfig(ca.ClientConfig(nil))},
			interBroker: InterBrokerClient{TLS: func() *tls.Config { return ca.ClientConfig(nil) }}}
		_, p, _ := net.SplitHostPort(n.ctrl)
		port, _ := strconv.Atoi(p)
		tc.voters = append(tc.voters, Voter{ID: n.id, Host: "127.0.0.1", Port: uint16(port)})
		tc.nodes = append(tc.nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			n.stop(false)
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, n := range tc.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tc.start(n)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	ctx := testContext(t)
	adm := kadm.NewClient(mustClient(t, tc.node(1).addr, tc.node(1).opts...))
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "secure"); err != nil {
		t.Fatal(err)
	}
	for _, n := range tc.nodes {
		stats := n.srv.replicas.FetchStats()
		for deadline := time.Now().Add(15 * time.Second); stats.Requests() < 3; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: %d replica fetches, errors %v", n.id, stats.Requests(), stats.Errors())
			}
		}
		if errs := stats.Errors(); errs["network"] != 0 {
			t.Errorf("node %d: replica fetch errors %v over TLS", n.id, errs)
		}
	}
}
