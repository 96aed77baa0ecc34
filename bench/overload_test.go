//go:build overload

package bench_test

// TestOverload is "proof under fire": the real broker (`tributary serve`,
// its own process) under everything at once, bounded in time:
//
//	go test -tags overload -run '^TestOverload$' -count 1 -v -timeout 10m ./bench
//
// (make overload). Phases:
//
//  1. unloaded: a probe client alone does a Produce (acks=all, one 100-byte
//     record) and a Fetch of that record every 10 ms for ovUnloaded;
//  2. idle: 2,000 raw TCP connections send ApiVersions and then sit idle;
//  3. loaded, with the idle connections still open: 50 franz-go producers
//     produce 100-byte records flat out (acks=all, idempotent); a consumer
//     polls and sleeps between polls; another asks for 1 GiB fetches
//     (FetchMaxBytes and FetchMaxPartitionBytes); a raw connection asks for
//     a 1 GiB fetch and reads the answer at 160 KiB/s; midway, requests over
//     the broker's limits (a batch over message.max.bytes, a frame over
//     socket.request.max.bytes, a connection over
//     max.connections.per.ip.overrides) get Kafka's answers; and the probe
//     runs again for ovLoaded.
//
// Throughout, the broker's memory is sampled once a second: VmRSS, VmHWM,
// RssAnon and RssFile from /proc/<pid>/status (RssFile is mostly the page
// cache of the mapped segments), and the Go heap and stacks from its own
// /metrics. The test logs every figure (BENCHMARKS.md, "Overload") and
// asserts only generous bounds, documented at the constants, since the
// machine is shared and noisy.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/bench"
	"github.com/tributary-io/tributary/recordbatch"
)

// The scenario.
const (
	ovIdleConns   = 2000
	ovProducers   = 50
	ovPartitions  = 8 // of the load topic
	ovRecordSize  = 100
	ovProbeEvery  = 10 * time.Millisecond
	ovUnloaded    = 10 * time.Second
	ovWarmup      = 3 * time.Second // load before the probe and the slow reader start
	ovLoaded      = 20 * time.Second
	ovSampleEvery = time.Second
	ovDialWorkers = 16
	// ovHugeFetch is what the greedy consumers ask for, in all and per
	// partition: the broker caps it at fetch.max.bytes.
	ovHugeFetch = 1 << 30
	// The slow reader takes ovSlowChunk bytes every ovSlowEvery.
	ovSlowChunk = 16 << 10
	ovSlowEvery = 100 * time.Millisecond
	// ovSlowPollSleep is the pause of the slow-polling consumer.
	ovSlowPollSleep = 500 * time.Millisecond
	// ovProducerBuffer bounds each producer's unacknowledged records: the
	// test's own memory stays bounded, and produce requests stay small
	// (at most this many records each), so the broker handles many
	// requests rather than copying a few large ones.
	ovProducerBuffer = 100
	// ovMaxConnections is the broker's max.connections: above what the
	// test opens (2,000 idle + ~2 per client), so nothing waits.
	ovMaxConnections = 4096
	// ovPerIPAddr may hold one connection (max.connections.per.ip.overrides).
	ovPerIPAddr = "127.0.0.2"
	// ovFetchMaxBytes is the broker's fetch.max.bytes (Kafka's default).
	ovFetchMaxBytes = 55 << 20
	// ovTimeout bounds the whole test.
	ovTimeout = 5 * time.Minute
)

