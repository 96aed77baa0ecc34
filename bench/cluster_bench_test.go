package bench_test

// The cost of replication (issue 14, item 10): the built `tributary serve`
// as one broker (one process, RF=1) and as a three-broker cluster (three
// processes on 127.0.0.2-4, RF=3, min.insync.replicas=2), both up for the
// whole run on the same machine, driven by the e2e benchmark's engine in
// the same run:
//
//	make bench-cluster
//	TRIBUTARY_BENCH_CLUSTER_BIN=bin/tributary go test -run '^$' \
//	    -bench '^BenchmarkCluster$' -benchtime 3x -count 1 -timeout 40m ./bench
//
// Without TRIBUTARY_BENCH_CLUSTER_BIN the benchmark is skipped (so that
// make bench, which runs every benchmark, does not start four brokers).
// A binary whose serve does not run a cluster yet gets the single
// broker's half of every workload and a skipped cluster half, saying
// "cluster mode not available in this binary".
//
// Each sub-benchmark is one workload; -benchtime Nx is N iterations of it
// (b.Loop: setup once). Every iteration runs the workload on both
// deployments, each on a fresh topic of 4 partitions (the e2e benchmark's
// count; warmed up untimed with one acks=all record a partition, see
// createTopic), in an order that flips at every iteration across the
// whole run, so that a noisy stretch of this shared machine lands on
// both:
//
//	produce-100B  1,000,000 x 100 B, acks=all, idempotent, linger 5 ms
//	consume-100B  those records read back from the start (one client, no group)
//	produce-1KiB  200,000 x 1 KiB, as produce-100B
//	consume-1KiB  as consume-100B
//	e2e-latency   100 B records at 10,000 records/s for 10 s, linger 0,
//	              produced and consumed at once (bench.EndToEnd): every
//	              record's time from the Produce call to its receipt
//	failover      (cluster only) two producers at 500 records/s each,
//	              acks=all, idempotent, linger 0, round robin over the
//	              partitions; after 3 s (-cluster.failover-before),
//	              kill -9 of the leader of one partition (a different
//	              one each iteration); the
//	              unavailability window is the time from the SIGKILL to
//	              the first acknowledgement, on that partition, of a
//	              record handed to the client after the killed process
//	              was reaped (so no answer of the dead leader counts).
//	              One producer has kgo's defaults (MetadataMinAge 5 s),
//	              the other MetadataMinAge 250 ms, to tell the client's
//	              share from the cluster's; the time until Metadata names
//	              a new leader is measured too. The node is then
//	              restarted and the ISR must be whole again.
//
// A consume reads a topic the produce of the same size wrote (or fills
// one, untimed, when run alone) and deletes it after; the other topics
// are deleted after their run, so the disk holds little more than the
// records of one size.
//
// Metrics (medians over the iterations; every iteration and the
// [min-max] ranges are logged): records/s and MB/s per deployment, the
// brokers' CPU per GB of values (cpu-s/GB: for the cluster, the sum of
// its three processes) and the ratio rf3/single of records/s, per
// iteration then its median (goal: at least 0.45); e2e p50, p99 and p99.9
// per deployment (goal: p99 under 5 ms); the failover windows, median and
// max (goal: under 3 s).
//
// The cluster runs with Kafka's broker.session.timeout.ms=9000 and
// broker.heartbeat.interval.ms=500 (-cluster.session-timeout changes the
// first; the runs before fast fencing used 2000) and fast fencing on
// (broker.fast.fencing.enable, the default): a broker killed with kill -9
// is fenced, and its partitions get new leaders, as soon as a voter sees
// its connection close and its inter-broker port refuse, not when its
// lease lapses (the lease remains the rule for a paused or cut-off
// broker). Each failover iteration logs whether the killed node led
// etcd's raft (DescribeQuorum just before the kill): then the fencing
// waits for etcd to elect another leader.
//
// TRIBUTARY_BENCH_CLUSTER_PERF=dir records the brokers of each timed
// produce, consume and e2e run with `perf record -g` into
// dir/<workload>-<deployment>-<iteration>.perf.data (see startPerf in
// security_bench_test.go); perf disturbs the figures, so profile apart
// from the runs that are reported.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/bench"
	"github.com/tributary-io/tributary/internal/clustertest"
)

// Environment of the benchmark.
const (
	// envClusterBin names the tributary binary to run (make bench-cluster
	// passes bin/tributary); without it the benchmark is skipped.
	envClusterBin = "TRIBUTARY_BENCH_CLUSTER_BIN"
	// envClusterPerf names a directory for perf recordings (see the top).
	envClusterPerf = "TRIBUTARY_BENCH_CLUSTER_PERF"
)

