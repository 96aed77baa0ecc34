package server

// OffsetForLeaderEpoch, versions 0-4.
//
//	v1   the leader epoch of the end offset in the response (KIP-279)
//	v2   CurrentLeaderEpoch in the request, fenced by the leader (KIP-320);
//	     throttle time in the response
//	v3   ReplicaID in the request (KIP-392)
//	v4   flexible
//
// The answer is the partition's epoch cache's (log.EndOffsetForEpoch, as
// Kafka's LeaderEpochFileCache answers): the largest epoch <= the one
// requested and the start offset of the epoch after it (the log end
// offset for the latest); -1, -1 for an epoch newer than the latest or
// -1; an epoch older than every one known gets itself and the start of
// the earliest. On a single broker every partition leads at epoch 0 from
// its log start (its Manager makes it so), so that is:
//
//	requested == 0         end offset = log end offset, epoch 0
//	requested > 0 or == -1 unknown: epoch -1, end offset -1
//	requested < -1         epoch requested, end offset = log start offset
//
// A CurrentLeaderEpoch other than -1 (not known) or the partition's
// leader epoch is fenced (FENCED_LEADER_EPOCH below, UNKNOWN_LEADER_EPOCH
// above). ReplicaID says
// who asks: consumers send -1, older clients' default is -2 (debug), and a
// follower its broker id. With no authorizer and every partition led here,
// all of them get the leader's answer, as Kafka gives without an authorizer.
// In a cluster a consumer's request (ReplicaID < 0) for a partition this
// broker does not lead is NOT_LEADER_OR_FOLLOWER; a replica's is answered
// from the local log's epochs wherever it is held.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(c *conn, h *reqHeader, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	// As Kafka (KIP-320): ClusterAction on the cluster (a replica) reads
	// every topic, a consumer needs Describe on each.
	replica := c.permits(auth.OpClusterAction, auth.ResourceCluster, auth.ClusterName)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t, _ := s.topic(rt.Topic)
		allowed := replica || c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, rt.Topic)
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition() // epoch and offset -1
			sp.Partition = rp.Partition
			l, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, rp.Partition)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			case s.replicas != nil && req.ReplicaID < 0 && !s.leads(rt.Topic, rp.Partition):
				// In a cluster a consumer asks the leader; a replica may
				// ask any broker holding the partition.
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				if sp.ErrorCode = checkLeaderEpoch(l, rp.CurrentLeaderEpoch); sp.ErrorCode == 0 {
					sp.LeaderEpoch, sp.EndOffset = l.EndOffsetForEpoch(rp.LeaderEpoch)
				}
			}
			s.metrics.errorCode(h.key, sp.ErrorCode)
		}
	}
	return resp, nil
}
