package server

// DescribeProducers, version 0.
//
// Lists the idempotent producers a partition keeps state for: producer id,
// epoch, last sequence and last timestamp. With no transactions the
// coordinator epoch and the current transaction start offset are -1.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(c *conn, h *reqHeader, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t, _ := c.s.topic(rt.Topic)
		allowed := c.authorize(h.key, auth.OpRead, auth.ResourceTopic, rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			l, code := partitionOf(t, kerr.UnknownTopicOrPartition.Code, p)
			if !allowed {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if code != 0 {
				sp.ErrorCode = code
			} else {
				for _, ps := range l.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID = ps.ProducerID
					ap.ProducerEpoch = int32(ps.ProducerEpoch)
					ap.LastSequence = ps.LastSequence
					ap.LastTimestamp = ps.LastTimestamp
					ap.CoordinatorEpoch = ps.CoordinatorEpoch
					ap.CurrentTxnStartOffset = ps.CurrentTxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			c.s.metrics.errorCode(h.key, sp.ErrorCode)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
