package bench_test

// End-to-end benchmarks: Tributary against franz-go's kfake, each broker in
// its own child process (this test binary, re-executed by bench.StartBroker
// and routed to serveBroker by TestMain), driven by the same load engine in
// the same run.
//
//	go test -run '^$' -bench E2E -benchtime 1x -count 3 -timeout 60m ./bench
//
// (make bench-e2e). Each sub-benchmark starts a fresh broker over a fresh
// data dir and runs b.N iterations, each on a fresh topic; -benchtime 1x
// makes that one iteration. Workloads:
//
//	produce-100B  1,000,000 records of 100 bytes
//	produce-1KiB    200,000 records of 1 KiB
//	consume-*     the same records, produced first (untimed, and outside the
//	              CPU measurement), then read from the beginning
//
// Producer settings are what a franz-go user gets by default plus the
// benchmark's choices: acks=all, idempotent (kgo's default; a broker
// without InitProducerID gets a non-idempotent producer with the same five
// requests in flight, shown by the idem metric), linger 5 ms, no
// compression, one client, at most 50,000 unacknowledged records. The topic
// has 4 partitions: a few, as most topics have, and more than this
// machine's cores, so neither broker is held to one partition's append
// path. The consumer is one client without a group, kgo's fetch defaults.
//
// Metrics: records/s and MB/s of the workload (MB = 10^6 bytes of record
// values), broker cpu-s/GB (the broker process's user+system CPU over the
// workload, per 10^9 bytes of values) and sys-s/GB (its system part),
// client-cpu-s/GB (this process's, likewise: on a small machine the two
// compete), produce latency p50, p99 and max in ms, and idem (1 if the
// producer got a producer ID).
//
// TRIBUTARY_BENCH_CPUPROFILE=dir makes each broker write a CPU profile of
// each timed workload to dir/<broker>-<workload>-<random>.pprof; merge them
// with go tool pprof -top dir/tributary-produce-100B-*.pprof.

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tributary-io/tributary/bench"
	"github.com/tributary-io/tributary/bench/peers"
)

// Broker kinds a child process can run.
const (
	kindTributary = "tributary"
	kindKfake     = "kfake"
)

// envCPUProfile names the directory for broker CPU profiles.
const envCPUProfile = "TRIBUTARY_BENCH_CPUPROFILE"

func TestMain(m *testing.M) {
	if bench.ChildKind() != "" {
		os.Exit(bench.ServeChild(serveBroker))
	}
	os.Exit(m.Run())
}

// serveBroker starts the broker a child process was asked for: Tributary
// as the peer benchmark runs it, and kfake, which keeps everything in
// memory (its default) and ignores the data dir.
func serveBroker(cfg bench.ChildConfig) (string, func() error, error) {
	if cfg.Kind != kindKfake {
		return peers.ServeBroker(cfg)
	}
	// kfake listens on 127.0.0.1 only; port 0 picks a free one.
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(0),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	)
	if err != nil {
		return "", nil, err
	}
	return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
}

// e2ePartitions is the benchmark topic's partition count (see the top).
const e2ePartitions = 4

// e2eWorkload is one column of the grid.
type e2eWorkload struct {
	name       string
	consume    bool // read the records back (timed) after producing them (untimed)
	records    int64
	recordSize int
	// compression is the producer's codec ("" is none); see
	// codecs_bench_test.go.
	compression string
}

var e2eWorkloads = []e2eWorkload{
	{"produce-100B", false, 1_000_000, 100, ""},
	{"consume-100B", true, 1_000_000, 100, ""},
	{"produce-1KiB", false, 200_000, 1024, ""},
	{"consume-1KiB", true, 200_000, 1024, ""},
}

// Brokers alternate within each workload so that a noisy stretch of the
// machine lands on both rather than on one.
var e2eBrokers = []string{kindTributary, kindKfake}

func BenchmarkE2E(b *testing.B) {
	for _, w := range e2eWorkloads {
		for _, kind := range e2eBrokers {
			b.Run("broker="+kind+"/workload="+w.name, func(b *testing.B) { benchE2E(b, kind, w) })
		}
	}
}

// e2eTimeout bounds one sub-benchmark, b.N iterations included.
const e2eTimeout = 15 * time.Minute

