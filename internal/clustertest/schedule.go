package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Schedule defaults.
const (
	// DefaultFaultInterval is the mean time from one injection to the
	// next.
	DefaultFaultInterval = 5 * time.Second
	// DefaultFaultJitter is how far each interval strays from the mean,
	// either way (uniformly); a plan with another Interval scales it.
	DefaultFaultJitter = 2 * time.Second
	// DefaultHoldMin and DefaultHoldMax bound the share of its interval a
	// fault is held before it is healed; the rest is the cluster's time
	// to recover before the next one.
	DefaultHoldMin = 0.6
	DefaultHoldMax = 1.0
	// DefaultSettleTimeout bounds the wait, after the last fault is
	// healed, for every broker to be registered and every partition's
	// ISR to be whole.
	DefaultSettleTimeout = 2 * time.Minute
	// healthyWait bounds the wait for a settled cluster before a fault
	// that needs one (NeedsHealthy); past it the step is skipped.
	healthyWait = 10 * time.Second
	// healRetries is how often the final heal retries a fault whose Heal
	// failed (a restart that timed out) before giving up.
	healRetries = 3
)

// ErrSkipped is returned by Inject for a step a nemesis cannot apply now
// (no node in the state it needs); the schedule logs it and goes on.
var ErrSkipped = errors.New("clustertest: fault skipped")

// Nemesis is one kind of fault a Schedule injects: a process fault here,
// a network or power-loss one in the files that add those (each kind
// registers itself by being in ScheduleConfig.Kinds).
type Nemesis interface {
	// Name names the kind in plans and timelines ("kill9",
	// "pause-controller", ...); unique in a schedule.
	Name() string
	// Inject applies the fault step describes to c and returns it, to be
	// healed; nil and an error when it did not apply it (wrapping
	// ErrSkipped when it could not now). A fault and an error: it was
	// applied, with trouble the run reports (and heals). The step's Node, Peer and Rand were drawn with the plan;
	// a kind whose target depends on the run (the current controller)
	// resolves it here and says so in Fault.Nodes.
	Inject(ctx context.Context, c *Cluster, step Step) (Fault, error)
}

// Detailer is implemented by a Fault with more to say in the timeline
// than the nodes it hit (a clock jump's offset).
type Detailer interface {
	Detail() string
}

// detail is f's Detail, after a colon, or "".
func detail(f Fault) string {
	if d, ok := f.(Detailer); ok {
		return ": " + d.Detail()
	}
	return ""
}

// NeedsHealthy is implemented by a Nemesis that must hit a settled
// cluster only (every broker registered, every ISR whole): one that
// destroys a replica's data, which is lost for good where that replica
// was the last of its ISR. The schedule waits for that, bounded, and
// skips the step otherwise.
type NeedsHealthy interface {
	NeedsHealthy() bool
}

// Fault is one injected fault.
type Fault interface {
	// Nodes are the nodes it hit.
	Nodes() []int
	// Heal undoes it (a restart, SIGCONT, a healed link). Once it has
	// succeeded, calling it again does nothing and returns nil.
	Heal(ctx context.Context) error
}

// Step is one planned fault: which kind, when it is injected and healed
// (since the schedule's start), and the random choices it uses. A plan
// depends on the seed and the configuration only, never on timing.
type Step struct {
	N      int // 1-based place in the plan
	Kind   string
	At     time.Duration // injected
	HealAt time.Duration // healed
	// Node and Peer are two distinct nodes (1..Nodes; Peer is 0 in a
	// one-node cluster): the node hit, and the other end of a fault
	// between two nodes.
	Node, Peer int
	// Rand is for any further choice a kind makes.
	Rand uint64
}

func (s Step) String() string {
	return fmt.Sprintf("#%d %s node=%d peer=%d at=+%v heal=+%v", s.N, s.Kind, s.Node, s.Peer,
		s.At.Round(time.Millisecond), s.HealAt.Round(time.Millisecond))
}

// PlanConfig is what a plan is drawn from, besides the random source.
type PlanConfig struct {
	// Nodes is the cluster's size.
	Nodes int
	// Kinds are the names of the kinds drawn from, each equally likely.
	Kinds []string
	// Duration bounds the plan: the last fault is healed by then.
	Duration time.Duration
	// Interval and Jitter: the gap between two injections is uniform in
	// [Interval-Jitter, Interval+Jitter]. Interval defaults to
	// DefaultFaultInterval; Jitter 0 to the same share of Interval as
	// DefaultFaultJitter of DefaultFaultInterval, a negative one to none;
	// it is capped below Interval.
	Interval, Jitter time.Duration
	// HoldMin and HoldMax: a fault is held for a share of its gap drawn
	// uniformly in [HoldMin, HoldMax] (defaults DefaultHoldMin,
	// DefaultHoldMax).
	HoldMin, HoldMax float64
}

