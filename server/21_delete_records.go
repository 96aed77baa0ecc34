package server

// DeleteRecords, versions 0-2.
//
//	v1   no wire change (throttle applied after the response, KIP-219)
//	v2   flexible
//
// DeleteRecords moves a partition's log start offset (its low watermark) up
// to the requested offset; -1 means the high watermark, which is the log end
// offset on a single broker. An offset below the log start offset
// changes nothing; one above the high watermark, or below -1, is
// OFFSET_OUT_OF_RANGE. The response carries the new low watermark, and
// segments wholly below it are deleted at once. Internal topics
// (__consumer_offsets) answer INVALID_TOPIC_EXCEPTION, as Kafka.
//
// In a cluster only the leader deletes (NOT_LEADER_OR_FOLLOWER elsewhere),
// up to its high watermark. Kafka answers once every follower's log start
// has passed the new low watermark; Tributary answers once the leader's
// has, without waiting for the followers (whose fetches carry the
// leader's log start offset).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// deleteToHighWatermark is the Offset that asks DeleteRecords to delete
// every record below the high watermark.
const deleteToHighWatermark = -1

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(c *conn, h *reqHeader, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t, _ := s.topic(rt.Topic)
		allowed := c.authorize(h.key, auth.OpDelete, auth.ResourceTopic, rt.Topic)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if !allowed {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if l, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, rp.Partition); code != 0 {
				sp.ErrorCode = code
			} else if kafkaInternalTopic(t.Name) {
				// As Kafka: the coordinator's records are not the
				// client's to delete.
				sp.ErrorCode = kerr.InvalidTopicException.Code
			} else if s.replicas != nil && !s.leads(t.Name, rp.Partition) {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			} else {
				sp.LowWatermark, sp.ErrorCode = deleteRecords(l, rp.Offset)
			}
			s.metrics.errorCode(h.key, sp.ErrorCode)
		}
	}
	return resp, nil
}

// deleteRecords deletes the records of l below offset and returns the new
// low watermark, or -1 and an error code.
func deleteRecords(l *tlog.Log, offset int64) (int64, int16) {
	hw := l.HighWatermark() // the log end offset unless replicated
	if offset == deleteToHighWatermark {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, kerr.OffsetOutOfRange.Code
	}
	low, err := l.DeleteRecordsBefore(offset)
	if err != nil {
		return -1, errorCode(err)
	}
	return low, 0
}
