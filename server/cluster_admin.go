package server

// Metadata, DescribeCluster, FindCoordinator and the topic admin APIs of
// a broker in a cluster: every broker answers from its watched snapshot
// of the metadata, and any broker creates, grows and deletes topics in
// the metadata store (the controller logic's placement, a compare-and-
// swap transaction), then waits until its own snapshot and local logs
// show the change. The handlers branch here behind `s.node != nil`; a
// single broker never does.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
)

// errClusterNotReady answers admin requests that arrive before the node
// has joined its cluster.
var errClusterNotReady = errors.New("server: the broker has not joined its cluster yet")

// clusterErrorCode maps the cluster package's errors, then the others.
func clusterErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cluster.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, cluster.ErrUnknownTopic), errors.Is(err, cluster.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, cluster.ErrNotEnoughBrokers), errors.Is(err, cluster.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, cluster.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, cluster.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, cluster.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, cluster.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, cluster.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, errClusterNotReady), errors.Is(err, cluster.ErrConflict), errors.Is(err, cluster.ErrFenced):
		// ErrFenced: this broker's registration lapsed under an admin
		// write (it registers again): the client retries.
		return kerr.RequestTimedOut.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	case cluster.RequestDropped(err):
		// etcd dropped the write (its connection closed under it, no
		// leader, no commit in time): whether it took effect is not
		// known, as after a timeout, and the client may retry.
		return kerr.RequestTimedOut.Code
	}
	return errorCode(err)
}

