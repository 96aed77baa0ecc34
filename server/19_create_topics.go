package server

// CreateTopics, versions 0-7.
//
//	v1   ValidateOnly in the request, an error message per topic
//	v2   throttle time in the response
//	v3   no wire change (throttle applied after the response, KIP-219)
//	v4   NumPartitions and ReplicationFactor -1 mean the broker's defaults
//	     (KIP-464); this broker accepts -1 at every version
//	v5   flexible; the response carries the partition count, replication
//	     factor and every config of the new topic (KIP-525)
//	v6   no wire change (THROTTLING_QUOTA_EXCEEDED, never sent here)
//	v7   topic ID in the response (KIP-516)
//
// With one broker the only replication factor is 1 (-1 picks it), and a
// manual replica assignment is honoured when it places every partition on
// node 0 alone. In a cluster a manual assignment may name any live
// broker, its first replica the partition's preferred leader, checked as
// Kafka's controller checks it (createPartitionCount). A name given twice
// in one request is refused (INVALID_REQUEST, answered once), as Kafka
// does. Kafka's own internal topics are created by the broker, never
// through this API. A topic whose name differs from an existing one's only
// by '.' versus '_' is refused, as Kafka does, since their metric names
// would be the same.
//
// With an authorizer, each topic needs Create on the cluster or on itself
// (TOPIC_AUTHORIZATION_FAILED otherwise), and the v5+ configs of a new
// topic are returned only with DescribeConfigs on it (else its
// ConfigErrorCode is TOPIC_AUTHORIZATION_FAILED), as Kafka does.

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
)

// replicationFactor is the replication factor of every partition: this
// broker is each partition's only replica.
const replicationFactor = 1

