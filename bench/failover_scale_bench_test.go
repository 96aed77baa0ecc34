package bench_test

// Failover at scale (issue 15, item 9): how long a client waits after
// kill -9 of a partition's leader, and of the active controller, in a
// three-broker cluster (RF=3, min.insync.replicas=2, the processes of
// BenchmarkCluster) holding 1,000 or 10,000 partitions:
//
//	make bench-failover FAILOVER_ITERS=50 FAILOVER_PARTITIONS=1000,10000
//	TRIBUTARY_BENCH_CLUSTER_BIN=bin/tributary go test -run '^$' \
//	    -bench '^BenchmarkFailover$' -benchtime 50x -count 1 -timeout 3h \
//	    ./bench -args -failover.partitions=1000,10000
//
// Skipped without TRIBUTARY_BENCH_CLUSTER_BIN, as BenchmarkCluster is.
// Each partition count gets a fresh cluster, its partitions in topics of
// -failover.topic-partitions (100) created one topic a CreateTopics,
// every ISR whole before the first kill, and a background load of
// -failover.load acks=all records/s (kgo defaults, idempotent, round
// robin over every partition; 0 for none) for the whole run. Under it,
// two sub-benchmarks, each -benchtime Nx kills:
//
//	kill=leader      a partition drawn with the run's seed
//	                 (CLUSTERTEST_SEED reruns it); kill -9 of its leader
//	kill=controller  kill -9 of the active controller (DescribeCluster's
//	                 controller id); the partition measured is one it
//	                 led, drawn with the seed
//	kill=quorum-leader
//	                 kill -9 of the node whose etcd member leads the
//	                 metadata quorum's raft (DescribeQuorum's leader); the
//	                 partition measured is one it led, drawn with the seed
//	                 (a kill fails if it leads none)
//
// -failover.election-timeout passes controller.quorum.election.timeout.ms
// to every broker (0: the binary's default, 1 s; a binary without the
// setting refuses any other). Quorum-leader kills (and every kill with
// -failover.timeline) also log their timeline from the SIGKILL, watched
// from a survivor's etcd member: etcd's new raft leader (Status polled
// every 5 ms), the dead broker's registration deleted (the fence
// committed), the first and last partition state written after the kill
// and the measured partition's, and the survivors' log lines up to the
// first acks=all produce.
//
// After each kill the node is restarted and every partition's ISR must be
// whole again before the next kill, so kills are independent. Measured
// from the SIGKILL (the process reaped at once after it):
//
//	metadata    Metadata, asked of a live node every 10 ms, names another
//	            leader of the partition
//	raw         the first successful acks=all Produce of one record to
//	            the partition, sent by hand (kmsg) to whatever leader a
//	            live node's Metadata names, retried every 10 ms: the
//	            cluster's share
//	kgo         the first acknowledgement of one acks=all record handed
//	            to a kgo client (MetadataMinAge 250 ms, otherwise
//	            defaults) after the kill: what a tuned client sees
//	all-moved   no partition is led by the killed node any more (a full
//	            Metadata every 100 ms)
//	controller  (controller kills) DescribeCluster names a live controller
//	create      (controller kills) the first CreateTopics (1 partition,
//	            RF 2) that succeeds, retried from the kill: the metadata
//	            quorum takes writes again
//	rejoin      restart until every ISR is whole again (not a failover
//	            time: the cost of bringing the node back)
//
// Every kill is logged with its roles (the active controller, etcd's raft
// leader); the table splits leader kills by them: a killed controller or
// raft leader waits for a new one before partitions move (fast fencing
// needs a controller to elect leaders and an etcd leader to commit).
// Goals (issue 15): leader failover p99 under 2 s and controller failover
// under 5 s with 10,000 partitions. TRIBUTARY_BENCH_CLUSTER_PERF=dir
// records the surviving nodes of each kill with `perf record -g`, from
// the kill until the failover is measured, into
// dir/failover-<partitions>-kill<n>.perf.data, and every node from the
// restart until the rejoin is measured (kill<n>-rejoin.perf.data); a
// rejoin logs every 10 s how many ISRs are still short. Each node's RSS,
// open files, memory maps, data dir and etcd dir are logged after the
// partitions are created and at the end.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/clustertest"
	"github.com/tributary-io/tributary/recordbatch"
)

