package server

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/replica"
)

// fakeClusterSnapshot is a three-broker cluster seen from node 1, its
// controller: broker 3 is fenced (assigned replicas, no registration).
//
//	a-0  leader 1, replicas 1,2,3, ISR 1,2   led here, under-replicated
//	a-1  leader 1, replicas 1,2,   ISR 1,2   led here
//	a-2  leader 2, replicas 2,1,   ISR 2     followed here
//	b-0  no leader, replicas 3,    ISR 3     offline
func fakeClusterSnapshot() *cluster.Snapshot {
	parts := []cluster.PartitionState{
		{Topic: "a", Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, LeaderEpoch: 4},
		{Topic: "a", Partition: 1, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, LeaderEpoch: 2},
		{Topic: "a", Partition: 2, Leader: 2, Replicas: []int32{2, 1}, ISR: []int32{2}, LeaderEpoch: 1},
		{Topic: "b", Partition: 0, Leader: cluster.NoLeader, Replicas: []int32{3}, ISR: []int32{3}, LeaderEpoch: 7},
	}
	snap := &cluster.Snapshot{
		Revision: 9, ClusterID: "test-cluster", Controller: 1,
		Brokers: map[int32]cluster.Broker{1: {NodeID: 1}, 2: {NodeID: 2}},
		Topics: map[string]cluster.Topic{
			"a": {Name: "a", Partitions: 3},
			"b": {Name: "b", Partitions: 1},
		},
		Partitions: cluster.PartitionMap{},
	}
	for _, p := range parts {
		snap.Partitions = snap.Partitions.With(p)
	}
	return snap
}

// clusterReplicaManager is a replica.Manager of node 1 leading a-0 (ISR
// 1,2 at min.insync.replicas 2: at min ISR) and a-1 (ISR 1,2 below
// min.insync.replicas 3), on real logs of b's data dir.
func clusterReplicaManager(t *testing.T, b *testBroker) *replica.Manager {
	t.Helper()
	if _, err := b.mgr.CreateTopic("a", 3, nil); err != nil {
		t.Fatal(err)
	}
	rm := replica.NewManager(replica.Config{Self: 1, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(rm.Close)
	snap := fakeClusterSnapshot()
	for p, minISR := range map[int32]int{0: 2, 1: 3} {
		l, ok := b.mgr.Partition("a", p)
		if !ok {
			t.Fatalf("no log a-%d", p)
		}
		st, _ := snap.Partition("a", p)
		if _, err := rm.BecomeLeader(l, st, minISR); err != nil {
			t.Fatal(err)
		}
	}
	return rm
}

// gatheredCluster is every cluster series of reg as name{label="v"} → value.
func gatheredCluster(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "tributary_cluster_") && !strings.HasPrefix(mf.GetName(), "tributary_replica_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestClusterMetricsReportLeadershipISRAndControllerView(t *testing.T) {
	for _, tc := range []struct {
		name string
		self int32
		want map[string]float64
	}{
		{"controller", 1, map[string]float64{
			cluster.MetricUnderReplicatedPartitions:                1,
			cluster.MetricLeaderPartitions:                         2,
			cluster.MetricPartitions:                               3,
			cluster.MetricActiveController:                         1,
			cluster.MetricOfflinePartitions:                        1,
			cluster.MetricReassigningPartitions:                    0,
			cluster.MetricBrokers + `{state="active"}`:             2,
			cluster.MetricBrokers + `{state="fenced"}`:             1,
			cluster.MetricPreferredReplicaImbalance:                1, // b-0: offline
			cluster.MetricUnderMinISRPartitions:                    1,
			cluster.MetricAtMinISRPartitions:                       1,
			cluster.MetricISRShrinks:                               0,
			cluster.MetricISRExpands:                               0,
			cluster.MetricReplicaMaxLag:                            0,
			cluster.MetricReplicaFetchRequests:                     0,
			cluster.MetricReplicaFetchRestarts:                     0,
			cluster.MetricReplicaFetchErrors + `{error="network"}`: 0,
		}},
		// Node 2 leads a-2 and is not the controller: offline partitions
		// and broker counts are the controller's alone. (The replica
		// manager is node 1's here: its series are what it says.)
		{"other broker", 2, map[string]float64{
			cluster.MetricUnderReplicatedPartitions:                1, // a-2: ISR 2 of replicas 2,1
			cluster.MetricLeaderPartitions:                         1,
			cluster.MetricPartitions:                               3,
			cluster.MetricActiveController:                         0,
			cluster.MetricOfflinePartitions:                        0,
			cluster.MetricPreferredReplicaImbalance:                0,
			cluster.MetricReassigningPartitions:                    0,
			cluster.MetricUnderMinISRPartitions:                    1,
			cluster.MetricAtMinISRPartitions:                       1,
			cluster.MetricISRShrinks:                               0,
			cluster.MetricISRExpands:                               0,
			cluster.MetricReplicaMaxLag:                            0,
			cluster.MetricReplicaFetchRequests:                     0,
			cluster.MetricReplicaFetchRestarts:                     0,
			cluster.MetricReplicaFetchErrors + `{error="network"}`: 0,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t)
			rm := clusterReplicaManager(t, b)
			if err := b.srv.attachClusterMetrics(fakeClusterSnapshot, tc.self, rm); err != nil {
				t.Fatal(err)
			}
			got := gatheredCluster(t, b.srv.Registry())
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("unexpected series %s = %v", k, got[k])
				}
			}
			if err := b.srv.attachClusterMetrics(fakeClusterSnapshot, tc.self, rm); err == nil {
				t.Error("attached twice without an error")
			}
		})
	}
}