func benchE2E(b *testing.B, kind string, w e2eWorkload) {
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	p, err := bench.StartBroker(ctx, kind, b.TempDir(), bench.WithPartitions(e2ePartitions))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			b.Error(err)
		}
	}()
	profDir := os.Getenv(envCPUProfile)
	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			b.Fatal(err)
		}
	}

	var (
		total                         bench.Result // Records, Bytes and Elapsed summed
		brokerCPU, brokerSys, selfCPU time.Duration
		p50, p99, maxLat              time.Duration
		idempotent                    = true
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pcfg := bench.ProduceConfig{
			Brokers:     []string{p.Addr},
			Topic:       fmt.Sprintf("e2e-%s-%d", w.name, i),
			Records:     w.records,
			RecordSize:  w.recordSize,
			Compression: w.compression,
			Acks:        "all",
			Linger:      5 * time.Millisecond,
		}
		if err := bench.EnsureTopic(ctx, pcfg.Brokers, pcfg.Topic, e2ePartitions); err != nil {
			b.Fatal(err)
		}
		if w.consume {
			res, err := bench.Produce(ctx, pcfg)
			if err != nil {
				b.Fatalf("filling the topic: %v", err)
			}
			if res.Records != w.records {
				b.Fatalf("filling the topic: %d records acknowledged, want %d", res.Records, w.records)
			}
		}
		if profDir != "" {
			// A name no other run, in this process or another, has taken.
			f, err := os.CreateTemp(profDir, kind+"-"+w.name+"-*.pprof")
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			if err := p.StartCPUProfile(f.Name()); err != nil {
				b.Fatal(err)
			}
		}
		user0, sys0 := mustCPU(b, p)
		self0 := selfCPUTime()

		b.StartTimer()
		var res bench.Result
		if w.consume {
			res, err = bench.Consume(ctx, bench.ConsumeConfig{
				Brokers: pcfg.Brokers,
				Topic:   pcfg.Topic,
				Records: w.records,
			})
		} else {
			res, err = bench.Produce(ctx, pcfg)
		}
		b.StopTimer()

		user1, sys1 := mustCPU(b, p)
		self1 := selfCPUTime()
		if profDir != "" {
			if err := p.StopCPUProfile(); err != nil {
				b.Error(err)
			}
		}
		if err != nil {
			b.Fatalf("%s: %v", w.name, err)
		}
		if res.Records != w.records || res.Bytes != w.records*int64(w.recordSize) {
			b.Fatalf("%s: %d records, %d bytes; want %d, %d", w.name, res.Records, res.Bytes, w.records, w.records*int64(w.recordSize))
		}
		total.Records += res.Records
		total.Bytes += res.Bytes
		total.Elapsed += res.Elapsed
		brokerCPU += user1 + sys1 - user0 - sys0
		brokerSys += sys1 - sys0
		selfCPU += self1 - self0
		p50 += res.Latency.P50
		p99 += res.Latency.P99
		maxLat = max(maxLat, res.Latency.Max)
		idempotent = idempotent && res.Idempotent
	}

	sec := total.Elapsed.Seconds()
	gb := float64(total.Bytes) / 1e9
	b.ReportMetric(float64(total.Records)/sec, "records/s")
	b.ReportMetric(float64(total.Bytes)/1e6/sec, "MB/s")
	b.ReportMetric(brokerCPU.Seconds()/gb, "cpu-s/GB")
	b.ReportMetric(brokerSys.Seconds()/gb, "sys-s/GB")
	b.ReportMetric(selfCPU.Seconds()/gb, "client-cpu-s/GB")
	if !w.consume {
		n := float64(b.N)
		b.ReportMetric(ms(p50)/n, "p50-ms")
		b.ReportMetric(ms(p99)/n, "p99-ms")
		b.ReportMetric(ms(maxLat), "max-ms")
		idem := 0.0
		if idempotent {
			idem = 1
		}
		b.ReportMetric(idem, "idem")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mustCPU(b *testing.B, p *bench.BrokerProc) (user, sys time.Duration) {
	b.Helper()
	user, sys, err := p.CPUTimes()
	if err != nil {
		b.Fatal(err)
	}
	return user, sys
}

// selfCPUTime is this process's user+system CPU time: the load generator's.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