func (pc *PlanConfig) defaults() error {
	if pc.Nodes < 1 {
		return fmt.Errorf("clustertest: a plan needs nodes, not %d", pc.Nodes)
	}
	if len(pc.Kinds) == 0 {
		return errors.New("clustertest: a plan needs at least one fault kind")
	}
	if pc.Duration <= 0 {
		return errors.New("clustertest: a plan needs a positive Duration")
	}
	if pc.Interval <= 0 {
		pc.Interval = DefaultFaultInterval
	}
	switch {
	case pc.Jitter == 0:
		pc.Jitter = pc.Interval * DefaultFaultJitter / DefaultFaultInterval
	case pc.Jitter < 0:
		pc.Jitter = 0
	case pc.Jitter >= pc.Interval:
		pc.Jitter = pc.Interval - 1
	}
	if pc.HoldMin <= 0 || pc.HoldMin > 1 {
		pc.HoldMin = DefaultHoldMin
	}
	if pc.HoldMax < pc.HoldMin || pc.HoldMax > 1 {
		pc.HoldMax = max(pc.HoldMin, DefaultHoldMax)
	}
	return nil
}

// planStream is the PCG stream of PlanRand: not Seed's, whose draws
// (ports) depend on what is free when the run starts.
const planStream = 0x6e656d65736973

// PlanRand is the random source a seed's plan is drawn from.
func PlanRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, planStream)) }

// NewPlan draws the steps of a schedule from rng: gaps, kinds, nodes and
// each step's Rand, in that order, step after step, so the same seed and
// configuration give the same plan whatever happens when it runs.
func NewPlan(rng *rand.Rand, pc PlanConfig) ([]Step, error) {
	if err := pc.defaults(); err != nil {
		return nil, err
	}
	var steps []Step
	var at time.Duration
	for {
		gap := pc.Interval
		if pc.Jitter > 0 {
			gap += time.Duration(rng.Int64N(int64(2*pc.Jitter)+1)) - pc.Jitter
		}
		if at+gap > pc.Duration {
			break
		}
		hold := pc.HoldMin + (pc.HoldMax-pc.HoldMin)*rng.Float64()
		s := Step{N: len(steps) + 1, Kind: pc.Kinds[rng.IntN(len(pc.Kinds))], At: at,
			HealAt: at + time.Duration(hold*float64(gap)), Node: 1 + rng.IntN(pc.Nodes)}
		if pc.Nodes > 1 {
			s.Peer = 1 + rng.IntN(pc.Nodes-1)
			if s.Peer >= s.Node {
				s.Peer++
			}
		}
		s.Rand = rng.Uint64()
		steps = append(steps, s)
		at += gap
	}
	return steps, nil
}

// ScheduleConfig is a run of faults.
type ScheduleConfig struct {
	// Seed is printed first in the timeline and, without Rand, draws the
	// plan (PlanRand). A Rand given must not be shared with anything
	// whose draws depend on the run (ports picked, retries), or the same
	// seed gives another plan.
	Seed uint64
	Rand *rand.Rand
	// Kinds are the enabled faults (see ProcessFaults).
	Kinds []Nemesis
	// Duration, Interval, Jitter, HoldMin, HoldMax: see PlanConfig.
	Duration, Interval, Jitter time.Duration
	HoldMin, HoldMax           float64
	// SettleTimeout bounds the final wait for a settled cluster
	// (default DefaultSettleTimeout).
	SettleTimeout time.Duration
	// Topics are those whose ISRs must be whole for the run's end to
	// find the cluster settled (nil: every topic, the internal ones
	// included). A NeedsHealthy fault waits for every topic regardless.
	Topics []string
	// Logf logs every injection and heal as it happens (t.Logf); nil:
	// the timeline is only kept.
	Logf func(format string, args ...any)
	// RequireEveryKind makes a kind of Kinds that was never injected an
	// error of Run: a long run (make chaos-cluster's ten minutes plan
	// each kind about ten times) must have exercised every one. A short
	// one (make test's) may skip a kind drawn once or never.
	RequireEveryKind bool
	// settled replaces Cluster.WaitSettled (the schedule's own tests).
	settled func(ctx context.Context) error
}