// TestClusterMetricsAbsentOnSingleBroker: a single broker registers no
// cluster series, and attaching nothing keeps it so.
func TestClusterMetricsAbsentOnSingleBroker(t *testing.T) {
	b := startBroker(t)
	if got := gatheredCluster(t, b.srv.Registry()); len(got) != 0 {
		t.Fatalf("single broker exports %v", got)
	}
	if err := b.srv.attachClusterMetrics(nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	known, err := registeredMetrics(b.srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for name := range known {
		if strings.HasPrefix(name, "tributary_cluster_") || strings.HasPrefix(name, "tributary_replica_") {
			t.Errorf("%s registered on a single broker", name)
		}
	}
}

// TestClusterMetricsBeforeFirstSnapshot: a node whose metadata has not
// loaded yet reports its replication series and none of the snapshot's.
func TestClusterMetricsBeforeFirstSnapshot(t *testing.T) {
	b := startBroker(t)
	rm := clusterReplicaManager(t, b)
	if err := b.srv.attachClusterMetrics(func() *cluster.Snapshot { return nil }, 1, rm); err != nil {
		t.Fatal(err)
	}
	got := gatheredCluster(t, b.srv.Registry())
	if _, ok := got[cluster.MetricLeaderPartitions]; ok {
		t.Errorf("leader count reported without a snapshot: %v", got)
	}
	if got[cluster.MetricAtMinISRPartitions] != 1 {
		t.Errorf("replication series missing: %v", got)
	}
}

// TestClusterMetricsSeriesBoundedByPartitions: the number of series does
// not grow with the partition count.
func TestClusterMetricsSeriesBoundedByPartitions(t *testing.T) {
	series := func(parts int) int {
		snap := fakeClusterSnapshot()
		for i := range parts {
			p := cluster.PartitionState{Topic: "many", Partition: int32(i), Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}
			snap.Partitions = snap.Partitions.With(p)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(newClusterCollector(func() *cluster.Snapshot { return snap }, 1, nil))
		got := gatheredCluster(t, reg)
		if parts > 0 && got[cluster.MetricUnderReplicatedPartitions] != float64(1+parts) {
			t.Errorf("%d partitions: under-replicated %v", parts, got[cluster.MetricUnderReplicatedPartitions])
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return len(keys)
	}
	if few, many := series(0), series(5000); few != many {
		t.Errorf("%d series with 4 partitions, %d with 5,004", few, many)
	}
}

// TestClusterQuorumMetricsOnVoters: every voter exports its etcd member's
// metrics; exactly one of them leads the raft, every member has seen a
// leader, and each reports a backend file with data in it and etcd's
// quota. When the raft leader's node stops, the others count the leader
// they elect.
func TestClusterQuorumMetricsOnVoters(t *testing.T) {
	tc := startTestCluster(t)
	leaders, leaderNode := 0.0, -1
	changes := map[int]float64{}
	for i, n := range tc.nodes {
		got := gatheredCluster(t, n.srv.Registry())
		for _, name := range cluster.QuorumMetrics {
			if _, ok := got[name]; !ok {
				t.Errorf("node %d does not export %s", n.id, name)
			}
		}
		if got[cluster.MetricQuorumLeader] == 1 {
			leaderNode = i
		}
		leaders += got[cluster.MetricQuorumLeader]
		changes[i] = got[cluster.MetricQuorumLeaderChanges]
		if changes[i] < 1 {
			t.Errorf("node %d: %s = %v, want the first leader counted", n.id, cluster.MetricQuorumLeaderChanges, changes[i])
		}
		size, inUse := got[cluster.MetricQuorumDBSize], got[cluster.MetricQuorumDBSizeInUse]
		if inUse <= 0 || size < inUse {
			t.Errorf("node %d: db size %v, in use %v", n.id, size, inUse)
		}
		if q := got[cluster.MetricQuorumDBQuota]; q != 2<<30 {
			t.Errorf("node %d: quota %v, want etcd's default 2 GiB", n.id, q)
		}
		if d := got[cluster.MetricQuorumDefrags]; d != 0 {
			t.Errorf("node %d: %v defragmentations of a new file", n.id, d)
		}
	}
	if leaders != 1 || leaderNode < 0 {
		t.Fatalf("%v voters report leading the raft, want 1", leaders)
	}
	tc.nodes[leaderNode].stop(true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		elected := 0.0
		counted := true
		for i, n := range tc.nodes {
			if i == leaderNode {
				continue
			}
			got := gatheredCluster(t, n.srv.Registry())
			elected += got[cluster.MetricQuorumLeader]
			counted = counted && got[cluster.MetricQuorumLeaderChanges] > changes[i]
		}
		if elected == 1 && counted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the raft leader's node stopped: %v survivors lead, leader changes counted by both: %v", elected, counted)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
