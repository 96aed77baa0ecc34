package replica

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// TestThrottleLetsThroughTheRateAndGoesIntoDebt pins the bucket's
// arithmetic on a fake clock: a full bucket (one second of the rate)
// allows, a read larger than it still moves whole and puts the bucket in
// debt, which the rate pays back at its pace; no limit always allows,
// and bytes are counted either way.
func TestThrottleLetsThroughTheRateAndGoesIntoDebt(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle(1000)
	th.now = func() time.Time { return now }
	th.SetRate(1000) // the bucket is made full at the fake clock's time
	if !th.Allow() || th.Rate() != 1000 {
		t.Fatalf("a full bucket: allow %v rate %d", th.Allow(), th.Rate())
	}
	th.Record(3000) // 1000 in the bucket: 2000 of debt
	if th.Allow() {
		t.Fatal("allowed in debt")
	}
	if d := th.Delay(); d < 2*time.Second || d > 2100*time.Millisecond {
		t.Fatalf("delay %v, want about 2 s to pay 2000 bytes back at 1000/s", d)
	}
	now = now.Add(1500 * time.Millisecond)
	if th.Allow() {
		t.Fatal("allowed before the debt is paid")
	}
	now = now.Add(600 * time.Millisecond)
	if !th.Allow() {
		t.Fatalf("not allowed once paid back: delay %v", th.Delay())
	}
	th.SetRate(0)
	th.Record(1 << 20)
	if !th.Allow() || th.Rate() != 0 || th.Delay() != 0 {
		t.Fatal("no limit must always allow")
	}
	if got := th.Bytes(); got != 3000+1<<20 {
		t.Fatalf("counted %d bytes", got)
	}
}

// TestAThrottledPartitionIsLeftOutOfFetchesWhileItsThrottleIsInDebt: the
// fetcher asks for a throttled partition only while the follower
// throttle allows, leaves it out (resting no longer than the throttle's
// delay) while the throttle is in debt, never leaves out a partition
// that is not throttled, and takes the bytes of a throttled partition's
// answer from the throttle.
func TestAThrottledPartitionIsLeftOutOfFetchesWhileItsThrottleIsInDebt(t *testing.T) {
	now := time.Now()
	fe, _, s := fuzzFollower()
	fe.cfg.MaxWait = 500 * time.Millisecond
	other := &followed{tp: cluster.TopicPartition{Topic: "t", Partition: 1}, topicID: topicID("t"), log: newFakeLog(), epoch: fuzzEpoch}
	fe.parts[other.tp] = other
	th := NewThrottle(1000)
	fe.cfg.Throttle = th
	fe.cfg.Throttled = func(tp cluster.TopicPartition) bool { return tp == s.p.tp }

	_, inFlight, _ := fe.buildRequest(now)
	if len(inFlight) != 2 || !inFlight[s.p.tp].throttled || inFlight[other.tp].throttled {
		t.Fatalf("with the throttle's bucket full: in flight %v", inFlight)
	}
	th.Record(3000)
	req, inFlight, _ := fe.buildRequest(now)
	if _, ok := inFlight[s.p.tp]; ok || len(inFlight) != 1 {
		t.Fatalf("in debt: in flight %v, want only the unthrottled partition", inFlight)
	}
	if wait := time.Duration(req.MaxWaitMillis) * time.Millisecond; wait <= 0 || wait > th.Delay()+time.Millisecond {
		t.Fatalf("max wait %v while the throttled partition is due in %v", wait, th.Delay())
	}
	th.SetRate(0)
	if _, inFlight, _ := fe.buildRequest(now); len(inFlight) != 2 {
		t.Fatalf("throttle lifted: in flight %v", inFlight)
	}

	// An answer's bytes for the throttled partition are counted.
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 13
	rt := kmsg.NewFetchResponseTopic()
	rt.TopicID = topicID("t")
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark = 0, -1
	rp.RecordBatches = leaderBatches(s.p.log.NextOffset(), fuzzEpoch, 2)
	rt.Partitions = []kmsg.FetchResponseTopicPartition{rp}
	resp.Topics = []kmsg.FetchResponseTopic{rt}
	before := th.Bytes()
	fe.handleResponse(context.Background(), resp, map[cluster.TopicPartition]sent{s.p.tp: {p: s.p, fetchOffset: s.p.log.NextOffset(), throttled: true}})
	if got := th.Bytes() - before; got != int64(len(rp.RecordBatches)) {
		t.Fatalf("counted %d bytes of a %d-byte answer", got, len(rp.RecordBatches))
	}
}
