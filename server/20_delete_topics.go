package server

// DeleteTopics, versions 0-6.
//
//	v1   throttle time in the response
//	v2-v3  no wire change (throttle applied after the response, KIP-219)
//	v4   flexible
//	v5   an error message per topic (KIP-599)
//	v6   topics named by name or by topic ID; IDs in the response (KIP-516)
//
// A deleted topic's metadata goes first and then its partitions (see
// log.Manager.DeleteTopic); its per-topic metric series are dropped. A topic
// named twice in one request is refused (INVALID_REQUEST, answered once),
// as Kafka does. Kafka's internal topics cannot be deleted.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(c *conn, h *reqHeader, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	// Before v6 topics are names only; normalise to v6's form.
	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	// As Kafka does, each distinct name or ID is answered once, a
	// repeated one with INVALID_REQUEST; entries naming a topic both ways
	// or neither way are answered one by one.
	type key struct {
		name string
		id   [16]byte
	}
	first := make(map[key]int, len(topics)) // key -> index of its first entry
	dup := make(map[key]bool)
	for i, rt := range topics {
		var k key
		switch {
		case rt.Topic != nil && rt.TopicID == [16]byte{}:
			k.name = *rt.Topic
		case rt.Topic == nil && rt.TopicID != [16]byte{}:
			k.id = rt.TopicID
		default:
			continue
		}
		if _, seen := first[k]; seen {
			dup[k] = true
		} else {
			first[k] = i
		}
	}
	for i, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		k := key{id: rt.TopicID}
		if rt.Topic != nil {
			k.name = *rt.Topic
		}
		switch {
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, msgDeleteNameAndID
		case rt.Topic == nil && rt.TopicID == [16]byte{}:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, msgDeleteNeither
		case first[k] != i:
			continue // a repeat, answered with its first entry
		case dup[k]:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, msgDuplicateTopic
		default:
			c.deleteTopic(h.key, rt, &st)
		}
		s.metrics.errorCode(h.key, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

var (
	msgDeleteNameAndID = adminMsg("You may not specify both topic name and topic ID.")
	msgDeleteNeither   = adminMsg("Neither topic name nor topic ID was specified.")
)

// deleteTopic deletes one topic named by name or by ID and fills in st.
// With an authorizer it needs Delete on the topic, checked before the
// name is looked up; a topic named by ID is looked up first, and if the
// principal may not Describe it its name is not returned.
func (c *conn) deleteTopic(api int16, rt kmsg.DeleteTopicsRequestTopic, st *kmsg.DeleteTopicsResponseTopic) {
	s := c.s
	var name string
	if rt.Topic != nil {
		name = *rt.Topic
		if !c.authorize(api, auth.OpDelete, auth.ResourceTopic, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return
		}
		t, ok := s.topic(name)
		if !ok {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			st.ErrorMessage = adminMsg("Topic %q does not exist.", name)
			return
		}
		st.TopicID = t.ID
	} else {
		t, ok := s.topicByID(rt.TopicID)
		if !ok {
			st.ErrorCode = kerr.UnknownTopicID.Code
			st.ErrorMessage = adminMsg("Topic ID %x does not exist.", rt.TopicID)
			return
		}
		name = t.Name
		if !c.permits(auth.OpDescribe, auth.ResourceTopic, name) {
			c.authorize(api, auth.OpDescribe, auth.ResourceTopic, name) // counted
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return
		}
		st.Topic = &name
		if !c.authorize(api, auth.OpDelete, auth.ResourceTopic, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return
		}
	}
	if kafkaInternalTopic(name) {
		st.ErrorCode = kerr.InvalidRequest.Code
		st.ErrorMessage = adminMsg("Topic %s is a Kafka internal topic and cannot be deleted.", name)
		return
	}
	if err := s.deleteTopic(name); err != nil {
		st.ErrorCode = clusterErrorCode(err)
		st.ErrorMessage = errorMessage(fmt.Errorf("server: delete topic %q: %w", name, err))
		if st.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			s.logger.Error("server: delete topic failed", "topic", name, "err", err)
		}
		if _, ok := s.topic(name); !ok {
			// Gone even so (the Manager drops a topic before removing
			// its files): its series must go too.
			s.metrics.forgetTopic(name)
		}
		return
	}
	s.metrics.forgetTopic(name)
	s.logger.Info("server: deleted topic", "topic", name)
	// As in Kafka, the groups' commits for the topic go with it, so a
	// topic created again under this name is not read from old offsets.
	if err := s.groups.DeleteTopicOffsets(name); err != nil {
		s.logger.Error("server: dropping the deleted topic's committed offsets", "topic", name, "err", err)
	}
}
