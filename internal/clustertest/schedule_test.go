package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTheSameSeedGivesTheSamePlan(t *testing.T) {
	kinds, err := ProcessFaults()
	if err != nil {
		t.Fatal(err)
	}
	plan := func(seed uint64) []Step {
		c := newCluster(t, Config{Nodes: 3, Rand: rand.New(rand.NewPCG(seed, 1)), Bin: "tributary"})
		s, err := NewSchedule(c, ScheduleConfig{Seed: seed, Kinds: kinds, Duration: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s.Plan()
	}
	seed, _ := Seed(t)
	a, b := plan(seed), plan(seed)
	if len(a) < 60 {
		t.Fatalf("10 minutes at one fault per ~5 s planned %d steps", len(a))
	}
	if !slices.Equal(a, b) {
		t.Fatalf("seed %d gave two plans:\n%v\n%v", seed, a, b)
	}
	if c := plan(seed + 1); slices.Equal(a, c) {
		t.Fatalf("seeds %d and %d gave the same plan", seed, seed+1)
	}
}

func TestPlanStaysWithinItsBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		pc   PlanConfig
		// the gap's bounds after defaults
		minGap, maxGap time.Duration
	}{
		{"defaults", PlanConfig{Nodes: 3, Kinds: []string{"a", "b", "c"}, Duration: 10 * time.Minute},
			3 * time.Second, 7 * time.Second},
		{"no jitter", PlanConfig{Nodes: 5, Kinds: []string{"a", "b"}, Duration: time.Minute, Interval: 2 * time.Second, Jitter: -1},
			2 * time.Second, 2 * time.Second},
		{"jitter capped below the interval", PlanConfig{Nodes: 3, Kinds: []string{"a"}, Duration: time.Minute, Interval: time.Second, Jitter: 5 * time.Second, HoldMin: 0.2, HoldMax: 0.3},
			1, 2*time.Second - 1},
		{"one node", PlanConfig{Nodes: 1, Kinds: []string{"a", "b"}, Duration: 2 * time.Minute},
			3 * time.Second, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rng := Seed(t)
			steps, err := NewPlan(rng, tc.pc)
			if err != nil {
				t.Fatal(err)
			}
			pc := tc.pc
			if err := pc.defaults(); err != nil {
				t.Fatal(err)
			}
			if want := int(tc.pc.Duration / tc.maxGap); len(steps) < want {
				t.Fatalf("%d steps in %v, want at least %d", len(steps), tc.pc.Duration, want)
			}
			seen := map[string]bool{}
			for i, s := range steps {
				seen[s.Kind] = true
				if s.N != i+1 || !slices.Contains(tc.pc.Kinds, s.Kind) {
					t.Fatalf("step %d: %s", i, s)
				}
				if s.Node < 1 || s.Node > tc.pc.Nodes || (tc.pc.Nodes > 1 && (s.Peer < 1 || s.Peer > tc.pc.Nodes || s.Peer == s.Node)) ||
					(tc.pc.Nodes == 1 && s.Peer != 0) {
					t.Fatalf("step %s: nodes out of 1..%d", s, tc.pc.Nodes)
				}
				hold := s.HealAt - s.At
				if i+1 == len(steps) {
					break // its gap is not known
				}
				gap := steps[i+1].At - s.At
				if gap < tc.minGap || gap > tc.maxGap {
					t.Fatalf("step %s: gap %v outside [%v, %v]", s, gap, tc.minGap, tc.maxGap)
				}
				if float64(hold) < pc.HoldMin*float64(gap)-1 || float64(hold) > pc.HoldMax*float64(gap)+1 {
					t.Fatalf("step %s: held %v of a %v gap (hold share %v-%v)", s, hold, gap, pc.HoldMin, pc.HoldMax)
				}
			}
			if last := steps[len(steps)-1]; last.HealAt > tc.pc.Duration {
				t.Fatalf("last step %s heals after the plan's %v", last, tc.pc.Duration)
			}
			if len(seen) != len(tc.pc.Kinds) {
				t.Fatalf("kinds drawn %v of %v", seen, tc.pc.Kinds)
			}
		})
	}
}