var (
	foPartitions = flag.String("failover.partitions", "1000",
		"BenchmarkFailover: comma-separated partition counts, each on a fresh three-broker cluster")
	foTopicPartitions = flag.Int("failover.topic-partitions", 100,
		"BenchmarkFailover: partitions per topic")
	foLoad = flag.Int("failover.load", 1000,
		"BenchmarkFailover: background acks=all records/s over every partition (0: none)")
	foSessionTimeout = flag.Duration("failover.session-timeout", 9*time.Second,
		"BenchmarkFailover: the cluster's broker.session.timeout.ms")
	foElectionTimeout = flag.Duration("failover.election-timeout", 0,
		"BenchmarkFailover: the brokers' controller.quorum.election.timeout.ms (0: the binary's default)")
	foQuorumApart = flag.Bool("failover.quorum-leader-apart", false,
		"BenchmarkFailover: before a quorum-leader kill, move etcd's raft leadership off the active controller (to a node leading partitions), so the kill measures the raft leader's death alone")
	foTimelineAll = flag.Bool("failover.timeline", false,
		"BenchmarkFailover: log every kill's timeline (quorum-leader kills always do)")
)

// foMode is which node a sub-benchmark kills.
type foMode int

const (
	foKillLeader       foMode = iota // a random partition's leader
	foKillController                 // the active controller
	foKillQuorumLeader               // the etcd raft leader
)

// Settings of BenchmarkFailover.
const (
	foRecordSize = 100
	// foWait bounds each measurement after a kill; one not reached by
	// then is reported as missed (and counted at this value).
	foWait = 60 * time.Second
	// foSetup bounds creating the partitions, foRejoinMax a restarted
	// node's return to every ISR.
	foSetup     = 15 * time.Minute
	foRejoinMax = 5 * time.Minute
	// foPoll is the probes' pause between two tries; foFullPoll the
	// all-moved and ISR watchers'.
	foPoll     = 10 * time.Millisecond
	foFullPoll = 100 * time.Millisecond
	// foRequestTimeout bounds one probe request (a produce waiting for
	// acks=all included).
	foRequestTimeout = 5 * time.Second
	// foCreateAttempt bounds one CreateTopics of the create probe: a
	// broker holds one sent while etcd has no leader for etcd's request
	// timeout (seconds), so a short attempt and a retry tell sooner when
	// the quorum takes writes again.
	foCreateAttempt = time.Second
	// foKgoMinAge is the kgo probe's MetadataMinAge.
	foKgoMinAge = 250 * time.Millisecond
)

// The measurements of one kill, in table order.
const (
	foMetadata = iota
	foRaw
	foKgo
	foAllMoved
	foController
	foCreate
	foRejoin
	foKinds
)

var foNames = [foKinds]string{"metadata", "raw", "kgo", "all-moved", "controller", "create", "rejoin"}

// foKill is what one kill measured; a zero duration is not measured, a
// missed one is foWait and named in missed.
type foKill struct {
	victim, raftLeader int
	controller         bool
	topic              string
	partition          int32
	d                  [foKinds]time.Duration
	missed             []string
}

// foScale is one partition count's cluster.
type foScale struct {
	c      *clustertest.Cluster
	count  int
	topics []string
	rng    *rand.Rand
	raw    map[int]*kgo.Client // per node, seeded with that node alone
	probe  *kgo.Client
	load   *foLoader
	seq    atomic.Int64 // probe topic names
	kill   atomic.Int64 // kills so far, for the perf files' names
	logf   func(format string, args ...any)
}

// perf records the nodes other than victim (every node for victim 0)
// with perf record, from just before the kill until the failover is
// measured, and from the victim's restart until it is back in every ISR,
// into TRIBUTARY_BENCH_CLUSTER_PERF/failover-<count>-<name>.perf.data;
// nothing if that is unset. A perf that fails to start is logged and
// skipped.
func (fs *foScale) perf(victim int, name string) (stop func()) {
	dir := os.Getenv(envClusterPerf)
	if dir == "" {
		return func() {}
	}
	var pids []string
	for _, n := range fs.c.Nodes {
		if n.ID != victim {
			pids = append(pids, strconv.Itoa(n.PID()))
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("failover-%d-%s.perf.data", fs.count, name))
	cmd := exec.Command("perf", "record", "-q", "-g", "-p", strings.Join(pids, ","), "-o", out)
	if err := cmd.Start(); err != nil {
		fs.logf("perf record: %v", err)
		return func() {}
	}
	time.Sleep(200 * time.Millisecond) // perf attaches
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			fs.logf("perf record: %v", err)
		}
	}
}

