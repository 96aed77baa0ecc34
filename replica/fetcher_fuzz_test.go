package replica

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// checkedLog is a fakeLog (which validates appends by the real log's
// rule) that records an append the log took but that is not what the
// fetcher should pass on: a batch of an epoch past the leader's followed.
type checkedLog struct {
	*fakeLog
	bad error
}

func (c *checkedLog) AppendAsFollower(b []byte) (log.AppendInfo, error) {
	info, err := c.fakeLog.AppendAsFollower(b)
	for pos := 0; err == nil && pos < len(b) && c.bad == nil; {
		h := hdr(b[pos:])
		if h.PartitionLeaderEpoch > fuzzEpoch {
			c.bad = errors.New("appended a batch of an epoch past the leader's")
		}
		pos += h.Size()
	}
	return info, err
}

// noRequester fails every request (an out-of-range answer's ListOffsets).
type noRequester struct{}

func (noRequester) Request(context.Context, kmsg.Request) (kmsg.Response, error) {
	return nil, errors.New("no leader here")
}

// fuzzEpoch is the leader epoch the fuzzed follower follows.
const fuzzEpoch = 2

// fuzzFollower is a follower of t-0 at epoch 2 whose log holds epochs 0
// and 1 (offsets 0-5), and a fetcher without its goroutine.
func fuzzFollower() (*Fetcher, *checkedLog, sent) {
	cfg := FetcherConfig{Logger: quiet}
	cfg.setDefaults()
	f := &Fetcher{leader: 1, req: noRequester{}, cfg: cfg, parts: map[cluster.TopicPartition]*followed{}, retryAt: map[*followed]time.Time{}, wake: make(chan struct{}, 1)}
	l := &checkedLog{fakeLog: history([]int32{0, 0, 1}, 2)}
	l.SetReplicated(true)
	l.hw = 3 // committed up to 3; a leader's answer moves it
	p := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: 0}, topicID: topicID("t"), log: l, epoch: fuzzEpoch}
	f.parts[p.tp] = p
	return f, l, sent{p: p, fetchOffset: l.NextOffset()}
}

// seedResponse encodes a one-partition fetch response for t-0 at v.
func seedResponse(v int16, edit func(*kmsg.FetchResponseTopicPartition)) []byte {
	r := kmsg.NewPtrFetchResponse()
	r.SetVersion(v)
	t := kmsg.NewFetchResponseTopic()
	t.Topic, t.TopicID = "t", topicID("t")
	p := kmsg.NewFetchResponseTopicPartition()
	p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 6, 6, 0
	edit(&p)
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r.AppendTo(nil)
}

func leaderBatches(base int64, epoch int32, sizes ...int) []byte {
	var out []byte
	for _, n := range sizes {
		b := recordbatch.Build(n, 4, 1000)
		recordbatch.SetBaseOffset(b, base)
		recordbatch.SetPartitionLeaderEpoch(b, epoch)
		out = append(out, b...)
		base += int64(n)
	}
	return out
}

// FuzzFollowerFetchResponse feeds decoded arbitrary Fetch responses to the
// follower's handling: it must never panic, never hand the log a batch
// that does not check out, and never change the log but by appending at
// its end or truncating.
func FuzzFollowerFetchResponse(f *testing.F) {
	maxV := (&kmsg.FetchResponse{}).MaxVersion()
	for _, v := range []int16{12, 13, maxV} {
		good := leaderBatches(6, fuzzEpoch, 2, 3)
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.RecordBatches = good; p.HighWatermark = 11 }), uint8(v))
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) {
			p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 0, 4
		}), uint8(v))
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.ErrorCode = kerr.FencedLeaderEpoch.Code }), uint8(v))
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.ErrorCode = kerr.OffsetOutOfRange.Code }), uint8(v))
		bad := slices.Clone(good)
		bad[len(bad)-1] ^= 0xff // CRC no longer matches
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.RecordBatches = bad }), uint8(v))
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.RecordBatches = good[:len(good)-7] }), uint8(v))
		f.Add(seedResponse(v, func(p *kmsg.FetchResponseTopicPartition) { p.RecordBatches = leaderBatches(4, fuzzEpoch, 2) }), uint8(v))
	}
	f.Fuzz(func(t *testing.T, data []byte, ver uint8) {
		v := 12 + int16(ver)%(maxV-11)
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(data); err != nil {
			return
		}
		fe, l, s := fuzzFollower()
		before := slices.Clone(l.batches)
		fe.handleResponse(context.Background(), resp, map[cluster.TopicPartition]sent{s.p.tp: s})
		if l.bad != nil {
			t.Fatalf("the log was handed batches to refuse: %v", l.bad)
		}
		for _, b := range l.batches {
			if _, err := recordbatch.Validate(b); err != nil {
				t.Fatalf("the log holds a batch that does not check out: %v", err)
			}
		}
		// Batches go only by a truncation or a move of the log start
		// (the leader's): the others are kept as they were.
		start := l.StartOffset()
		kept := slices.DeleteFunc(before, func(b []byte) bool { return hdr(b).NextOffset() <= start })
		if l.truncateCount() == 0 && !slices.EqualFunc(l.batches[:min(len(kept), len(l.batches))], kept, bytes.Equal) {
			t.Fatalf("log changed without a truncation: %d batches kept of %d, now %d", len(kept), len(before), len(l.batches))
		}
		if hw, end := l.HighWatermark(), l.NextOffset(); hw > end || hw < l.StartOffset() {
			t.Fatalf("hw %d outside [%d, %d]", hw, l.StartOffset(), end)
		}
		// Whatever happened, the log is one a leader could have: batches
		// in offset order from its start (with a compacted log's gaps),
		// epochs never going down.
		next, epoch := l.StartOffset(), int32(-1)
		for i, b := range l.batches {
			h := hdr(b)
			if i == 0 && h.BaseOffset < next && h.NextOffset() > next {
				next = h.BaseOffset // the log start is inside its first batch
			}
			if h.BaseOffset < next || h.LastOffset() < h.BaseOffset || h.PartitionLeaderEpoch < epoch {
				t.Fatalf("batch %d-%d at epoch %d after offset %d epoch %d", h.BaseOffset, h.LastOffset(), h.PartitionLeaderEpoch, next, epoch)
			}
			next, epoch = h.NextOffset(), h.PartitionLeaderEpoch
		}
	})
}