func TestPlanRejectsWhatCannotBePlanned(t *testing.T) {
	for _, tc := range []struct {
		name string
		pc   PlanConfig
	}{
		{"no nodes", PlanConfig{Kinds: []string{"a"}, Duration: time.Minute}},
		{"no kinds", PlanConfig{Nodes: 3, Duration: time.Minute}},
		{"no duration", PlanConfig{Nodes: 3, Kinds: []string{"a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if steps, err := NewPlan(rand.New(rand.NewPCG(1, 2)), tc.pc); err == nil {
				t.Fatalf("planned %v", steps)
			}
		})
	}
	if _, err := NewSchedule(nil, ScheduleConfig{Rand: rand.New(rand.NewPCG(1, 2)), Duration: time.Minute,
		Kinds: []Nemesis{&fakeNemesis{name: "a"}, &fakeNemesis{name: "a"}}}); err == nil {
		t.Fatal("a schedule with one kind twice was accepted")
	}
	if _, err := ProcessFaults(FaultKill9, "no-such-fault"); err == nil {
		t.Fatal("an unknown process fault was accepted")
	}
}

// fakeNemesis records what a schedule does with it, without a cluster.
type fakeNemesis struct {
	name    string
	healthy bool
	// failHeals fails each fault's first failHeals heals; injectErr fails
	// every injection (after injecting when injected is set).
	failHeals int
	injectErr error
	injected  bool

	mu     sync.Mutex
	events *[]string // shared between kinds: the order of everything
	open   *int      // faults injected and not healed, across kinds
	most   *int      // the most open at once
}

func (k *fakeNemesis) Name() string       { return k.name }
func (k *fakeNemesis) NeedsHealthy() bool { return k.healthy }

func (k *fakeNemesis) record(e string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	*k.events = append(*k.events, e)
}

func (k *fakeNemesis) Inject(_ context.Context, c *Cluster, st Step) (Fault, error) {
	if c != nil {
		return nil, errors.New("fake faults need no cluster")
	}
	if k.injectErr != nil && !k.injected {
		return nil, k.injectErr
	}
	k.mu.Lock()
	*k.open++
	*k.most = max(*k.most, *k.open)
	k.mu.Unlock()
	k.record(fmt.Sprintf("inject %d", st.N))
	return &fakeFault{k: k, n: st.N}, k.injectErr
}

type fakeFault struct {
	k      *fakeNemesis
	n      int
	tries  int
	healed bool
}

func (f *fakeFault) Nodes() []int { return []int{f.n} }

func (f *fakeFault) Heal(context.Context) error {
	if f.healed {
		return nil
	}
	f.tries++
	if f.tries <= f.k.failHeals {
		f.k.record(fmt.Sprintf("heal %d failed", f.n))
		return errors.New("fake heal failed")
	}
	f.healed = true
	f.k.mu.Lock()
	*f.k.open--
	f.k.mu.Unlock()
	f.k.record(fmt.Sprintf("heal %d", f.n))
	return nil
}

// fakeKinds returns kinds that share one record of events.
func fakeKinds(ks ...*fakeNemesis) ([]Nemesis, *[]string, *int) {
	events, open, most := &[]string{}, new(int), new(int)
	var out []Nemesis
	for _, k := range ks {
		k.events, k.open, k.most = events, open, most
		out = append(out, k)
	}
	return out, events, most
}