func BenchmarkFailover(b *testing.B) {
	bin := os.Getenv(envClusterBin)
	if bin == "" {
		b.Skipf("set %s to a tributary binary (make bench-failover)", envClusterBin)
	}
	var counts []int
	for _, f := range strings.Split(*foPartitions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("-failover.partitions: %q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	seed, rng := clustertest.Seed(b)
	for _, n := range counts {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			defer logLoad(b)()
			fs := startFailoverScale(b, bin, n, rng)
			var leader, controller, quorum []foKill
			b.Run("kill=leader", func(b *testing.B) {
				leader = fs.kills(b, foKillLeader)
			})
			b.Run("kill=controller", func(b *testing.B) {
				controller = fs.kills(b, foKillController)
			})
			b.Run("kill=quorum-leader", func(b *testing.B) {
				quorum = fs.kills(b, foKillQuorumLeader)
			})
			fs.logResources(b, "at the end")
			if sent, failed := fs.load.stop(); sent > 0 {
				b.Logf("background load: %d records sent, %d failed (first error: %v)", sent, failed, fs.load.err())
			}
			b.Logf("failover with %d partitions (seed %d, load %d records/s):\n%s", n, seed, *foLoad, foTable(leader, controller, quorum))
		})
	}
}

func startFailoverScale(b *testing.B, bin string, count int, rng *rand.Rand) *foScale {
	b.Helper()
	args := []string{
		"--default.replication.factor", strconv.Itoa(clusterRF),
		"--min.insync.replicas", strconv.Itoa(clusterMinISR),
		"--broker.session.timeout.ms", strconv.FormatInt(foSessionTimeout.Milliseconds(), 10),
		"--broker.heartbeat.interval.ms", "500",
	}
	if *foElectionTimeout > 0 {
		args = append(args, "--controller.quorum.election.timeout.ms", strconv.FormatInt(foElectionTimeout.Milliseconds(), 10))
	}
	c := clustertest.Start(b, clustertest.Config{Nodes: clusterNodes, Bin: bin, Rand: rng,
		StartTimeout: 5 * time.Minute, Args: args})
	fs := &foScale{c: c, count: count, rng: rng, raw: map[int]*kgo.Client{}, logf: b.Logf}
	for _, n := range c.Nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.DialTimeout(time.Second), kgo.RequestRetries(0))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		fs.raw[n.ID] = cl
	}
	probe, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.MetadataMinAge(foKgoMinAge))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(probe.Close)
	fs.probe = probe

	ctx, cancel := context.WithTimeout(context.Background(), foSetup)
	defer cancel()
	per := *foTopicPartitions
	for i := 0; i*per < count; i++ {
		fs.topics = append(fs.topics, fmt.Sprintf("fo%d-%d", count, i))
	}
	start := time.Now()
	adm := c.Admin()
	configs := map[string]*string{"min.insync.replicas": strPtr(strconv.Itoa(clusterMinISR))}
	for i, t := range fs.topics {
		n := min(per, count-per*i) // the last topic takes what is left
		for {
			resp, err := adm.CreateTopic(ctx, int32(n), clusterRF, configs, t)
			if err == nil {
				err = resp.Err
			}
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				break
			}
			if !kerr.IsRetriable(err) && !errors.Is(err, kerr.InvalidReplicationFactor) {
				b.Fatalf("create %s: %v", t, err)
			}
			if !sleepFor(ctx, foPoll) {
				b.Fatalf("create %s: %v", t, ctx.Err())
			}
		}
	}
	created := time.Since(start)
	if _, err := fs.waitWhole(ctx, 0); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d partitions in %d topics created in %v, every ISR whole after %v", count, len(fs.topics),
		created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	fs.logResources(b, "after creating the partitions")
	fs.load = startFoLoader(b, c, fs.topics, count, per)
	return fs
}

