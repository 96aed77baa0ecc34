package server

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestClusterVoterRemovedThroughEtcdMembershipLeavesAWorkingQuorum pins
// the README's steps for removing a voter: stop the broker, remove its
// etcd member (etcdctl member remove, here the same call through an etcd
// client of a remaining voter), drop it from controller.quorum.voters.
// The two voters left are the quorum (DescribeQuorum shows two), take
// writes (a topic, acks=all records), and a restarted voter rejoins
// from its WAL with the shorter voter list.
func TestClusterVoterRemovedThroughEtcdMembershipLeavesAWorkingQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	tc := startTestCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tc.node(3).stop(false)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + tc.voterClientAddr(1)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	list, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.Members, func(m *etcdserverpb.Member) bool { return m.Name == "3" })
	if i < 0 {
		t.Fatalf("no member named 3 in %v", list.Members)
	}
	if _, err := cli.MemberRemove(ctx, list.Members[i].ID); err != nil {
		t.Fatalf("member remove: %v", err)
	}
	tc.voters = slices.DeleteFunc(tc.voters, func(v Voter) bool { return v.ID == 3 })

	tc.waitFor(tc.node(1), "two brokers", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 2 && m.ControllerID >= 1 })
	quorum := func() int {
		dq := kmsg.NewPtrDescribeQuorumRequest()
		dt := kmsg.NewDescribeQuorumRequestTopic()
		dt.Topic = "__cluster_metadata"
		dt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
		dq.Topics = append(dq.Topics, dt)
		r, err := dq.RequestWith(ctx, mustClient(t, tc.node(1).addr))
		if err != nil || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			t.Fatalf("describe quorum: %+v %v", r, err)
		}
		return len(r.Topics[0].Partitions[0].CurrentVoters)
	}
	if n := quorum(); n != 2 {
		t.Errorf("describe quorum: %d voters, want 2", n)
	}
	produce := func(topic string) {
		t.Helper()
		if _, err := kadm.NewClient(mustClient(t, tc.node(2).addr)).CreateTopic(ctx, 1, 2, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		cl := mustClient(t, tc.node(1).addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	produce("after-removal")

	// A voter restarts with controller.quorum.voters naming the two.
	tc.node(1).stop(false)
	if err := tc.start(tc.node(1)); err != nil {
		t.Fatalf("restart node 1: %v", err)
	}
	tc.waitFor(tc.node(2), "two brokers after the restart", func(m *kmsg.MetadataResponse) bool { return len(m.Brokers) == 2 && m.ControllerID >= 1 })
	produce("after-restart")
	if n := quorum(); n != 2 {
		t.Errorf("describe quorum after the restart: %d voters, want 2", n)
	}
}

// voterClientAddr is where voter id's etcd serves clients: its controller
// port + 1.
func (tc *testCluster) voterClientAddr(id int32) string {
	for _, v := range tc.voters {
		if v.ID == id {
			return net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port)+ControllerClientPortOffset))
		}
	}
	tc.t.Fatalf("no voter %d", id)
	return ""
}
