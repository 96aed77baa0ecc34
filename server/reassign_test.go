package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPartitionReassignmentOnOneBrokerAnswersAsAOneBrokerCluster: a
// single broker is a cluster of one: a partition's only possible replica
// list is this broker alone (accepted, changing nothing), any other is
// INVALID_REPLICA_ASSIGNMENT, a cancellation finds nothing in progress,
// unknown partitions are UNKNOWN_TOPIC_OR_PARTITION, a replication factor
// change is refused when the request forbids it, and nothing is listed.
func TestPartitionReassignmentOnOneBrokerAnswersAsAOneBrokerCluster(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("t", 0, []int32{NodeID})
	req.Assign("t", 1, []int32{NodeID + 1})
	req.CancelAssign("t", 2)
	req.Assign("t", 9, []int32{NodeID})
	req.Assign("missing", 0, []int32{NodeID})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  error
	}{
		{"t", 0, nil},
		{"t", 1, kerr.InvalidReplicaAssignment},
		{"t", 2, kerr.NoReassignmentInProgress},
		{"t", 9, kerr.UnknownTopicOrPartition},
		{"missing", 0, kerr.UnknownTopicOrPartition},
	} {
		got := res[c.topic][c.p].Err
		if (c.want == nil) != (got == nil) || !errors.Is(got, c.want) && c.want != nil {
			t.Errorf("%s-%d: %v, want %v", c.topic, c.p, got, c.want)
		}
	}

	// What kadm cannot send: an empty list, a broker twice, a negative
	// id, and v1's refusal of a replication factor change.
	raw := func(allowRF bool, replicas ...[]int32) *kmsg.AlterPartitionAssignmentsResponse {
		t.Helper()
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.AllowReplicationFactorChange = allowRF
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = "t"
		for _, rs := range replicas {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Replicas = rs
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{rt}
		resp, err := r.RequestWith(ctx, b.client())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, c := range []struct {
		replicas []int32
		allowRF  bool
		want     int16
	}{
		{[]int32{}, true, kerr.InvalidReplicaAssignment.Code},
		{[]int32{NodeID, NodeID}, true, kerr.InvalidReplicaAssignment.Code},
		{[]int32{-1}, true, kerr.InvalidReplicaAssignment.Code},
		{[]int32{NodeID}, false, 0},
	} {
		resp := raw(c.allowRF, c.replicas)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != c.want {
			t.Errorf("replicas %v (allow RF change %v): %+v, want partition error %v", c.replicas, c.allowRF, resp, kerr.ErrorForCode(c.want))
		}
	}

	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"t": {0: {}, 1: {}}})
	if err != nil || len(listed) != 0 {
		t.Fatalf("listed %v, %v; want nothing", listed, err)
	}
	all, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, b.client())
	if err != nil || all.ErrorCode != 0 || len(all.Topics) != 0 {
		t.Fatalf("list all: %+v, %v", all, err)
	}
}
