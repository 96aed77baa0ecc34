package server

// The data path of a broker in a cluster: what Produce, Fetch,
// ListOffsets, OffsetForLeaderEpoch and DeleteRecords do once a
// replica.Manager is attached (attachReplicas). On a single broker none
// is, s.replicas is nil, and every handler takes exactly its old path:
// each cluster branch sits behind that one nil check.
//
// In a cluster a partition is served by its leader only: the handlers ask
// the Manager whether this broker leads it, and answer
// NOT_LEADER_OR_FOLLOWER otherwise, with the leader the metadata names
// (KIP-951's CurrentLeader hint, and the leader's endpoint in the
// response's node endpoints) when the node wiring knows it. Produce with
// acks=all checks the ISR against min.insync.replicas before appending
// and waits for the high watermark to pass its records after every
// partition of the request is appended, so that the partitions of one
// request wait together. A fetch with a replica ID is a follower's: it is
// answered from the log end, and its position is handed to the partition's
// replica.Leader, which moves the ISR standing and the high watermark.
//
// A produce appends through the partition's replica.Leader (Append),
// which checks leadership, and min.insync.replicas for acks=all, under
// its append lock (Kafka's leader-ISR lock): a produce that found this
// broker leader but reaches the log after leadership moved away is
// answered NOT_LEADER_OR_FOLLOWER and appends nothing, and acks=all
// produces waiting when it moves are answered so at once.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// clusterHooks is what the node wiring tells the data path besides the
// Manager: where the leaders of partitions this broker does not lead are.
// Either may be nil (no hint is given).
type clusterHooks struct {
	// leaderHint is the leader and leader epoch of a partition as the
	// cluster metadata has them; ok is false when they are not known.
	leaderHint func(topic string, partition int32) (leader, epoch int32, ok bool)
	// brokerEndpoint is where clients of listener reach broker id.
	brokerEndpoint func(listener string, id int32) (host string, port int32, rack *string, ok bool)
	// leadingSoon reports whether the metadata names this (registered)
	// broker leader of a partition it has no replica.Leader of yet: the
	// topic named by topic, or by id when byID (and then its name), and
	// partition; for a follower's fetch (replica) also a topic or
	// partition the metadata does not have yet. reconciled is closed once the reconciler next finishes
	// applying the metadata. Both or neither are set (awaitLeading).
	leadingSoon func(topic string, id [16]byte, byID bool, partition int32, replica bool) (name string, ok bool)
	reconciled  func() <-chan struct{}
	// leaderThrottle is the throttle of what this leader sends follower
	// of a partition (cluster_throttle.go), nil when it sends freely.
	leaderThrottle func(topic string, partition, follower int32) *replica.Throttle
}

// attachReplicas makes s a broker of a cluster whose partitions m
// replicates. It must be called before s serves its first request (the
// handlers read these fields without a lock) and at most once; the
// caller owns m and closes it after s.
func (s *Server) attachReplicas(m *replica.Manager, hooks clusterHooks) {
	s.replicas = m
	s.hooks = hooks
}

// partitionLeader returns the replica.Leader of topic's partition p if
// this broker leads it. Caller has checked s.replicas != nil.
func (s *Server) partitionLeader(topic string, p int32) (*replica.Leader, bool) {
	return s.replicas.Leader(cluster.TopicPartition{Topic: topic, Partition: p})
}

// leads reports whether this broker leads topic's partition p. Caller has
// checked s.replicas != nil.
func (s *Server) leads(topic string, p int32) bool {
	_, ok := s.partitionLeader(topic, p)
	return ok
}

// leaderHint is the leader and epoch of topic's partition p as the
// metadata has them, or (-1, -1) when not known.
func (s *Server) leaderHint(topic string, p int32) (leader, epoch int32, ok bool) {
	if s.hooks.leaderHint == nil {
		return -1, -1, false
	}
	leader, epoch, ok = s.hooks.leaderHint(topic, p)
	if !ok {
		return -1, -1, false
	}
	return leader, epoch, true
}

// produceLeader returns the Leader of topic's partition sp.Partition, or
// nil with sp's error filled in when this broker does not lead it
// (NOT_LEADER_OR_FOLLOWER with the leader's hint). The leader checks its
// leadership again, and for acks=all min.insync.replicas, when it
// appends (Leader.Append).
func (c *conn) produceLeader(resp *kmsg.ProduceResponse, topic string, sp *kmsg.ProduceResponseTopicPartition) *replica.Leader {
	ld, ok := c.s.partitionLeader(topic, sp.Partition)
	if !ok {
		c.notLeaderProduce(resp, topic, sp)
		return nil
	}
	return ld
}

