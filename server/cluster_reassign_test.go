package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

// startFourNodeClusterWith is startFourNodeCluster with each node's
// Config adjusted by configure.
func startFourNodeClusterWith(t *testing.T, configure func(*clusterTestNode, *Config)) *testCluster {
	t.Helper()
	tc := startTestClusterWith(t, configure)
	n := &clusterTestNode{t: t, id: 4, host: "127.0.0.5", dir: t.TempDir()}
	if err := tc.start(n); err != nil {
		t.Fatalf("node 4: %v", err)
	}
	tc.nodes = append(tc.nodes, n)
	t.Cleanup(func() { n.stop(false) })
	for _, n := range tc.nodes {
		tc.waitFor(n, "4 brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 4 })
	}
	return tc
}

// createAssigned creates topic with the given replicas per partition and
// configs, through n, and waits until every node's snapshot has it.
func (tc *testCluster) createAssigned(ctx context.Context, n *clusterTestNode, topic string, configs map[string]string, assignment ...[]int32) {
	tc.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, mustClient(tc.t, n.addr))
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		tc.t.Fatalf("create %s: %v %v", topic, err, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	for _, n := range tc.nodes {
		if n.srv == nil {
			continue
		}
		tc.waitState(n, topic+" led", func(s *cluster.Snapshot) bool {
			for p := range assignment {
				if st, ok := s.Partition(topic, int32(p)); !ok || st.Leader == cluster.NoLeader {
					return false
				}
			}
			return true
		})
	}
}

// waitState waits until n's snapshot satisfies ok, for at most 60 s (a
// hang guard: the throttled copies here are slow on purpose).
func (tc *testCluster) waitState(n *clusterTestNode, what string, ok func(*cluster.Snapshot) bool) *cluster.Snapshot {
	tc.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := n.srv.node.snapshot()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("node %d: no %s within 60 s; partitions %v", n.id, what, s.Partitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNoDir waits until n's data dir holds no directory of topic's
// partition p (its replica was removed after the grace).
func (tc *testCluster) waitNoDir(n *clusterTestNode, topic string, p int32) {
	tc.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); slices.Contains(partitionDirsOf(tc.t, n.dir, topic), p); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			tc.t.Fatalf("node %d still has a directory of %s-%d", n.id, topic, p)
		}
	}
}

// reassign sends one AlterPartitionAssignments of topic's partitions
// (nil replicas cancel) through n and returns each partition's error.
func reassign(ctx context.Context, t *testing.T, n *clusterTestNode, topic string, targets map[int32][]int32) map[int32]error {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	for p, r := range targets {
		req.Assign(topic, p, r)
	}
	res, err := kadm.NewClient(mustClient(t, n.addr)).AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("alter partition assignments: %v", err)
	}
	out := map[int32]error{}
	for p := range targets {
		out[p] = res[topic][p].Err
	}
	return out
}