// failoverBefore is the steady load before the kill. kgo, with its
// defaults, asks for metadata after an error no sooner than
// MetadataMinAge (5 s) after its previous ask, and a young client asked
// recently (at its start, and again about 5 s later): a kill 3 s in
// waits out the rest of those 5 s whatever the brokers do.
var failoverBefore = flag.Duration("cluster.failover-before", 3*time.Second,
	"BenchmarkCluster: the steady load before each failover kill")

var clusterSessionTimeout = flag.Duration("cluster.session-timeout", 9*time.Second,
	"BenchmarkCluster: the cluster's broker.session.timeout.ms")

// The deployments and the workloads' parameters.
const (
	depSingle = "single"
	depRF3    = "rf3"

	clusterNodes      = 3
	clusterRF         = 3
	clusterMinISR     = 2
	clusterPartitions = e2ePartitions
	// clusterBenchTimeout bounds the whole benchmark (every workload,
	// every iteration, both deployments).
	clusterBenchTimeout = 35 * time.Minute
	// clusterSetupTimeout bounds one topic's creation and its ISR.
	clusterSetupTimeout = 2 * time.Minute

	latencyRate       = 10_000
	latencyFor        = 10 * time.Second
	latencyRecordSize = 100
	// consumeIdle ends a consume that gets no record for this long (an
	// error: the topic holds what was produced).
	consumeIdle = 30 * time.Second
	// latencyDrain bounds the wait for the consumer after the producer
	// finished (as bench/peers).
	latencyDrain = 30 * time.Second

	// failoverRate is the whole load, split evenly between the clients.
	failoverRate       = 1_000
	failoverRecordSize = 100
	// failoverWaitMax bounds the wait for the first acknowledgement after
	// the kill: a window this long is reported as a failure to recover.
	failoverWaitMax = 30 * time.Second
	// failoverTail is the load kept up after every client recovered.
	failoverTail = time.Second
	// failoverFlush bounds the wait for the last records' answers.
	failoverFlush = 30 * time.Second
	// failoverPoll is how often the benchmark looks at the clients and the
	// metadata while it waits.
	failoverPoll = 5 * time.Millisecond
	// failoverMetadataPoll is how often it asks for the partition's leader.
	failoverMetadataPoll = 50 * time.Millisecond
	// failoverFastMinAge is the second client's MetadataMinAge.
	failoverFastMinAge = 250 * time.Millisecond
	// probeWait is how long the availability probe gives a one-voter
	// cluster node to exit saying cluster mode is not wired.
	probeWait = 10 * time.Second
)

// errNoCluster starts the message of a cluster half that is skipped.
const errNoCluster = "cluster mode not available in this binary"

// deployment is one side of the comparison.
type deployment struct {
	name    string
	c       *clustertest.Cluster // nil: not available (skip says why)
	skip    string
	rf      int16
	configs map[string]*string
	waitISR int
}

func (d *deployment) seeds() []string { return d.c.Seeds() }

// cpu is the deployment's brokers' CPU time so far (user + system, all
// threads, all processes).
func (d *deployment) cpu(b *testing.B) time.Duration {
	var sum time.Duration
	for _, n := range d.c.Nodes {
		t, err := bench.ProcessCPUClock(n.PID())
		if err != nil {
			b.Fatal(err)
		}
		sum += t
	}
	return sum
}

// createTopic creates topic with the deployment's replication, waits
// until every partition has a leader and, in the cluster, a whole ISR,
// and then writes one empty record to each partition with acks=all (the
// warm-up: offset 0 of every partition), which returns once every
// replica fetches the partition. It returns how long the warm-up took.
//
// The ISR is whole in the metadata from the topic's creation on, before
// the followers fetch: the first acks=all record of a partition waits
// for its followers' first fetch (the leader holds a fetch of a partition
// it is about to lead until it opens it, and a fetcher given a new
// partition fetches again at once). The warm-up keeps that one-off wait
// of a new partition (measured: 17-21 ms) out of the timed runs
// (BENCHMARKS.md, "Cluster: replication cost").
func (d *deployment) createTopic(ctx context.Context, topic string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterSetupTimeout)
	defer cancel()
	if err := d.c.CreateTopic(ctx, topic, clusterPartitions, d.rf, d.configs); err != nil {
		return 0, err
	}
	if d.waitISR > 1 {
		if err := d.c.WaitISR(ctx, topic, d.waitISR); err != nil {
			return 0, err
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, clusterPartitions)
	for p := range recs {
		recs[p] = &kgo.Record{Partition: int32(p)}
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("warm-up of %s on %s: %w", topic, d.name, err)
	}
	return time.Since(start), nil
}

