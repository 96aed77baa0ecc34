package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterStatusOnSingleBroker: a single broker is a cluster of one,
// node 0 and its controller, with no metadata quorum and no partition at
// risk.
func TestClusterStatusOnSingleBroker(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events", "--partitions", "2")

	r := b.must(t, "", "cluster", "status", "--output", "json")
	var st clusterStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if st.ClusterID != "tributary" || st.Controller != 0 || len(st.Brokers) != 1 || st.Brokers[0].ID != 0 {
		t.Errorf("cluster %q controller %d brokers %+v", st.ClusterID, st.Controller, st.Brokers)
	}
	if len(st.Brokers) == 1 && (len(st.Brokers[0].Endpoints) != 1 || st.Brokers[0].Endpoints[0] != b.addr) {
		t.Errorf("endpoints %v, want [%s]", st.Brokers[0].Endpoints, b.addr)
	}
	if st.Partitions != 2 || st.UnderReplicated == nil || len(st.UnderReplicated) != 0 || st.Offline == nil || len(st.Offline) != 0 {
		t.Errorf("partitions %d under-replicated %v offline %v", st.Partitions, st.UnderReplicated, st.Offline)
	}
	if st.Quorum != nil || !strings.Contains(st.QuorumError, "single broker") {
		t.Errorf("quorum %+v error %q", st.Quorum, st.QuorumError)
	}

	r = b.must(t, "", "cluster", "status")
	for _, want := range []string{"CLUSTER-ID", "tributary", "BROKER", b.addr, "broker,controller", "QUORUM  none: a single broker has no metadata quorum"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "under-replicated") || strings.Contains(r.stdout, "offline") {
		t.Errorf("a partition listed as at risk:\n%s", r.stdout)
	}
	b.fails(t, 2, "unknown command", "cluster", "frobnicate")
}

// quorumResponse is a DescribeQuorum answer of three voters led by 2 at
// term 5 with commit index 120; leo gives each voter's log end offset (-1:
// it did not answer).
func quorumResponse(leader int32, leo ...int64) *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = quorumTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = leader, 5, 120
	for i, o := range leo {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset = int32(i+1), o
		if o >= 0 {
			r.LastCaughtUpTimestamp = 1700000000000
		}
		p.CurrentVoters = append(p.CurrentVoters, r)
	}
	obs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	obs.ReplicaID, obs.LogEndOffset = 4, 100
	p.Observers = append(p.Observers, obs)
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	return resp
}

func TestQuorumHealthFromDescribeQuorum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resp   *kmsg.DescribeQuorumResponse
		health string
		err    string
	}{
		{"every voter answers", quorumResponse(2, 118, 121, 120), quorumHealthy, ""},
		{"one of three silent", quorumResponse(2, -1, 121, 120), quorumDegraded, ""},
		{"two of three silent", quorumResponse(2, -1, 121, -1), quorumUnavailable, ""},
		{"no leader", quorumResponse(-1, 118, 121, 120), quorumUnavailable, ""},
		{"single broker", func() *kmsg.DescribeQuorumResponse {
			r := kmsg.NewPtrDescribeQuorumResponse()
			r.ErrorCode = kerr.UnsupportedVersion.Code
			return r
		}(), "", "single broker"},
		{"partition error", func() *kmsg.DescribeQuorumResponse {
			r := quorumResponse(-1)
			r.Topics[0].Partitions[0].ErrorCode = kerr.RequestTimedOut.Code
			msg := "etcd did not answer"
			r.Topics[0].Partitions[0].ErrorMessage = &msg
			return r
		}(), "", "REQUEST_TIMED_OUT"},
		{"no partition", kmsg.NewPtrDescribeQuorumResponse(), "", "want __cluster_metadata-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := quorumFromResponse(tc.resp)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Health != tc.health {
				t.Errorf("health %s, want %s", q.Health, tc.health)
			}
		})
	}
	q, err := quorumFromResponse(quorumResponse(2, 118, 121, -1))
	if err != nil {
		t.Fatal(err)
	}
	want := []quorumMember{
		{ID: 1, Role: "voter", LogEndOffset: 118, Lag: 2, LastCaughtUp: "2023-11-14T22:13:20Z"},
		{ID: 2, Role: "leader", LogEndOffset: 121, Lag: 0, LastCaughtUp: "2023-11-14T22:13:20Z"},
		{ID: 3, Role: "voter", LogEndOffset: -1, Lag: -1},
		{ID: 4, Role: "observer", LogEndOffset: 100, Lag: 20},
	}
	if len(q.Members) != len(want) {
		t.Fatalf("members %+v", q.Members)
	}
	for i := range want {
		if q.Members[i] != want[i] {
			t.Errorf("member %d: %+v, want %+v", i, q.Members[i], want[i])
		}
	}
}

// TestClusterStatusText pins the text layout of a three-broker cluster
// with a degraded quorum and partitions at risk.
func TestClusterStatusText(t *testing.T) {
	q, err := quorumFromResponse(quorumResponse(2, 118, 121, -1))
	if err != nil {
		t.Fatal(err)
	}
	st := clusterStatus{
		ClusterID: "prod-eu", Controller: 2, Partitions: 12,
		Brokers: []clusterBroker{
			{ID: 1, Rack: "a", Endpoints: []string{"127.0.0.2:9092"}},
			{ID: 2, Rack: "b", Endpoints: []string{"127.0.0.3:9092"}},
		},
		UnderReplicated: []partitionStanding{{Topic: "events", Partition: 3, Leader: 1, Replicas: []int32{1, 3, 2}, ISR: []int32{1, 2}, OfflineReplicas: []int32{3}}},
		Offline:         []partitionStanding{{Topic: "audit", Partition: 0, Leader: -1, Replicas: []int32{3}, ISR: []int32{3}, OfflineReplicas: []int32{3}}},
		Quorum:          q,
	}
	var out bytes.Buffer
	if err := printClusterStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	golden(t, "cluster_status.golden", out.String())
}
