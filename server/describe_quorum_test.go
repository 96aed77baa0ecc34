package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// fakeQuorum is a three-voter quorum led by node 2 at term 5, with a
// learner, node 4, that has not answered.
func fakeQuorum(context.Context) (cluster.QuorumStatus, error) {
	return cluster.QuorumStatus{
		LeaderID: 2, LeaderEpoch: 5, HighWatermark: 120,
		Voters: []cluster.QuorumMember{
			{ID: 1, LogEndOffset: 118, LastFetchTimestamp: 1700000000100, LastCaughtUpTimestamp: 1700000000000, Host: "127.0.0.2", Port: 9093},
			{ID: 2, LogEndOffset: 121, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1, Host: "127.0.0.3", Port: 9093},
			{ID: 3, LogEndOffset: 120, LastFetchTimestamp: 1700000000200, LastCaughtUpTimestamp: 1700000000200, Host: "127.0.0.4", Port: 9093},
		},
		Observers: []cluster.QuorumMember{{ID: 4, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}},
	}, nil
}

func describeQuorumRequest(version int16, topic string, partitions ...int32) *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.Version = version
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = p
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	return req
}

// TestDescribeQuorumAnswersFromTheQuorumProvider: the metadata partition's
// leader, term, commit index and every member, at each version with the
// fields it carries.
func TestDescribeQuorumAnswersFromTheQuorumProvider(t *testing.T) {
	b := startBroker(t)
	b.srv.setQuorumDescriber(fakeQuorum)
	conn := dialProbe(t, b.addr)
	for v := int16(0); v <= 2; v++ {
		resp := conn.roundTrip(describeQuorumRequest(v, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if resp.Topics[0].Topic != quorumTopic || p.ErrorCode != 0 || p.LeaderID != 2 || p.LeaderEpoch != 5 || p.HighWatermark != 120 {
			t.Errorf("v%d: partition %+v", v, p)
		}
		if len(p.CurrentVoters) != 3 || len(p.Observers) != 1 {
			t.Fatalf("v%d: voters %+v observers %+v", v, p.CurrentVoters, p.Observers)
		}
		v1 := p.CurrentVoters[0]
		if v1.ReplicaID != 1 || v1.LogEndOffset != 118 || p.Observers[0].ReplicaID != 4 || p.Observers[0].LogEndOffset != -1 {
			t.Errorf("v%d: voter %+v observer %+v", v, v1, p.Observers[0])
		}
		wantFetch := int64(-1) // v0 has no timestamps: the default
		if v >= 1 {
			wantFetch = 1700000000100
		}
		if v1.LastFetchTimestamp != wantFetch {
			t.Errorf("v%d: last fetch %d, want %d", v, v1.LastFetchTimestamp, wantFetch)
		}
		wantNodes := 0
		if v >= 2 {
			wantNodes = 3 // the learner has no known address
		}
		if len(resp.Nodes) != wantNodes {
			t.Fatalf("v%d: nodes %+v, want %d", v, resp.Nodes, wantNodes)
		}
		if v >= 2 {
			n := resp.Nodes[2]
			if n.NodeID != 3 || len(n.Listeners) != 1 || n.Listeners[0].Name != "CONTROLLER" || n.Listeners[0].Host != "127.0.0.4" || n.Listeners[0].Port != 9093 {
				t.Errorf("v2: node %+v", n)
			}
		}
	}
}

// TestDescribeQuorumErrors: a single broker has no quorum; another
// partition than the metadata one is unknown; a quorum that cannot be
// read is the partition's error, with the reason in v2.
func TestDescribeQuorumErrors(t *testing.T) {
	b := startBroker(t)
	conn := dialProbe(t, b.addr)

	resp := conn.roundTrip(describeQuorumRequest(2, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ErrorMessage == nil || len(resp.Topics) != 0 {
		t.Errorf("single broker: %+v", resp)
	}
	resp = conn.roundTrip(describeQuorumRequest(0, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("single broker v0: error %d", resp.ErrorCode)
	}

	b.srv.setQuorumDescriber(fakeQuorum)
	for _, tc := range []struct {
		name  string
		topic string
		parts []int32
	}{
		{"other topic", "events", []int32{0}},
		{"other partition", quorumTopic, []int32{1}},
		{"two partitions", quorumTopic, []int32{0, 1}},
	} {
		resp := conn.roundTrip(describeQuorumRequest(2, tc.topic, tc.parts...)).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(tc.parts) {
			t.Fatalf("%s: %+v", tc.name, resp)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.ErrorMessage == nil {
				t.Errorf("%s: partition %+v", tc.name, p)
			}
		}
	}

	b.srv.setQuorumDescriber(func(context.Context) (cluster.QuorumStatus, error) {
		return cluster.QuorumStatus{}, errors.New("etcdserver: no leader")
	})
	resp = conn.roundTrip(describeQuorumRequest(2, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("failing quorum: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.UnknownServerError.Code || p.LeaderID != -1 || p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "no leader") {
		t.Errorf("failing quorum: partition %+v", p)
	}
	b.srv.setQuorumDescriber(func(ctx context.Context) (cluster.QuorumStatus, error) {
		return cluster.QuorumStatus{}, context.DeadlineExceeded
	})
	resp = conn.roundTrip(describeQuorumRequest(1, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("timed out quorum: partition %+v", p)
	}
}

// TestDescribeQuorumNeedsClusterDescribe: as Kafka, describing the quorum
// needs Describe on the cluster.
func TestDescribeQuorumNeedsClusterDescribe(t *testing.T) {
	b := startBroker(t, withAuthorizer())
	b.srv.setQuorumDescriber(fakeQuorum)
	resp := dialProbe(t, b.addr).roundTrip(describeQuorumRequest(2, quorumTopic, quorumPartition)).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.Topics) != 0 {
		t.Errorf("anonymous without ACLs: %+v", resp)
	}
}