func TestScheduleHealsEachFaultBeforeTheNextAndSettlesAtTheEnd(t *testing.T) {
	seed, rng := Seed(t)
	kinds, events, most := fakeKinds(&fakeNemesis{name: "a"}, &fakeNemesis{name: "b"})
	settles := 0
	var logged []string
	s, err := NewSchedule(nil, ScheduleConfig{Seed: seed, Rand: rng, Kinds: kinds, Duration: 300 * time.Millisecond,
		Interval: 20 * time.Millisecond, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) },
		settled: func(context.Context) error { settles++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	plan := s.Plan()
	var want []string
	for _, st := range plan {
		want = append(want, fmt.Sprintf("inject %d", st.N), fmt.Sprintf("heal %d", st.N))
	}
	if !slices.Equal(*events, want) {
		t.Fatalf("events %v, want %v", *events, want)
	}
	if *most != 1 || settles != 1 {
		t.Fatalf("%d faults open at once, %d settles: want 1 and 1", *most, settles)
	}
	if !strings.Contains(logged[0], fmt.Sprint("seed ", seed)) {
		t.Fatalf("the first line logged does not print the seed: %q", logged[0])
	}
	tl := s.Timeline()
	if !strings.HasPrefix(tl, fmt.Sprintf("seed %d", seed)) || strings.Count(tl, "inject #") != len(plan) ||
		strings.Count(tl, "healed #") != len(plan) || !strings.Contains(tl, " settled\n") {
		t.Fatalf("timeline:\n%s", tl)
	}
	// It ends with each kind's counts.
	counts := s.Counts()
	for _, kind := range []string{"a", "b"} {
		planned := 0
		for _, st := range plan {
			if st.Kind == kind {
				planned++
			}
		}
		if c := counts[kind]; c != (KindCount{Planned: planned, Injected: planned}) {
			t.Fatalf("kind %s: %+v, want %d planned and injected", kind, c, planned)
		}
		if want := fmt.Sprintf("summary %-18s planned %3d  injected %3d  skipped   0  failed   0", kind, planned, planned); !strings.Contains(tl, want) {
			t.Fatalf("timeline has no %q:\n%s", want, tl)
		}
	}
}

func TestScheduleRetriesAFailedHealAtTheEnd(t *testing.T) {
	_, rng := Seed(t)
	kinds, events, _ := fakeKinds(&fakeNemesis{name: "flaky", failHeals: 2})
	s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: 50 * time.Millisecond,
		Interval: 20 * time.Millisecond, Jitter: -1, settled: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "heal of step") {
		t.Fatalf("a failed heal was not reported: %v", err)
	}
	// Two steps: each fails once in the run, then the final heal fails
	// it once more and succeeds.
	want := []string{"inject 1", "heal 1 failed", "inject 2", "heal 2 failed", "heal 1 failed", "heal 1", "heal 2 failed", "heal 2"}
	if !slices.Equal(*events, want) {
		t.Fatalf("events %v, want %v", *events, want)
	}
	if len(s.open) != 0 {
		t.Fatalf("faults left open: %v", s.open)
	}
}

func TestScheduleSkipsWhatItCannotInject(t *testing.T) {
	_, rng := Seed(t)
	kinds, events, _ := fakeKinds(
		&fakeNemesis{name: "needs-healthy", healthy: true},
		&fakeNemesis{name: "refused", injectErr: fmt.Errorf("%w: nothing to hit", ErrSkipped)})
	unsettled := errors.New("never settles")
	s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: 100 * time.Millisecond,
		Interval: 20 * time.Millisecond, settled: func(context.Context) error { return unsettled }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, unsettled) {
		t.Fatalf("run: %v, want the final settle's error", err)
	}
	if len(*events) != 0 {
		t.Fatalf("events %v: want every step skipped", *events)
	}
	if tl := s.Timeline(); strings.Count(tl, "skip #") != len(s.Plan()) || !strings.Contains(tl, "not settled") {
		t.Fatalf("timeline:\n%s", tl)
	}
}