// afterWarmUp is where the records of a run start in every partition of
// a topic made by createTopic.
func afterWarmUp() map[int32]int64 {
	m := make(map[int32]int64, clusterPartitions)
	for p := range clusterPartitions {
		m[int32(p)] = 1
	}
	return m
}

func (d *deployment) deleteTopic(ctx context.Context, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, clusterSetupTimeout)
	defer cancel()
	resp, err := d.c.Admin().DeleteTopics(ctx, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("delete topic %s on %s: %w", topic, d.name, err)
	}
	return nil
}

// checkCommitted fails unless topic's high watermarks add up to records.
func (d *deployment) checkCommitted(ctx context.Context, topic string, records int64) error {
	ctx, cancel := context.WithTimeout(ctx, clusterSetupTimeout)
	defer cancel()
	ends, err := d.c.EndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	var sum int64
	for _, e := range ends {
		sum += e
	}
	if want := records + clusterPartitions; sum != want { // the warm-up's one a partition
		return fmt.Errorf("%d records (and %d warm-up ones) acknowledged with acks=all, but the high watermarks of %s add up to %d (%v)", records, clusterPartitions, topic, sum, ends)
	}
	return nil
}

// perf starts perf record on the deployment's brokers if
// TRIBUTARY_BENCH_CLUSTER_PERF is set.
func (d *deployment) perf(b *testing.B, name string) (stop func()) {
	dir := os.Getenv(envClusterPerf)
	if dir == "" {
		return func() {}
	}
	pids := make([]string, len(d.c.Nodes))
	for i, n := range d.c.Nodes {
		pids[i] = strconv.Itoa(n.PID())
	}
	cmd := exec.Command("perf", "record", "-q", "-g", "-p", strings.Join(pids, ","),
		"-o", filepath.Join(dir, name+"-"+d.name+".perf.data"))
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf record: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // perf attaches
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			b.Logf("perf record: %v", err)
		}
	}
}

// clusterBench is the state of one BenchmarkCluster run.
type clusterBench struct {
	deps [2]*deployment // single, rf3
	// iteration counts every iteration of every workload, for the order.
	iteration int
	// filled are topics produce-* wrote and consume-* reads, per record
	// size and deployment, oldest first.
	filled map[string][]string
}

// order is the deployments of the next iteration: the order flips at
// every iteration of the run.
func (cb *clusterBench) order() []*deployment {
	cb.iteration++
	if cb.iteration%2 == 1 {
		return []*deployment{cb.deps[0], cb.deps[1]}
	}
	return []*deployment{cb.deps[1], cb.deps[0]}
}

func BenchmarkCluster(b *testing.B) {
	bin := os.Getenv(envClusterBin)
	if bin == "" {
		b.Skipf("set %s to a tributary binary (make bench-cluster)", envClusterBin)
	}
	if dir := os.Getenv(envClusterPerf); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterBenchTimeout)
	defer cancel()

	single := &deployment{name: depSingle, rf: 1, waitISR: 1,
		c: clustertest.Start(b, clustertest.Config{Nodes: 1, Bin: bin})}
	rf3 := &deployment{name: depRF3, rf: clusterRF, waitISR: clusterRF,
		configs: map[string]*string{"min.insync.replicas": strPtr(strconv.Itoa(clusterMinISR))}}
	if ok, why := clusterAvailable(b, bin); ok {
		rf3.c = clustertest.Start(b, clustertest.Config{Nodes: clusterNodes, Bin: bin, Args: []string{
			"--default.replication.factor", strconv.Itoa(clusterRF),
			"--min.insync.replicas", strconv.Itoa(clusterMinISR),
			"--broker.session.timeout.ms", strconv.FormatInt(clusterSessionTimeout.Milliseconds(), 10),
			"--broker.heartbeat.interval.ms", "500",
		}})
	} else {
		rf3.skip = why
		b.Logf("%s: the single broker runs alone", why)
	}
	cb := &clusterBench{deps: [2]*deployment{single, rf3}, filled: map[string][]string{}}

	for _, w := range []struct {
		name    string
		consume bool
		records int64
		size    int
	}{
		{"produce-100B", false, 1_000_000, 100},
		{"consume-100B", true, 1_000_000, 100},
		{"produce-1KiB", false, 200_000, 1024},
		{"consume-1KiB", true, 200_000, 1024},
	} {
		b.Run("workload="+w.name, func(b *testing.B) {
			defer logLoad(b)()
			cb.throughput(ctx, b, w.name, w.consume, w.records, w.size)
		})
	}
	b.Run("workload=e2e-latency", func(b *testing.B) {
		defer logLoad(b)()
		cb.latency(ctx, b)
	})
	b.Run("workload=failover", func(b *testing.B) {
		if rf3.c == nil {
			b.Skip(rf3.skip)
		}
		defer logLoad(b)()
		cb.failover(ctx, b, rf3)
	})
}

