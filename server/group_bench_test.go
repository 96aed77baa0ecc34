package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkOffsetCommit: one connection, one OffsetCommit in flight (a
// simple commit of n partitions, answered only once appended to
// __consumer_offsets), broker in process. In the same run: franz-go's
// in-memory kfake answering the same frame (a peer that stores nothing),
// a loopback round trip of the commit's bytes (the physical limit), and a
// Produce (acks=1) of one 100-byte record (the same append path without
// the coordinator).
func BenchmarkOffsetCommit(b *testing.B) {
	for _, n := range []int{1, 50} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group = "bench"
		req.Generation = -1
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "bench"
		for p := 0; p < n; p++ {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(p), 12345
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
		b.Run(fmt.Sprintf("partitions=%d/commit", n), func(b *testing.B) {
			br := startBroker(b)
			if _, err := br.mgr.CreateTopic("bench", n, nil); err != nil {
				b.Fatal(err)
			}
			c := br.raw()
			resp := c.do(req).(*kmsg.OffsetCommitResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				b.Fatalf("commit: error %d", code)
			}
			benchExchanges(b, c, frame, "commits/s")
		})
		b.Run(fmt.Sprintf("partitions=%d/peer=kfake", n), func(b *testing.B) {
			// franz-go's in-memory fake broker: a yardstick only.
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(int32(n), "bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer kc.Close()
			nc, err := net.DialTimeout("tcp", kc.ListenAddrs()[0], 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			c := &rawConn{t: b, nc: nc}
			resp := c.do(req).(*kmsg.OffsetCommitResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
				b.Fatalf("kfake commit: error %d", code)
			}
			benchExchanges(b, c, frame, "commits/s")
		})
		b.Run(fmt.Sprintf("partitions=%d/baseline=loopback", n), func(b *testing.B) {
			benchLoopback(b, len(frame), 64, nil)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
	b.Run("baseline=produce-100B", func(b *testing.B) {
		batch := recordbatch.Build(1, 100, time.Now().UnixMilli())
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(11, "bench", batch), 1)
		br := startBroker(b)
		if _, err := br.mgr.CreateTopic("bench", 1, nil); err != nil {
			b.Fatal(err)
		}
		c := br.raw()
		benchExchanges(b, c, frame, "commits/s")
	})
}

// BenchmarkGroupRebalance: three franz-go consumers (eager range balancer,
// heartbeat every 100 ms) share a 12-partition topic; one leaves. Timed:
// from its Close (LeaveGroup) until the two others own all 12 partitions
// in the next generation. The others learn of the rebalance from their
// next heartbeat, so about half a heartbeat interval is client-side
// waiting; the rest is join, the leader's assignment and sync.
func BenchmarkGroupRebalance(b *testing.B) {
	br := startBroker(b, func(c *Config) {
		c.Groups.InitialRebalanceDelay = 0
		c.Groups.OffsetsTopicPartitions = 1
	})
	ctx := context.Background()
	if _, err := br.admin().CreateTopic(ctx, 12, 1, nil, "rebalance"); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	owned := map[string]int{} // member client -> partitions owned
	changed := make(chan struct{}, 16)
	newMember := func(name string) *kgo.Client {
		track := func(_ context.Context, _ *kgo.Client, m map[string][]int32, add bool) {
			mu.Lock()
			if add {
				owned[name] += len(m["rebalance"])
			} else {
				owned[name] -= len(m["rebalance"])
			}
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.addr), kgo.ConsumerGroup("rb"), kgo.ConsumeTopics("rebalance"),
			kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.ClientID(name),
			kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) { track(ctx, cl, m, true) }),
			kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) { track(ctx, cl, m, false) }),
			kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) { track(ctx, cl, m, false) }))
		if err != nil {
			b.Fatal(err)
		}
		go func() { // poll so the client runs its group loop
			for {
				if fs := cl.PollFetches(ctx); fs.IsClientClosed() {
					return
				}
			}
		}()
		return cl
	}
	waitOwned := func(names ...string) {
		deadline := time.After(30 * time.Second)
		for {
			mu.Lock()
			total, all := 0, true
			for _, n := range names {
				total += owned[n]
				all = all && owned[n] > 0
			}
			mu.Unlock()
			if total == 12 && all {
				return
			}
			select {
			case <-changed:
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				b.Fatalf("members %v never owned all partitions: %v", names, owned)
			}
		}
	}
	a, c := newMember("a"), newMember("b")
	defer a.Close()
	defer c.Close()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		name := fmt.Sprint("leaver-", i)
		l := newMember(name)
		waitOwned("a", "b", name)
		b.StartTimer()
		l.Close()
		mu.Lock()
		owned[name] = 0
		mu.Unlock()
		waitOwned("a", "b")
	}
	b.StopTimer()
	d, err := kadm.NewClient(a).DescribeGroups(ctx, "rb")
	if err != nil || d["rb"].State != "Stable" {
		b.Fatalf("group after the runs: %+v %v", d["rb"], err)
	}
}

// benchExchanges times b.N round trips of frame on c and reports them as
// unit per second.
func benchExchanges(b *testing.B, c *rawConn, frame []byte, unit string) {
	c.nc.SetDeadline(time.Now().Add(10 * time.Minute))
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.exchange(frame, buf)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}