func TestScheduleReportsAFaultInjectedWithTroubleAndHealsIt(t *testing.T) {
	_, rng := Seed(t)
	unclean := errors.New("exit status 1")
	kinds, events, _ := fakeKinds(&fakeNemesis{name: "unclean", injectErr: unclean, injected: true})
	s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: 30 * time.Millisecond,
		Interval: 20 * time.Millisecond, Jitter: -1, settled: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, unclean) {
		t.Fatalf("run: %v, want the injection's error", err)
	}
	if want := []string{"inject 1", "heal 1"}; !slices.Equal(*events, want) {
		t.Fatalf("events %v, want %v", *events, want)
	}
}

func TestScheduleCancelledMidFaultStillHealsIt(t *testing.T) {
	_, rng := Seed(t)
	kinds, events, _ := fakeKinds(&fakeNemesis{name: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: time.Hour, Interval: time.Minute, HoldMin: 1,
		settled: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		open := len(s.open)
		s.mu.Unlock()
		if open == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first fault was never injected")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []string{"inject 1", "heal 1"}; !slices.Equal(*events, want) {
		t.Fatalf("events %v, want %v", *events, want)
	}
}

// fakeNet records the faults asked of it.
type fakeNet struct {
	calls []string
	fail  error // every fault fails
}

func (n *fakeNet) record(format string, args ...any) error {
	n.calls = append(n.calls, fmt.Sprintf(format, args...))
	return n.fail
}
func (n *fakeNet) Isolate(node int) error       { return n.record("isolate %d", node) }
func (n *fakeNet) CutOneWay(from, to int) error { return n.record("cut %d->%d", from, to) }
func (n *fakeNet) Freeze(node int) error        { return n.record("freeze %d", node) }
func (n *fakeNet) Heal() error                  { n.calls = append(n.calls, "heal"); return nil }

// The cluster's own fault methods are what the kinds use.
var (
	_ NemesisNet   = (*Cluster)(nil)
	_ NemesisPower = (*Cluster)(nil)
)

func TestNetFaultsCutWhatTheStepNamesAndHealOnce(t *testing.T) {
	st := Step{N: 1, Node: 2, Peer: 3}
	for _, tc := range []struct {
		kind  string
		call  string
		nodes []int
	}{
		{FaultIsolate, "isolate 2", []int{2}},
		{FaultCutOneWay, "cut 2->3", []int{2, 3}},
		{FaultFreeze, "freeze 2", []int{2}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			n := &fakeNet{}
			kinds, err := NetFaults(n, tc.kind)
			if err != nil || len(kinds) != 1 || kinds[0].Name() != tc.kind {
				t.Fatalf("kinds %v, %v", kinds, err)
			}
			f, err := kinds[0].Inject(context.Background(), nil, st)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Nodes(), tc.nodes) {
				t.Fatalf("nodes %v, want %v", f.Nodes(), tc.nodes)
			}
			for range 2 {
				if err := f.Heal(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if want := []string{tc.call, "heal"}; !slices.Equal(n.calls, want) {
				t.Fatalf("calls %v, want %v", n.calls, want)
			}
			// A fault that fails to take is undone and not returned.
			n.calls, n.fail = nil, errors.New("no such node")
			if f, err := kinds[0].Inject(context.Background(), nil, st); f != nil || !errors.Is(err, n.fail) {
				t.Fatalf("failed injection: %v, %v", f, err)
			}
			if want := []string{tc.call, "heal"}; !slices.Equal(n.calls, want) {
				t.Fatalf("calls after a failed injection %v, want %v", n.calls, want)
			}
		})
	}
	if _, err := NetFaults(&fakeNet{}, "no-such-fault"); err == nil {
		t.Fatal("an unknown network fault was accepted")
	}
	one := Step{N: 1, Node: 1}
	kinds, _ := NetFaults(&fakeNet{}, FaultCutOneWay)
	if f, err := kinds[0].Inject(context.Background(), nil, one); f != nil || !errors.Is(err, ErrSkipped) {
		t.Fatalf("a one-way cut in a one-node cluster: %v, %v", f, err)
	}
}

type fakePower struct{ lost []int }

func (p *fakePower) PowerLoss(node int) (PowerLossResult, error) {
	p.lost = append(p.lost, node)
	return PowerLossResult{}, nil
}

func TestPowerLossHitsOnlyARunningNodeOfASettledCluster(t *testing.T) {
	p := &fakePower{}
	k := PowerLossFault(p)
	if nh, ok := k.(NeedsHealthy); !ok || !nh.NeedsHealthy() || k.Name() != FaultPowerLoss {
		t.Fatalf("%s: a power loss must wait for a settled cluster", k.Name())
	}
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 3, Rand: rng, Bin: "tributary"}) // nothing started
	if f, err := k.Inject(context.Background(), c, Step{N: 1, Node: 2, Peer: 1}); f != nil || !errors.Is(err, ErrSkipped) || len(p.lost) != 0 {
		t.Fatalf("power loss of a node that does not run: %v, %v, %v", f, err, p.lost)
	}
}