// sideStats are one deployment's iterations of a workload.
type sideStats struct {
	recsPerSec, mbPerSec, cpuPerGB []float64
	p50, p99, p999, maxLat         []float64 // ms
}

func (cb *clusterBench) throughput(ctx context.Context, b *testing.B, name string, consume bool, records int64, size int) {
	stats := map[string]*sideStats{depSingle: {}, depRF3: {}}
	var ratios []float64
	it := 0
	for b.Loop() {
		it++
		perIt := map[string]float64{}
		for _, d := range cb.order() {
			if d.c == nil {
				continue
			}
			key := fmt.Sprintf("%d/%s", size, d.name)
			var (
				warm time.Duration
				err  error
			)
			pcfg := bench.ProduceConfig{
				Brokers:    d.seeds(),
				Topic:      fmt.Sprintf("cluster-%s-%s-%d", name, d.name, it),
				Records:    records,
				RecordSize: size,
				Acks:       "all",
				Linger:     5 * time.Millisecond,
			}
			if consume {
				if q := cb.filled[key]; len(q) > 0 {
					pcfg.Topic, cb.filled[key] = q[0], q[1:]
				} else {
					if _, err := d.createTopic(ctx, pcfg.Topic); err != nil {
						b.Fatal(err)
					}
					res, err := bench.Produce(ctx, pcfg)
					if err != nil || res.Records != records {
						b.Fatalf("filling %s on %s: %d records, %v", pcfg.Topic, d.name, res.Records, err)
					}
				}
			} else if warm, err = d.createTopic(ctx, pcfg.Topic); err != nil {
				b.Fatal(err)
			}
			stopPerf := d.perf(b, fmt.Sprintf("%s-%d", name, it))
			cpu0 := d.cpu(b)
			var res bench.Result
			if consume {
				res, err = bench.Consume(ctx, bench.ConsumeConfig{Brokers: d.seeds(), Topic: pcfg.Topic, Records: records,
					StartOffsets: afterWarmUp(), IdleTimeout: consumeIdle})
			} else {
				res, err = bench.Produce(ctx, pcfg)
			}
			cpu := d.cpu(b) - cpu0
			stopPerf()
			if err != nil {
				b.Fatalf("%s on %s: %v", name, d.name, err)
			}
			if want := records * int64(size); res.Records != records || res.Bytes != want {
				b.Fatalf("%s on %s: %d records, %d bytes; want %d, %d", name, d.name, res.Records, res.Bytes, records, want)
			}
			if !consume && !res.Idempotent {
				b.Fatalf("%s on %s: the producer got no producer ID (not idempotent)", name, d.name)
			}
			if !consume {
				// acks=all: every acknowledged record is below the high
				// watermark, which is what consumers can read.
				if err := d.checkCommitted(ctx, pcfg.Topic, records); err != nil {
					b.Fatalf("%s on %s: %v", name, d.name, err)
				}
			}
			if consume {
				if err := d.deleteTopic(ctx, pcfg.Topic); err != nil {
					b.Fatal(err)
				}
			} else {
				cb.filled[key] = append(cb.filled[key], pcfg.Topic)
			}
			s := stats[d.name]
			cpuPerGB := cpu.Seconds() / (float64(res.Bytes) / 1e9)
			s.recsPerSec = append(s.recsPerSec, res.RecordsPerSec)
			s.mbPerSec = append(s.mbPerSec, res.MBPerSec)
			s.cpuPerGB = append(s.cpuPerGB, cpuPerGB)
			perIt[d.name] = res.RecordsPerSec
			warmText := ""
			if !consume {
				warmText = fmt.Sprintf(" (the topic's warm-up took %v)", warm.Round(time.Millisecond))
			}
			b.Logf("%s iteration %d %s: %.0f records/s, %.1f MB/s, broker cpu %.3f s/GB, %v%s",
				name, it, d.name, res.RecordsPerSec, res.MBPerSec, cpuPerGB, res.Elapsed.Round(time.Millisecond), warmText)
		}
		if perIt[depRF3] > 0 && perIt[depSingle] > 0 {
			ratios = append(ratios, perIt[depRF3]/perIt[depSingle])
		}
	}
	for _, dn := range []string{depSingle, depRF3} {
		s := stats[dn]
		if len(s.recsPerSec) == 0 {
			continue
		}
		b.ReportMetric(median(s.recsPerSec), dn+"-records/s")
		b.ReportMetric(median(s.mbPerSec), dn+"-MB/s")
		b.ReportMetric(median(s.cpuPerGB), dn+"-cpu-s/GB")
		b.Logf("%s %s: records/s %s, MB/s %s, broker cpu-s/GB %s", name, dn,
			spread(s.recsPerSec, "%.0f"), spread(s.mbPerSec, "%.1f"), spread(s.cpuPerGB, "%.3f"))
	}
	if len(ratios) > 0 {
		b.ReportMetric(median(ratios), "rf3/single-x")
		goal := ""
		if !consume {
			goal = " (goal: at least 0.45)"
		}
		b.Logf("%s rf3/single records/s: %s%s", name, spread(ratios, "%.3f"), goal)
	} else if cb.deps[1].c == nil {
		b.Logf("%s: no rf3/single ratio: %s", name, cb.deps[1].skip)
	}
}

