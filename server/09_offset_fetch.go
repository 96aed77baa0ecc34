package server

// OffsetFetch, versions 0-9.
//
//	v1     no wire change (v0 read ZooKeeper-stored offsets in Kafka)
//	v2     null topics fetch every committed offset; a top-level error
//	v3     throttle
//	v4     no wire change
//	v5     the committed leader epoch
//	v6     flexible
//	v7     require_stable (KIP-447): wait out pending transactional commits
//	v8     several groups per request (KIP-709)
//	v9     member id and epoch (KIP-848; classic groups ignore them)
//
// A partition without a commit answers offset -1 and no error, as Kafka.
// A group-level error (the coordinator loading or stopping) is answered
// alone from v2, with no topics; before v2, which has no group-level
// error, on every requested partition.
// require_stable never finds anything pending: this broker has no
// transactional offset commits. v10 (topic ids) is not advertised.
//
// With an authorizer (as Kafka checks it): the group needs Describe
// (GROUP_AUTHORIZATION_FAILED), each named topic Describe
// (TOPIC_AUTHORIZATION_FAILED on its partitions, offset -1), and a fetch
// of every committed offset lists only the topics the principal may
// Describe.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(9, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(c *conn, h *reqHeader, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(req.Groups))
		for i, g := range req.Groups {
			rg := &resp.Groups[i]
			*rg = kmsg.NewOffsetFetchResponseGroup()
			rg.Group = g.Group
			var topics []offsetFetchTopic
			if g.Topics != nil {
				topics = make([]offsetFetchTopic, len(g.Topics))
				for j, t := range g.Topics {
					topics[j] = offsetFetchTopic{t.Topic, t.Partitions}
				}
			}
			var code int16
			results := c.fetchOffsets(h.key, g.Group, topics, &code)
			if code != 0 {
				results = nil // as Kafka: the group's error alone
			}
			for _, t := range results {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.topic
				for _, p := range t.partitions {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					gt.Partitions = append(gt.Partitions, gp)
				}
				rg.Topics = append(rg.Topics, gt)
			}
			rg.ErrorCode = code
			s.metrics.errorCode(h.key, code)
		}
		return resp, nil
	}
	var topics []offsetFetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]offsetFetchTopic, len(req.Topics))
		for j, t := range req.Topics {
			topics[j] = offsetFetchTopic{t.Topic, t.Partitions}
		}
	}
	var code int16
	results := c.fetchOffsets(h.key, req.Group, topics, &code)
	if code != 0 && req.Version >= 2 {
		results = nil // as Kafka: the group's error alone
	}
	for _, t := range results {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.topic
		rt.Partitions = t.partitions
		if req.Version < 2 {
			// No top-level error before v2: each partition carries it.
			for k := range rt.Partitions {
				if rt.Partitions[k].ErrorCode == 0 {
					rt.Partitions[k].ErrorCode = code
				}
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	resp.ErrorCode = code
	s.metrics.errorCode(h.key, code)
	return resp, nil
}

type offsetFetchTopic struct {
	topic      string
	partitions []int32
}

type offsetFetchResult struct {
	topic      string
	partitions []kmsg.OffsetFetchResponseTopicPartition
}

// fetchOffsets answers one group: the given topics' partitions, or every
// committed offset when topics is nil. A group-level error goes to *code;
// the requested partitions are still listed (offset -1).
func (c *conn) fetchOffsets(api int16, group string, topics []offsetFetchTopic, code *int16) []offsetFetchResult {
	s := c.s
	var tps []consumergroup.TopicPartition
	if topics != nil {
		tps = []consumergroup.TopicPartition{}
		for _, t := range topics {
			for _, p := range t.partitions {
				tps = append(tps, consumergroup.TopicPartition{Topic: t.topic, Partition: p})
			}
		}
	}
	var offsets map[consumergroup.TopicPartition]consumergroup.OffsetAndMetadata
	if c.authorize(api, auth.OpDescribe, auth.ResourceGroup, group) {
		var err error
		offsets, err = s.groups.FetchOffsets(group, tps)
		*code = errorCode(err)
	} else {
		*code = kerr.GroupAuthorizationFailed.Code
	}
	part := func(tp consumergroup.TopicPartition) kmsg.OffsetFetchResponseTopicPartition {
		p := kmsg.NewOffsetFetchResponseTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, -1, -1
		p.Metadata = kmsg.StringPtr("")
		if om, ok := offsets[tp]; ok {
			p.Offset, p.LeaderEpoch, p.Metadata = om.Offset, om.LeaderEpoch, kmsg.StringPtr(om.Metadata)
		}
		return p
	}
	if topics != nil {
		out := make([]offsetFetchResult, len(topics))
		for i, t := range topics {
			out[i].topic = t.topic
			out[i].partitions = make([]kmsg.OffsetFetchResponseTopicPartition, len(t.partitions))
			denied := *code == 0 && !c.authorize(api, auth.OpDescribe, auth.ResourceTopic, t.topic)
			for j, p := range t.partitions {
				out[i].partitions[j] = part(consumergroup.TopicPartition{Topic: t.topic, Partition: p})
				if denied { // as Kafka's UNAUTHORIZED_PARTITION: no offset shown
					out[i].partitions[j] = part(consumergroup.TopicPartition{Partition: p})
					out[i].partitions[j].ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
			}
		}
		return out
	}
	all := make([]consumergroup.TopicPartition, 0, len(offsets))
	for tp := range offsets {
		if c.mayDescribe(auth.ResourceTopic, tp.Topic) {
			all = append(all, tp)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Topic != all[j].Topic {
			return all[i].Topic < all[j].Topic
		}
		return all[i].Partition < all[j].Partition
	})
	var out []offsetFetchResult
	for _, tp := range all {
		if len(out) == 0 || out[len(out)-1].topic != tp.Topic {
			out = append(out, offsetFetchResult{topic: tp.Topic})
		}
		last := &out[len(out)-1]
		last.partitions = append(last.partitions, part(tp))
	}
	return out
}
