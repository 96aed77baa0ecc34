package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// leaderNode answers a follower's Fetch and ListOffsets requests in
// process, the way the server will: every request and response goes
// through kmsg's encoding at version, so the fetcher sees only what the
// wire carries.
type leaderNode struct {
	version int16 // Fetch version to speak

	mu      sync.Mutex
	leaders map[cluster.TopicPartition]*Leader
	ids     map[[16]byte]string
	fetches int
	notLed  int16 // the error for a partition not led here; 0: NOT_LEADER_OR_FOLLOWER
}

func newLeaderNode(version int16) *leaderNode {
	return &leaderNode{version: version, leaders: map[cluster.TopicPartition]*Leader{}, ids: map[[16]byte]string{}}
}

func topicID(topic string) [16]byte {
	var id [16]byte
	copy(id[:], "id-"+topic)
	return id
}

func (n *leaderNode) lead(ld *Leader) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaders[ld.TP()] = ld
	n.ids[topicID(ld.TP().Topic)] = ld.TP().Topic
}

func (n *leaderNode) leader(tp cluster.TopicPartition) *Leader {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaders[tp]
}

// answerNotLed makes the node answer code for a partition it does not lead,
// as a broker that has not opened a new topic's partition yet does.
func (n *leaderNode) answerNotLed(code int16) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notLed = code
}

func (n *leaderNode) fetchCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fetches
}

func (n *leaderNode) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		r.SetVersion(n.version)
		in := kmsg.NewPtrFetchRequest()
		in.SetVersion(n.version)
		if err := in.ReadFrom(r.AppendTo(nil)); err != nil {
			return nil, fmt.Errorf("decode fetch: %w", err)
		}
		out := n.fetch(in)
		out.SetVersion(n.version)
		back := kmsg.NewPtrFetchResponse()
		back.SetVersion(n.version)
		if err := back.ReadFrom(out.AppendTo(nil)); err != nil {
			return nil, fmt.Errorf("decode fetch response: %w", err)
		}
		return back, nil
	case *kmsg.ListOffsetsRequest:
		const v = 7
		r.SetVersion(v)
		in := kmsg.NewPtrListOffsetsRequest()
		in.SetVersion(v)
		if err := in.ReadFrom(r.AppendTo(nil)); err != nil {
			return nil, fmt.Errorf("decode list offsets: %w", err)
		}
		out := n.listOffsets(in)
		out.SetVersion(v)
		back := kmsg.NewPtrListOffsetsResponse()
		back.SetVersion(v)
		if err := back.ReadFrom(out.AppendTo(nil)); err != nil {
			return nil, fmt.Errorf("decode list offsets response: %w", err)
		}
		return back, nil
	}
	return nil, fmt.Errorf("unexpected request %T", req)
}

// errCode is the server's one mapping of replica errors to Kafka codes,
// as far as these tests need it.
func errCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, ErrNotLeaderOrFollower):
		return kerr.NotLeaderForPartition.Code
	}
	return kerr.UnknownServerError.Code
}

func (n *leaderNode) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	n.mu.Lock()
	n.fetches++
	notLed := n.notLed
	n.mu.Unlock()
	if notLed == 0 {
		notLed = kerr.NotLeaderForPartition.Code
	}
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	resp := kmsg.NewPtrFetchResponse()
	for _, t := range req.Topics {
		topic := t.Topic
		if req.Version >= 13 {
			n.mu.Lock()
			topic = n.ids[t.TopicID]
			n.mu.Unlock()
		}
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			ld := n.leader(cluster.TopicPartition{Topic: topic, Partition: p.Partition})
			if ld == nil {
				rp.ErrorCode = notLed
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			ff, err := ld.HandleFollowerFetch(replica, -1, p.FetchOffset, p.LogStartOffset, p.LastFetchedEpoch, p.CurrentLeaderEpoch)
			rp.ErrorCode = errCode(err)
			if err == nil {
				rp.HighWatermark = ff.HighWatermark
				rp.LastStableOffset = ff.HighWatermark
				rp.LogStartOffset = ff.LogStartOffset
				if ff.Diverging {
					rp.DivergingEpoch.Epoch = ff.DivergingEpoch.Epoch
					rp.DivergingEpoch.EndOffset = ff.DivergingEpoch.EndOffset
				} else {
					b, rerr := ld.log.Read(p.FetchOffset, int(p.PartitionMaxBytes))
					if rerr != nil {
						rp.ErrorCode = kerr.UnknownServerError.Code
					}
					rp.RecordBatches = b.Data
					b.Release()
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (n *leaderNode) listOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := kmsg.NewPtrListOffsetsResponse()
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			ld := n.leader(cluster.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			switch {
			case ld == nil:
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
			case p.Timestamp == -2:
				rp.Offset = ld.log.StartOffset()
			case p.Timestamp == -1:
				rp.Offset = ld.log.NextOffset() // a replica asks: the log end
			default:
				rp.ErrorCode = kerr.InvalidRequest.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
