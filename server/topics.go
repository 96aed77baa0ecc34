package server

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	tlog "github.com/tributary-io/tributary/log"
)

func (s *Server) topic(name string) (*tlog.Topic, bool) {
	return s.mgr.Topic(name)
}

// topicByID finds a topic by its ID, for the request versions that name
// topics by ID (Fetch v13+, Produce v13+, Metadata v10+).
// IDs are cached by name so the hot path is one map load and one Manager
// lookup; a miss (new topic, or a recreated one with a new ID) rescans.
func (s *Server) topicByID(id [16]byte) (*tlog.Topic, bool) {
	if name, ok := s.topicIDs.Load(id); ok {
		if t, ok := s.mgr.Topic(name.(string)); ok && t.ID == id {
			return t, true
		}
	}
	for _, t := range s.mgr.Topics() {
		s.topicIDs.Store([16]byte(t.ID), t.Name)
		if t.ID == id {
			return t, true
		}
	}
	s.topicIDs.Delete(id)
	return nil, false
}

// requestTopic resolves a topic named in a Produce or Fetch request, by ID
// in the versions that use IDs. For an unknown topic it returns nil and
// the error code that version uses for it.
func (s *Server) requestTopic(byID bool, name string, id [16]byte) (*tlog.Topic, *topicMetrics, int16) {
	var t *tlog.Topic
	var ok bool
	unknown := kerr.UnknownTopicOrPartition.Code
	if byID {
		t, ok = s.topicByID(id)
		unknown = kerr.UnknownTopicID.Code
	} else {
		t, ok = s.topic(name)
	}
	if !ok {
		if s.node != nil && s.node.topicPending(byID, name, id) {
			return nil, nil, kerr.NotLeaderForPartition.Code
		}
		return nil, nil, unknown
	}
	return t, s.metrics.topic(t.Name), 0
}

// autoCreate creates name with num.partitions partitions when
// auto.create.topics.enable allows, as Kafka does for Metadata requests.
func (s *Server) autoCreate(name string) (*tlog.Topic, error) {
	if s.node != nil {
		if _, err := s.node.autoCreate(name); err != nil {
			return nil, err
		}
		if t, ok := s.mgr.Topic(name); ok {
			return t, nil
		}
		return nil, fmt.Errorf("server: auto-create %q: %w", name, errClusterNotReady)
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if t, ok := s.mgr.Topic(name); ok {
		return t, nil
	}
	t, err := s.mgr.CreateTopic(name, s.cfg.NumPartitions, nil)
	if errors.Is(err, tlog.ErrTopicExists) {
		if t, ok := s.mgr.Topic(name); ok {
			return t, nil
		}
	}
	if err == nil {
		s.logger.Info("server: auto-created topic", "topic", name, "partitions", s.cfg.NumPartitions)
	}
	return t, err
}

// partitionOf returns partition p of t, or the code a client gets for it:
// unknownTopic (the request version's code) when t is nil,
// UNKNOWN_TOPIC_OR_PARTITION for a partition t does not have, and
// NOT_LEADER_OR_FOLLOWER for one of t's partitions this broker hosts no
// replica of (a cluster broker's topics are sparse): Kafka's answer for a
// partition its metadata knows and its ReplicaManager does not host.
func partitionOf(t *tlog.Topic, unknownTopic int16, p int32) (*tlog.Log, int16) {
	switch {
	case t == nil:
		return nil, unknownTopic
	case p < 0 || int(p) >= len(t.Partitions):
		return nil, kerr.UnknownTopicOrPartition.Code
	case t.Partitions[p] == nil:
		return nil, kerr.NotLeaderForPartition.Code
	default:
		return t.Partitions[p], 0
	}
}

// topicName is t's name, or named when t is nil (a request names topics
// by ID from Produce v13 and Fetch v13).
func topicName(t *tlog.Topic, named string) string {
	if t != nil {
		return t.Name
	}
	return named
}

// partitionLog returns partition p of t, or nil when out of range or not
// hosted here.
func partitionLog(t *tlog.Topic, p int32) *tlog.Log {
	if t == nil {
		return nil
	}
	return t.PartitionLog(p)
}

// checkLeaderEpoch validates a client's CurrentLeaderEpoch (-1: not known)
// against the partition's leader epoch (l.LeaderEpoch(): 0 on a single
// broker, whose Manager makes every partition lead at epoch 0): an older
// one is fenced, a newer one not known here yet.
func checkLeaderEpoch(l *tlog.Log, epoch int32) int16 {
	current := l.LeaderEpoch()
	switch {
	case epoch < 0 || epoch == current:
		return 0
	case epoch > current:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}
