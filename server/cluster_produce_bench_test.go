package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
)

// BenchmarkProduceLeader: BenchmarkProduce's exchange (one connection, one
// Produce request in flight, one batch) to the leader of a replicated
// partition whose ISR is the leader alone, so that the leader's own
// bookkeeping (the leadership check under its append lock, the high
// watermark, an acks=all wait that finds its records committed) is what
// differs from the baseline in the same run: the same exchange with a
// single broker.
func BenchmarkProduceLeader(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		batch := recordbatch.BuildSized(size, time.Now().UnixMilli())
		for _, acks := range []int16{1, -1} {
			req := produceReq(11, "bench", batch)
			req.Acks = acks
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			b.Run(fmt.Sprintf("batch=%s/acks=%d/broker=leader", sizeName(size), acks), func(b *testing.B) {
				n := startClusterNode(b, 1, replicaTestConfig(), clusterHooks{})
				n.createTopic("bench")
				n.lead(partitionState("bench", 1, 1, 1), 1)
				benchProduceExchange(b, n.b, frame, size)
			})
			b.Run(fmt.Sprintf("batch=%s/acks=%d/baseline=single", sizeName(size), acks), func(b *testing.B) {
				br := startBroker(b)
				if _, err := br.mgr.CreateTopic("bench", 1, nil); err != nil {
					b.Fatal(err)
				}
				benchProduceExchange(b, br, frame, size)
			})
		}
	}
}

func benchProduceExchange(b *testing.B, br *testBroker, frame []byte, size int) {
	c := br.raw()
	c.nc.SetDeadline(time.Now().Add(10 * time.Minute))
	buf := make([]byte, 4096)
	resp := c.exchange(frame, buf) // warm up, and check it is accepted
	pr := kmsg.NewPtrProduceResponse()
	pr.Version = 11
	if err := pr.ReadFrom(resp[5:]); err != nil { // correlation ID, empty header tags
		b.Fatal(err)
	}
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		b.Fatalf("produce: error %d", code)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.exchange(frame, buf)
	}
}