func (cb *clusterBench) latency(ctx context.Context, b *testing.B) {
	stats := map[string]*sideStats{depSingle: {}, depRF3: {}}
	it := 0
	for b.Loop() {
		it++
		for _, d := range cb.order() {
			if d.c == nil {
				continue
			}
			topic := fmt.Sprintf("cluster-e2e-%s-%d", d.name, it)
			warm, err := d.createTopic(ctx, topic)
			if err != nil {
				b.Fatal(err)
			}
			stopPerf := d.perf(b, fmt.Sprintf("e2e-latency-%d", it))
			cpu0 := d.cpu(b)
			out, err := bench.EndToEnd(ctx, bench.ProduceConfig{
				Brokers:    d.seeds(),
				Topic:      topic,
				Rate:       latencyRate,
				Duration:   latencyFor,
				RecordSize: latencyRecordSize,
				Acks:       "all",
				Linger:     0,
			}, bench.ConsumeConfig{}, latencyDrain)
			cpu := d.cpu(b) - cpu0
			stopPerf()
			if err != nil {
				b.Fatalf("e2e latency on %s: %v", d.name, err)
			}
			if err := d.deleteTopic(ctx, topic); err != nil {
				b.Fatal(err)
			}
			l := out.Consume.Latency
			s := stats[d.name]
			s.p50 = append(s.p50, ms(l.P50))
			s.p99 = append(s.p99, ms(l.P99))
			s.p999 = append(s.p999, ms(l.P999))
			s.maxLat = append(s.maxLat, ms(l.Max))
			s.recsPerSec = append(s.recsPerSec, out.Produce.RecordsPerSec)
			pl := out.Produce.Latency
			b.Logf("e2e-latency iteration %d %s: %d records received of %d acknowledged, %.0f records/s, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, brokers %.0f%% of a core; acknowledgement p50 %.3f ms, p99 %.3f ms, max %.3f ms; received per second %s",
				it, d.name, out.Consume.Records, out.Produce.Records, out.Produce.RecordsPerSec,
				ms(l.P50), ms(l.P99), ms(l.P999), ms(l.Max), 100*cpu.Seconds()/out.Produce.Elapsed.Seconds(),
				ms(pl.P50), ms(pl.P99), ms(pl.Max), timeline(out.Consume.Timeline))
			b.Logf("e2e-latency iteration %d %s: the topic's warm-up (one acks=all record a partition) took %v", it, d.name, warm.Round(time.Millisecond))
		}
	}
	for _, dn := range []string{depSingle, depRF3} {
		s := stats[dn]
		if len(s.p50) == 0 {
			continue
		}
		b.ReportMetric(median(s.p50), dn+"-p50-ms")
		b.ReportMetric(median(s.p99), dn+"-p99-ms")
		b.ReportMetric(median(s.p999), dn+"-p99.9-ms")
		b.ReportMetric(median(s.maxLat), dn+"-max-ms")
		b.Logf("e2e-latency %s: p50 %s ms, p99 %s ms (goal under 5), p99.9 %s ms, max %s ms", dn,
			spread(s.p50, "%.3f"), spread(s.p99, "%.3f"), spread(s.p999, "%.3f"), spread(s.maxLat, "%.3f"))
	}
	if cb.deps[1].c == nil {
		b.Logf("e2e-latency: no rf3 figures: %s", cb.deps[1].skip)
	}
}