// notLeaderProduce answers a produce to a partition this broker does not
// lead.
func (c *conn) notLeaderProduce(resp *kmsg.ProduceResponse, topic string, sp *kmsg.ProduceResponseTopicPartition) {
	sp.ErrorCode = kerr.NotLeaderForPartition.Code
	c.hintProduce(resp, topic, sp)
}

// hintProduce fills a NOT_LEADER_OR_FOLLOWER produce answer's
// CurrentLeader (v10+, KIP-951) and adds the leader's endpoint to the
// response's brokers once.
func (c *conn) hintProduce(resp *kmsg.ProduceResponse, topic string, sp *kmsg.ProduceResponseTopicPartition) {
	leader, epoch, ok := c.s.leaderHint(topic, sp.Partition)
	if !ok || resp.Version < 10 {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
	for i := range resp.Brokers {
		if resp.Brokers[i].NodeID == leader {
			return
		}
	}
	if host, port, rack, ok := c.brokerEndpoint(leader); ok {
		b := kmsg.NewProduceResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = leader, host, port, rack
		resp.Brokers = append(resp.Brokers, b)
	}
}

// clusterFetchPart resolves one partition of a fetch in a cluster: a
// consumer's (follower < 0) is served by the leader only, with its
// CurrentLeaderEpoch checked; a follower's goes to the partition's
// Leader, which checks the epoch, may find the follower's history
// diverged (answered now, with no records) and otherwise marks p a
// replica read. brokerEpoch is the follower's (replicaEpoch). Errors are
// left in p.sp.ErrorCode.
func (c *conn) clusterFetchPart(resp *kmsg.FetchResponse, topic string, p *fetchPart, follower int32, brokerEpoch int64) {
	sp, rp := p.sp, p.rp
	ld, ok := c.s.partitionLeader(topic, rp.Partition)
	if !ok {
		c.notLeaderFetch(resp, topic, sp)
		return
	}
	if follower < 0 {
		sp.ErrorCode = checkLeaderEpoch(p.l, rp.CurrentLeaderEpoch)
		return
	}
	if stalled := c.s.cfg.stalledFollower; stalled != nil && stalled(topic, rp.Partition, follower) {
		sp.ErrorCode = kerr.ReplicaNotAvailable.Code
		return
	}
	ff, err := ld.HandleFollowerFetch(follower, brokerEpoch, rp.FetchOffset, rp.LogStartOffset, rp.LastFetchedEpoch, rp.CurrentLeaderEpoch)
	if err != nil {
		sp.ErrorCode = errorCode(err)
		if sp.ErrorCode == kerr.NotLeaderForPartition.Code {
			c.hintFetch(resp, topic, sp)
		}
		return
	}
	if ff.Diverging {
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = ff.HighWatermark, ff.HighWatermark, ff.LogStartOffset
		sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = ff.DivergingEpoch.Epoch, ff.DivergingEpoch.EndOffset
		p.ready = true
		return
	}
	p.replica = true
	if c.s.hooks.leaderThrottle != nil {
		p.throttle = c.s.hooks.leaderThrottle(topic, rp.Partition, follower)
	}
}

// notOpenCode reports a fetch answer by which a partition may be one
// this broker is about to lead: its topic or its leader state is not
// open here (yet).
func notOpenCode(code int16) bool {
	return code == kerr.UnknownTopicID.Code || code == kerr.UnknownTopicOrPartition.Code ||
		code == kerr.NotLeaderForPartition.Code
}

// awaitLeading holds a fetch that asks for a partition the metadata says
// this broker leads but whose leader state the reconciler has not opened
// yet (a topic just created, which the followers' fetchers may reach
// before this broker's reconciler has applied it), until no such
// partition is left, the deadline (the fetch's MaxWait) passes or the
// broker shuts down. It reports whether it waited, after which the
// caller resolves the request again (a follower's even when it did not:
// a partition found not open may have opened before awaitLeading
// looked). A partition another broker leads is never held: its answer
// stays the immediate NOT_LEADER_OR_FOLLOWER; nor is a consumer's fetch
// of a topic the metadata does not have (the immediate UNKNOWN_TOPIC_ID),
// while a follower's is, since the follower opened the partition from
// newer metadata than this broker has applied. A consumer's fetch is
// held only for topics it may read.
func (c *conn) awaitLeading(req *kmsg.FetchRequest, follower int32, deadline time.Time) bool {
	hooks := c.s.hooks
	if hooks.leadingSoon == nil || hooks.reconciled == nil {
		return false
	}
	var timer *time.Timer
	waited := false
	for {
		// Taken before the check: an apply that ends after it closes it.
		applied := hooks.reconciled()
		if !c.anyLeadingSoon(req, follower) {
			return waited
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return waited
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-applied:
			waited = true
		case <-timer.C:
			return true
		case <-c.s.closing:
			return waited
		}
	}
}

// anyLeadingSoon reports whether req asks for a partition awaitLeading
// holds it for.
func (c *conn) anyLeadingSoon(req *kmsg.FetchRequest, follower int32) bool {
	byID := req.Version >= 13
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			name, ok := c.s.hooks.leadingSoon(rt.Topic, rt.TopicID, byID, rt.Partitions[j].Partition, follower >= 0)
			if !ok {
				continue
			}
			if follower < 0 && c.s.authz != nil && !c.s.authz.Authorize(c.principal, c.host, auth.OpRead, auth.ResourceTopic, name) {
				break // answered TOPIC_AUTHORIZATION_FAILED: nothing to wait for
			}
			return true
		}
	}
	return false
}