// kills runs b.N kills of mode's node and logs a table of them.
func (fs *foScale) kills(b *testing.B, mode foMode) []foKill {
	var out []foKill
	it := 0
	ctx := context.Background()
	for b.Loop() {
		it++
		k, err := fs.killOnce(ctx, mode)
		if err != nil {
			if k.victim != 0 {
				// The failover was measured (the rejoin failed): keep it.
				b.Logf("kill %d: node %d, partition %s/%d: %s", it, k.victim, k.topic, k.partition, k.measured())
			}
			b.Fatalf("kill %d: %v", it, err)
		}
		out = append(out, k)
		var parts []string
		for i, d := range k.d {
			if d != 0 {
				parts = append(parts, fmt.Sprintf("%s %v", foNames[i], d.Round(time.Millisecond)))
			}
		}
		missed := ""
		if len(k.missed) > 0 {
			missed = "; MISSED " + strings.Join(k.missed, ", ")
		}
		b.Logf("kill %d: node %d (%s), partition %s/%d: %s%s", it, k.victim, k.roles(), k.topic, k.partition,
			strings.Join(parts, ", "), missed)
	}
	for i := range foKinds {
		if ds := foDurations(out, i); len(ds) > 0 {
			b.ReportMetric(ms(foPercentile(ds, 50)), foNames[i]+"-p50-ms")
			b.ReportMetric(ms(foPercentile(ds, 99)), foNames[i]+"-p99-ms")
		}
	}
	return out
}

// measured lists what k measured, for a log line.
func (k foKill) measured() string {
	var parts []string
	for i, d := range k.d {
		if d != 0 {
			parts = append(parts, fmt.Sprintf("%s %v", foNames[i], d.Round(time.Millisecond)))
		}
	}
	return strings.Join(parts, ", ")
}

func (k foKill) roles() string {
	var r []string
	if k.controller {
		r = append(r, "active controller")
	}
	switch k.raftLeader {
	case k.victim:
		r = append(r, "etcd raft leader")
	case 0:
		r = append(r, "etcd raft leader unknown")
	}
	if len(r) == 0 {
		return "neither controller nor raft leader"
	}
	return strings.Join(r, ", ")
}