// KindCount is what became of one kind's planned steps in a run.
type KindCount struct {
	Planned int
	// Injected: the fault was applied (and then healed, or not: see
	// Failed).
	Injected int
	// Skipped: not applied, for a reason of the moment (the cluster did
	// not settle within healthyWait first, no active controller known,
	// the node is down or paused, the run ended).
	Skipped int
	// Failed: an injection or a heal that returned an error other than
	// ErrSkipped (a harness or broker error the run reports).
	Failed int
}

// Schedule injects the faults of a plan into a cluster, one at a time:
// each is healed before the next is injected. Its methods are safe for
// concurrent use (Timeline while Run runs).
type Schedule struct {
	c     *Cluster
	cfg   ScheduleConfig
	kinds map[string]Nemesis
	plan  []Step

	mu       sync.Mutex
	began    time.Time             // guarded by mu; zero before Run
	timeline []string              // guarded by mu
	open     []Fault               // guarded by mu: injected, not known to be healed
	counts   map[string]*KindCount // guarded by mu: by kind, every kind of Kinds
}

// NewSchedule draws the plan of a schedule against c (which may be nil
// only for a schedule whose kinds and settle need no cluster).
func NewSchedule(c *Cluster, cfg ScheduleConfig) (*Schedule, error) {
	if cfg.Rand == nil {
		cfg.Rand = PlanRand(cfg.Seed)
	}
	if cfg.SettleTimeout <= 0 {
		cfg.SettleTimeout = DefaultSettleTimeout
	}
	s := &Schedule{c: c, cfg: cfg, kinds: map[string]Nemesis{}, counts: map[string]*KindCount{}}
	var names []string
	for _, k := range cfg.Kinds {
		if _, dup := s.kinds[k.Name()]; dup {
			return nil, fmt.Errorf("clustertest: fault kind %q twice", k.Name())
		}
		s.kinds[k.Name()] = k
		s.counts[k.Name()] = &KindCount{}
		names = append(names, k.Name())
	}
	nodes := 1
	if c != nil {
		nodes = len(c.Nodes)
	}
	plan, err := NewPlan(cfg.Rand, PlanConfig{Nodes: nodes, Kinds: names, Duration: cfg.Duration,
		Interval: cfg.Interval, Jitter: cfg.Jitter, HoldMin: cfg.HoldMin, HoldMax: cfg.HoldMax})
	if err != nil {
		return nil, err
	}
	s.plan = plan
	for _, st := range plan {
		s.counts[st.Kind].Planned++
	}
	return s, nil
}

// count adds to the count of kind.
func (s *Schedule) count(kind string, add func(*KindCount)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	add(s.counts[kind])
}

// Counts returns, by kind, what became of its planned steps so far.
func (s *Schedule) Counts() map[string]KindCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]KindCount, len(s.counts))
	for k, c := range s.counts {
		m[k] = *c
	}
	return m
}

// summarize logs one line per kind, in name order, with its counts, and
// returns an error for each kind never injected when RequireEveryKind.
func (s *Schedule) summarize() error {
	counts := s.Counts()
	var errs []error
	for _, kind := range sortedKeys(counts) {
		c := counts[kind]
		s.logf("summary %-18s planned %3d  injected %3d  skipped %3d  failed %3d", kind, c.Planned, c.Injected, c.Skipped, c.Failed)
		if s.cfg.RequireEveryKind && c.Injected == 0 {
			errs = append(errs, fmt.Errorf("clustertest: fault kind %s was never injected (planned %d, skipped %d, failed %d)",
				kind, c.Planned, c.Skipped, c.Failed))
		}
	}
	return errors.Join(errs...)
}

// Plan returns the planned steps.
func (s *Schedule) Plan() []Step { return slices.Clone(s.plan) }

// logf stamps a line with the time since Run began, keeps it in the
// timeline and logs it.
func (s *Schedule) logf(format string, args ...any) {
	s.mu.Lock()
	line := fmt.Sprintf("+%v ", time.Since(s.began).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	s.timeline = append(s.timeline, line)
	s.mu.Unlock()
	if s.cfg.Logf != nil {
		s.cfg.Logf("clustertest: chaos %s", line)
	}
}

// Timeline is the seed, the plan and every injection, heal and skip so
// far, one a line, each stamped with the time since Run began.
func (s *Schedule) Timeline() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (rerun with %s=%d), %d step(s) planned:", s.cfg.Seed, EnvSeed, s.cfg.Seed, len(s.plan))
	for _, st := range s.plan {
		fmt.Fprintf(&b, "\n  plan %s", st)
	}
	for _, l := range s.timeline {
		fmt.Fprintf(&b, "\n  %s", l)
	}
	return b.String()
}