// clusterMetadata answers Metadata from the snapshot: every live broker
// at its endpoint of the listener the client came in on, and each
// partition's leader, epoch, replicas, ISR and offline replicas.
func (c *conn) clusterMetadata(h *reqHeader, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) (kmsg.Response, error) {
	s, n := c.s, c.s.node
	if r, ok := c.metadataBeforeJoin(h, req, resp); ok {
		return r, nil // not joined yet: cluster_joining.go
	}
	n.awaitFencing(metadataWants(req))
	snap := n.snapshot()
	resp.Brokers = n.metadataBrokers(snap, c.ln.name)
	id := s.ClusterID()
	resp.ClusterID = &id
	resp.ControllerID = snap.Controller
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
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, name := range slices.Sorted(maps.Keys(snap.Topics)) {
			if c.mayDescribe(auth.ResourceTopic, name) {
				resp.Topics = append(resp.Topics, metadataClusterTopic(snap, snap.Topics[name]))
			}
		}
		return resp, nil
	}
	autoCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		mt := kmsg.NewMetadataResponseTopic()
		var t cluster.Topic
		var ok bool
		switch {
		case rt.Topic != nil:
			name := *rt.Topic
			mt.Topic = rt.Topic
			t, ok = snap.Topics[name]
			switch {
			case !c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, name):
				ok = false
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case ok:
			case tlog.ValidateTopicName(name) != nil:
				mt.ErrorCode = kerr.InvalidTopicException.Code
			case autoCreate && !kafkaInternalTopic(name) && !c.mayCreateTopic(h.key, name):
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case autoCreate && !kafkaInternalTopic(name):
				var err error
				t, err = n.autoCreate(name)
				ok = err == nil
				if err != nil {
					mt.ErrorCode = clusterErrorCode(err)
				}
				snap = n.snapshot()
			default:
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		case rt.TopicID != [16]byte{}:
			mt.TopicID = rt.TopicID
			for _, cand := range snap.Topics {
				if cand.ID == rt.TopicID {
					t, ok = cand, true
					break
				}
			}
			if !ok {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			} else if !c.authorize(h.key, auth.OpDescribe, auth.ResourceTopic, t.Name) {
				ok = false
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
		default:
			mt.ErrorCode = kerr.InvalidRequest.Code
		}
		if ok {
			mt = metadataClusterTopic(snap, t)
		}
		s.metrics.errorCode(h.key, mt.ErrorCode)
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

// metadataBrokers are the live brokers with an endpoint on listener, by
// node ID.
func (n *brokerNode) metadataBrokers(snap *cluster.Snapshot, listener string) []kmsg.MetadataResponseBroker {
	out := make([]kmsg.MetadataResponseBroker, 0, len(snap.Brokers))
	for _, id := range slices.Sorted(maps.Keys(snap.Brokers)) {
		b := snap.Brokers[id]
		e, ok := b.Endpoint(listener)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = id, e.Host, e.Port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}

// metadataClusterTopic is t's Metadata entry from snap.
func metadataClusterTopic(snap *cluster.Snapshot, t cluster.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = kafkaInternalTopic(name)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range t.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = i
		st, ok := snap.Partition(name, i)
		if !ok {
			p.ErrorCode, p.Leader, p.LeaderEpoch = kerr.LeaderNotAvailable.Code, -1, -1
			p.Replicas, p.ISR, p.OfflineReplicas = []int32{}, []int32{}, []int32{}
			mt.Partitions[i] = p
			continue
		}
		p.Leader, p.LeaderEpoch = st.Leader, st.LeaderEpoch
		p.Replicas, p.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
		p.OfflineReplicas = []int32{}
		for _, r := range st.Replicas {
			if !snap.Live(r) {
				p.OfflineReplicas = append(p.OfflineReplicas, r)
			}
		}
		if st.Leader == cluster.NoLeader {
			p.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions[i] = p
	}
	return mt
}

// describeClusterBrokers fills DescribeCluster's brokers, controller and
// cluster ID from the snapshot.
func (c *conn) clusterDescribe(resp *kmsg.DescribeClusterResponse) {
	n := c.s.node
	snap := n.snapshot()
	for _, mb := range n.metadataBrokers(snap, c.ln.name) {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID = c.s.ClusterID()
	resp.ControllerID = snap.Controller
}

// groupCoordinator is the broker coordinating group: the leader of its
// __consumer_offsets partition, which is created in the cluster on the
// first lookup (offsets.topic.replication.factor replicas; until that
// many brokers are live COORDINATOR_NOT_AVAILABLE, as Kafka since
// KIP-115; see cluster_groups.go).
func (c *conn) groupCoordinator(group string) (node int32, host string, port int32, code int16, msg *string) {
	s, n := c.s, c.s.node
	if !n.started.Load() {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, adminMsg("The broker has not joined its cluster yet.")
	}
	if err := s.groups.EnsureOffsetsTopic(); err != nil {
		return -1, "", -1, errorCode(err), errorMessage(err)
	}
	snap := n.snapshot()
	t, ok := snap.Topics[consumergroup.OffsetsTopic]
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
	}
	p := s.groups.PartitionFor(group)
	st, ok := snap.Partition(t.Name, p)
	if !ok || st.Leader == cluster.NoLeader {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
	}
	b, ok := snap.Brokers[st.Leader]
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
	}
	e, ok := b.Endpoint(c.ln.name)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, adminMsg("The coordinator has no %s listener.", c.ln.name)
	}
	return st.Leader, e.Host, e.Port, 0, nil
}

// createTopic creates a topic in the cluster, placed by the controller
// logic over the live brokers, or with the replicas of assignment when it
// is not nil, and waits until this broker's snapshot and local logs hold
// it.
func (n *brokerNode) createTopic(name string, partitions int32, rf int, assignment [][]int32, configs map[string]string) (cluster.Topic, error) {
	if !n.started.Load() {
		return cluster.Topic{}, errClusterNotReady
	}
	ctx, cancel := context.WithTimeout(n.ctx, createWait(partitions))
	defer cancel()
	var t cluster.Topic
	var err error
	if assignment != nil {
		t, err = n.admin.CreateTopicAssigned(ctx, name, assignment, configs)
	} else {
		t, err = n.admin.CreateTopic(ctx, name, partitions, rf, configs)
	}
	if err != nil {
		return cluster.Topic{}, err
	}
	n.log.Info("server: created topic", "topic", name, "partitions", partitions, "replication_factor", rf, "assignment", assignment, "configs", configs)
	return t, n.waitLocal(ctx, func() bool {
		lt, ok := n.s.mgr.Topic(name)
		return ok && lt.ID == tlog.TopicID(t.ID) && len(lt.Partitions) == int(partitions)
	})
}