// killOnce picks a victim, kills it, measures, restarts it and waits for
// every ISR to be whole.
func (fs *foScale) killOnce(ctx context.Context, mode foMode) (foKill, error) {
	c := fs.c
	ctl, err := c.Controller(ctx)
	if err != nil {
		return foKill{}, err
	}
	md, err := fs.fullMetadata(ctx, 0)
	if err != nil {
		return foKill{}, err
	}
	var k foKill
	switch mode {
	case foKillController, foKillQuorumLeader:
		victim, what := ctl, "the controller"
		if mode == foKillQuorumLeader {
			if victim, err = c.QuorumLeader(ctx); err != nil {
				return foKill{}, err
			}
			if *foQuorumApart && victim == ctl {
				if victim, err = fs.moveQuorumLeaderApart(ctx, md, ctl); err != nil {
					return foKill{}, err
				}
			}
			what = "etcd's raft leader"
		}
		if victim == 0 {
			return foKill{}, fmt.Errorf("no %s is known", what)
		}
		led := ledBy(md, int32(victim))
		if len(led) == 0 {
			return foKill{}, fmt.Errorf("%s, node %d, leads no partition: nothing to measure", what, victim)
		}
		tp := led[fs.rng.IntN(len(led))]
		k.topic, k.partition, k.victim = tp.topic, tp.partition, victim
	default:
		k.topic = fs.topics[fs.rng.IntN(len(fs.topics))]
		leaders, err := c.Leaders(ctx, k.topic)
		if err != nil {
			return foKill{}, err
		}
		k.partition = int32(fs.rng.IntN(len(leaders)))
		k.victim = leaders[k.partition]
		if k.victim == 0 {
			return foKill{}, fmt.Errorf("%s/%d has no leader", k.topic, k.partition)
		}
	}
	k.controller = ctl == k.victim
	if rl, err := c.QuorumLeader(ctx); err == nil {
		k.raftLeader = rl
	}
	// The kgo probe knows the partition and its leader before the kill.
	wctx, cancel := context.WithTimeout(ctx, foRequestTimeout)
	err = fs.probe.ProduceSync(wctx, &kgo.Record{Topic: k.topic, Partition: k.partition, Value: []byte("warm")}).FirstErr()
	cancel()
	if err != nil {
		return foKill{}, fmt.Errorf("kgo probe before the kill: %w", err)
	}

	var tl *foTimeline
	if mode == foKillQuorumLeader || *foTimelineAll {
		if tl, err = fs.watchTimeline(ctx, k); err != nil {
			return foKill{}, err
		}
	}
	stopPerf := fs.perf(k.victim, fmt.Sprintf("kill%d", fs.kill.Add(1)))
	t0 := time.Now()
	if err := c.Kill9(k.victim); err != nil {
		stopPerf()
		tl.stop()
		return foKill{}, err
	}
	mctx, cancel := context.WithTimeout(ctx, foWait)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	set := func(i int, d time.Duration, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			d = foWait
			k.missed = append(k.missed, foNames[i])
		}
		k.d[i] = d
	}
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	run(func() {
		moved, acked, ok := fs.rawProbe(mctx, k.topic, k.partition, k.victim, t0, tl.produced)
		set(foMetadata, moved, moved != 0)
		set(foRaw, acked, ok)
	})
	run(func() {
		err := fs.probe.ProduceSync(mctx, &kgo.Record{Topic: k.topic, Partition: k.partition,
			Value: bytes.Repeat([]byte{'k'}, foRecordSize)}).FirstErr()
		set(foKgo, time.Since(t0), err == nil)
	})
	run(func() {
		d, ok := fs.allMoved(mctx, k.victim, t0)
		set(foAllMoved, d, ok)
	})
	if mode == foKillController || (mode == foKillQuorumLeader && k.controller) {
		run(func() {
			d, ok := fs.newController(mctx, k.victim, t0)
			set(foController, d, ok)
		})
	}
	if mode != foKillLeader {
		run(func() {
			d, ok := fs.createProbe(mctx, k.victim, t0)
			set(foCreate, d, ok)
		})
	}
	wg.Wait()
	stopPerf()
	if tl != nil {
		fs.logf("kill %d timeline (node %d, %s/%d), from the SIGKILL:\n%s", fs.kill.Load(), k.victim, k.topic, k.partition,
			tl.report(t0, t0.Add(k.d[foRaw])))
	}

	rctx, rcancel := context.WithTimeout(ctx, foRejoinMax)
	defer rcancel()
	r0 := time.Now()
	if err := c.Restart(rctx, k.victim); err != nil {
		return k, err
	}
	up := time.Since(r0)
	stopPerf = fs.perf(0, fmt.Sprintf("kill%d-rejoin", fs.kill.Load()))
	defer stopPerf()
	if _, err := fs.waitWholeLogged(rctx, 0, r0); err != nil {
		return k, fmt.Errorf("after restarting node %d: %w", k.victim, err)
	}
	k.d[foRejoin] = time.Since(r0)
	fs.logf("node %d rejoined every ISR %v after its restart (answering after %v)", k.victim,
		k.d[foRejoin].Round(time.Millisecond), up.Round(time.Millisecond))
	return k, nil
}

// moveQuorumLeaderApart hands etcd's raft leadership to a node other
// than the controller ctl that leads partitions, and returns it.
func (fs *foScale) moveQuorumLeaderApart(ctx context.Context, md *kmsg.MetadataResponse, ctl int) (int, error) {
	for _, n := range fs.c.Nodes {
		if n.ID == ctl || len(ledBy(md, int32(n.ID))) == 0 {
			continue
		}
		if err := fs.c.MoveQuorumLeader(ctx, n.ID); err != nil {
			return 0, err
		}
		return n.ID, nil
	}
	return 0, fmt.Errorf("no node other than the controller %d leads a partition", ctl)
}

// ask sends req to node id alone.
func (fs *foScale) ask(ctx context.Context, id int, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, foRequestTimeout)
	defer cancel()
	return fs.raw[id].SeedBrokers()[0].Request(ctx, req)
}

// others are the node ids other than victim (0: every node), rotated by
// i so that a node that does not answer is not asked first every time.
func (fs *foScale) others(victim, i int) []int {
	var ids []int
	for _, n := range fs.c.Nodes {
		if n.ID != victim {
			ids = append(ids, n.ID)
		}
	}
	k := i % len(ids)
	return append(ids[k:], ids[:k]...)
}

