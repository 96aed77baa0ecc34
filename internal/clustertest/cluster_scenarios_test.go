//go:build cluster

package clustertest

// The three-process scenarios of issue 14 item 9. They need `tributary
// serve` to run a cluster (--controller-quorum-voters wired to embedded
// etcd, replication, failover), so they sit behind the build tag:
//
//	go test -count=1 -tags cluster -run TestCluster -v ./internal/clustertest/
//
// Each starts three brokers on 127.0.0.2-4, creates a topic with RF=3 and
// min.insync.replicas=2, and runs two idempotent acks=all producers, a
// consumer group member and a direct consumer under one fault; the group
// member is replaced by a new one after the fault (it must resume from
// the group's commits). Then every node is brought back, the ISR must be
// whole again, the consumers catch up, every node is stopped with
// SIGTERM and the checker reads every replica: it must find nothing.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

const (
	scenarioTopic = "ct-rf3"
	scenarioParts = 3
	scenarioGroup = "ct-rf3-group"
	// sessionTimeout is broker.session.timeout.ms: a broker whose lease
	// lapses this long is fenced.
	sessionTimeout = 3 * time.Second
	// replicaLag is replica.lag.time.max.ms.
	replicaLag = 3 * time.Second
	// loadFor bounds the producers: longer than any scenario's faults.
	loadFor = 90 * time.Second
	// scenarioTimeout bounds one scenario, checks included.
	scenarioTimeout = 4 * time.Minute
)

// clusterArgs are every node's settings in the scenarios.
var clusterArgs = []string{
	"--default.replication.factor", "3",
	"--min.insync.replicas", "2",
	"--offsets.topic.replication.factor", "3",
	"--offsets.topic.num.partitions", "4",
	"--broker.session.timeout.ms", fmt.Sprint(sessionTimeout.Milliseconds()),
	"--broker.heartbeat.interval.ms", "500",
	"--replica.lag.time.max.ms", fmt.Sprint(replicaLag.Milliseconds()),
	"--group.initial.rebalance.delay.ms", "0",
	"--group.min.session.timeout.ms", "500",
}

// scenario is one cluster under load.
type scenario struct {
	t      *testing.T
	c      *Cluster
	seed   uint64
	rng    *rand.Rand
	ctx    context.Context
	h      *History
	prods  []*Producer
	group  *Consumer
	direct *Consumer
	nextID int // the next consumer's number
	// faulted are the nodes the scenario cut off or paused (logFences);
	// empty where it does not say.
	faulted []int
}

func startScenario(t *testing.T) *scenario {
	t.Helper()
	return startScenarioConfig(t, Config{})
}

// startScenarioConfig is startScenario with cfg's other settings
// (PowerLoss); Nodes and Rand are the scenario's, cfg.Args come after its
// own.
func startScenarioConfig(t *testing.T, cfg Config) *scenario {
	t.Helper()
	skipShort(t)
	// Each scenario has its own processes, ports and data dirs: they run
	// side by side (go test -parallel), which keeps make test-cluster
	// within its time.
	t.Parallel()
	seed, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	cfg.Nodes, cfg.Rand, cfg.Args = 3, rng, append(slices.Clone(clusterArgs), cfg.Args...)
	c := Start(t, cfg)
	if ctl, err := c.Controller(ctx); err != nil || ctl == 0 {
		t.Fatalf("no active controller after start: %d, %v", ctl, err)
	}
	minISR := "2"
	if err := c.CreateTopic(ctx, scenarioTopic, scenarioParts, 3, map[string]*string{"min.insync.replicas": &minISR}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitISR(ctx, scenarioTopic, 3); err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, c: c, seed: seed, rng: rng, ctx: ctx, h: NewHistory(), nextID: 101}
	for id := 1; id <= 2; id++ {
		p, err := StartProducer(ctx, ProducerConfig{ID: id, Seeds: c.Seeds(), Topic: scenarioTopic, Partitions: scenarioParts,
			Rate: 300, Duration: loadFor, DeliveryTimeout: 60 * time.Second}, s.h)
		if err != nil {
			t.Fatal(err)
		}
		s.prods = append(s.prods, p)
	}
	s.group = s.startGroupMember()
	var err error
	s.direct, err = StartConsumer(ctx, ConsumerConfig{ID: 100, Seeds: c.Seeds(), Topic: scenarioTopic, Partitions: scenarioParts,
		Duration: scenarioTimeout}, s.h)
	if err != nil {
		t.Fatal(err)
	}
	s.progress("load running", 500)
	return s
}

func (s *scenario) startGroupMember() *Consumer {
	s.t.Helper()
	m, err := StartConsumer(s.ctx, ConsumerConfig{ID: s.nextID, Seeds: s.c.Seeds(), Topic: scenarioTopic, Group: scenarioGroup,
		CommitEvery: 200 * time.Millisecond, Duration: scenarioTimeout}, s.h)
	if err != nil {
		s.t.Fatal(err)
	}
	s.nextID++
	return m
}

