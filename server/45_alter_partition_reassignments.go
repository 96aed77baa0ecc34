package server

// AlterPartitionReassignments, versions 0-1 (KIP-455).
//
//	v0   flexible from the start: TimeoutMillis, per partition a target
//	     replica list, or null to cancel the reassignment in progress
//	v1   AllowReplicationFactorChange (KIP-860): when false a target of
//	     another size than the partition's replicas is
//	     INVALID_REPLICATION_FACTOR
//
// Needs Alter on the cluster (CLUSTER_AUTHORIZATION_FAILED on the
// response and every partition otherwise), as Kafka. In a cluster the
// broker that receives it writes the reassignments to the metadata store
// (cluster.Controller.AlterReassignments, a compare-and-swap of each
// partition's state, as ElectLeaders and topic creation are written by
// any broker) and answers once its own snapshot shows them; the active
// controller then drives each one to completion (cluster/reassign.go).
// Per partition: UNKNOWN_TOPIC_OR_PARTITION; INVALID_REPLICA_ASSIGNMENT
// for an empty target, a broker named twice or one not registered;
// NO_REASSIGNMENT_IN_PROGRESS for a cancellation of nothing. A single
// broker is a one-broker cluster: a target of itself alone changes
// nothing, any other is INVALID_REPLICA_ASSIGNMENT, a cancellation
// NO_REASSIGNMENT_IN_PROGRESS.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
)

func init() { register(45, 0, 1, handleAlterPartitionReassignments) }

func handleAlterPartitionReassignments(c *conn, h *reqHeader, req *kmsg.AlterPartitionAssignmentsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	answer := func(code func(tp cluster.TopicPartition) (int16, *string)) {
		for _, rt := range req.Topics {
			t := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				p.Partition = rp.Partition
				p.ErrorCode, p.ErrorMessage = code(cluster.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				s.metrics.errorCode(h.key, p.ErrorCode)
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
	}
	if !c.authorize(h.key, auth.OpAlter, auth.ResourceCluster, auth.ClusterName) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		answer(func(cluster.TopicPartition) (int16, *string) { return resp.ErrorCode, nil })
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	targets := make(map[cluster.TopicPartition][]int32)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			// kmsg decodes a null list as nil (a cancellation) and an
			// empty one as empty (refused as an invalid assignment).
			targets[cluster.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.Replicas
		}
	}
	if s.node == nil {
		answer(func(tp cluster.TopicPartition) (int16, *string) {
			return s.singleBrokerReassign(tp, targets[tp], allowRF)
		})
		return resp, nil
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 || timeout > createWaitTimeout {
		timeout = createWaitTimeout
	}
	errs, err := s.node.alterReassignments(timeout, targets, allowRF)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = reassignErrorCode(err), errorMessage(err)
		answer(func(cluster.TopicPartition) (int16, *string) { return resp.ErrorCode, nil })
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	answer(func(tp cluster.TopicPartition) (int16, *string) {
		if err := errs[tp]; err != nil {
			return reassignErrorCode(err), errorMessage(err)
		}
		return 0, nil
	})
	return resp, nil
}

// reassignErrorCode maps the errors of a reassignment: the cluster
// package's own two, then as every cluster error.
func reassignErrorCode(err error) int16 {
	switch {
	case errors.Is(err, cluster.ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, cluster.ErrReplicationFactorChange):
		return kerr.InvalidReplicationFactor.Code
	}
	return clusterErrorCode(err)
}

// singleBrokerReassign answers one partition's reassignment on a single
// broker, a cluster of one broker whose every partition has the one
// replica NodeID.
func (s *Server) singleBrokerReassign(tp cluster.TopicPartition, target []int32, allowRF bool) (int16, *string) {
	t, _ := s.topic(tp.Topic)
	if _, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, tp.Partition); code != 0 {
		return code, nil
	}
	if target == nil {
		return kerr.NoReassignmentInProgress.Code, adminMsg("No reassignment of %s-%d is in progress.", tp.Topic, tp.Partition)
	}
	err := cluster.CheckAssignment([][]int32{target}, tp.Partition, 0, func(id int32) bool { return id == NodeID })
	if err == nil && !allowRF && len(target) != 1 {
		err = fmt.Errorf("%w: %s-%d has 1 replica, target %v", cluster.ErrReplicationFactorChange, tp.Topic, tp.Partition, target)
	}
	if err != nil {
		return reassignErrorCode(err), errorMessage(err)
	}
	return 0, nil
}

// alterReassignments writes reassignments (a nil target cancels) and
// waits until this broker's snapshot shows what it wrote, so that a
// ListPartitionReassignments sent here next sees them. It returns, per
// partition refused, why.
func (n *brokerNode) alterReassignments(timeout time.Duration, targets map[cluster.TopicPartition][]int32, allowRF bool) (map[cluster.TopicPartition]error, error) {
	if !n.started.Load() {
		return nil, errClusterNotReady
	}
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	errs, written, err := n.admin.AlterReassignments(ctx, targets, allowRF)
	if err != nil {
		return nil, err
	}
	for _, p := range written {
		n.log.Info("server: partition reassignment", "topic", p.Topic, "partition", p.Partition, "replicas", p.Replicas,
			"target", p.TargetReplicas, "adding", p.AddingReplicas, "removing", p.RemovingReplicas)
	}
	err = n.waitLocal(ctx, func() bool {
		snap := n.snapshot()
		for _, p := range written {
			if cur, ok := snap.Partition(p.Topic, p.Partition); ok && cur.PartitionEpoch < p.PartitionEpoch {
				return false
			}
		}
		return true
	})
	return errs, err
}