// metadataOf asks a node other than victim for topics' metadata (nil:
// every topic).
func (fs *foScale) metadataOf(ctx context.Context, victim, i int, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	var errs []error
	for _, id := range fs.others(victim, i) {
		resp, err := fs.ask(ctx, id, req)
		if err == nil {
			return resp.(*kmsg.MetadataResponse), nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", id, err))
	}
	return nil, errors.Join(errs...)
}

func (fs *foScale) fullMetadata(ctx context.Context, victim int) (*kmsg.MetadataResponse, error) {
	return fs.metadataOf(ctx, victim, 0)
}

type foTP struct {
	topic     string
	partition int32
}

// ledBy are the partitions md says node leads.
func ledBy(md *kmsg.MetadataResponse, node int32) []foTP {
	var out []foTP
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			if p.Leader == node && t.Topic != nil {
				out = append(out, foTP{*t.Topic, p.Partition})
			}
		}
	}
	return out
}

// rawProbe retries, every foPoll, Metadata for the partition from a live
// node and, once it names a leader other than victim, one acks=all
// Produce to that leader. It returns when Metadata first named another
// leader (0: never) and when a Produce first succeeded; each Produce's
// outcome is told to produced, if not nil.
func (fs *foScale) rawProbe(ctx context.Context, topic string, partition int32, victim int, t0 time.Time,
	produced func(leader int32, sent time.Time, err error)) (moved, acked time.Duration, ok bool) {
	for i := 0; ; i++ {
		leader := int32(-1)
		var id [16]byte
		if md, err := fs.metadataOf(ctx, victim, i, topic); err == nil && len(md.Topics) == 1 {
			id = md.Topics[0].TopicID
			for _, p := range md.Topics[0].Partitions {
				if p.Partition == partition && p.ErrorCode == 0 {
					leader = p.Leader
				}
			}
		}
		if leader > 0 && int(leader) != victim && fs.raw[int(leader)] != nil {
			if moved == 0 {
				moved = time.Since(t0)
			}
			batch := recordbatch.Build(1, foRecordSize, time.Now().UnixMilli())
			sent := time.Now()
			resp, err := fs.ask(ctx, int(leader), foProduceReq(topic, id, partition, batch))
			if err == nil {
				err = produceErr(resp.(*kmsg.ProduceResponse))
			}
			if produced != nil {
				produced(leader, sent, err)
			}
			if err == nil {
				return moved, time.Since(t0), true
			}

		}
		if !sleepFor(ctx, foPoll) {
			return moved, 0, false
		}
	}
}