// acked is every producer's acknowledgements so far.
func (s *scenario) acked() int64 {
	var n int64
	for _, p := range s.prods {
		n += p.Acked()
	}
	return n
}

// progress waits until n more records are acknowledged: the clients
// recovered by themselves.
func (s *scenario) progress(what string, n int64) {
	s.t.Helper()
	want := s.acked() + n
	for s.acked() < want {
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("%s: acknowledgements stopped at %d (want %d)", what, s.acked(), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Logf("%s: %d acknowledged", what, s.acked())
}

// replaceGroupMember stops the group member (it commits and leaves) and
// starts a new one, which must resume from the group's commits.
func (s *scenario) replaceGroupMember() {
	s.group.Stop()
	s.group = s.startGroupMember()
}

// leaderOf waits until partition p has a leader other than not (0: any)
// and returns it.
func (s *scenario) leaderOf(p int32, not int) int {
	s.t.Helper()
	for {
		leaders, err := s.c.Leaders(s.ctx, scenarioTopic)
		if err == nil && leaders[p] != 0 && leaders[p] != not {
			return leaders[p]
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("partition %d: no leader other than node %d: %v %v", p, not, leaders, err)
		case <-time.After(waitEvery):
		}
	}
}

// heal restarts every node that is down and resumes every paused one,
// then waits for the whole ISR.
func (s *scenario) heal() {
	s.t.Helper()
	for _, n := range s.c.Nodes {
		if n.Paused() {
			if err := n.Cont(); err != nil {
				s.t.Fatal(err)
			}
		}
		if !n.Running() {
			if err := n.Restart(s.ctx); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		s.t.Fatal(err)
	}
}

// fencedLine is what a broker logs when its registration lapsed or was
// taken over (server/cluster_node.go).
const fencedLine = "broker fenced: stepping down"

// logFences logs how often each node was fenced in the scenario, the
// nodes it faulted (s.faulted) apart: a bystander fenced means its lease
// lapsed under a fault elsewhere (the quorum leaderless, or its renewals
// unanswered, for longer than broker.session.timeout.ms). It is logged,
// not asserted: how long etcd takes to elect a leader depends on the
// machine's load.
func (s *scenario) logFences() {
	s.t.Helper()
	if len(s.faulted) == 0 {
		return
	}
	faulted, bystanders := map[int]int{}, map[int]int{}
	for _, n := range s.c.Nodes {
		if slices.Contains(s.faulted, n.ID) {
			faulted[n.ID] = logCount(s.t, n, fencedLine)
		} else {
			bystanders[n.ID] = logCount(s.t, n, fencedLine)
		}
	}
	s.t.Logf("fenced (by node): faulted %v, bystanders %v", faulted, bystanders)
}

// finish stops the load, heals the cluster, lets the consumers catch up,
// stops every node with SIGTERM and checks every replica.
func (s *scenario) finish() {
	s.t.Helper()
	for _, p := range s.prods {
		s.t.Log(p.Stop())
	}
	s.heal()
	ends, err := s.c.EndOffsets(s.ctx, scenarioTopic)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.direct.WaitCaughtUp(s.ctx, ends); err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.WaitGroupCommitted(s.ctx, scenarioGroup, scenarioTopic, ends); err != nil {
		s.t.Fatal(err)
	}
	s.direct.Stop()
	s.group.Stop()
	s.logFences()
	if err := s.c.TermAll(); err != nil {
		s.t.Fatal(err)
	}
	reps, err := s.c.ReadReplicas(scenarioTopic)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, r := range reps {
		if len(r.Logs) != scenarioParts {
			s.t.Errorf("node %d holds %d replicas of %s, want %d", r.Node, len(r.Logs), scenarioTopic, scenarioParts)
		}
	}
	res := Check(s.h.Events(), reps, CheckOptions{Seed: s.seed, ConsumedAll: true})
	s.t.Log(res.Report())
	if !res.OK() {
		s.t.Fatalf("checker found broken guarantees (seed %d)", s.seed)
	}
	// Every replica must hold every acknowledged record: the ends agree.
	for p := range int32(scenarioParts) {
		tp := TopicPartition{scenarioTopic, p}
		for _, r := range reps[1:] {
			if r.Logs[tp].End != reps[0].Logs[tp].End {
				s.t.Errorf("%s: node %d ends at %d, node %d at %d after a clean stop", tp, reps[0].Node, reps[0].Logs[tp].End, r.Node, r.Logs[tp].End)
			}
		}
	}
}

func TestClusterStartsThreeVotersWithOneController(t *testing.T) {
	s := startScenario(t)
	s.finish()
}

func TestClusterKillNineOfEachPartitionLeaderLosesNothing(t *testing.T) {
	s := startScenario(t)
	order := []int32{0, 1, 2}
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, p := range order {
		old := s.leaderOf(p, 0)
		if err := s.c.Kill9(old); err != nil {
			t.Fatal(err)
		}
		now := s.leaderOf(p, old)
		t.Logf("partition %d: leader %d killed, node %d leads", p, old, now)
		s.progress(fmt.Sprintf("after kill -9 of node %d", old), 300)
		s.replaceGroupMember()
		if err := s.c.Restart(s.ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
			t.Fatal(err)
		}
	}
	s.finish()
}

func TestClusterControlledShutdownOfEachBrokerLosesNothing(t *testing.T) {
	s := startScenario(t)
	for id := 1; id <= 3; id++ {
		if err := s.c.Term(id); err != nil {
			t.Fatalf("SIGTERM of node %d: %v", id, err)
		}
		// A controlled shutdown moved every leadership away before the
		// process exited; the live brokers' copies of the metadata
		// follow within moments.
		wctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		err := s.c.WaitPartitions(wctx, scenarioTopic, func(p kadm.PartitionDetail) bool { return p.Leader != int32(id) })
		cancel()
		if err != nil {
			t.Errorf("node %d still leads after its controlled shutdown: %v", id, err)
		}
		s.progress(fmt.Sprintf("after SIGTERM of node %d", id), 300)
		s.replaceGroupMember()
		if err := s.c.Restart(s.ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
			t.Fatal(err)
		}
	}
	s.finish()
}

func TestClusterKillNineOfTheControllerLosesNothing(t *testing.T) {
	s := startScenario(t)
	old, err := s.c.Controller(s.ctx)
	if err != nil || old == 0 {
		t.Fatalf("controller %d, %v", old, err)
	}
	if err := s.c.Kill9(old); err != nil {
		t.Fatal(err)
	}
	var now int
	for now == 0 || now == old {
		select {
		case <-s.ctx.Done():
			t.Fatalf("no new controller after kill -9 of node %d", old)
		case <-time.After(waitEvery):
		}
		now, _ = s.c.Controller(s.ctx)
	}
	t.Logf("controller %d killed, node %d controls", old, now)
	// The new controller does a controller's work: a topic is created
	// and gets leaders on the live brokers.
	if err := s.c.CreateTopic(s.ctx, "ct-after-controller", 2, 2, nil); err != nil {
		t.Fatal(err)
	}
	s.progress(fmt.Sprintf("after kill -9 of controller %d", old), 300)
	s.replaceGroupMember()
	s.finish()
}

func TestClusterFollowerOutOfTheISRComesBack(t *testing.T) {
	s := startScenario(t)
	leader := s.leaderOf(0, 0)
	pd, err := s.c.Partitions(s.ctx, scenarioTopic)
	if err != nil {
		t.Fatal(err)
	}
	var followers []int
	byID, _, err := s.c.brokerNodes(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pd[0].Replicas {
		if n := byID[r]; n != nil && n.ID != leader {
			followers = append(followers, n.ID)
		}
	}
	if len(followers) == 0 {
		t.Fatalf("partition 0 has no follower: %+v", pd[0])
	}
	f := followers[s.rng.IntN(len(followers))]
	fBroker := int32(-1)
	for id, n := range byID {
		if n.ID == f {
			fBroker = id
		}
	}
	// Frozen past replica.lag.time.max.ms, the follower leaves the ISR of
	// partition 0; acks=all goes on with the two left (min ISR 2).
	if err := s.c.Stop(f); err != nil {
		t.Fatal(err)
	}
	out := func(p kadm.PartitionDetail) bool { return p.Partition != 0 || !slices.Contains(p.ISR, fBroker) }
	if err := s.c.WaitPartitions(s.ctx, scenarioTopic, out); err != nil {
		t.Fatalf("node %d never left partition 0's ISR: %v", f, err)
	}
	s.progress(fmt.Sprintf("with node %d out of the ISR", f), 300)
	if err := s.c.Cont(f); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", f, err)
	}
	s.progress(fmt.Sprintf("with node %d back in the ISR", f), 300)
	s.replaceGroupMember()
	s.finish()
}

func TestClusterPausedLeaderIsFencedAndTruncates(t *testing.T) {
	s := startScenario(t)
	p := int32(s.rng.IntN(scenarioParts))
	old := s.leaderOf(p, 0)
	// Frozen past broker.session.timeout.ms, the leader's lease lapses
	// and it is fenced; another replica leads. When it resumes, it must
	// neither acknowledge a write nor serve a read as leader (the
	// checker would find the writes lost, or the reads phantom), and
	// must truncate whatever it appended that the new leader does not
	// have (or the replicas diverge).
	if err := s.c.Stop(old); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	now := s.leaderOf(p, old)
	t.Logf("partition %d: leader %d paused, node %d leads", p, old, now)
	s.progress(fmt.Sprintf("with node %d paused", old), 300)
	if d := sessionTimeout + 2*time.Second - time.Since(pausedAt); d > 0 {
		time.Sleep(d)
	}
	if err := s.c.Cont(old); err != nil {
		t.Fatal(err)
	}
	s.progress(fmt.Sprintf("after node %d resumed", old), 300)
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", old, err)
	}
	s.replaceGroupMember()
	s.finish()
}
