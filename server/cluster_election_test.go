package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary-io/tributary/cluster"
)

// TestClusterQuorumElectionTimeoutReachesEveryVoter: the voters' embedded
// etcd members run with controller.quorum.election.timeout.ms, and when
// the member leading the quorum is closed without a controlled shutdown
// the two others elect a new leader at a higher term and take writes
// again (a topic is created through one of them).
func TestClusterQuorumElectionTimeoutReachesEveryVoter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	const timeout = 200 * time.Millisecond
	tc := startTestClusterWith(t, func(_ *clusterTestNode, cfg *Config) {
		cfg.Cluster.Config.QuorumElectionTimeout = timeout
	})
	ctx := testContext(t)
	for _, n := range tc.nodes {
		if got := n.srv.node.member.ElectionTimeout(); got != timeout {
			t.Fatalf("node %d: its etcd member runs with election timeout %v, want %v", n.id, got, timeout)
		}
	}
	before, err := cluster.DescribeQuorum(ctx, tc.node(1).srv.node.client)
	if err != nil || before.LeaderID < 1 {
		t.Fatalf("describe quorum: %+v, %v", before, err)
	}
	var survivor *clusterTestNode
	for _, n := range tc.nodes {
		if n.id != before.LeaderID {
			survivor = n
		}
	}
	tc.node(before.LeaderID).stop(true)
	for {
		after, err := cluster.DescribeQuorum(ctx, survivor.srv.node.client)
		if err == nil && after.LeaderID > 0 && after.LeaderID != before.LeaderID {
			if after.LeaderEpoch <= before.LeaderEpoch {
				t.Fatalf("new raft leader %d at term %d, not above the old leader's %d", after.LeaderID, after.LeaderEpoch, before.LeaderEpoch)
			}
			t.Logf("node %d leads etcd's raft after node %d was closed (term %d -> %d)",
				after.LeaderID, before.LeaderID, before.LeaderEpoch, after.LeaderEpoch)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no new raft leader after node %d was closed: %+v, %v", before.LeaderID, after, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := kadm.NewClient(mustClient(t, survivor.addr)).CreateTopic(ctx, 1, 2, nil, "after-raft-leader")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create a topic after the raft leader was closed: %v", err)
	}
}
