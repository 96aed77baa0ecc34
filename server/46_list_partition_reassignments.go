package server

// ListPartitionReassignments, version 0 (KIP-455).
//
//	v0   flexible from the start: null topics list every reassignment in
//	     progress, else those of the named partitions
//
// Needs Describe on the cluster (CLUSTER_AUTHORIZATION_FAILED
// otherwise), as Kafka. Each partition being reassigned is listed with
// its replicas (the union of the old and the target ones), the replicas
// being added and those being removed, from this broker's snapshot of
// the metadata; named partitions that are unknown or not being
// reassigned are left out, as Kafka leaves them. A single broker has
// nothing to list.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(c *conn, h *reqHeader, req *kmsg.ListPartitionReassignmentsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !c.authorize(h.key, auth.OpDescribe, auth.ResourceCluster, auth.ClusterName) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	if s.node == nil {
		return resp, nil
	}
	if !s.node.started.Load() {
		resp.ErrorCode, resp.ErrorMessage = clusterErrorCode(errClusterNotReady), errorMessage(errClusterNotReady)
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	var named []cluster.TopicPartition
	if req.Topics != nil {
		named = []cluster.TopicPartition{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				named = append(named, cluster.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	for _, p := range cluster.Reassignments(s.node.snapshot(), named) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != p.Topic {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = p.Topic
			resp.Topics = append(resp.Topics, t)
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = p.Partition
		rp.Replicas = p.Replicas
		rp.AddingReplicas = nonNilIDs(p.AddingReplicas)
		rp.RemovingReplicas = nonNilIDs(p.RemovingReplicas)
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	return resp, nil
}

// nonNilIDs is ids, or an empty list for nil (Kafka's arrays here are not
// nullable).
func nonNilIDs(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
