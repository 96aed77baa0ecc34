package server

// Metadata before the cluster is joined. A restarting cluster broker
// listens before it has joined the cluster (it registers the addresses
// its listeners bound), so clients that knew it reconnect and ask it for
// Metadata while it has no snapshot yet: answered from the empty one, an
// existing topic would be UNKNOWN_TOPIC_OR_PARTITION, which clients take
// for "the topic does not exist" and, repeated, fail the records they
// buffered for it (franz-go after UnknownTopicRetries, 4 by default).
// Kafka's broker serves no client request before it has caught up with
// the metadata log (its request processing is enabled only then; a
// client's request waits in the meantime).
//
// Here Metadata waits, up to metadataJoinWait, until StartCluster has
// loaded the snapshot and registered the broker, and is answered from
// that snapshot. If the wait runs out (a quorum slow to form), the answer
// lists this broker alone and every named topic as LEADER_NOT_AVAILABLE,
// the retriable error franz-go, sarama, librdkafka and the Java client
// all answer by asking again after a backoff, without counting it as a
// missing topic; a request for all topics lists none. The bound is below
// every common client's request timeout (franz-go's 10 s overhead,
// sarama's and the Java client's 30 s, librdkafka's 60 s), so a held
// request is answered, not abandoned.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataJoinWait bounds how long Metadata waits for the node to join.
const metadataJoinWait = 5 * time.Second

// awaitJoined waits until the node has joined its cluster (StartCluster
// has set every field, the snapshot loaded, the broker registered and the
// fencer started), the server closes or max passes; it reports whether
// the node joined. Waiting on the channel, not on started, orders the
// caller after every field StartCluster set.
func (n *brokerNode) awaitJoined(max time.Duration) bool {
	select {
	case <-n.joined:
		return true
	default:
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	select {
	case <-n.joined:
		return true
	case <-n.s.closing:
	case <-timer.C:
	}
	return false
}

// metadataBeforeJoin answers req when the node has not joined within
// metadataJoinWait; ok is false once it has joined.
func (c *conn) metadataBeforeJoin(h *reqHeader, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) (kmsg.Response, bool) {
	n := c.s.node
	if n.awaitJoined(metadataJoinWait) {
		return nil, false
	}
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: n.self, Host: c.ln.advHost, Port: c.ln.advPort}}
	id := c.s.ClusterID()
	resp.ClusterID = &id
	resp.ControllerID = -1
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		return resp, true
	}
	for _, rt := range req.Topics {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = kerr.LeaderNotAvailable.Code
		c.s.metrics.errorCode(h.key, mt.ErrorCode)
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, true
}