// notLeaderFetch answers a fetch of a partition this broker does not
// lead.
func (c *conn) notLeaderFetch(resp *kmsg.FetchResponse, topic string, sp *kmsg.FetchResponseTopicPartition) {
	sp.ErrorCode = kerr.NotLeaderForPartition.Code
	c.hintFetch(resp, topic, sp)
}

// hintFetch is hintProduce for Fetch (v12+ carries CurrentLeader, v16+
// the node endpoints).
func (c *conn) hintFetch(resp *kmsg.FetchResponse, topic string, sp *kmsg.FetchResponseTopicPartition) {
	leader, epoch, ok := c.s.leaderHint(topic, sp.Partition)
	if !ok || resp.Version < 12 {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
	if resp.Version < 16 {
		return
	}
	for i := range resp.Brokers {
		if resp.Brokers[i].NodeID == leader {
			return
		}
	}
	if host, port, rack, ok := c.brokerEndpoint(leader); ok {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = leader, host, port, rack
		resp.Brokers = append(resp.Brokers, b)
	}
}

func (c *conn) brokerEndpoint(id int32) (string, int32, *string, bool) {
	if c.s.hooks.brokerEndpoint == nil {
		return "", 0, nil, false
	}
	return c.s.hooks.brokerEndpoint(c.ln.name, id)
}

// commitWait is one acks=all partition of a produce request waiting for
// its records to be committed.
type commitWait struct {
	ld   *replica.Leader
	last int64 // the last offset appended
	sp   *kmsg.ProduceResponseTopicPartition
}

// waitCommittedCtx waits for every acks=all partition of a request, all
// at once: each waits on its own leader, and the request's time is the
// longest of them, not their sum (every append is done before the first
// wait). A partition whose wait fails gets the error's code and no offset.
// ctx ends at the request's timeout.
func (s *Server) waitCommittedCtx(ctx context.Context, waits []commitWait) {
	for i := range waits {
		w := &waits[i]
		if err := w.ld.WaitCommitted(ctx, w.last); err != nil {
			w.sp.ErrorCode = errorCode(err)
			w.sp.ErrorMessage = errorMessage(err)
			w.sp.BaseOffset, w.sp.LogAppendTime = -1, -1
		}
	}
}

// replicaID is the broker ID a fetch comes from: ReplicaState's from v15,
// ReplicaID's before; -1 (a consumer) or below when not a replica.
func replicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// replicaEpoch is the broker epoch a replica fetch comes under:
// ReplicaState's from v15, -1 before (not carried).
func replicaEpoch(req *kmsg.FetchRequest) int64 {
	if req.Version >= 15 {
		return req.ReplicaState.Epoch
	}
	return -1
}

// epochStartAhead reports whether l's leader has not yet committed up to
// the start of its current leader epoch: a new leader whose high
// watermark still lags the end of the previous epoch cannot say what the
// latest committed offset is, and answers ListOffsets with
// OFFSET_NOT_AVAILABLE until it catches up (KIP-207, KIP-320).
func epochStartAhead(l *tlog.Log) bool {
	epoch := l.LeaderEpoch()
	if epoch <= 0 {
		return false
	}
	// The end of the epochs before the current one is where it starts.
	_, start := l.EndOffsetForEpoch(epoch - 1)
	return start >= 0 && l.HighWatermark() < start
}
