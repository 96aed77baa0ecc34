package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

// BenchmarkReplicaCopy is the copy a reassignment's new replica makes: a
// follower starting empty fetches a 32 MiB partition (512 batches of 64
// KiB) from its leader over loopback until its log ends where the
// leader's does, unthrottled (the baseline, run first and last) and
// under follower.replication.throttled.rate limits. Bytes/s is the copy
// rate; a throttled copy of S bytes at rate R takes about (S-R)/R
// seconds, the bucket starting with one second of R, so 32 MiB at 8
// MiB/s shows about 10.7 MiB/s and at 16 MiB/s about 32 MiB/s.
func BenchmarkReplicaCopy(b *testing.B) {
	const batch, batches = 64 << 10, 512
	leader := startClusterNode(b, 1, replicaTestConfig(), clusterHooks{})
	ll := leader.createTopic("copy")
	st := partitionState("copy", 1, 1, 1, 2)
	st.ISR = []int32{1} // the new replica is out of sync, so throttled
	leader.lead(st, 1)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(11, "copy", recordbatch.BuildSized(batch, time.Now().UnixMilli())), 1)
	c := leader.b.raw()
	buf := make([]byte, 4096)
	for range batches {
		c.exchange(frame, buf)
	}
	end, size := ll.NextOffset(), ll.Size()
	// The baseline first and last: the first copy also warms the page
	// cache and the connections' paths.
	for i, rate := range []int64{0, 16 << 20, 8 << 20, 0} {
		name := fmt.Sprintf("throttle=none/run=%d", i)
		if rate > 0 {
			name = fmt.Sprintf("throttle=%dMiB/s", rate>>20)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				th := replica.NewThrottle(rate)
				cfg := replicaTestConfig()
				cfg.Fetch.Throttle = th
				cfg.Fetch.Throttled = func(cluster.TopicPartition) bool { return true }
				follower := startClusterNode(b, 2, cfg, clusterHooks{})
				fl := follower.createTopic("copy")
				b.StartTimer()
				follower.follow(st, leader)
				for fl.NextOffset() < end {
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				if th.Bytes() < size {
					b.Fatalf("the throttle counted %d bytes of a %d-byte copy", th.Bytes(), size)
				}
				follower.rm.Close()
				b.StartTimer()
			}
		})
	}
}
