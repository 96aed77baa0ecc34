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
// up to its high watermark, and the answer waits as Kafka's
// DelayedDeleteRecords does: the low watermark is the lowest log start
// offset over the leader and its live followers (replica.Leader's
// LowWatermark; a follower's fetch answer carries the leader's new log
// start offset, the follower moves its own up to it and reports it in its
// next fetch), and each partition is answered once it reaches the offset
// asked for. The partitions of one request wait together, up to its
// TimeoutMillis; one still short then answers REQUEST_TIMED_OUT with the
// low watermark reached so far, one whose leadership moved meanwhile
// NOT_LEADER_OR_FOLLOWER.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// deleteToHighWatermark is the Offset that asks DeleteRecords to delete
// every record below the high watermark.
const deleteToHighWatermark = -1

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(c *conn, h *reqHeader, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	var waits []lowWatermarkWait // partitions of a broker in a cluster
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
			} else if s.replicas == nil {
				_, sp.LowWatermark, sp.ErrorCode = deleteRecords(l, rp.Offset)
			} else if ld, ok := s.partitionLeader(t.Name, rp.Partition); !ok {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			} else {
				var target int64
				target, sp.LowWatermark, sp.ErrorCode = deleteRecords(l, rp.Offset)
				if sp.ErrorCode == 0 {
					waits = append(waits, lowWatermarkWait{ld: ld, offset: target, sp: sp})
					continue // counted once answered
				}
			}
			s.metrics.errorCode(h.key, sp.ErrorCode)
		}
	}
	if len(waits) > 0 {
		s.waitLowWatermarks(waits, req.TimeoutMillis)
		for i := range waits {
			s.metrics.errorCode(h.key, waits[i].sp.ErrorCode)
		}
	}
	return resp, nil
}

// deleteRecords deletes the records of l below offset (the high watermark
// for deleteToHighWatermark), which it returns as target, with the new
// log start offset of l, or an error code.
func deleteRecords(l *tlog.Log, offset int64) (target, low int64, code int16) {
	hw := l.HighWatermark() // the log end offset unless replicated
	if offset == deleteToHighWatermark {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, -1, kerr.OffsetOutOfRange.Code
	}
	low, err := l.DeleteRecordsBefore(offset)
	if err != nil {
		return -1, -1, errorCode(err)
	}
	return offset, low, 0
}

// lowWatermarkWait is one partition of a DeleteRecords in a cluster,
// waiting for the low watermark to reach offset.
type lowWatermarkWait struct {
	ld     *replica.Leader
	offset int64
	sp     *kmsg.DeleteRecordsResponseTopicPartition
}

// waitLowWatermarks waits for every partition of a DeleteRecords at once,
// up to the request's timeoutMillis, and fills in each one's low
// watermark, or its error: REQUEST_TIMED_OUT with the low watermark
// reached so far, NOT_LEADER_OR_FOLLOWER with -1 if leadership moved.
func (s *Server) waitLowWatermarks(waits []lowWatermarkWait, timeoutMillis int32) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(max(timeoutMillis, 0))*time.Millisecond)
	defer cancel()
	for i := range waits {
		w := &waits[i]
		low, err := w.ld.WaitLowWatermark(ctx, w.offset)
		w.sp.LowWatermark = low
		if err != nil {
			w.sp.ErrorCode = errorCode(err)
		}
	}
}
