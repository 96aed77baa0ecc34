package server

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

// clusterNode is one broker of an in-process cluster: a real Server on
// its own data dir and loopback port with a replica.Manager attached.
// Roles are handed out by the test (lead, follow), as the node wiring
// does from the metadata.
type clusterNode struct {
	t  testing.TB
	id int32
	b  *testBroker
	rm *replica.Manager

	mu   sync.Mutex
	reqs []*replica.KgoRequester // closed after rm
	// following is the node last followed: each data dir gives its topics
	// IDs of its own (the node wiring will give them the cluster's), and
	// Fetch v13+ names a topic by the leader's ID.
	following *clusterNode
	rc        *rawConn // the test's connection to the node (request)
}

// replicaTestConfig is a Manager config for tests: quick fetch backoff
// and long polls, so a restarted fetcher catches up at once.
func replicaTestConfig() replica.Config {
	return replica.Config{
		LagTimeMax:       time.Second,
		ISRCheckInterval: 50 * time.Millisecond,
		Fetch:            replica.FetcherConfig{MaxWait: 200 * time.Millisecond, Backoff: 100 * time.Millisecond},
	}
}

// startClusterNode starts node id with rcfg (Self and Logger set here)
// and hooks; it is closed at the end of the test (the Manager, then its
// requesters, then the server and the data dir).
func startClusterNode(t testing.TB, id int32, rcfg replica.Config, hooks clusterHooks) *clusterNode {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
	dir := t.TempDir()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger})
	if err != nil {
		t.Fatalf("open manager: %v", err)
	}
	srv, err := New(mgr, DefaultConfig(), logger)
	if err != nil {
		mgr.Close()
		t.Fatalf("new server: %v", err)
	}
	n := &clusterNode{t: t, id: id}
	rcfg.Self, rcfg.Logger = id, logger
	rcfg.TopicID = func(topic string) [16]byte {
		n.mu.Lock()
		leader := n.following
		n.mu.Unlock()
		if leader == nil {
			return [16]byte{}
		}
		t, _ := leader.b.mgr.Topic(topic)
		return t.ID
	}
	n.rm = replica.NewManager(rcfg)
	srv.attachReplicas(n.rm, hooks)
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		n.rm.Close()
		mgr.Close()
		t.Fatalf("listen: %v", err)
	}
	n.b = &testBroker{t: t, dir: dir, addr: addr.String(), mgr: mgr, srv: srv}
	rm := n.rm
	t.Cleanup(n.b.stop)
	t.Cleanup(func() {
		rm.Close()
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, r := range n.reqs {
			r.Close()
		}
	})
	return n
}

// createTopic creates topic with one partition on the node's data dir
// (the node wiring does this for every replica it is assigned).
func (n *clusterNode) createTopic(topic string) *tlog.Log {
	n.t.Helper()
	if _, err := n.b.mgr.CreateTopic(topic, 1, nil); err != nil {
		n.t.Fatal(err)
	}
	return n.log(topic)
}

func (n *clusterNode) log(topic string) *tlog.Log {
	n.t.Helper()
	l, ok := n.b.mgr.Partition(topic, 0)
	if !ok {
		n.t.Fatalf("node %d has no %s-0", n.id, topic)
	}
	return l
}

// partitionState is partition 0 of topic led by leader at epoch, over
// replicas, all in sync.
func partitionState(topic string, leader, epoch int32, replicas ...int32) cluster.PartitionState {
	return cluster.PartitionState{
		Topic: topic, Partition: 0,
		Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas),
		Leader: leader, LeaderEpoch: epoch, PartitionEpoch: epoch,
	}
}

func (n *clusterNode) lead(st cluster.PartitionState, minISR int) *replica.Leader {
	n.t.Helper()
	ld, err := n.rm.BecomeLeader(n.log(st.Topic), st, minISR)
	if err != nil {
		n.t.Fatalf("node %d lead: %v", n.id, err)
	}
	return ld
}

// follow makes n fetch st's partition from leader, through a new
// KgoRequester seeded with the leader's address.
func (n *clusterNode) follow(st cluster.PartitionState, leader *clusterNode) {
	n.t.Helper()
	r, err := replica.NewKgoRequester(advertisedNodeID(n.t, leader.b.addr), kgo.SeedBrokers(leader.b.addr))
	if err != nil {
		n.t.Fatal(err)
	}
	n.mu.Lock()
	n.reqs = append(n.reqs, r)
	n.following = leader
	n.mu.Unlock()
	if err := n.rm.BecomeFollower(n.log(st.Topic), st, r); err != nil {
		n.t.Fatalf("node %d follow: %v", n.id, err)
	}
}

// advertisedNodeID is the node ID the broker at addr names itself with in
// Metadata, which a kgo Requester finds it by.
func advertisedNodeID(t testing.TB, addr string) int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) == 0 {
		t.Fatalf("broker at %s names no broker", addr)
	}
	return resp.Brokers[0].NodeID
}

// request sends req to the node itself at req's version, over a
// connection of its own.
func (n *clusterNode) request(_ context.Context, req kmsg.Request) kmsg.Response {
	n.t.Helper()
	if n.rc == nil {
		n.rc = n.b.raw()
	}
	return n.rc.do(req)
}

// logBytes is every batch of l, as stored, in order.
func logBytes(t *testing.T, l *tlog.Log) []byte {
	t.Helper()
	var out []byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		end := batchesEnd(b.Data)
		out = append(out, b.Data...)
		b.Release()
		if end <= off {
			t.Fatalf("read at %d made no progress", off)
		}
		off = end
	}
	return out
}

// batchEpochs is the (base offset, leader epoch) of every batch of b.
func batchEpochs(b []byte) [][2]int64 {
	var out [][2]int64
	for len(b) >= recordbatch.HeaderSize {
		h, err := recordbatch.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		out = append(out, [2]int64{h.BaseOffset, int64(h.PartitionLeaderEpoch)})
		b = b[h.Size():]
	}
	return out
}

// waitSameLog waits until follower's log holds exactly the leader's
// batches (bytes, offsets, epochs) and the leader's high watermark.
func waitSameLog(t *testing.T, leader, follower *tlog.Log) {
	t.Helper()
	waitFor(t, "the follower to catch up", func() bool {
		return follower.NextOffset() == leader.NextOffset() && follower.HighWatermark() == leader.HighWatermark()
	})
	lb, fb := logBytes(t, leader), logBytes(t, follower)
	if string(lb) != string(fb) {
		t.Fatalf("follower's log differs from the leader's: batches %v, leader's %v", batchEpochs(fb), batchEpochs(lb))
	}
}

// consumerFetch is one Fetch of partition 0 of topic at offset by a
// consumer, without waiting.
func consumerFetch(version int16, topic string, offset int64, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.ReplicaState.ID = -1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = offset
	rp.CurrentLeaderEpoch = epoch
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// listOffsets asks for partition 0 of topic's offset at ts.
func listOffsets(topic string, ts int64, replicaID int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// deleteRecords asks to delete partition 0 of topic below offset.
func deleteRecordsReq(topic string, offset int64) *kmsg.DeleteRecordsRequest {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version = 2
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	return req
}