type fakeClock struct {
	offsets map[int]time.Duration
	fail    error
}

func (k *fakeClock) ClockJump(node int, d time.Duration) error {
	if k.fail != nil && d != 0 {
		return k.fail
	}
	k.offsets[node] = d
	return nil
}

func TestClockJumpMovesTheStepsNodeAndHealsToTheSystemClock(t *testing.T) {
	k := &fakeClock{offsets: map[int]time.Duration{}}
	jumps := []time.Duration{time.Hour, -time.Minute}
	kind := ClockJumpFault(k, jumps...)
	if kind.Name() != FaultClockJump {
		t.Fatalf("name %q", kind.Name())
	}
	for r, want := range []time.Duration{time.Hour, -time.Minute} {
		f, err := kind.Inject(context.Background(), nil, Step{N: 1, Node: 2, Peer: 3, Rand: uint64(r)})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.offsets[2]; got != want || !slices.Equal(f.Nodes(), []int{2}) {
			t.Fatalf("Rand %d: node 2's offset %v, nodes %v; want %v, [2]", r, got, f.Nodes(), want)
		}
		if d := detail(f); !strings.Contains(d, want.String()) {
			t.Fatalf("timeline detail %q does not name the offset %v", d, want)
		}
		if err := f.Heal(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := k.offsets[2]; got != 0 {
			t.Fatalf("node 2's offset %v after the heal, want 0", got)
		}
	}
	// A jump that does not take is undone and not returned.
	k.offsets[2], k.fail = 5, errors.New("no clock")
	if f, err := kind.Inject(context.Background(), nil, Step{N: 1, Node: 2}); f != nil || !errors.Is(err, k.fail) || k.offsets[2] != 0 {
		t.Fatalf("failed jump: %v, %v, offset %v", f, err, k.offsets[2])
	}
}

func TestClockJumpsStayBelowTheDefaultsKeptByTime(t *testing.T) {
	// retention.ms and offsets.retention.minutes (7 days) and
	// producer.id.expiration.ms (1 day): a chaos run's jump must expire
	// none of them (see ClockJumps).
	for _, d := range ClockJumps {
		if d == 0 || d >= 24*time.Hour || d <= -24*time.Hour {
			t.Errorf("clock jump %v: not a jump, or one past producer.id.expiration.ms", d)
		}
	}
}

func TestScheduleReportsAFailedInjectionAndGoesOn(t *testing.T) {
	_, rng := Seed(t)
	broken := errors.New("rename ct-rf3-2 meta: file exists")
	kinds, events, _ := fakeKinds(&fakeNemesis{name: "broken", injectErr: broken}, &fakeNemesis{name: "fine"})
	s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: 300 * time.Millisecond,
		Interval: 20 * time.Millisecond, settled: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if !errors.Is(err, broken) {
		t.Fatalf("run: %v, want the failed injection's error", err)
	}
	c := s.Counts()
	if c["broken"].Planned == 0 || c["fine"].Planned == 0 {
		t.Skipf("plan %v does not draw both kinds", s.Plan())
	}
	if b := c["broken"]; b.Failed != b.Planned || b.Injected != 0 || b.Skipped != 0 {
		t.Fatalf("broken: %+v, want every planned step failed, none skipped", b)
	}
	if f := c["fine"]; f.Injected != f.Planned || len(*events) != 2*f.Planned {
		t.Fatalf("fine: %+v, events %v: the run did not go on after a failed injection", f, *events)
	}
	if tl := s.Timeline(); strings.Count(tl, " failed: ") != c["broken"].Planned || strings.Contains(tl, "skip #") {
		t.Fatalf("timeline:\n%s", tl)
	}
}

func TestScheduleRequiresEveryKindInjectedWhenAsked(t *testing.T) {
	for _, require := range []bool{false, true} {
		t.Run(fmt.Sprint("require=", require), func(t *testing.T) {
			_, rng := Seed(t)
			kinds, _, _ := fakeKinds(&fakeNemesis{name: "fine"},
				&fakeNemesis{name: "refused", injectErr: fmt.Errorf("%w: nothing to hit", ErrSkipped)})
			s, err := NewSchedule(nil, ScheduleConfig{Rand: rng, Kinds: kinds, Duration: 300 * time.Millisecond,
				Interval: 20 * time.Millisecond, RequireEveryKind: require, settled: func(context.Context) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Run(context.Background())
			r := s.Counts()["refused"]
			if r.Injected != 0 || r.Skipped != r.Planned {
				t.Fatalf("refused: %+v, want every planned step skipped", r)
			}
			switch {
			case !require && err != nil:
				t.Fatalf("a kind never injected failed a run that does not require every kind: %v", err)
			case require && (err == nil || !strings.Contains(err.Error(), "fault kind refused was never injected") ||
				strings.Contains(err.Error(), "kind fine")):
				t.Fatalf("run: %v, want an error naming kind refused only", err)
			}
		})
	}
}

// failingPower kills the node, as a power loss does first, and then fails
// to drop its unsynced writes.
type failingPower struct {
	c   *Cluster
	err error
}

func (p *failingPower) PowerLoss(node int) (PowerLossResult, error) {
	if err := p.c.Kill9(node); err != nil {
		return PowerLossResult{}, err
	}
	return PowerLossResult{}, p.err
}

func TestAPowerLossThatFailsAfterTheKillIsReportedAndHealedByARestart(t *testing.T) {
	// A process that runs until killed stands in for the broker: the
	// restart only has to start it again.
	bin := filepath.Join(t.TempDir(), "sleeper")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 1, Rand: rng, Bin: bin, StartTimeout: 200 * time.Millisecond})
	n := c.Nodes[0]
	if err := n.spawn(); err != nil {
		t.Fatal(err)
	}
	p := &failingPower{c: c, err: errors.New("rename ct-rf3-2 meta: file exists")}
	f, err := PowerLossFault(p).Inject(context.Background(), c, Step{N: 1, Node: 1})
	if f == nil || !errors.Is(err, p.err) || errors.Is(err, ErrSkipped) {
		t.Fatalf("power loss that failed after the kill: fault %v, error %v; want the fault to heal and the error", f, err)
	}
	if n.Running() || !slices.Equal(f.Nodes(), []int{1}) {
		t.Fatalf("running %v, nodes %v: want node 1 down", n.Running(), f.Nodes())
	}
	// The heal starts it again (it never answers Kafka, so the heal
	// itself times out waiting for it).
	f.Heal(context.Background())
	if n.Incarnations() != 2 {
		t.Fatalf("%d incarnations after the heal, want 2 (restarted)", n.Incarnations())
	}
}