// foProduceReq is an acks=all Produce of batch to topic's partition
// (kgo sends it at the highest version both sides know: v13 names the
// topic by its ID).
func foProduceReq(topic string, id [16]byte, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = int32(foRequestTimeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceErr is the error of a Produce of one partition, nil if none.
func produceErr(resp *kmsg.ProduceResponse) error {
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return errors.New("produce answer without the partition")
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// allMoved waits until a full Metadata of a live node shows no partition
// led by victim, nor without a leader.
func (fs *foScale) allMoved(ctx context.Context, victim int, t0 time.Time) (time.Duration, bool) {
	for i := 0; ; i++ {
		if md, err := fs.fullMetadata(ctx, victim); err == nil {
			left := 0
			for _, t := range md.Topics {
				if !fs.ours(t.Topic) {
					continue
				}
				for _, p := range t.Partitions {
					if int(p.Leader) == victim || p.Leader < 0 {
						left++
					}
				}
			}
			if left == 0 {
				return time.Since(t0), true
			}
		}
		if !sleepFor(ctx, foFullPoll) {
			return 0, false
		}
	}
}

// ours reports whether topic is one of the run's partitions (not a
// probe topic).
func (fs *foScale) ours(topic *string) bool {
	return topic != nil && strings.HasPrefix(*topic, fmt.Sprintf("fo%d-", fs.count))
}

// newController waits until DescribeCluster, asked of a live node, names
// a controller other than victim.
func (fs *foScale) newController(ctx context.Context, victim int, t0 time.Time) (time.Duration, bool) {
	for i := 0; ; i++ {
		for _, id := range fs.others(victim, i) {
			resp, err := fs.ask(ctx, id, kmsg.NewPtrDescribeClusterRequest())
			if err != nil {
				continue
			}
			dc := resp.(*kmsg.DescribeClusterResponse)
			if dc.ErrorCode == 0 && dc.ControllerID > 0 && int(dc.ControllerID) != victim {
				return time.Since(t0), true
			}
			break
		}
		if !sleepFor(ctx, foPoll) {
			return 0, false
		}
	}
}

// createProbe retries a CreateTopics of a new one-partition RF 2 topic
// at a live node until it succeeds, then deletes the topic.
func (fs *foScale) createProbe(ctx context.Context, victim int, t0 time.Time) (time.Duration, bool) {
	name := fmt.Sprintf("fo-probe-%d-%d", fs.count, fs.seq.Add(1))
	for i := 0; ; i++ {
		id := fs.others(victim, i)[0]
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = int32(foCreateAttempt / time.Millisecond)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 2
		req.Topics = append(req.Topics, rt)
		actx, cancel := context.WithTimeout(ctx, foCreateAttempt)
		resp, err := fs.ask(actx, id, req)
		cancel()
		if err == nil {
			ct := resp.(*kmsg.CreateTopicsResponse)
			if len(ct.Topics) == 1 && (ct.Topics[0].ErrorCode == 0 || ct.Topics[0].ErrorCode == kerr.TopicAlreadyExists.Code) {
				d := time.Since(t0)
				dctx, cancel := context.WithTimeout(context.Background(), foRequestTimeout)
				_, _ = fs.c.Admin().DeleteTopics(dctx, name)
				cancel()
				return d, true
			}
		}
		if !sleepFor(ctx, foPoll) {
			return 0, false
		}
	}
}

// waitWhole waits until a full Metadata of a node other than victim
// lists every partition of the run with a leader and a whole ISR.
func (fs *foScale) waitWhole(ctx context.Context, victim int) (time.Duration, error) {
	return fs.waitWholeLogged(ctx, victim, time.Time{})
}

// foProgressEvery is how often waitWholeLogged logs how many ISRs are
// still short.
const foProgressEvery = 10 * time.Second

// waitWholeLogged is waitWhole, logging every foProgressEvery since t0
// (unless zero) how many partitions are still short of a whole ISR: where
// a rejoin's time goes (the first ISRs back at once, a long tail, or a
// steady climb).
func (fs *foScale) waitWholeLogged(ctx context.Context, victim int, t0 time.Time) (time.Duration, error) {
	start := time.Now()
	nextLog := t0.Add(foProgressEvery)
	var last string
	for {
		md, err := fs.fullMetadata(ctx, victim)
		if err != nil {
			last = err.Error()
		} else {
			n, short := 0, 0
			for _, t := range md.Topics {
				if !fs.ours(t.Topic) {
					continue
				}
				for _, p := range t.Partitions {
					n++
					if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) < clusterRF {
						short++
					}
				}
			}
			if n == fs.count && short == 0 {
				return time.Since(start), nil
			}
			last = fmt.Sprintf("%d of %d partitions listed, %d without a leader or a whole ISR", n, fs.count, short)
		}
		if now := time.Now(); !t0.IsZero() && now.After(nextLog) {
			fs.logf("%v after the restart: %s", now.Sub(t0).Round(time.Second), last)
			nextLog = now.Add(foProgressEvery)
		}
		if !sleepFor(ctx, foFullPoll) {
			return 0, fmt.Errorf("waiting for every ISR: %w (last: %s)", ctx.Err(), last)
		}
	}
}

// logResources logs each node's RSS, open files, memory maps and the
// size of its data dir and etcd dir.
func (fs *foScale) logResources(b *testing.B, when string) {
	var lines []string
	for _, n := range fs.c.Nodes {
		pid := n.PID()
		rss := procStatusKiB(pid, "VmRSS:")
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		data := dirBytes(n.DataDir)
		etcd := dirBytes(filepath.Join(n.DataDir, "metadata"))
		lines = append(lines, fmt.Sprintf("node %d (pid %d): RSS %d MiB, %d open files, %d memory maps, data dir %d MiB (metadata/ %d MiB)",
			n.ID, pid, rss>>10, len(fds), bytes.Count(maps, []byte{'\n'}), data>>20, etcd>>20))
	}
	b.Logf("resources %s, %d partitions:\n\t%s", when, fs.count, strings.Join(lines, "\n\t"))
}

// procStatusKiB reads a "Name: N kB" line of /proc/pid/status; -1 if
// absent.
func procStatusKiB(pid int, name string) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return -1
}

// dirBytes is the allocated size of the files under dir.
func dirBytes(dir string) int64 {
	var sum int64
	_ = filepath.WalkDir(dir, func(_ string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			sum += info.Size()
		}
		return nil
	})
	return sum
}