// gauge reads one series of reg: name with labels (as `{k="v"}`, or "").
func gauge(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls string
			for _, lp := range m.GetLabel() {
				ls += fmt.Sprintf(`%s="%s"`, lp.GetName(), lp.GetValue())
			}
			if ls != "" {
				ls = "{" + ls + "}"
			}
			if ls == labels {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%s", name, labels)
	return 0
}

// TestClusterReassignmentMovesAPartitionWhileServing moves a partition
// from brokers {1,2,3} to {2,3,4} (min.insync.replicas 2) while an
// acks=all idempotent producer and a consumer run: broker 4 copies the
// log while the partition serves, the switch moves leadership off broker
// 1 at a new leader epoch, every acknowledged record is read back, broker
// 4's log is the leader's byte for byte, and broker 1 deletes its replica.
func TestClusterReassignmentMovesAPartitionWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members and four brokers")
	}
	tc := startFourNodeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "moving"
	tc.createAssigned(ctx, tc.node(1), topic, map[string]string{tlog.ConfigMinInsyncReplicas: "2"}, []int32{1, 2, 3})
	before, _ := tc.node(1).srv.node.snapshot().Partition(topic, 0)

	seeds := kgo.SeedBrokers(tc.node(1).addr, tc.node(2).addr, tc.node(3).addr, tc.node(4).addr)
	prod := mustClient(t, tc.node(2).addr, seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	cons := mustClient(t, tc.node(3).addr, seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond))

	var mu sync.Mutex // guards acked and seen
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var rs []*kgo.Record
			for j := range 20 {
				rs = append(rs, &kgo.Record{Value: fmt.Appendf(nil, "v%06d-%02d", i, j)})
			}
			for _, r := range prod.ProduceSync(ctx, rs...) {
				if r.Err == nil {
					mu.Lock()
					acked[string(r.Record.Value)] = true
					mu.Unlock()
				}
			}
		}
	})
	seen := map[string]int{}
	consumed := make(chan struct{})
	consCtx, stopCons := context.WithCancel(ctx)
	go func() {
		defer close(consumed)
		for consCtx.Err() == nil {
			fs := cons.PollFetches(consCtx)
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
			mu.Unlock()
		}
	}()
	waitAcked := func(n int) {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d records acknowledged, waiting for %d", got, n)
			}
		}
	}
	waitAcked(500)

	if errs := reassign(ctx, t, tc.node(2), topic, map[int32][]int32{0: {2, 3, 4}}); errs[0] != nil {
		t.Fatalf("reassign: %v", errs[0])
	}
	done := tc.waitState(tc.node(4), "the reassignment completed", func(s *cluster.Snapshot) bool {
		p, _ := s.Partition(topic, 0)
		return !p.Reassigning() && slices.Equal(p.Replicas, []int32{2, 3, 4})
	})
	after, _ := done.Partition(topic, 0)
	if after.Leader == 1 || !slices.Contains(after.Replicas, after.Leader) || after.LeaderEpoch <= before.LeaderEpoch {
		t.Errorf("after the move: leader %d at epoch %d (before: %d at %d)", after.Leader, after.LeaderEpoch, before.Leader, before.LeaderEpoch)
	}
	for _, r := range after.ISR {
		if r == 1 {
			t.Errorf("broker 1 still in the ISR %v", after.ISR)
		}
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitAcked(n + 500) // the partition keeps serving at its new home
	close(stop)
	wg.Wait()

	// Every acknowledged record is read back, once.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		missing := 0
		for v := range acked {
			if seen[v] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged records never consumed", missing, len(acked))
		}
	}
	stopCons()
	<-consumed
	for v, c := range seen {
		if c > 1 {
			t.Errorf("record %s consumed %d times", v, c)
		}
	}

	// Broker 4 holds what the leader holds, byte for byte.
	final := tc.waitState(tc.node(4), "4 in the ISR", func(s *cluster.Snapshot) bool {
		p, _ := s.Partition(topic, 0)
		return p.InISR(4)
	})
	p, _ := final.Partition(topic, 0)
	leaderLog, _ := tc.node(p.Leader).mgr.Partition(topic, 0)
	newLog, _ := tc.node(4).mgr.Partition(topic, 0)
	waitSameLog(t, leaderLog, newLog)
	if leaderLog.NextOffset() < int64(len(acked)) {
		t.Errorf("the leader's log ends at %d with %d records acknowledged", leaderLog.NextOffset(), len(acked))
	}
	// Broker 1 no longer hosts it: its log is deleted after the grace.
	tc.waitNoDir(tc.node(1), topic, 0)
	if _, ok := tc.node(1).mgr.Partition(topic, 0); ok {
		t.Error("broker 1 still has a log of the moved partition")
	}
}

