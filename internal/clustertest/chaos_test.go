//go:build cluster

package clustertest

// The chaos run of issue 15: three brokers under idempotent acks=all load
// and a consumer group, through a seeded schedule of faults (schedule.go),
// then healed, drained and checked. make test runs a short one (the
// default CLUSTERTEST_CHAOS_DURATION), make chaos-cluster ten minutes:
//
//	CLUSTERTEST_CHAOS_DURATION=10m go test -count=1 -tags cluster -run '^TestClusterChaos$' -v -timeout 30m ./internal/clustertest/
//
// A failure prints the seed, the fault timeline, the checker's report and
// every node's log tail; CLUSTERTEST_SEED=<seed> replays the same plan.

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

const (
	// EnvChaosDuration is how long the schedule injects faults (a Go
	// duration: "60s", "10m").
	EnvChaosDuration = "CLUSTERTEST_CHAOS_DURATION"
	// defaultChaosDuration is make test's run.
	defaultChaosDuration = 60 * time.Second
	// chaosTail bounds what follows the schedule: the final heal and
	// settle, the producers' drain, the consumers catching up, the
	// checks.
	chaosTail = 5 * time.Minute
	// requireEveryKindFrom is the run from which every kind must have
	// been injected at least once (ScheduleConfig.RequireEveryKind):
	// make chaos-cluster's ten minutes plan about 120 faults over the 12
	// kinds, each about ten times (one is never drawn once in ~3,000
	// seeds), while make test's minute plans about 12, and may well miss
	// a kind or see its one step skipped.
	requireEveryKindFrom = 10 * time.Minute
)

// chaosDuration is $CLUSTERTEST_CHAOS_DURATION or the default.
func chaosDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv(EnvChaosDuration)
	if s == "" {
		return defaultChaosDuration
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive duration", EnvChaosDuration, s)
	}
	return d
}

func TestClusterChaosLosesNothing(t *testing.T) {
	skipShort(t)
	t.Parallel() // beside the scenarios (startScenarioConfig)
	d := chaosDuration(t)
	seed, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), d+chaosTail)
	t.Cleanup(cancel)
	// Every listener behind a fault proxy, every fsync journalled and
	// every wall clock movable, so that network faults, power losses and
	// clock jumps are drawn too; with the scenarios' settings (a 3 s
	// broker.session.timeout.ms, as cluster_faults_test.go explains).
	c := Start(t, Config{Nodes: 3, Rand: rng, Faults: true, PowerLoss: true, ClockFault: true, Args: slices.Clone(clusterArgs)})
	minISR := "2"
	if err := c.CreateTopic(ctx, scenarioTopic, scenarioParts, 3, map[string]*string{"min.insync.replicas": &minISR}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitISR(ctx, scenarioTopic, 3); err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, c: c, seed: seed, rng: rng, ctx: ctx, h: NewHistory(), nextID: 101}
	for id := 1; id <= 2; id++ {
		// The load outlasts the schedule; finish stops it.
		p, err := StartProducer(ctx, ProducerConfig{ID: id, Seeds: c.Seeds(), Topic: scenarioTopic, Partitions: scenarioParts,
			Rate: 300, Duration: d + chaosTail, DeliveryTimeout: 60 * time.Second}, s.h)
		if err != nil {
			t.Fatal(err)
		}
		s.prods = append(s.prods, p)
	}
	s.group = s.startGroupMember()
	var err error
	s.direct, err = StartConsumer(ctx, ConsumerConfig{ID: 100, Seeds: c.Seeds(), Topic: scenarioTopic, Partitions: scenarioParts,
		Duration: d + chaosTail}, s.h)
	if err != nil {
		t.Fatal(err)
	}
	s.progress("load running", 500)

	kinds, err := ProcessFaults()
	if err != nil {
		t.Fatal(err)
	}
	netKinds, err := NetFaults(c)
	if err != nil {
		t.Fatal(err)
	}
	kinds = append(append(kinds, netKinds...), PowerLossFault(c), ClockJumpFault(c))
	sched, err := NewSchedule(c, ScheduleConfig{Seed: seed, Kinds: kinds, Duration: d, Logf: t.Logf,
		RequireEveryKind: d >= requireEveryKindFrom})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos timeline, %s", sched.Timeline())
		}
	})
	if err := sched.Run(ctx); err != nil {
		t.Errorf("chaos schedule (seed %d): %v", seed, err)
	}
	// The clients recover by themselves once the cluster is whole, and a
	// new group member resumes from the group's commits.
	s.progress("after the schedule", 300)
	s.replaceGroupMember()
	s.finish()
}