// The bounds asserted, generous on purpose: the figures go to
// BENCHMARKS.md; these catch a broker that grows without bound or stalls.
const (
	// ovMaxHeap bounds the broker's Go heap in use at any sample:
	// queued.max.request.bytes (256 MiB) holds all request frames being
	// decoded and handled, plus what connections and groups cost (~20 MiB
	// for 2,000 idle connections). Measured: tens of MiB.
	ovMaxHeap = 384 << 20
	// ovMaxAnon bounds the broker's anonymous resident memory (heap,
	// stacks, runtime): the heap bound, its GC headroom and the stacks.
	ovMaxAnon = 1 << 30
	// ovMaxP99Factor and ovP99Floor bound the probe's loaded p99: at most
	// ovMaxP99Factor times the unloaded p99, or ovP99Floor if that is
	// more. Two shared cores run the broker and 50 producers flat out, so
	// the probe waits behind them for CPU.
	ovMaxP99Factor = 100
	ovP99Floor     = 500 * time.Millisecond
	// ovMaxProbeGap is the longest the probe may go without completing a
	// round trip under load: nobody is starved.
	ovMaxProbeGap = 3 * time.Second
	// ovMinShare is the least share of the mean acknowledged count each
	// producer must reach: nobody is starved.
	ovMinShare = 0.05
)

const (
	ovLoadTopic  = "overload-load"
	ovProbeTopic = "overload-probe"
)