// failoverClient is one producer of the failover run.
type failoverClient struct {
	name string
	cl   *kgo.Client
	// firstAck is when the first record for the target partition handed
	// to the client after the kill was acknowledged (Unix ns; 0: none yet).
	firstAck            atomic.Int64
	sent, acked, failed atomic.Int64
	firstErr            atomic.Pointer[error]
	target              int32
	killedAt            *atomic.Int64 // Unix ns the killed process was reaped; 0 before
	partitions          int
}

func (fc *failoverClient) promise(r *kgo.Record, err error) {
	if err != nil {
		fc.failed.Add(1)
		fc.firstErr.CompareAndSwap(nil, &err)
		return
	}
	fc.acked.Add(1)
	if k := fc.killedAt.Load(); k != 0 && r.Partition == fc.target && r.Timestamp.UnixNano() > k {
		fc.firstAck.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// run produces at rate records/s, round robin over the partitions, until
// stop is closed or ctx ends.
func (fc *failoverClient) run(ctx context.Context, rate float64, stop <-chan struct{}) {
	gap := time.Duration(float64(time.Second) / rate)
	value := bytes.Repeat([]byte{'f'}, failoverRecordSize)
	start := time.Now()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * gap)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		r := &kgo.Record{Partition: int32(i % int64(fc.partitions)), Value: value, Timestamp: time.Now()}
		fc.sent.Add(1)
		fc.cl.Produce(ctx, r, fc.promise)
	}
}

// failoverRun is what one kill measured.
type failoverRun struct {
	killed     int           // node id
	controller bool          // the killed node was the active controller
	raftLeader int           // the node leading etcd's raft just before the kill; 0: unknown
	kill       time.Duration // SIGKILL to reaped
	moved      time.Duration // SIGKILL to Metadata naming another leader; 0: not seen
	windows    []time.Duration
	recovered  []bool
	sent       []int64
	acked      []int64
	failed     []int64
	clientName []string
}

func (cb *clusterBench) failover(ctx context.Context, b *testing.B, d *deployment) {
	var (
		windows = map[string][]float64{}
		moved   []float64
		// movedRaft and movedOther split moved by whether the killed
		// node led etcd's raft.
		movedRaft, movedOther []float64
		names                 []string
	)
	it := 0
	for b.Loop() {
		it++
		topic := fmt.Sprintf("cluster-failover-%d", it)
		if _, err := d.createTopic(ctx, topic); err != nil {
			b.Fatal(err)
		}
		target := int32((it - 1) % clusterPartitions)
		run, err := failoverOnce(ctx, d.c, topic, target)
		if err != nil {
			b.Fatalf("failover iteration %d: %v", it, err)
		}
		names = run.clientName
		var parts []string
		for i, n := range run.clientName {
			w := ms(run.windows[i])
			windows[n] = append(windows[n], w)
			state := fmt.Sprintf("%.0f ms", w)
			if !run.recovered[i] {
				state = fmt.Sprintf("NOT RECOVERED within %v", failoverWaitMax)
			}
			parts = append(parts, fmt.Sprintf("%s %s (sent %d, acknowledged %d, failed %d)", n, state, run.sent[i], run.acked[i], run.failed[i]))
		}
		movedMs := ms(run.moved)
		movedText := fmt.Sprintf("%.0f ms", movedMs)
		if run.moved == 0 {
			movedText = "not seen"
		} else {
			moved = append(moved, movedMs)
			if run.raftLeader == run.killed {
				movedRaft = append(movedRaft, movedMs)
			} else {
				movedOther = append(movedOther, movedMs)
			}
		}
		role := "not the active controller"
		if run.controller {
			role = "the active controller"
		}
		raft := fmt.Sprintf("etcd raft led by node %d", run.raftLeader)
		switch run.raftLeader {
		case 0:
			raft = "etcd raft leader unknown"
		case run.killed:
			raft = "the etcd raft leader"
		}
		b.Logf("failover iteration %d: kill -9 of node %d (leader of partition %d, %s, %s; reaped in %v); new leader in Metadata after %s; window: %s",
			it, run.killed, target, role, raft, run.kill.Round(time.Microsecond), movedText, strings.Join(parts, "; "))

		// The node comes back and the ISR is whole before anything else.
		rctx, cancel := context.WithTimeout(ctx, clusterSetupTimeout)
		err = d.c.Restart(rctx, run.killed)
		if err == nil {
			err = d.c.WaitISR(rctx, topic, clusterRF)
		}
		cancel()
		if err != nil {
			b.Fatalf("failover iteration %d: node %d back: %v", it, run.killed, err)
		}
		if err := d.deleteTopic(ctx, topic); err != nil {
			b.Fatal(err)
		}
		for i := range run.clientName {
			if run.failed[i] > 0 {
				b.Fatalf("failover iteration %d: client %s: %d records failed", it, run.clientName[i], run.failed[i])
			}
		}
	}
	for _, n := range names {
		w := windows[n]
		b.ReportMetric(median(w), n+"-window-ms")
		b.ReportMetric(slices.Max(w), n+"-window-max-ms")
		b.Logf("failover window, client %s: %s ms, max %.0f ms (goal under 3,000)", n, spread(w, "%.0f"), slices.Max(w))
	}
	if len(moved) > 0 {
		b.ReportMetric(slices.Max(moved), "leader-moved-max-ms")
		b.Logf("failover: new leader in Metadata after %s ms (broker.session.timeout.ms %d)", spread(moved, "%.0f"), clusterSessionTimeout.Milliseconds())
	}
	for _, m := range []struct {
		what string
		v    []float64
	}{{"the etcd raft leader", movedRaft}, {"another node", movedOther}} {
		if len(m.v) > 0 {
			b.Logf("failover: kills of %s (%d): new leader in Metadata after %s ms, max %.0f", m.what, len(m.v), spread(m.v, "%.0f"), slices.Max(m.v))
		}
	}
}

