package server

// OffsetForLeaderEpoch, versions 0-4.
//
//	v1   the leader epoch of the end offset in the response (KIP-279)
//	v2   CurrentLeaderEpoch in the request, fenced by the leader (KIP-320);
//	     throttle time in the response
//	v3   ReplicaID in the request (KIP-392)
//	v4   flexible
//
// Every partition has had one leader epoch, leaderEpoch (0), since offset
// 0, so Kafka's epoch-cache lookup reduces to:
//
//	requested == 0         end offset = log end offset, epoch 0
//	requested > 0 or == -1 unknown: epoch -1, end offset -1
//	requested < -1         epoch requested, end offset = log start offset
//	                       (the start of the earliest epoch, as Kafka answers
//	                       an epoch older than any it knows)
//
// A CurrentLeaderEpoch other than -1 (not known) or 0 is fenced
// (FENCED_LEADER_EPOCH below, UNKNOWN_LEADER_EPOCH above). ReplicaID says
// who asks: consumers send -1, older clients' default is -2 (debug), and a
// follower its broker id. With no authorizer and every partition led here,
// all of them get the leader's answer, as Kafka gives without an authorizer.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// undefinedEpoch is Kafka's UNDEFINED_EPOCH, in requests and responses.
const undefinedEpoch = -1

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
			l := partitionLog(t, rp.Partition)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case l == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch); sp.ErrorCode == 0 {
					sp.LeaderEpoch, sp.EndOffset = endOffsetForEpoch(l, rp.LeaderEpoch)
				}
			}
			s.metrics.errorCode(h.key, sp.ErrorCode)
		}
	}
	return resp, nil
}

// endOffsetForEpoch is the largest epoch <= requested and the end offset of
// that epoch, with one epoch (leaderEpoch) covering the whole log.
func endOffsetForEpoch(l *tlog.Log, requested int32) (int32, int64) {
	switch {
	case requested == leaderEpoch:
		return leaderEpoch, l.NextOffset()
	case requested > leaderEpoch || requested == undefinedEpoch:
		return undefinedEpoch, -1
	default:
		return requested, l.StartOffset()
	}
}
