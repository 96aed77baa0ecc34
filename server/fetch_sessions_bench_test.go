package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkConsumerFetchSessions is the CPU (broker and client, one
// process) of a franz-go consumer of 1,000 partitions with little
// traffic: each op produces one record to the next partition and
// consumes it, so each fetch round has one partition with data and 999
// without. sessions=on sends incremental fetches (the 999 neither asked
// nor answered); sessions=off is kgo.DisableFetchSessions, full fetches
// as before sessions, the baseline. Compare cpu-µs/op.
//
//	go test -run '^$' -bench BenchmarkConsumerFetchSessions -benchtime 2000x ./server
func BenchmarkConsumerFetchSessions(b *testing.B) {
	const parts = 1000
	for _, mode := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"sessions=on", nil},
		{"sessions=off", []kgo.Opt{kgo.DisableFetchSessions()}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			br := startBroker(b)
			if _, err := br.mgr.CreateTopic("bench-sess", parts, nil); err != nil {
				b.Fatal(err)
			}
			prod := br.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
			cons := br.client(append([]kgo.Opt{kgo.ConsumeTopics("bench-sess"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second)}, mode.opts...)...)
			ctx := testContext(b)
			step := func(i int) {
				r := &kgo.Record{Topic: "bench-sess", Partition: int32(i % parts), Value: []byte("v")}
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < 1; {
					fs := cons.PollFetches(ctx)
					if err := ctx.Err(); err != nil {
						b.Fatal(err)
					}
					got += fs.NumRecords()
				}
			}
			for i := range 20 { // the first fetch, sessions started
				step(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for i := range b.N {
				step(i)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