// failoverOnce runs the load, kills the leader of partition target and
// measures until every client recovered (or failoverWaitMax).
func failoverOnce(ctx context.Context, c *clustertest.Cluster, topic string, target int32) (failoverRun, error) {
	var killedAt atomic.Int64
	specs := []struct {
		name string
		opts []kgo.Opt
	}{
		{"kgo-default", nil},
		{"minage-250ms", []kgo.Opt{kgo.MetadataMinAge(failoverFastMinAge)}},
	}
	var clients []*failoverClient
	defer func() {
		for _, fc := range clients {
			fc.cl.Close()
		}
	}()
	for _, s := range specs {
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(c.Seeds()...),
			kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(0),
		}, s.opts...)...)
		if err != nil {
			return failoverRun{}, err
		}
		clients = append(clients, &failoverClient{name: s.name, cl: cl, target: target, killedAt: &killedAt,
			partitions: clusterPartitions})
	}

	pctx, cancelLoad := context.WithTimeout(ctx, *failoverBefore+failoverWaitMax+failoverTail+failoverFlush)
	defer cancelLoad()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, fc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.run(pctx, failoverRate/float64(len(clients)), stop)
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoad()

	if !sleepFor(ctx, *failoverBefore) {
		return failoverRun{}, ctx.Err()
	}
	for _, fc := range clients {
		if fc.acked.Load() == 0 {
			return failoverRun{}, fmt.Errorf("client %s: nothing acknowledged in %v of steady load (first error: %v)", fc.name, *failoverBefore, loadErr(fc))
		}
	}
	leaders, err := c.Leaders(ctx, topic)
	if err != nil {
		return failoverRun{}, err
	}
	victim := leaders[target]
	if victim == 0 {
		return failoverRun{}, fmt.Errorf("partition %d has no leader the harness knows: %v", target, leaders)
	}

	run := failoverRun{killed: victim}
	if ctl, err := c.Controller(ctx); err == nil {
		run.controller = ctl == victim
	}
	if rl, err := c.QuorumLeader(ctx); err == nil {
		run.raftLeader = rl
	}
	t0 := time.Now()
	if err := c.Kill9(victim); err != nil {
		return failoverRun{}, err
	}
	run.kill = time.Since(t0)
	killedAt.Store(time.Now().UnixNano())

	// Wait for every client's first acknowledgement after the kill, and
	// watch the metadata for the new leader.
	deadline := t0.Add(failoverWaitMax)
	nextMeta := time.Now()
	for time.Now().Before(deadline) {
		if run.moved == 0 && !time.Now().Before(nextMeta) {
			mctx, cancel := context.WithTimeout(ctx, failoverMetadataPoll*4)
			ls, err := c.Leaders(mctx, topic)
			cancel()
			if err == nil && ls[target] != 0 && ls[target] != victim {
				run.moved = time.Since(t0)
			}
			nextMeta = time.Now().Add(failoverMetadataPoll)
		}
		all := true
		for _, fc := range clients {
			all = all && fc.firstAck.Load() != 0
		}
		if all && run.moved != 0 {
			break
		}
		if !sleepFor(ctx, failoverPoll) {
			return failoverRun{}, ctx.Err()
		}
	}
	sleepFor(ctx, failoverTail)
	stopLoad()

	fctx, cancel := context.WithTimeout(ctx, failoverFlush)
	defer cancel()
	var flushErrs []error
	for _, fc := range clients {
		if err := fc.cl.Flush(fctx); err != nil {
			flushErrs = append(flushErrs, fmt.Errorf("client %s: flush: %w", fc.name, err))
		}
	}
	for _, fc := range clients {
		first := fc.firstAck.Load()
		w := failoverWaitMax
		if first != 0 {
			w = time.Unix(0, first).Sub(t0)
		}
		run.clientName = append(run.clientName, fc.name)
		run.windows = append(run.windows, w)
		run.recovered = append(run.recovered, first != 0)
		run.sent = append(run.sent, fc.sent.Load())
		run.acked = append(run.acked, fc.acked.Load())
		run.failed = append(run.failed, fc.failed.Load())
	}
	return run, errors.Join(flushErrs...)
}