func TestOverload(t *testing.T) {
	raiseFileLimit(t, 3*ovIdleConns)
	bin := tributaryBinary(t)
	b := startServe(t, bin, t.TempDir(),
		"--max.connections", fmt.Sprint(ovMaxConnections),
		"--max.connections.per.ip.overrides", ovPerIPAddr+":1")
	defer func() {
		if err := b.stop(); err != nil {
			t.Errorf("broker stop: %v\n%s", err, b.logs())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), ovTimeout)
	defer cancel()
	brokers := []string{b.addr}
	for topic, n := range map[string]int{ovLoadTopic: ovPartitions, ovProbeTopic: 1} {
		if err := bench.EnsureTopic(ctx, brokers, topic, n); err != nil {
			t.Fatal(err)
		}
	}
	mem := &memSampler{b: b}
	start := mem.sample(ctx, t)

	// 1. Unloaded.
	unloaded, err := runProbe(ctx, b.addr, ovUnloaded)
	if err != nil {
		t.Fatalf("unloaded probe: %v", err)
	}

	// 2. Idle connections.
	idle, err := openIdle(ctx, b.addr, ovIdleConns)
	defer func() {
		for _, c := range idle {
			c.close()
		}
	}()
	if err != nil {
		t.Fatalf("idle connections: %v (%d open)", err, len(idle))
	}
	idleMem := mem.sample(ctx, t)

	// 3. Loaded.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	load := &loadStats{acked: make([]atomic.Int64, ovProducers)}
	go1 := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	producers := make([]*kgo.Client, ovProducers)
	// Random, uncompressed values: what is produced is what the broker
	// stores and serves (kgo's default, snappy, would shrink zeros to
	// nothing).
	value := make([]byte, ovRecordSize)
	rand.NewChaCha8([32]byte{}).Read(value)
	for i := range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(ovLoadTopic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(ovProducerBuffer),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ClientID(fmt.Sprintf("overload-producer-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		producers[i] = cl
		go1(func() { produceFlatOut(loadCtx, cl, value, &load.acked[i], &load.produceErrs) })
	}
	defer func() {
		stopLoad()
		wg.Wait()
		for _, cl := range producers {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	slowPoll, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(ovLoadTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("overload-slow-poll"))
	if err != nil {
		t.Fatal(err)
	}
	defer slowPoll.Close()
	go1(func() { consumeSlowly(loadCtx, slowPoll, &load.slowPolled, &load.consumeErrs) })
	var loaded memPeak
	mem.acked = load.total
	go1(func() { mem.run(loadCtx, t, &loaded) })
	cpu0, _ := bench.ProcessCPU(b.pid())
	acked0, loadStart := load.total(), time.Now()
	select {
	case <-time.After(ovWarmup):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// The greedy readers start once the topic holds more than
	// fetch.max.bytes, so that their first fetch meets the cap.
	topicBytes, err := waitTopicBytes(ctx, b.metrics, ovLoadTopic, 2*ovFetchMaxBytes)
	if err != nil {
		t.Fatalf("load topic: %v", err)
	}
	t.Logf("load topic holds %.1f MiB %v after the load started", float64(topicBytes)/(1<<20), time.Since(loadStart).Round(time.Millisecond))
	slow := &slowReader{}
	go1(func() { slow.run(loadCtx, b.addr) })
	hook := &fetchSizeHook{}
	huge, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(ovLoadTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("overload-huge-fetch"),
		kgo.FetchMaxBytes(ovHugeFetch), kgo.FetchMaxPartitionBytes(ovHugeFetch), kgo.BrokerMaxReadBytes(ovHugeFetch),
		kgo.WithHooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	defer huge.Close()
	go1(func() { consumeGreedily(loadCtx, huge, &load.hugeConsumed, &load.consumeErrs) })

	var limits []string // what went wrong with the requests over limits
	var limitsDone sync.WaitGroup
	limitsDone.Add(1)
	go func() {
		defer limitsDone.Done()
		select {
		case <-time.After(ovLoaded / 2):
		case <-loadCtx.Done():
			return
		}
		limits = overLimits(b.addr)
	}()
	probeStart, ackedProbeStart := time.Now(), load.total()
	loadedProbe, probeErr := runProbe(ctx, b.addr, ovLoaded)
	probeElapsed, ackedDuring := time.Since(probeStart), load.total()-ackedProbeStart
	limitsDone.Wait()
	cpu1, _ := bench.ProcessCPU(b.pid())
	loadElapsed := time.Since(loadStart)
	stopLoad()
	wg.Wait()
	for _, cl := range producers {
		fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
		if err := cl.Flush(fctx); err != nil {
			t.Errorf("producer flush: %v", err)
		}
		fcancel()
	}
	ackedLoad := load.total() - acked0

	// The idle connections were not starved either.
	idleFailed := checkIdle(idle)
	metrics, err := scrapeMetrics(ctx, b.metrics)
	if err != nil {
		t.Fatal(err)
	}
	end := mem.sample(ctx, t)

	// Figures.
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	t.Logf("start:    RSS %s, anon %s, heap %s, stacks %s", mib(start.mem.RSS), mib(start.mem.Anon), mib(start.heap), mib(start.stack))
	t.Logf("idle %d:  RSS %s, anon %s, heap %s, stacks %s, goroutines %d, connections %d",
		ovIdleConns, mib(idleMem.mem.RSS), mib(idleMem.mem.Anon), mib(idleMem.heap), mib(idleMem.stack), idleMem.goroutines, idleMem.connections)
	t.Logf("per idle connection: %.1f KiB anon, %.1f KiB heap+stacks",
		float64(idleMem.mem.Anon-start.mem.Anon)/ovIdleConns/1024, float64(idleMem.heap+idleMem.stack-start.heap-start.stack)/ovIdleConns/1024)
	t.Logf("loaded peak (%d samples): RSS %s, VmHWM %s, anon %s, file %s, heap %s, stacks %s, Go sys %s, goroutines %d, connections %d",
		loaded.samples, mib(loaded.rss), mib(end.mem.HWM), mib(loaded.anon), mib(loaded.file), mib(loaded.heap), mib(loaded.stack), mib(loaded.sys), loaded.goroutines, loaded.connections)
	t.Logf("end:      RSS %s, anon %s, heap %s", mib(end.mem.RSS), mib(end.mem.Anon), mib(end.heap))
	t.Logf("probe unloaded: %v (%d round trips)", unloaded.lat, unloaded.lat.Samples)
	t.Logf("probe loaded:   %v (%d round trips, longest gap %v)", loadedProbe.lat, loadedProbe.lat.Samples, loadedProbe.gap)
	if unloaded.lat.P99 > 0 {
		t.Logf("p99 loaded/unloaded: %.1fx (p50 %.1fx)", float64(loadedProbe.lat.P99)/float64(unloaded.lat.P99), float64(loadedProbe.lat.P50)/float64(max(unloaded.lat.P50, 1)))
	}
	acked := make([]int64, ovProducers)
	for i := range acked {
		acked[i] = load.acked[i].Load()
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	mean := float64(ackedLoad) / ovProducers
	t.Logf("producers: %d records acked in %v (%.0f records/s; %.0f/s while the probe ran), per producer min %d median %d max %d (min/mean %.2f), errors %d",
		ackedLoad, loadElapsed.Round(time.Millisecond), float64(ackedLoad)/loadElapsed.Seconds(), float64(ackedDuring)/probeElapsed.Seconds(),
		acked[0], acked[len(acked)/2], acked[len(acked)-1], float64(acked[0])/mean, load.produceErrs.Load())
	var rates []string
	for i := 1; i < len(loaded.acked); i++ {
		rates = append(rates, fmt.Sprintf("%.0fk", float64(loaded.acked[i]-loaded.acked[i-1])/ovSampleEvery.Seconds()/1000))
	}
	t.Logf("records/s, each second of the load: %s", strings.Join(rates, " "))
	t.Logf("broker CPU during load: %.2f cores", (cpu1-cpu0).Seconds()/loadElapsed.Seconds())
	t.Logf("consumers: slow poller %d records, huge fetcher %d records in %d fetches (largest response %s, cap %s), slow reader %s read of a %s response, errors %d",
		load.slowPolled.Load(), load.hugeConsumed.Load(), hook.fetches.Load(), mib(hook.largest.Load()), mib(ovFetchMaxBytes),
		mib(slow.read.Load()), mib(slow.size.Load()), load.consumeErrs.Load())
	t.Logf("limits: rejected per ip %v, accept blocked %v; idle connections failing at the end: %d",
		metrics[`tributary_connections_rejected_total{reason="max_connections_per_ip"}`], metrics["tributary_connections_accept_blocked_total"], idleFailed)

	// Bounds.
	if probeErr != nil {
		t.Errorf("loaded probe: %v", probeErr)
	}
	if loaded.heap > ovMaxHeap {
		t.Errorf("broker Go heap peaked at %s, bound %s", mib(loaded.heap), mib(ovMaxHeap))
	}
	if loaded.anon > ovMaxAnon {
		t.Errorf("broker anonymous RSS peaked at %s, bound %s", mib(loaded.anon), mib(ovMaxAnon))
	}
	if bound := max(time.Duration(ovMaxP99Factor)*unloaded.lat.P99, ovP99Floor); loadedProbe.lat.P99 > bound {
		t.Errorf("probe p99 under load %v, bound %v (%dx the unloaded %v, at least %v)", loadedProbe.lat.P99, bound, ovMaxP99Factor, unloaded.lat.P99, ovP99Floor)
	}
	if loadedProbe.gap > ovMaxProbeGap {
		t.Errorf("probe went %v without a round trip under load, bound %v", loadedProbe.gap, ovMaxProbeGap)
	}
	if float64(acked[0]) < ovMinShare*mean {
		t.Errorf("a producer got %d records acknowledged, under %.0f%% of the mean %.0f: starved", acked[0], 100*ovMinShare, mean)
	}
	if n := load.produceErrs.Load(); n > 0 {
		t.Errorf("%d records failed to produce", n)
	}
	if n := load.consumeErrs.Load(); n > 0 {
		t.Errorf("%d consumer errors", n)
	}
	if load.slowPolled.Load() == 0 || load.hugeConsumed.Load() == 0 {
		t.Errorf("a consumer got nothing: slow poller %d, huge fetcher %d", load.slowPolled.Load(), load.hugeConsumed.Load())
	}
	if got := hook.largest.Load(); got > ovFetchMaxBytes+(1<<20) {
		t.Errorf("a 1 GiB fetch got a %s response; fetch.max.bytes is %s", mib(got), mib(ovFetchMaxBytes))
	}
	if err := slow.err(); err != nil {
		t.Errorf("slow reader: %v", err)
	} else if slow.size.Load() > ovFetchMaxBytes+(1<<20) || slow.read.Load() == 0 {
		t.Errorf("slow reader: %s response, %s read", mib(slow.size.Load()), mib(slow.read.Load()))
	}
	for _, l := range limits {
		t.Error(l)
	}
	if idleFailed > 0 {
		t.Errorf("%d of %d idle connections no longer answered", idleFailed, len(idle))
	}
	if got := metrics["tributary_connections_accept_blocked_total"]; got != 0 {
		t.Errorf("the acceptor waited for max.connections %v times; the test stays under it", got)
	}
}

// waitTopicBytes waits until topic's partitions hold at least n bytes
// (tributary_partition_size_bytes), up to ovLoaded; it returns their size.
func waitTopicBytes(ctx context.Context, metricsAddr, topic string, n int64) (int64, error) {
	deadline := time.Now().Add(ovLoaded)
	for {
		m, err := scrapeMetrics(ctx, metricsAddr)
		if err != nil {
			return 0, err
		}
		var size int64
		for p := range ovPartitions {
			size += int64(m[fmt.Sprintf(`tributary_partition_size_bytes{partition="%d",topic="%s"}`, p, topic)])
		}
		if size >= n {
			return size, nil
		}
		if time.Now().After(deadline) {
			return size, fmt.Errorf("%d bytes after %v, want %d", size, ovLoaded, n)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return size, ctx.Err()
		}
	}
}

// probeStats is what one probe run measured.
type probeStats struct {
	lat bench.Latency
	gap time.Duration // longest time between two completed round trips
}

// runProbe does a Produce of one record and a Fetch of it every
// ovProbeEvery for d, on its own connection, and measures each pair.
func runProbe(ctx context.Context, addr string, d time.Duration) (probeStats, error) {
	c, err := dialRaw(addr, "")
	if err != nil {
		return probeStats{}, err
	}
	defer c.close()
	hist := bench.NewHistogram()
	batch := recordbatch.Build(1, ovRecordSize, time.Now().UnixMilli())
	tick := time.NewTicker(ovProbeEvery)
	defer tick.Stop()
	var gap time.Duration
	last := time.Now()
	for end := last.Add(d); time.Now().Before(end); {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return probeStats{}, ctx.Err()
		}
		start := time.Now()
		resp, err := c.roundTrip(produceReq(ovProbeTopic, 0, batch))
		if err != nil {
			return probeStats{}, err
		}
		p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return probeStats{}, fmt.Errorf("probe produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		resp, err = c.roundTrip(fetchReq(ovProbeTopic, 1, p.BaseOffset, 1<<20, 500*time.Millisecond))
		if err != nil {
			return probeStats{}, err
		}
		fp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
			return probeStats{}, fmt.Errorf("probe fetch at %d: %v, %d bytes", p.BaseOffset, kerr.ErrorForCode(fp.ErrorCode), len(fp.RecordBatches))
		}
		now := time.Now()
		hist.Record(now.Sub(start))
		gap = max(gap, now.Sub(last))
		last = now
	}
	return probeStats{lat: hist.Summary(), gap: gap}, nil
}

// openIdle opens n connections, each answering one ApiVersions.
func openIdle(ctx context.Context, addr string, n int) ([]*rawConn, error) {
	var (
		mu    sync.Mutex
		conns []*rawConn
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range ovDialWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				c, err := dialRaw(addr, "")
				if err == nil {
					if err = c.apiVersions(); err != nil {
						c.close()
					}
				}
				mu.Lock()
				if err != nil {
					first = firstErr(first, err)
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return conns, first
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// checkIdle asks every idle connection for ApiVersions and counts those
// that fail.
func checkIdle(conns []*rawConn) int {
	var failed, next atomic.Int64
	var wg sync.WaitGroup
	for range ovDialWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(conns)); i = next.Add(1) - 1 {
				if conns[i].apiVersions() != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// loadStats counts what the load did.
type loadStats struct {
	acked                    []atomic.Int64 // per producer
	produceErrs, consumeErrs atomic.Int64
	slowPolled, hugeConsumed atomic.Int64
}

func (l *loadStats) total() int64 {
	var n int64
	for i := range l.acked {
		n += l.acked[i].Load()
	}
	return n
}

// produceFlatOut produces records until ctx ends; kgo blocks Produce once
// ovProducerBuffer records wait for their acknowledgement.
func produceFlatOut(ctx context.Context, cl *kgo.Client, value []byte, acked, errs *atomic.Int64) {
	for ctx.Err() == nil {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			switch {
			case err == nil:
				acked.Add(1)
			case errors.Is(err, context.Canceled):
				// The record was not buffered before the load stopped.
			default:
				errs.Add(1)
			}
		})
	}
}

// consumeSlowly polls a few records, then sleeps.
func consumeSlowly(ctx context.Context, cl *kgo.Client, n, errs *atomic.Int64) {
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 100)
		countFetches(ctx, fs, n, errs)
		select {
		case <-time.After(ovSlowPollSleep):
		case <-ctx.Done():
		}
	}
}

// consumeGreedily polls as fast as it can.
func consumeGreedily(ctx context.Context, cl *kgo.Client, n, errs *atomic.Int64) {
	for ctx.Err() == nil {
		countFetches(ctx, cl.PollFetches(ctx), n, errs)
	}
}

func countFetches(ctx context.Context, fs kgo.Fetches, n, errs *atomic.Int64) {
	for _, e := range fs.Errors() {
		if ctx.Err() == nil && !errors.Is(e.Err, context.Canceled) {
			errs.Add(1)
		}
	}
	n.Add(int64(fs.NumRecords()))
}

// fetchSizeHook records the largest Fetch response a client read.
type fetchSizeHook struct{ largest, fetches atomic.Int64 }

func (h *fetchSizeHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, bytesRead int, _, _ time.Duration, err error) {
	if key != 1 || err != nil { // 1: Fetch
		return
	}
	h.fetches.Add(1)
	for {
		cur := h.largest.Load()
		if int64(bytesRead) <= cur || h.largest.CompareAndSwap(cur, int64(bytesRead)) {
			return
		}
	}
}

// slowReader asks for a 1 GiB fetch of the load topic from its start and
// reads the answer ovSlowChunk bytes every ovSlowEvery.
type slowReader struct {
	size, read atomic.Int64 // the response's size, and how much was read
	mu         sync.Mutex
	failure    error
}

func (s *slowReader) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

func (s *slowReader) run(ctx context.Context, addr string) {
	fail := func(err error) {
		s.mu.Lock()
		s.failure = err
		s.mu.Unlock()
	}
	c, err := dialRaw(addr, "")
	if err != nil {
		fail(err)
		return
	}
	defer c.close()
	if _, err := c.send(fetchReq(ovLoadTopic, ovPartitions, 0, ovHugeFetch, 5*time.Second)); err != nil {
		fail(err)
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(rawIOTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		fail(fmt.Errorf("response size: %w", err))
		return
	}
	s.size.Store(int64(binary.BigEndian.Uint32(size[:])))
	buf := make([]byte, ovSlowChunk)
	for s.read.Load() < s.size.Load() {
		select {
		case <-time.After(ovSlowEvery):
		case <-ctx.Done():
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(rawIOTimeout))
		n, err := io.ReadFull(c.nc, buf[:min(int64(len(buf)), s.size.Load()-s.read.Load())])
		s.read.Add(int64(n))
		if err != nil {
			fail(fmt.Errorf("after %d bytes: %w", s.read.Load(), err))
			return
		}
	}
}

// overLimits sends requests over the broker's limits and returns what did
// not get Kafka's answer; each uses its own connection.
func overLimits(addr string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// A batch over message.max.bytes: MESSAGE_TOO_LARGE, connection kept.
	if c, err := dialRaw(addr, ""); err != nil {
		bad("dial: %v", err)
	} else {
		resp, err := c.roundTrip(produceReq(ovLoadTopic, 0, recordbatch.Build(1, 1<<20+100, time.Now().UnixMilli())))
		if err != nil {
			bad("produce over message.max.bytes: %v", err)
		} else if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.MessageTooLarge.Code {
			bad("produce over message.max.bytes: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(code))
		} else if err := c.apiVersions(); err != nil {
			bad("connection after MESSAGE_TOO_LARGE: %v", err)
		}
		c.close()
	}

	// A frame over socket.request.max.bytes: the connection is closed.
	if c, err := dialRaw(addr, ""); err != nil {
		bad("dial: %v", err)
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(rawIOTimeout))
		c.nc.Write(append(binary.BigEndian.AppendUint32(nil, 100<<20+1), make([]byte, 64)...))
		if err := c.expectClosed(); err != nil {
			bad("frame over socket.request.max.bytes: %v", err)
		}
		c.close()
	}

	// A second connection from an address allowed one: closed at once.
	first, err := dialRaw(addr, ovPerIPAddr)
	if err != nil {
		return append(problems, fmt.Sprintf("dial from %s: %v", ovPerIPAddr, err))
	}
	defer first.close()
	if err := first.apiVersions(); err != nil {
		bad("first connection from %s: %v", ovPerIPAddr, err)
	}
	if second, err := dialRaw(addr, ovPerIPAddr); err != nil {
		bad("dial from %s: %v", ovPerIPAddr, err)
	} else {
		if err := second.expectClosed(); err != nil {
			bad("second connection from %s: %v", ovPerIPAddr, err)
		}
		second.close()
	}
	if err := first.apiVersions(); err != nil {
		bad("first connection from %s after the second was refused: %v", ovPerIPAddr, err)
	}
	return problems
}

// memSample is one reading of the broker's memory.
type memSample struct {
	mem                     procMemory
	heap, stack, sys        int64
	goroutines, connections int64
}

// memPeak is the maxima of samples.
type memPeak struct {
	samples                           int
	rss, anon, file, heap, stack, sys int64
	goroutines, connections           int64
	acked                             []int64 // records acknowledged at each sample
}

func (p *memPeak) add(s memSample) {
	p.samples++
	p.rss, p.anon, p.file = max(p.rss, s.mem.RSS), max(p.anon, s.mem.Anon), max(p.file, s.mem.File)
	p.heap, p.stack, p.sys = max(p.heap, s.heap), max(p.stack, s.stack), max(p.sys, s.sys)
	p.goroutines, p.connections = max(p.goroutines, s.goroutines), max(p.connections, s.connections)
}

type memSampler struct {
	b     *serveProc
	acked func() int64 // records acknowledged so far, for the timeline
}

func (m *memSampler) sample(ctx context.Context, t *testing.T) memSample {
	var s memSample
	var err error
	if s.mem, err = readProcMemory(m.b.pid()); err != nil {
		t.Errorf("broker memory: %v", err)
	}
	metrics, err := scrapeMetrics(ctx, m.b.metrics)
	if err != nil {
		if ctx.Err() == nil {
			t.Errorf("broker metrics: %v", err)
		}
		return s
	}
	s.heap = int64(metrics["go_memstats_heap_inuse_bytes"])
	s.stack = int64(metrics["go_memstats_stack_inuse_bytes"])
	s.sys = int64(metrics["go_memstats_sys_bytes"])
	s.goroutines = int64(metrics["go_goroutines"])
	s.connections = int64(metrics["tributary_connections"])
	return s
}

// run samples into p every ovSampleEvery until ctx ends.
func (m *memSampler) run(ctx context.Context, t *testing.T, p *memPeak) {
	tick := time.NewTicker(ovSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s := m.sample(ctx, t)
			if ctx.Err() == nil {
				p.add(s)
				if m.acked != nil {
					p.acked = append(p.acked, m.acked())
				}
			}
		case <-ctx.Done():
			return
		}
	}
}