// createWaitPerPartition is what a creation's wait grows by per
// partition: the metadata store writes a large topic in chunks of 128
// (cluster's doc.go, Writes) and each broker then opens its logs one by
// one, so 10,000 partitions take seconds, not the fixed
// createWaitTimeout.
const createWaitPerPartition = time.Millisecond

// createWait bounds a creation or growth to n partitions, its store
// write and the wait for this node's logs.
func createWait(n int32) time.Duration {
	return createWaitTimeout + time.Duration(n)*createWaitPerPartition
}

// autoCreate creates a topic a client asked for (Metadata, Produce) with
// num.partitions and default.replication.factor; a topic created
// meanwhile by another broker is returned as it is.
func (n *brokerNode) autoCreate(name string) (cluster.Topic, error) {
	t, err := n.createTopic(name, int32(n.s.cfg.NumPartitions), n.cfg.DefaultReplicationFactor, nil, nil)
	if errors.Is(err, cluster.ErrTopicExists) {
		if t, ok := n.snapshot().Topics[name]; ok {
			return t, nil
		}
	}
	return t, err
}

// addPartitions grows topic to total partitions in the cluster, placed
// by the controller logic or with the replicas of assignment when it is
// not nil, and waits until the local log has them.
func (n *brokerNode) addPartitions(topic string, total int32, assignment [][]int32) error {
	if !n.started.Load() {
		return errClusterNotReady
	}
	ctx, cancel := context.WithTimeout(n.ctx, createWait(total))
	defer cancel()
	if err := n.admin.AddPartitionsAssigned(ctx, topic, total, assignment); err != nil {
		return err
	}
	return n.waitLocal(ctx, func() bool {
		lt, ok := n.s.mgr.Topic(topic)
		return ok && len(lt.Partitions) >= int(total)
	})
}

// deleteTopic deletes topic from the cluster and waits until its local
// log is gone.
func (n *brokerNode) deleteTopic(topic string) error {
	if !n.started.Load() {
		return errClusterNotReady
	}
	ctx, cancel := context.WithTimeout(n.ctx, createWaitTimeout)
	defer cancel()
	if err := n.store.DeleteTopic(ctx, topic); err != nil {
		return err
	}
	return n.waitLocal(ctx, func() bool {
		_, ok := n.s.mgr.Topic(topic)
		return !ok
	})
}