func loadErr(fc *failoverClient) error {
	if p := fc.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// sleepFor sleeps d, or less if ctx ends; it reports whether it slept d.
func sleepFor(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// clusterAvailable reports whether bin's serve runs a cluster: it starts
// one node of a one-voter quorum and waits probeWait for it to exit with
// the error of a serve whose cluster mode is not wired. A node that is
// still running then is killed (by PID) and the answer is yes; one that
// exits for another reason fails the benchmark with its output.
func clusterAvailable(b *testing.B, bin string) (bool, string) {
	b.Helper()
	const host = "127.0.0.2"
	kafka, err := freePort(host, 1)
	if err != nil {
		b.Fatal(err)
	}
	controller, err := freePort(host, 2) // etcd's client port is the next one
	if err != nil {
		b.Fatal(err)
	}
	ctl := net.JoinHostPort(host, strconv.Itoa(controller))
	cmd := exec.Command(bin, "serve", "--node-id", "1", "--data-dir", b.TempDir(),
		"--listen", net.JoinHostPort(host, strconv.Itoa(kafka)), "--metrics-listen", "",
		"--controller-listen", ctl, "--controller-quorum-voters", "1@"+ctl)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		text := strings.TrimSpace(out.String())
		if strings.Contains(text, "not wired") {
			last := text[strings.LastIndex(text, "\n")+1:]
			return false, errNoCluster + " (" + last + ")"
		}
		b.Fatalf("probing cluster mode: %s serve exited (%v) for another reason:\n%s", bin, err, text)
	case <-time.After(probeWait):
		_ = cmd.Process.Kill()
		<-done
	}
	return true, ""
}

// freePort finds a port p on host such that p..p+n-1 are all free now.
func freePort(host string, n int) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{l}
		ok := true
		for i := 1; i < n && ok; i++ {
			li, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+i)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, li)
		}
		for _, li := range ls {
			li.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports on %s", n, host)
}

// logLoad returns a function that logs the machine's load average (1, 5
// and 15 min) when logLoad was called and when it is: the machine is
// shared.
func logLoad(b *testing.B) (done func()) {
	before := loadAvg()
	return func() { b.Logf("load average: %s before, %s after", before, loadAvg()) }
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}

func strPtr(s string) *string { return &s }

// timeline is the records of each sample of tl, comma-separated.
func timeline(tl []bench.Sample) string {
	parts := make([]string, len(tl))
	for i, smp := range tl {
		parts[i] = strconv.FormatInt(smp.Records, 10)
	}
	return strings.Join(parts, ",")
}

// median of xs (not empty); the mean of the middle two for an even count.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median [min-max]" in format f, with every value after it.
func spread(xs []float64, f string) string {
	vals := make([]string, len(xs))
	for i, x := range xs {
		vals[i] = fmt.Sprintf(f, x)
	}
	return fmt.Sprintf(f+" ["+f+"–"+f+"] (%s)", median(xs), slices.Min(xs), slices.Max(xs), strings.Join(vals, ", "))
}
