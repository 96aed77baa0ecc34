package server

// OffsetDelete, version 0 (KIP-496).
//
// Deletes committed offsets of a group. An empty group loses any of them; a
// consumer group with members keeps those of topics it still subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC per partition); another kind of group with
// members refuses (NON_EMPTY_GROUP). Partitions of unknown topics answer
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(c *conn, h *reqHeader, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !c.authorize(h.key, auth.OpDelete, auth.ResourceGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	var tps []consumergroup.TopicPartition
	var where []*int16 // where each entry of tps answers
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(t.Partitions))
		_, known := s.topic(t.Topic)
		allowed := c.authorize(h.key, auth.OpRead, auth.ResourceTopic, t.Topic)
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if !allowed {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			if !known {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			tps = append(tps, consumergroup.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			where = append(where, &rp.ErrorCode)
		}
	}
	errs, err := s.groups.DeleteOffsets(req.Group, tps)
	if err != nil {
		resp.Topics = nil // Kafka answers a group-level error alone
		resp.ErrorCode = errorCode(err)
	} else {
		for i, e := range errs {
			*where[i] = errorCode(e)
		}
	}
	s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}