// useDefault is what NumPartitions and ReplicationFactor carry to ask for
// the broker's default (and what both carry next to a manual assignment).
const useDefault = -1

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(c *conn, h *reqHeader, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	tc := &topicCreator{s: s, validateOnly: req.ValidateOnly}
	if req.Version >= 5 {
		tc.describe = s.newConfigDescriber(false, false)
	}
	answered := make(map[string]bool, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		if answered[rt.Topic] {
			continue // a duplicate, already answered once under its name
		}
		answered[rt.Topic] = true
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		switch {
		case count[rt.Topic] > 1:
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, msgDuplicateTopic
		case !c.mayCreateTopic(h.key, rt.Topic):
			st.ErrorCode, st.ErrorMessage = kerr.TopicAuthorizationFailed.Code, kmsg.StringPtr("Authorization failed.")
		default:
			tc.create(rt, &st)
			if req.Version >= 5 && st.ErrorCode == 0 && !c.permits(auth.OpDescribeConfigs, auth.ResourceTopic, rt.Topic) {
				st.ConfigErrorCode, st.Configs = kerr.TopicAuthorizationFailed.Code, nil
			}
		}
		s.metrics.errorCode(h.key, st.ErrorCode)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// topicCreator creates the topics of one request.
type topicCreator struct {
	s            *Server
	validateOnly bool
	describe     *configDescriber // v5+: describes each new topic's configs
	// metricNames maps the names of existing topics, with '.' read as
	// '_', to those names; built on first use.
	metricNames map[string]string
}

// create validates one requested topic and, unless validate-only, creates
// it; the outcome goes into st.
func (tc *topicCreator) create(rt *kmsg.CreateTopicsRequestTopic, st *kmsg.CreateTopicsResponseTopic) {
	s, d, validateOnly := tc.s, tc.describe, tc.validateOnly
	fail := func(code int16, msg *string) {
		st.ErrorCode, st.ErrorMessage = code, msg
	}
	name := rt.Topic
	if err := tlog.ValidateTopicName(name); err != nil {
		fail(kerr.InvalidTopicException.Code, errorMessage(err))
		return
	}
	if kafkaInternalTopic(name) {
		fail(kerr.InvalidRequest.Code, adminMsg("Creation of internal topic %s is prohibited: the broker creates it.", name))
		return
	}
	if _, ok := s.topic(name); ok || (s.node != nil && s.node.snapshot().Topics[name].Name != "") {
		fail(kerr.TopicAlreadyExists.Code, adminMsg("Topic %q already exists.", name))
		return
	}
	if other, ok := tc.collidingTopic(name); ok {
		fail(kerr.InvalidTopicException.Code, adminMsg("Topic %q collides with existing topic %q: '.' and '_' are interchangeable in metric names.", name, other))
		return
	}
	partitions, assignment, code, msg := s.createPartitionCount(rt)
	if code != 0 {
		fail(code, msg)
		return
	}
	rf := replicationFactor
	if assignment != nil {
		rf = len(assignment[0]) // CheckAssignment: every list is as long
	} else if s.node != nil {
		if rf = int(rt.ReplicationFactor); rf == useDefault {
			rf = s.node.cfg.DefaultReplicationFactor
		}
		if live := s.node.liveBrokers(); rf > live {
			fail(kerr.InvalidReplicationFactor.Code, adminMsg("Replication factor: %d larger than available brokers: %d.", rf, live))
			return
		}
	}
	overrides, code, msg := createTopicConfigs(rt.Configs)
	if code != 0 {
		fail(code, msg)
		return
	}
	if err := s.checkTopicConfigs(overrides); err != nil {
		fail(errorCode(err), errorMessage(err))
		return
	}
	var id [16]byte
	if !validateOnly && s.node != nil {
		t, err := s.node.createTopic(name, int32(partitions), rf, assignment, overrides)
		if err != nil {
			fail(clusterErrorCode(err), errorMessage(fmt.Errorf("server: create topic %q: %w", name, err)))
			return
		}
		id = t.ID
	} else if !validateOnly {
		t, err := s.mgr.CreateTopic(name, partitions, overrides)
		if err != nil {
			fail(errorCode(err), errorMessage(fmt.Errorf("server: create topic %q: %w", name, err)))
			return
		}
		id = t.ID
		if tc.metricNames != nil {
			tc.metricNames[metricName(name)] = name
		}
		s.logger.Info("server: created topic", "topic", name, "partitions", partitions, "configs", overrides)
	}
	st.TopicID = id
	st.NumPartitions = int32(partitions)
	st.ReplicationFactor = int16(rf)
	if d == nil {
		return
	}
	cs := d.topicConfigs(overrides, nil)
	if !d.spend(cs) {
		// Created, but too many topics in this request to describe
		// them all: the code says the configs are missing.
		st.ConfigErrorCode = kerr.InvalidRequest.Code
		return
	}
	st.Configs = make([]kmsg.CreateTopicsResponseTopicConfig, len(cs))
	for i, dc := range cs {
		cc := kmsg.NewCreateTopicsResponseTopicConfig()
		cc.Name, cc.Value, cc.ReadOnly, cc.Source, cc.IsSensitive = dc.Name, dc.Value, dc.ReadOnly, int8(dc.Source), dc.IsSensitive
		st.Configs[i] = cc
	}
}

// createPartitionCount checks the requested partitions, replication factor
// and manual assignment and returns the number of partitions to create
// and, with a manual assignment, each partition's replicas in partition
// order. An assignment is checked as Kafka's controller checks it:
// NumPartitions and ReplicationFactor must be -1 beside it
// (INVALID_REQUEST), each partition listed once and the partitions 0..n-1
// (INVALID_REPLICA_ASSIGNMENT), and the replica lists as
// cluster.CheckAssignment says, against the live brokers of a cluster or
// this broker alone.
func (s *Server) createPartitionCount(rt *kmsg.CreateTopicsRequestTopic) (int, [][]int32, int16, *string) {
	if len(rt.ReplicaAssignment) > 0 {
		if rt.ReplicationFactor != useDefault {
			return 0, nil, kerr.InvalidRequest.Code, adminMsg("A manual replica assignment was given with replication factor %d; it must be -1.", rt.ReplicationFactor)
		}
		if rt.NumPartitions != useDefault {
			return 0, nil, kerr.InvalidRequest.Code, adminMsg("A manual replica assignment was given with %d partitions; the count must be -1.", rt.NumPartitions)
		}
		n := len(rt.ReplicaAssignment)
		if n > tlog.MaxPartitions {
			return 0, nil, kerr.InvalidPartitions.Code, adminMsg("%d partitions requested; at most %d are allowed.", n, tlog.MaxPartitions)
		}
		assignment := make([][]int32, n)
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= n {
				return 0, nil, kerr.InvalidReplicaAssignment.Code, adminMsg("Partitions of a manual assignment must be a consecutive 0-based sequence; got partition %d among %d.", a.Partition, n)
			}
			if assignment[a.Partition] != nil {
				return 0, nil, kerr.InvalidReplicaAssignment.Code, adminMsg("Partition %d is assigned more than once.", a.Partition)
			}
			assignment[a.Partition] = a.Replicas
			if a.Replicas == nil {
				assignment[a.Partition] = []int32{} // listed, with no replica
			}
		}
		if err := cluster.CheckAssignment(assignment, 0, 0, s.brokerRegistered); err != nil {
			return 0, nil, kerr.InvalidReplicaAssignment.Code, errorMessage(err)
		}
		return n, assignment, 0, nil
	}
	switch rf := rt.ReplicationFactor; {
	case rf == 0 || rf < useDefault:
		return 0, nil, kerr.InvalidReplicationFactor.Code, adminMsg("Replication factor must be larger than 0, or -1 to use the default value.")
	case rf > replicationFactor && s.node == nil:
		return 0, nil, kerr.InvalidReplicationFactor.Code, adminMsg("Unable to replicate the partition %d time(s): the target replication factor of %d cannot be reached because only 1 broker is registered.", rf, rf)
	}
	n := int(rt.NumPartitions)
	switch {
	case n == useDefault:
		n = s.cfg.NumPartitions
	case n <= 0:
		return 0, nil, kerr.InvalidPartitions.Code, adminMsg("Number of partitions was set to an invalid non-positive value.")
	case n > tlog.MaxPartitions:
		return 0, nil, kerr.InvalidPartitions.Code, adminMsg("%d partitions requested; at most %d are allowed.", n, tlog.MaxPartitions)
	}
	return n, nil, 0, nil
}

// brokerRegistered reports whether a manual assignment may name broker
// id: in a cluster a live (registered, unfenced) broker, on a single
// broker only itself.
func (s *Server) brokerRegistered(id int32) bool {
	if s.node != nil {
		return s.node.snapshot().Live(id)
	}
	return id == NodeID
}

// createTopicConfigs turns the requested configs into overrides. Their
// values are validated by the caller, against the broker's defaults.
func createTopicConfigs(cfgs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, int16, *string) {
	if len(cfgs) == 0 {
		return nil, 0, nil
	}
	overrides := make(map[string]string, len(cfgs))
	for _, c := range cfgs {
		if c.Value == nil {
			return nil, kerr.InvalidConfig.Code, adminMsg("Null value not supported for topic config %s.", c.Name)
		}
		if _, dup := overrides[c.Name]; dup {
			return nil, kerr.InvalidRequest.Code, adminMsg("Duplicate config name %s.", c.Name)
		}
		overrides[c.Name] = *c.Value
	}
	return overrides, 0, nil
}

// collidingTopic finds an existing topic whose name differs from name only
// by '.' versus '_': Kafka refuses such pairs because their metric names
// would be the same.
func (tc *topicCreator) collidingTopic(name string) (string, bool) {
	if !strings.ContainsAny(name, "._") {
		return "", false
	}
	if tc.metricNames == nil {
		tc.metricNames = make(map[string]string)
		for _, t := range tc.s.mgr.Topics() {
			tc.metricNames[metricName(t.Name)] = t.Name
		}
	}
	other, ok := tc.metricNames[metricName(name)]
	return other, ok && other != name
}

// metricName is a topic's name as Kafka's metrics spell it.
func metricName(topic string) string { return strings.ReplaceAll(topic, ".", "_") }

// kafkaInternalTopic reports Kafka's internal topics, which only the broker
// creates and which clients may neither delete nor repartition.
func kafkaInternalTopic(name string) bool {
	switch name {
	case "__consumer_offsets", "__transaction_state", "__cluster_metadata":
		return true
	}
	return false
}

// msgDuplicateTopic answers every name given twice in a request, once;
// shared so that a request of repeated names costs no message each.
var msgDuplicateTopic = adminMsg("Duplicate topic name.")

// adminMsg formats the error message of an admin response.
func adminMsg(format string, args ...any) *string {
	m := fmt.Sprintf(format, args...)
	return &m
}
