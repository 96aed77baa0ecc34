package server

// OffsetCommit, versions 0-9.
//
//	v1     generation and member id; a commit timestamp per partition
//	       (ignored: the broker stamps commits, as Kafka does since v2)
//	v2     a retention time for the commit (v2-v4; -1 = the broker's
//	       offsets.retention.minutes)
//	v3     throttle
//	v4     no wire change
//	v5     the retention time is gone
//	v6     the leader epoch of the committed offset
//	v7     group.instance.id (KIP-345)
//	v8     flexible
//	v9     no wire change (the generation may be a KIP-848 member epoch;
//	       this broker runs classic groups only)
//
// A commit is appended to __consumer_offsets before it is answered. A
// member's commit must name the group's current generation; a simple
// commit (generation -1, no member) is taken only while the group is empty.
// v10 (topic ids) is not advertised. A simple commit that creates its group
// counts against group.max.creation.rate.per.connection (group_quota.go).
//
// With an authorizer, the group needs Read (GROUP_AUTHORIZATION_FAILED on
// every partition, nothing committed) and each topic Read
// (TOPIC_AUTHORIZATION_FAILED on its partitions, which are not committed).

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(8, 0, 9, handleOffsetCommit) }

func handleOffsetCommit(c *conn, h *reqHeader, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	s := c.s
	r := consumergroup.CommitRequest{
		Group:      req.Group,
		MemberID:   req.MemberID,
		InstanceID: req.InstanceID,
		Generation: req.Generation,
	}
	if req.Version == 0 {
		r.Generation, r.MemberID = -1, "" // v0 has no group membership
	}
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis > 0 {
		r.Retention = time.Duration(min(req.RetentionTimeMillis, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	if !c.authorize(h.key, auth.OpRead, auth.ResourceGroup, req.Group) {
		return offsetCommitFailed(c, h, req, resp, kerr.GroupAuthorizationFailed.Code), nil
	}
	n := 0
	var denied []bool // per topic, with an authorizer only
	if s.authz != nil {
		denied = make([]bool, len(req.Topics))
	}
	for i, t := range req.Topics {
		n += len(t.Partitions)
		if denied != nil {
			denied[i] = !c.authorize(h.key, auth.OpRead, auth.ResourceTopic, t.Topic)
		}
	}
	r.Offsets = make([]consumergroup.CommitOffset, 0, n)
	for ti, t := range req.Topics {
		if denied != nil && denied[ti] {
			continue
		}
		for _, p := range t.Partitions {
			o := consumergroup.CommitOffset{
				TopicPartition: consumergroup.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Offset:         p.Offset,
				LeaderEpoch:    -1,
				Metadata:       p.Metadata,
			}
			if req.Version >= 6 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			r.Offsets = append(r.Offsets, o)
		}
	}
	var throttle time.Duration
	if r.Generation < 0 { // a simple commit creates its group
		throttle = c.groupCreationThrottle(r.Group)
	}
	var errs []error
	var err error
	if len(r.Offsets) > 0 || denied == nil {
		errs, err = s.groups.Commit(r)
	}
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	i := 0
	for ti, t := range req.Topics {
		rt := &resp.Topics[ti]
		*rt = kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		for pi, p := range t.Partitions {
			rp := &rt.Partitions[pi]
			*rp = kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case denied != nil && denied[ti]:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case err != nil:
				rp.ErrorCode = errorCode(err)
				i++
			default:
				rp.ErrorCode = errorCode(errs[i])
				i++
			}
			s.metrics.errorCode(h.key, rp.ErrorCode)
		}
	}
	c.throttle(resp, throttle)
	return resp, nil
}

// offsetCommitFailed answers every partition of req with code.
func offsetCommitFailed(c *conn, h *reqHeader, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, code int16) *kmsg.OffsetCommitResponse {
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for ti, t := range req.Topics {
		rt := &resp.Topics[ti]
		*rt = kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		for pi, p := range t.Partitions {
			rp := &rt.Partitions[pi]
			*rp = kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			c.s.metrics.errorCode(h.key, code)
		}
	}
	return resp
}
