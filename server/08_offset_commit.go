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

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

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
	n := 0
	for _, t := range req.Topics {
		n += len(t.Partitions)
	}
	r.Offsets = make([]consumergroup.CommitOffset, 0, n)
	for _, t := range req.Topics {
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
	errs, err := s.groups.Commit(r)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
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
			if err != nil {
				rp.ErrorCode = errorCode(err)
			} else {
				rp.ErrorCode = errorCode(errs[i])
			}
			i++
			s.metrics.errorCode(h.key, rp.ErrorCode)
		}
	}
	c.throttle(resp, throttle)
	return resp, nil
}
