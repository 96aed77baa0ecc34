package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// TestClusterLeaderBalancingReturnsLeadershipToPreferredReplicas: on a
// three-broker cluster, a broker's controlled shutdown moves the
// leadership of the partition it prefers to another ISR member; once it
// is back and in sync again, with auto.leader.rebalance.enable the active
// controller makes it that partition's leader again at a higher leader
// epoch, counts the election and reports no imbalance; with the setting
// off, the partition stays led by the other broker and the imbalance
// shows in tributary_cluster_preferred_replica_imbalance.
func TestClusterLeaderBalancingReturnsLeadershipToPreferredReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto.leader.rebalance.enable=%v", enabled), func(t *testing.T) {
			tc := startTestClusterWith(t, func(_ *clusterTestNode, cfg *Config) {
				cfg.Cluster.Config.AutoLeaderRebalanceEnable = enabled
				cfg.Cluster.Config.LeaderImbalanceCheckInterval = 200 * time.Millisecond
			})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := kadm.NewClient(mustClient(t, tc.node(1).addr)).CreateTopic(ctx, 3, 3, nil, "bal"); err != nil {
				t.Fatal(err)
			}
			settled := func(m *kmsg.MetadataResponse) bool {
				bt, ok := topicOf(m, "bal")
				if !ok || len(bt.Partitions) != 3 {
					return false
				}
				for _, p := range bt.Partitions {
					if p.Leader < 1 || len(p.ISR) != 3 {
						return false
					}
				}
				return true
			}
			m := tc.waitFor(tc.node(1), "bal led with full ISRs", settled)
			// The victim prefers a partition and is not the controller,
			// so the office (and its balancing) stays where it is.
			var victim *clusterTestNode
			var prefers int32
			bt, _ := topicOf(m, "bal")
			for _, p := range bt.Partitions {
				if p.Replicas[0] != m.ControllerID {
					victim, prefers = tc.node(p.Replicas[0]), p.Partition
					break
				}
			}
			controller := tc.node(m.ControllerID)
			before := bt.Partitions[prefers].LeaderEpoch
			electionsBefore := gatheredCluster(t, controller.srv.Registry())[`tributary_cluster_leader_elections_total{kind="clean"}`]
			// Records for the returning replica to catch up on.
			cl := mustClient(t, controller.addr, kgo.DefaultProduceTopic("bal"), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.RecordPartitioner(kgo.ManualPartitioner()))
			for i := range 30 {
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 3), Value: []byte("v")}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}

			victim.stop(false)
			tc.waitFor(controller, fmt.Sprintf("partition %d led by another broker", prefers), func(m *kmsg.MetadataResponse) bool {
				bt, ok := topicOf(m, "bal")
				return ok && bt.Partitions[prefers].Leader >= 1 && bt.Partitions[prefers].Leader != victim.id
			})
			if err := tc.start(victim); err != nil {
				t.Fatalf("restart node %d: %v", victim.id, err)
			}
			tc.waitFor(controller, "the victim back in every ISR", func(m *kmsg.MetadataResponse) bool {
				bt, ok := topicOf(m, "bal")
				return ok && len(m.Brokers) == 3 && settled(m) && len(bt.Partitions[prefers].ISR) == 3
			})
			if !enabled {
				// Ten check intervals: balancing would have acted by now.
				time.Sleep(2 * time.Second)
				m = tc.waitFor(controller, "metadata", func(*kmsg.MetadataResponse) bool { return true })
				bt, _ := topicOf(m, "bal")
				if p := bt.Partitions[prefers]; p.Leader == victim.id {
					t.Fatalf("partition %d went back to its preferred replica %d with auto.leader.rebalance.enable=false: %s", prefers, victim.id, describeMetadata(m))
				}
				if got := gatheredCluster(t, controller.srv.Registry())[cluster.MetricPreferredReplicaImbalance]; got != 1 {
					t.Errorf("%s = %v on the controller, want 1", cluster.MetricPreferredReplicaImbalance, got)
				}
				return
			}
			m = tc.waitFor(controller, fmt.Sprintf("partition %d led by its preferred replica %d again", prefers, victim.id), func(m *kmsg.MetadataResponse) bool {
				bt, ok := topicOf(m, "bal")
				return ok && bt.Partitions[prefers].Leader == victim.id
			})
			bt, _ = topicOf(m, "bal")
			if p := bt.Partitions[prefers]; p.LeaderEpoch <= before+1 {
				t.Errorf("partition %d at leader epoch %d, want above %d (moved away, then back)", prefers, p.LeaderEpoch, before+1)
			}
			// The election is counted just after the store shows it.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				got := gatheredCluster(t, controller.srv.Registry())[`tributary_cluster_leader_elections_total{kind="clean"}`]
				if got >= electionsBefore+1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("clean elections on the controller %v, want more than %v", got, electionsBefore)
				}
			}
			g := gatheredCluster(t, controller.srv.Registry())
			if got := g[cluster.MetricPreferredReplicaImbalance]; got != 0 {
				t.Errorf("%s = %v, want 0", cluster.MetricPreferredReplicaImbalance, got)
			}
			// Every record acknowledged before is still there, on the
			// partition's new (old) leader.
			offs, err := kadm.NewClient(mustClient(t, victim.addr)).ListEndOffsets(ctx, "bal")
			if err != nil {
				t.Fatal(err)
			}
			for p := range int32(3) {
				if o, _ := offs.Lookup("bal", p); o.Offset != 10 {
					t.Errorf("partition %d ends at %d, want 10", p, o.Offset)
				}
			}
		})
	}
}
