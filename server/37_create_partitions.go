package server

// CreatePartitions, versions 0-3.
//
//	v1   no wire change (throttle applied after the response, KIP-219)
//	v2   flexible
//	v3   no wire change (THROTTLING_QUOTA_EXCEEDED, never sent here)
//
// Partitions can only be added: a count not above the current one is
// INVALID_PARTITIONS. A manual assignment, when given, needs one replica
// list per new partition, each as long as the topic's first partition's,
// naming registered brokers once each (INVALID_REPLICA_ASSIGNMENT
// otherwise, as Kafka's controller): on a single broker node 0 alone, in
// a cluster any live broker, the first replica the preferred leader. A topic named twice in one request is refused (INVALID_REQUEST,
// answered once). Existing records keep their partitions; keyed producers
// see their key-to-partition mapping change, as in Kafka.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(c *conn, h *reqHeader, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		if answered[rt.Topic] {
			continue // a duplicate, answered once under its name as Kafka does
		}
		answered[rt.Topic] = true
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		switch {
		case count[rt.Topic] > 1:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, msgDuplicateTopic
		case !c.authorize(h.key, auth.OpAlter, auth.ResourceTopic, rt.Topic):
			st.ErrorCode, st.ErrorMessage = kerr.TopicAuthorizationFailed.Code, kmsg.StringPtr("The topic authorization is failed.")
		default:
			st.ErrorCode, st.ErrorMessage = s.createPartitions(rt, req.ValidateOnly)
		}
		s.metrics.errorCode(h.key, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) createPartitions(rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) (int16, *string) {
	t, ok := s.topic(rt.Topic)
	if !ok {
		return kerr.UnknownTopicOrPartition.Code, adminMsg("Topic %q does not exist.", rt.Topic)
	}
	if kafkaInternalTopic(rt.Topic) {
		return kerr.InvalidRequest.Code, adminMsg("Cannot change the partition count of internal topic %s.", rt.Topic)
	}
	cur := int32(len(t.Partitions))
	switch {
	case rt.Count == cur:
		return kerr.InvalidPartitions.Code, adminMsg("Topic %q already has %d partition(s).", rt.Topic, cur)
	case rt.Count < cur:
		return kerr.InvalidPartitions.Code, adminMsg("Topic %q currently has %d partition(s); %d would not be an increase.", rt.Topic, cur, rt.Count)
	case rt.Count > tlog.MaxPartitions:
		return kerr.InvalidPartitions.Code, adminMsg("%d partitions requested; at most %d are allowed.", rt.Count, tlog.MaxPartitions)
	}
	var assignment [][]int32
	if rt.Assignment != nil {
		if added := rt.Count - cur; int32(len(rt.Assignment)) != added {
			return kerr.InvalidReplicaAssignment.Code, adminMsg("Attempted to add %d additional partition(s), but %d assignment(s) were specified.", added, len(rt.Assignment))
		}
		assignment = make([][]int32, len(rt.Assignment))
		for i, a := range rt.Assignment {
			assignment[i] = a.Replicas
		}
		if err := cluster.CheckAssignment(assignment, cur, s.replicationFactorOf(rt.Topic), s.brokerRegistered); err != nil {
			return kerr.InvalidReplicaAssignment.Code, errorMessage(err)
		}
	}
	if validateOnly {
		return 0, nil
	}
	if err := s.addPartitions(rt.Topic, rt.Count, assignment); err != nil {
		return clusterErrorCode(err), errorMessage(fmt.Errorf("server: create partitions of topic %q: %w", rt.Topic, err))
	}
	s.logger.Info("server: added partitions", "topic", rt.Topic, "from", cur, "to", rt.Count)
	return 0, nil
}

// replicationFactorOf is the replica count of topic's lowest partition,
// which added partitions must match: in a cluster the metadata's (0, left
// to the controller's own check, if this broker's copy lacks it), on a
// single broker 1.
func (s *Server) replicationFactorOf(topic string) int {
	if s.node != nil {
		p, _ := s.node.snapshot().Partition(topic, 0)
		return len(p.Replicas)
	}
	return replicationFactor
}
