package server

// Metadata, versions 0-13.
//
//	v1   controller id, IsInternal, null topics means "all topics"
//	v2   cluster id
//	v4   AllowAutoTopicCreation in the request (before: the broker decides)
//	v5   offline replicas
//	v7   partition leader epoch
//	v8   authorized operations (v8-v10 cluster, v8+ topic)
//	v9   flexible
//	v10  topic IDs
//	v12  topics may be requested by ID alone
//	v13  top-level error code (KIP-1102)
//
// This broker is node 0 and the leader, only replica and only ISR member of
// every partition, at leader epoch 0.
//
// With an authorizer, a listing of all topics holds only those the
// principal may Describe; a topic named in the request that it may not
// Describe answers TOPIC_AUTHORIZATION_FAILED (exists or not, so as not
// to disclose it), and one named by ID too (an ID is not a secret).
// Auto-creation needs Create on the cluster or on the topic;
// TOPIC_AUTHORIZATION_FAILED otherwise.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

func init() { register(3, 0, 13, handleMetadata) }

func handleMetadata(c *conn, h *reqHeader, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	if s.node != nil {
		return c.clusterMetadata(h, req, resp)
	}
	host, port := c.ln.advHost, c.ln.advPort
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: NodeID, Host: host, Port: port}}
	resp.ClusterID = &s.cfg.ClusterID
	resp.ControllerID = NodeID

	if req.Version >= 8 && req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = c.clusterAuthorizedOperations()
	}
	if req.Version >= 8 && req.IncludeTopicAuthorizedOperations {
		defer func() {
			for i := range resp.Topics {
				if mt := &resp.Topics[i]; mt.ErrorCode == 0 && mt.Topic != nil {
					mt.AuthorizedOperations = c.authorizedOperations(auth.ResourceTopic, *mt.Topic)
				}
			}
		}()
	}
	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range s.mgr.Topics() {
			if c.mayDescribe(auth.ResourceTopic, t.Name) {
				resp.Topics = append(resp.Topics, metadataTopic(t))
			}
		}
		return resp, nil
	}
	autoCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *tlog.Topic
		var ok bool
		mt := kmsg.NewMetadataResponseTopic()
		switch {
		case rt.Topic != nil:
			mt.Topic = rt.Topic
			t, ok = s.topic(*rt.Topic)
			if !c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, *rt.Topic) {
				t, ok = nil, false
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if !ok && tlog.ValidateTopicName(*rt.Topic) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			} else if !ok && autoCreate && !kafkaInternalTopic(*rt.Topic) && !c.mayCreateTopic(h.key, *rt.Topic) {
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if !ok && autoCreate && !kafkaInternalTopic(*rt.Topic) {
				// Internal topics are created by the component that owns
				// them (the group coordinator), with their own settings.
				var err error
				t, err = s.autoCreate(*rt.Topic)
				ok = err == nil
				if err != nil {
					mt.ErrorCode = errorCode(err)
				}
			} else if !ok {
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		case rt.TopicID != [16]byte{}:
			mt.TopicID = rt.TopicID
			t, ok = s.topicByID(rt.TopicID)
			if !ok {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			} else if !c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, t.Name) {
				t, ok = nil, false
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
		default:
			mt.ErrorCode = kerr.InvalidRequest.Code
		}
		if ok {
			mt = metadataTopic(t)
		}
		s.metrics.errorCode(h.key, mt.ErrorCode)
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

func metadataTopic(t *tlog.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = kafkaInternalTopic(name)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Partitions))
	for i := range t.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = NodeID
		p.LeaderEpoch = t.Partitions[i].LeaderEpoch()
		p.Replicas = []int32{NodeID}
		p.ISR = []int32{NodeID}
		p.OfflineReplicas = []int32{}
		mt.Partitions[i] = p
	}
	return mt
}