// Run runs the plan: it injects each step's fault at its time and heals
// it at its heal time, then heals everything (the faults, and any node
// left down or paused) and waits, up to SettleTimeout, for the cluster to
// settle. It returns early when ctx ends, after the same final heal. A
// step its kind cannot apply now (ErrSkipped, or a NeedsHealthy kind in a
// cluster that did not settle within healthyWait) is logged and skipped.
// An injection or a heal that fails otherwise is an error, after which
// every node is brought back (ReviveAll) so that the steps after it still
// hit a whole cluster; so are a final heal that does not succeed, a
// cluster that does not settle, and, with RequireEveryKind, a kind never
// injected. The last lines logged are each kind's counts (Counts).
func (s *Schedule) Run(ctx context.Context) error {
	s.mu.Lock()
	s.began = time.Now()
	began := s.began
	s.mu.Unlock()
	if s.cfg.Logf != nil {
		s.cfg.Logf("clustertest: chaos seed %d (rerun with %s=%d): %d fault(s) over %v", s.cfg.Seed, EnvSeed, s.cfg.Seed, len(s.plan), s.cfg.Duration)
	}
	var errs []error
	ran := 0 // steps of the plan begun
	for _, st := range s.plan {
		if !sleepUntil(ctx, began.Add(st.At)) {
			break
		}
		ran++
		f, err := s.inject(ctx, st)
		if err != nil {
			errs = append(errs, err)
		}
		if f == nil {
			continue
		}
		if !sleepUntil(ctx, began.Add(st.HealAt)) {
			break
		}
		if err := f.Heal(ctx); err != nil {
			s.logf("heal %s failed: %v", st, err)
			s.count(st.Kind, func(c *KindCount) { c.Failed++ })
			errs = append(errs, fmt.Errorf("clustertest: heal of step %s: %w", st, err))
			s.revive(ctx)
			continue
		}
		s.healed(f)
		s.logf("healed #%d %s nodes %v", st.N, st.Kind, f.Nodes())
	}
	for _, st := range s.plan[ran:] {
		s.count(st.Kind, func(c *KindCount) { c.Skipped++ }) // the run ended first
	}
	// The final heal runs even when ctx has ended: nothing is left
	// stopped or cut for the checks (or the next test).
	hctx, cancel := context.WithTimeout(context.Background(), s.cfg.SettleTimeout)
	defer cancel()
	if err := s.HealAll(hctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.settle(hctx, s.cfg.Topics); err != nil {
		s.logf("not settled: %v", err)
		errs = append(errs, err)
	} else {
		s.logf("settled")
	}
	if err := s.summarize(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// revive brings back whatever a failed injection or heal left down or
// paused, so that the steps after it still find a whole cluster (the
// failure itself is already an error of the run). Its own failure is
// logged: the next heal or the final one retries.
func (s *Schedule) revive(ctx context.Context) {
	if s.c == nil {
		return
	}
	if err := s.c.ReviveAll(ctx); err != nil {
		s.logf("revive after a failure: %v", err)
	}
}

// inject injects step st, or logs why it did not; nil when it did not.
// A fault injected with trouble (a controlled shutdown that did not exit
// cleanly) comes with the error, which the run reports.
func (s *Schedule) inject(ctx context.Context, st Step) (Fault, error) {
	k := s.kinds[st.Kind]
	if nh, ok := k.(NeedsHealthy); ok && nh.NeedsHealthy() {
		wctx, cancel := context.WithTimeout(ctx, healthyWait)
		err := s.settle(wctx, nil)
		cancel()
		if err != nil {
			s.logf("skip %s: the cluster did not settle first: %v", st, err)
			s.count(st.Kind, func(c *KindCount) { c.Skipped++ })
			return nil, nil
		}
	}
	f, err := k.Inject(ctx, s.c, st)
	if f == nil {
		if err == nil || errors.Is(err, ErrSkipped) {
			s.logf("skip %s: %v", st, err)
			s.count(st.Kind, func(c *KindCount) { c.Skipped++ })
			return nil, nil
		}
		// Not a skip: the harness (or the broker) failed, and whatever
		// the injection did before it failed (a node killed) is undone
		// here, so that the rest of the run is not weakened by it.
		s.logf("inject %s failed: %v", st, err)
		s.count(st.Kind, func(c *KindCount) { c.Failed++ })
		s.revive(ctx)
		return nil, fmt.Errorf("clustertest: inject of step %s: %w", st, err)
	}
	s.mu.Lock()
	s.open = append(s.open, f)
	s.mu.Unlock()
	s.count(st.Kind, func(c *KindCount) { c.Injected++ })
	if err != nil {
		s.logf("inject #%d %s nodes %v%s: %v", st.N, st.Kind, f.Nodes(), detail(f), err)
		s.count(st.Kind, func(c *KindCount) { c.Failed++ })
		return f, fmt.Errorf("clustertest: inject of step %s: %w", st, err)
	}
	s.logf("inject #%d %s nodes %v%s", st.N, st.Kind, f.Nodes(), detail(f))
	return f, nil
}

// healed forgets f.
func (s *Schedule) healed(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = slices.DeleteFunc(s.open, func(o Fault) bool { return o == f })
}

// HealAll heals every fault not known to be healed (retrying each a few
// times), then resumes every paused node and restarts every stopped one:
// the cluster is whole again, whatever a fault left.
func (s *Schedule) HealAll(ctx context.Context) error {
	s.mu.Lock()
	open := slices.Clone(s.open)
	s.mu.Unlock()
	var errs []error
	for _, f := range open {
		var err error
		for range healRetries {
			if err = f.Heal(ctx); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			s.logf("final heal of nodes %v failed: %v", f.Nodes(), err)
			errs = append(errs, fmt.Errorf("clustertest: final heal of nodes %v: %w", f.Nodes(), err))
			continue
		}
		s.healed(f)
		s.logf("healed nodes %v (final heal)", f.Nodes())
	}
	if s.c != nil {
		if err := s.c.ReviveAll(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settle waits for the cluster to settle, as far as topics go (nil:
// every topic).
func (s *Schedule) settle(ctx context.Context, topics []string) error {
	if s.cfg.settled != nil {
		return s.cfg.settled(ctx)
	}
	if s.c == nil {
		return nil
	}
	return s.c.WaitSettled(ctx, topics...)
}

// sleepUntil waits until t or ctx's end; false if ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// ReviveAll resumes every paused node and restarts every node that is
// not running.
func (c *Cluster) ReviveAll(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes {
		if n.Paused() {
			if err := n.Cont(); err != nil {
				errs = append(errs, err)
			}
		}
		if !n.Running() {
			if err := n.Restart(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// WaitSettled waits until every live node lists every node as a broker
// and every partition of topics (none named: of every topic, the internal
// ones included) has a leader and all its replicas in its ISR.
func (c *Cluster) WaitSettled(ctx context.Context, topics ...string) error {
	if err := c.WaitBrokers(ctx, len(c.Nodes)); err != nil {
		return err
	}
	for {
		last := c.Unsettled(ctx, topics...)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: waiting for whole ISRs: %w (last: %s)", ctx.Err(), last)
		case <-time.After(waitEvery):
		}
	}
}

// Unsettled names a partition of topics (none named: of any topic) whose
// ISR is not whole, or why it could not tell; "" when every partition is
// whole, as every live node sees it.
func (c *Cluster) Unsettled(ctx context.Context, topics ...string) string {
	live := c.live()
	if len(live) != len(c.Nodes) {
		return fmt.Sprintf("%d of %d nodes live", len(live), len(c.Nodes))
	}
	for _, n := range live {
		resp, err := n.metadata(ctx, topics...)
		if err != nil {
			return err.Error()
		}
		if len(resp.Brokers) != len(c.Nodes) {
			return fmt.Sprintf("node %d lists %d brokers", n.ID, len(resp.Brokers))
		}
		for _, t := range resp.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if t.ErrorCode != 0 {
				return fmt.Sprintf("node %d: topic %s: error %d", n.ID, name, t.ErrorCode)
			}
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) < len(p.Replicas) {
					return fmt.Sprintf("node %d: %s/%d: leader %d epoch %d replicas %v isr %v error %d",
						n.ID, name, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.ErrorCode)
				}
			}
		}
	}
	return ""
}