// waitLocal waits until done holds (the reconciler applied a change).
func (n *brokerNode) waitLocal(ctx context.Context, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("server: waiting for the local logs to follow the metadata: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// liveBrokers is how many brokers the snapshot holds.
func (n *brokerNode) liveBrokers() int { return len(n.snapshot().Brokers) }

// deleteTopic deletes a topic: from the cluster's metadata in a cluster
// (every broker's reconciler then drops its log), else from the Manager.
func (s *Server) deleteTopic(name string) error {
	if s.node != nil {
		return s.node.deleteTopic(name)
	}
	return s.mgr.DeleteTopic(name)
}

// addPartitions grows a topic to total partitions, in the cluster's
// metadata in a cluster, where assignment (when not nil) holds the new
// partitions' replicas; a single broker's only replica is itself.
func (s *Server) addPartitions(topic string, total int32, assignment [][]int32) error {
	if s.node != nil {
		return s.node.addPartitions(topic, total, assignment)
	}
	return s.mgr.AddPartitions(topic, int(total))
}

// alterRefused carries an edit's refusal out of a store transaction.
type alterRefused struct {
	code int16
	msg  *string
}

func (e *alterRefused) Error() string { return "server: alter configs refused" }

// errValidatedOnly ends a validate-only alteration before it writes.
var errValidatedOnly = errors.New("server: validated only")

// alterTopicConfigs changes a topic's configs in the cluster's metadata
// (a compare-and-swap of the topic, edit applied to the configs it holds)
// and waits until the local log has them; every broker's reconciler
// applies them to its log.
func (n *brokerNode) alterTopicConfigs(name string, validateOnly bool, edit func(map[string]string) (int16, *string)) (int16, *string) {
	if !n.started.Load() {
		return clusterErrorCode(errClusterNotReady), errorMessage(errClusterNotReady)
	}
	if _, ok := n.snapshot().Topics[name]; !ok {
		return kerr.UnknownTopicOrPartition.Code, adminMsg("Topic %q does not exist.", name)
	}
	ctx, cancel := context.WithTimeout(n.ctx, createWaitTimeout)
	defer cancel()
	var result map[string]string
	err := n.store.AlterTopicConfigs(ctx, name, func(cur map[string]string) (map[string]string, error) {
		if cur == nil {
			cur = map[string]string{}
		}
		if code, msg := edit(cur); code != 0 {
			return nil, &alterRefused{code, msg}
		}
		if err := n.checkTopicConfigs(cur); err != nil {
			return nil, &alterRefused{errorCode(err), errorMessage(err)}
		}
		if validateOnly {
			return nil, errValidatedOnly
		}
		result = cur
		return cur, nil
	})
	var refused *alterRefused
	switch {
	case errors.As(err, &refused):
		return refused.code, refused.msg
	case errors.Is(err, errValidatedOnly):
		return 0, nil
	case err != nil:
		return clusterErrorCode(err), errorMessage(fmt.Errorf("server: alter configs of topic %q: %w", name, err))
	}
	n.log.Info("server: altered topic configs", "topic", name, "configs", result)
	want := localConfigs(result)
	if err := n.waitLocal(ctx, func() bool {
		lt, ok := n.s.mgr.Topic(name)
		return ok && maps.Equal(lt.Overrides, want)
	}); err != nil {
		return clusterErrorCode(err), errorMessage(err)
	}
	return 0, nil
}

// checkTopicConfigs validates a topic's config overrides: package log's
// rules, and in a cluster min.insync.replicas (which the log does not
// take, see localConfigs) as a positive integer.
func (s *Server) checkTopicConfigs(overrides map[string]string) error {
	if s.node != nil {
		return s.node.checkTopicConfigs(overrides)
	}
	_, err := s.mgr.Defaults().With(overrides)
	return err
}

func (n *brokerNode) checkTopicConfigs(overrides map[string]string) error {
	if v, ok := overrides[tlog.ConfigMinInsyncReplicas]; ok {
		if m, err := strconv.Atoi(v); err != nil || m < 1 {
			return fmt.Errorf("%w: %s=%q must be an integer >= 1", tlog.ErrInvalidConfig, tlog.ConfigMinInsyncReplicas, v)
		}
	}
	_, err := n.s.mgr.Defaults().With(localConfigs(overrides))
	return err
}

// topicOverrides are a topic's config overrides as DescribeConfigs shows
// them: in a cluster the metadata's (min.insync.replicas included, which
// the local log does not take), else the log's.
func (s *Server) topicOverrides(t *tlog.Topic) map[string]string {
	if s.node != nil {
		if ct, ok := s.node.snapshot().Topics[t.Name]; ok && tlog.TopicID(ct.ID) == t.ID {
			return ct.Configs
		}
	}
	return t.Overrides
}

// topicDefaults are the broker's topic config defaults by Kafka name: in
// a cluster min.insync.replicas is the cluster setting's.
func (s *Server) topicDefaults() map[string]string {
	m := s.mgr.Defaults().Map()
	if s.node != nil {
		m[tlog.ConfigMinInsyncReplicas] = strconv.Itoa(max(s.node.cfg.MinInsyncReplicas, 1))
	}
	return m
}