// TestClusterReassignmentThrottledCancelledAndResumedAfterControllerFailover:
// partition 0 of a topic is throttled on its new follower (broker 4's
// follower.replication.throttled.rate), partition 1 on its leader
// (leader.replication.throttled.rate of brokers 1-3); both are moved from
// {1,2,3} to {2,3,4} and stay in progress, listed with broker 4 adding
// and broker 1 removing, each throttle counting what it let through and
// no more than its rate allows. Partition 1's move is cancelled: back to
// {1,2,3}, and broker 4 deletes its copy. The active controller is then
// killed: its successor finds partition 0's move in the metadata and,
// once broker 4's throttle is lifted with IncrementalAlterConfigs,
// completes it. Bad requests are refused with Kafka's codes.
func TestClusterReassignmentThrottledCancelledAndResumedAfterControllerFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members and four brokers")
	}
	const rate = 32 << 10
	tc := startFourNodeClusterWith(t, func(n *clusterTestNode, cfg *Config) {
		cc := &cfg.Cluster.Config
		cc.ReplicaFetchMaxBytes = 16 << 10
		if n.id == 4 {
			cc.FollowerReplicationThrottledRate = rate
		} else {
			cc.LeaderReplicationThrottledRate = rate
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "slow"
	tc.createAssigned(ctx, tc.node(1), topic, map[string]string{
		tlog.ConfigFollowerReplicationThrottledReplicas: "0:4",
		tlog.ConfigLeaderReplicationThrottledReplicas:   "1:1,1:2,1:3",
	}, []int32{1, 2, 3}, []int32{1, 2, 3})

	// 1 MiB in each partition, acks=all: the in-sync followers are not
	// throttled, so this is as quick as ever.
	// (Uncompressed, random: the bytes copied are the bytes produced.)
	prod := mustClient(t, tc.node(1).addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(8<<10)) // batches below a fetch's size, so a fetch is what the throttle sees
	const valueSize = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	for p := range int32(2) {
		var rs []*kgo.Record
		for range 1024 {
			value := make([]byte, valueSize)
			for i := range value {
				value[i] = byte(rng.Uint32())
			}
			rs = append(rs, &kgo.Record{Partition: p, Value: value})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d: %v", topic, p, err)
		}
	}

	// Bad requests.
	bad := reassign(ctx, t, tc.node(3), topic, map[int32][]int32{0: {2, 3, 9}, 1: {2, 2, 3}, 7: {1, 2, 3}})
	if !errors.Is(bad[0], kerr.InvalidReplicaAssignment) || !errors.Is(bad[1], kerr.InvalidReplicaAssignment) || !errors.Is(bad[7], kerr.UnknownTopicOrPartition) {
		t.Fatalf("bad targets: %v", bad)
	}
	if errs := reassign(ctx, t, tc.node(3), topic, map[int32][]int32{0: nil}); !errors.Is(errs[0], kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel of nothing: %v", errs[0])
	}

	start := time.Now()
	if errs := reassign(ctx, t, tc.node(3), topic, map[int32][]int32{0: {2, 3, 4}, 1: {2, 3, 4}}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("reassign: %v", errs)
	}
	adm := kadm.NewClient(mustClient(t, tc.node(2).addr))
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}, 5: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		l, ok := listed[topic][p]
		if !ok || !slices.Equal(l.Replicas, []int32{1, 2, 3, 4}) || !slices.Equal(l.AddingReplicas, []int32{4}) || !slices.Equal(l.RemovingReplicas, []int32{1}) {
			t.Fatalf("listed %s-%d: %+v %v", topic, p, l, ok)
		}
	}
	if len(listed) != 1 || len(listed[topic]) != 2 {
		t.Fatalf("listed %+v, want the two moving partitions only", listed)
	}

	// Broker 4 copies both partitions, each at its throttle's pace.
	n4 := tc.node(4)
	followerTh := n4.srv.node.throttles.follower
	leaderOf1, _ := tc.node(1).srv.node.snapshot().Partition(topic, 1)
	leaderTh := tc.node(leaderOf1.Leader).srv.node.throttles.leader
	for deadline := time.Now().Add(30 * time.Second); followerTh.Bytes() == 0 || leaderTh.Bytes() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("throttled bytes: follower %d, leader %d", followerTh.Bytes(), leaderTh.Bytes())
		}
	}
	time.Sleep(time.Second)
	elapsed := time.Since(start).Seconds()
	// What a token bucket lets through: a second's worth to start, the
	// rate since, and the read that put it into debt.
	limit := int64(rate+rate*elapsed) + 2*(16<<10) + 2*valueSize
	for p, th := range map[int32]interface{ Bytes() int64 }{0: followerTh, 1: leaderTh} {
		copied := int64(0)
		if l, ok := n4.mgr.Partition(topic, p); ok {
			copied = l.Size()
		}
		t.Logf("%s-%d: throttle counted %d bytes, broker 4 holds %d after %.1f s (limit %d)", topic, p, th.Bytes(), copied, elapsed, limit)
		if got := th.Bytes(); got > limit || copied > limit {
			t.Errorf("%s-%d: throttle counted %d bytes and broker 4 holds %d after %.1f s at %d B/s (at most %d)", topic, p, got, copied, elapsed, rate, limit)
		}
	}
	if got := gauge(t, n4.srv.Registry(), cluster.MetricReplicationThrottledBytes, `{direction="follower"}`); got <= 0 {
		t.Errorf("broker 4's follower throttled bytes metric: %v", got)
	}
	snap := n4.srv.node.snapshot()
	for p := range int32(2) {
		st, _ := snap.Partition(topic, p)
		if !st.Reassigning() || st.InISR(4) {
			t.Fatalf("%s-%d moved through a throttle of %d B/s within a second: %+v", topic, p, rate, st)
		}
	}
	ctrl := tc.node(snap.Controller)
	if got := gauge(t, ctrl.srv.Registry(), cluster.MetricReassigningPartitions, ""); got != 2 {
		t.Errorf("controller %d: reassigning partitions %v, want 2", ctrl.id, got)
	}

	// Cancel partition 1's move: back to {1,2,3}; broker 4 drops its copy.
	if errs := reassign(ctx, t, tc.node(1), topic, map[int32][]int32{1: nil}); errs[1] != nil {
		t.Fatalf("cancel: %v", errs[1])
	}
	reverted := tc.waitState(n4, "partition 1 reverted", func(s *cluster.Snapshot) bool {
		p, _ := s.Partition(topic, 1)
		return !p.Reassigning()
	})
	if p, _ := reverted.Partition(topic, 1); !slices.Equal(p.Replicas, []int32{1, 2, 3}) || p.InISR(4) {
		t.Fatalf("after the cancel: %+v", p)
	}
	if errs := reassign(ctx, t, tc.node(1), topic, map[int32][]int32{1: nil}); !errors.Is(errs[1], kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v", errs[1])
	}
	tc.waitNoDir(n4, topic, 1)

	// Kill the active controller; its successor resumes partition 0's move.
	ctrl = tc.node(n4.srv.node.snapshot().Controller)
	ctrl.stop(true)
	var live *clusterTestNode
	for _, n := range tc.nodes {
		if n.srv != nil && n.id != 4 {
			live = n
			break
		}
	}
	tc.waitState(live, "a new controller", func(s *cluster.Snapshot) bool {
		return s.Controller != cluster.NoLeader && s.Controller != ctrl.id
	})
	listed, err = kadm.NewClient(mustClient(t, live.addr)).ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if l, ok := listed[topic][0]; err != nil || !ok || !slices.Equal(l.AddingReplicas, []int32{4}) || len(listed[topic]) != 1 {
		t.Fatalf("after the failover: %+v %v", listed, err)
	}
	// Lift broker 4's throttle (its own resource; another's is refused).
	zero := "0"
	set := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: BrokerFollowerReplicationThrottledRate, Value: &zero}}
	if res, err := kadm.NewClient(mustClient(t, n4.addr)).AlterBrokerConfigs(ctx, set, 4); err != nil || res[0].Err != nil {
		t.Fatalf("lift the throttle: %v %+v", err, res)
	}
	if followerTh.Rate() != 0 {
		t.Fatalf("broker 4's follower rate is %d after the change", followerTh.Rate())
	}
	done := tc.waitState(n4, "partition 0 moved", func(s *cluster.Snapshot) bool {
		p, _ := s.Partition(topic, 0)
		return !p.Reassigning()
	})
	p, _ := done.Partition(topic, 0)
	if !slices.Equal(p.Replicas, []int32{2, 3, 4}) || !p.InISR(4) || !slices.Contains(p.Replicas, p.Leader) {
		t.Fatalf("after the move: %+v", p)
	}
	leaderLog, _ := tc.node(p.Leader).mgr.Partition(topic, 0)
	newLog, _ := n4.mgr.Partition(topic, 0)
	waitSameLog(t, leaderLog, newLog)
	if newLog.NextOffset() != 1024 {
		t.Errorf("broker 4's copy ends at %d, want 1024", newLog.NextOffset())
	}
}