// foLoader is the background load: acks=all records at a steady rate,
// round robin over every partition of the run.
type foLoader struct {
	cl           *kgo.Client
	stopc        chan struct{}
	done         chan struct{}
	sent, failed atomic.Int64
	firstErr     atomic.Pointer[error]
}

func startFoLoader(b *testing.B, c *clustertest.Cluster, topics []string, count, per int) *foLoader {
	l := &foLoader{stopc: make(chan struct{}), done: make(chan struct{})}
	if *foLoad <= 0 {
		close(l.done)
		return l
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	l.cl = cl
	b.Cleanup(func() { l.stop() })
	value := bytes.Repeat([]byte{'l'}, foRecordSize)
	gap := time.Duration(float64(time.Second) / float64(*foLoad))
	go func() {
		defer close(l.done)
		start := time.Now()
		for i := 0; ; i++ {
			if wait := time.Until(start.Add(time.Duration(i) * gap)); wait > 0 {
				select {
				case <-l.stopc:
					return
				case <-time.After(wait):
				}
			}
			select {
			case <-l.stopc:
				return
			default:
			}
			p := i % count
			l.sent.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topics[p/per], Partition: int32(p % per), Value: value},
				func(_ *kgo.Record, err error) {
					if err != nil {
						l.failed.Add(1)
						l.firstErr.CompareAndSwap(nil, &err)
					}
				})
		}
	}()
	return l
}

// stop ends the load, waits for the records in flight (up to a minute)
// and returns what it sent and what failed.
func (l *foLoader) stop() (sent, failed int64) {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
		<-l.done
		if l.cl != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = l.cl.Flush(ctx)
			cancel()
			l.cl.Close()
		}
	}
	return l.sent.Load(), l.failed.Load()
}

func (l *foLoader) err() error {
	if p := l.firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// foDurations are measurement i of every kill that has it.
func foDurations(ks []foKill, i int) []time.Duration {
	var ds []time.Duration
	for _, k := range ks {
		if k.d[i] != 0 {
			ds = append(ds, k.d[i])
		}
	}
	return ds
}

// foPercentile is the nearest-rank percentile q of ds (not empty).
func foPercentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := int(math.Ceil(q / 100 * float64(len(s))))
	return s[min(max(r, 1), len(s))-1]
}

// foTable is the kills as a table: one row per kind of kill and
// measurement, p50 / p99 / max in ms.
func foTable(leader, controller, quorum []foKill) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kills\tn\t"+strings.Join(foNames[:], " p50/p99/max ms\t")+" p50/p99/max ms\t")
	row := func(name string, ks []foKill) {
		if len(ks) == 0 {
			return
		}
		missed := 0
		for _, k := range ks {
			missed += len(k.missed)
		}
		cells := []string{name, strconv.Itoa(len(ks))}
		for i := range foKinds {
			ds := foDurations(ks, i)
			if len(ds) == 0 {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.0f / %.0f / %.0f", ms(foPercentile(ds, 50)), ms(foPercentile(ds, 99)), ms(slices.Max(ds))))
		}
		if missed > 0 {
			cells[0] += fmt.Sprintf(" (%d missed)", missed)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	filter := func(ks []foKill, keep func(foKill) bool) []foKill {
		var out []foKill
		for _, k := range ks {
			if keep(k) {
				out = append(out, k)
			}
		}
		return out
	}
	row("leader, all", leader)
	row("leader, was controller", filter(leader, func(k foKill) bool { return k.controller }))
	row("leader, was raft leader", filter(leader, func(k foKill) bool { return k.raftLeader == k.victim }))
	row("leader, neither", filter(leader, func(k foKill) bool { return !k.controller && k.raftLeader != k.victim }))
	row("controller, all", controller)
	row("controller, also raft leader", filter(controller, func(k foKill) bool { return k.raftLeader == k.victim }))
	row("controller, not raft leader", filter(controller, func(k foKill) bool { return k.raftLeader != k.victim }))
	row("quorum leader, all", quorum)
	row("quorum leader, also controller", filter(quorum, func(k foKill) bool { return k.controller }))
	row("quorum leader, not controller", filter(quorum, func(k foKill) bool { return !k.controller }))
	tw.Flush()
	return sb.String()
}
