package server

// ListOffsets, versions 1-11.
//
//	v1   one offset per partition (v0's list of offsets is not served)
//	v2   isolation level
//	v4   current leader epoch in, leader epoch out (KIP-320)
//	v6   flexible
//	v7   MAX_TIMESTAMP (-3): the record with the largest timestamp (KIP-734)
//	v8   EARLIEST_LOCAL (-4) (KIP-405)
//	v9   LATEST_TIERED (-5) (KIP-1005)
//	v10  timeout
//	v11  EARLIEST_PENDING_UPLOAD (-6)
//
// With no transactions the last stable offset is the high watermark, so
// both isolation levels get the same answer. With no tiered storage the
// earliest local offset is the log start offset, and the tiered queries
// find nothing (-1).
//
// In a cluster only the partition's leader answers
// (NOT_LEADER_OR_FOLLOWER elsewhere). A new leader whose high watermark
// is still below the start of its leader epoch answers
// OFFSET_NOT_AVAILABLE to consumers until it catches up (KIP-207), as
// the latest committed offset is not known yet. A replica (ReplicaID >= 0,
// a follower resolving OFFSET_OUT_OF_RANGE) is answered the leader's log
// end for LATEST, not the high watermark.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// Special timestamps of ListOffsets.
const (
	listLatest                = -1
	listEarliest              = -2
	listMaxTimestamp          = -3
	listEarliestLocal         = -4
	listLatestTiered          = -5
	listEarliestPendingUpload = -6
)

func init() { register(2, 1, 11, handleListOffsets) }

func handleListOffsets(c *conn, h *reqHeader, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t, _ := s.topic(rt.Topic)
		allowed := c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			l, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, rp.Partition)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			case s.replicas != nil:
				s.clusterListOffset(l, rt.Topic, req.ReplicaID, rp, sp)
			default:
				if sp.ErrorCode = checkLeaderEpoch(l, rp.CurrentLeaderEpoch); sp.ErrorCode == 0 {
					listOffset(l, rp.Timestamp, sp)
				}
			}
			s.metrics.errorCode(h.key, sp.ErrorCode)
		}
	}
	return resp, nil
}

func listOffset(l *tlog.Log, ts int64, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.LeaderEpoch = l.LeaderEpoch()
	sp.Timestamp = -1
	var err error
	switch ts {
	case listLatest:
		sp.Offset = l.HighWatermark() // what a consumer may read: the log end unless replicated
	case listEarliest, listEarliestLocal:
		sp.Offset = l.StartOffset()
	case listMaxTimestamp:
		sp.Timestamp, sp.Offset, err = l.MaxTimestamp()
	case listLatestTiered, listEarliestPendingUpload:
		sp.Offset = -1
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		sp.Offset, sp.Timestamp, err = l.OffsetForTimestamp(ts)
	}
	if err != nil {
		sp.ErrorCode = errorCode(err)
		sp.Offset, sp.Timestamp = -1, -1
	}
}

// clusterListOffset answers one partition of ListOffsets in a cluster.
func (s *Server) clusterListOffset(l *tlog.Log, topic string, replicaID int32, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	if _, ok := s.partitionLeader(topic, rp.Partition); !ok {
		sp.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	if sp.ErrorCode = checkLeaderEpoch(l, rp.CurrentLeaderEpoch); sp.ErrorCode != 0 {
		return
	}
	if replicaID >= 0 {
		sp.LeaderEpoch, sp.Timestamp = l.LeaderEpoch(), -1
		switch rp.Timestamp {
		case listLatest:
			sp.Offset = l.NextOffset()
			return
		case listEarliest, listEarliestLocal:
			sp.Offset = l.StartOffset()
			return
		}
	} else if epochStartAhead(l) && rp.Timestamp != listLatestTiered && rp.Timestamp != listEarliestPendingUpload {
		sp.ErrorCode = kerr.OffsetNotAvailable.Code
		sp.Offset = -1
		return
	}
	listOffset(l, rp.Timestamp, sp)
}
