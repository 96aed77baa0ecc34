package replica

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-io/tributary/cluster"
)

// isrProposalTimeout bounds one ISR proposal (a metadata compare-and-swap).
const isrProposalTimeout = 10 * time.Second

// isrProposalsInFlight is how many partitions' ISR proposals a check has
// in flight at once. Each is a metadata write that returns once the
// broker's own snapshot shows it; one at a time, a broker that restarts
// into the ISRs of 10,000 partitions took about 90 ms each — 7.6 minutes
// to rejoin them all (BenchmarkFailover) — while concurrent writes share
// etcd's commits and the watch's snapshots.
const isrProposalsInFlight = 32

// isrProposalBatch is how many partitions' ISR proposals go in one
// Config.AlterISRs call, and isrBatchesInFlight how many such calls a
// check has in flight: a batch is one metadata transaction
// (cluster.MaxUpdatesPerTxn partitions), and 10,000 ISR expansions one
// transaction each kept etcd, on a loaded machine, past its heartbeats
// for minutes (BenchmarkFailover's rejoin).
const (
	isrProposalBatch   = cluster.MaxUpdatesPerTxn
	isrBatchesInFlight = 4
)

// Config configures a Manager.
type Config struct {
	Self        int32 // this broker's node ID
	BrokerEpoch int64 // this broker's registration epoch
	// LagTimeMax is replica.lag.time.max.ms; 0 means the default.
	LagTimeMax time.Duration
	// ISRCheckInterval is how often lagging followers are looked for;
	// 0 means LagTimeMax/2, as Kafka.
	ISRCheckInterval time.Duration
	// AlterISR makes an ISR proposal a compare-and-swap of old, the
	// partition's state as its leader knows it, to the same state with
	// ISR newISR (and the partition epoch bumped). On success the caller
	// hands the committed state back through BecomeLeader. newISREpochs
	// are the joining members' broker epochs (LeaderConfig.ProposeISR),
	// for cluster.ISRChange.NewISREpochs. Nil: ISRs never change.
	AlterISR func(ctx context.Context, old cluster.PartitionState, newISR []int32, newISREpochs []int64) error
	// AlterISRs, if set, is AlterISR of many partitions at once (one
	// error each, in order), which the ISR checks use instead: the
	// proposals of a check go in batches of isrProposalBatch, so that a
	// broker rejoining thousands of ISRs costs a few metadata writes
	// rather than one each.
	AlterISRs func(ctx context.Context, proposals []ISRProposal) []error
	// TopicID returns a topic's ID, which Fetch v13+ names topics by.
	// Nil: zero IDs, which only a leader answering v12 resolves.
	TopicID func(topic string) [16]byte
	// Alive reports whether a broker is live (registered, not fenced):
	// only live followers hold a partition's low watermark back
	// (LeaderConfig.Alive). It must not block. Nil: every replica counts.
	Alive func(id int32) bool
	// RegisteredEpoch returns a broker's registered broker epoch, 0 if
	// none (LeaderConfig.RegisteredEpoch): a follower joins an ISR only
	// under it. It must not block. Nil: unchecked.
	RegisteredEpoch func(id int32) int64
	// Fetch configures the follower fetchers; Self and BrokerEpoch are
	// taken from above. Fetch.Throttle is the follower throttle
	// Throttles reports.
	Fetch FetcherConfig
	// LeaderThrottle is leader.replication.throttled.rate, which the
	// server applies to what it sends throttled followers; the Manager
	// only reports it (Throttles). Nil: none.
	LeaderThrottle *Throttle
	Now            func() time.Time // nil: time.Now
	Logger         *slog.Logger     // nil: slog.Default()
}

// Manager is a broker's replication engine: the Leader of every partition
// it leads and the fetchers of every partition it follows. The server
// calls BecomeLeader, BecomeFollower and Stop when the metadata changes,
// and looks leaders up for Produce and Fetch. Close stops everything it
// started.
type Manager struct {
	cfg Config

	// mu guards the maps and closed. It is held only to read or write
	// them: never across a log write, a Leader's Stop or a fetcher's
	// Remove, which wait for appends in flight.
	mu        sync.Mutex
	leaders   map[cluster.TopicPartition]*Leader
	following map[cluster.TopicPartition]int32 // leader followed
	// followCount is how many partitions following has per leader: its
	// fetcher is closed when none is left.
	followCount map[int32]int
	fetchers    map[int32]*Fetcher // by leader broker
	// changing holds the partitions a role change is in progress for
	// (claim), each closed when it ends.
	changing map[cluster.TopicPartition]chan struct{}
	// claimWaiters counts the role changes waiting for another of their
	// partition to end (what tests watch).
	claimWaiters int
	closed       bool

	// isrShrinks and isrExpands count committed ISR changes (Stats);
	// fetchStats the replica fetches of every fetcher started here.
	isrShrinks, isrExpands atomic.Int64
	fetchStats             *FetchStats

	kick   chan struct{} // cap 1: a follower may join an ISR
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager starts a Manager (and its ISR-check goroutine).
func NewManager(cfg Config) *Manager {
	if cfg.LagTimeMax <= 0 {
		cfg.LagTimeMax = DefaultReplicaLagTimeMax
	}
	if cfg.ISRCheckInterval <= 0 {
		cfg.ISRCheckInterval = cfg.LagTimeMax / 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Fetch.Self, cfg.Fetch.BrokerEpoch = cfg.Self, cfg.BrokerEpoch
	if cfg.Fetch.Logger == nil {
		cfg.Fetch.Logger = cfg.Logger
	}
	if cfg.Fetch.Stats == nil {
		cfg.Fetch.Stats = new(FetchStats)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:         cfg,
		leaders:     make(map[cluster.TopicPartition]*Leader),
		following:   make(map[cluster.TopicPartition]int32),
		fetchers:    make(map[int32]*Fetcher),
		followCount: make(map[int32]int),
		changing:    make(map[cluster.TopicPartition]chan struct{}),
		kick:        make(chan struct{}, 1),
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	m.fetchStats = cfg.Fetch.Stats
	go m.checkISRs(ctx)
	return m
}

// BecomeLeader makes this broker the leader of state's partition on l
// (state.Leader must be Self): any fetching of it stops first, the log is
// marked replicated and opens state.LeaderEpoch. Called again for a
// partition already led on the same log, it hands the Leader the newer
// state (an ISR change, a new epoch) and min.insync.replicas.
//
// Role changes of different partitions may run concurrently (a broker
// taking over thousands of partitions overlaps their log writes); those
// of one partition wait for each other (claim). Manager.mu is held only to read and write the maps,
// never across a log write, so the produces and fetches that look a
// Leader up are not held behind a takeover.
func (m *Manager) BecomeLeader(l Log, state cluster.PartitionState, minISR int) (*Leader, error) {
	tp := state.TP()
	release, err := m.claim(tp, "lead")
	if err != nil {
		return nil, err
	}
	defer release()
	m.mu.Lock()
	f := m.unfollowLocked(tp)
	ld, ok := m.leaders[tp]
	m.mu.Unlock()
	if f != nil {
		f.stop()
	}
	if ok {
		if ld.log == l {
			if err := ld.UpdateState(state); err != nil {
				return nil, err
			}
			ld.SetMinISR(minISR)
			return ld, nil
		}
		ld.Stop()
		m.mu.Lock()
		delete(m.leaders, tp)
		m.mu.Unlock()
	}
	cfg := LeaderConfig{
		Self:            m.cfg.Self,
		MinISR:          minISR,
		LagTimeMax:      m.cfg.LagTimeMax,
		Now:             m.cfg.Now,
		CaughtUp:        m.kickISR,
		Alive:           m.cfg.Alive,
		RegisteredEpoch: m.cfg.RegisteredEpoch,
	}
	if m.cfg.AlterISR != nil {
		cfg.ProposeISR = func(ctx context.Context, newISR []int32, epochs []int64) error {
			return m.cfg.AlterISR(ctx, ld.State(), newISR, epochs)
		}
	}
	// The Leader is published only once NewLeader returns, that is once
	// the log's epoch cache holds state.LeaderEpoch: no produce is
	// appended, and no follower's fetch answered (a DivergingEpoch
	// included), at an epoch the log does not know. The log makes the
	// epoch durable before any recovery checkpoint relies on it (see
	// doc.go, "The leader epoch and durability").
	ld, err = NewLeader(l, state, cfg)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ld.Stop()
		return nil, fmt.Errorf("replica: lead %s-%d: %w", tp.Topic, tp.Partition, ErrClosed)
	}
	m.leaders[tp] = ld
	m.mu.Unlock()
	// Debug: the caller says what a batch of them did, once (at ten
	// thousand partitions a failover made thousands of these lines).
	m.cfg.Logger.Debug("replica became leader", "topic", tp.Topic, "partition", tp.Partition,
		"epoch", state.LeaderEpoch, "isr", state.ISR, "log_end", l.NextOffset())
	return ld, nil
}

// claim makes the caller the only role change of tp in progress, waiting
// for one already running; release ends the claim. It fails once the
// Manager is closed.
func (m *Manager) claim(tp cluster.TopicPartition, what string) (release func(), err error) {
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return nil, fmt.Errorf("replica: %s %s-%d: %w", what, tp.Topic, tp.Partition, ErrClosed)
		}
		busy, ok := m.changing[tp]
		if !ok {
			break
		}
		m.claimWaiters++
		m.mu.Unlock()
		<-busy
		m.mu.Lock()
		m.claimWaiters--
	}
	done := make(chan struct{})
	m.changing[tp] = done
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.changing, tp)
		m.mu.Unlock()
		close(done)
	}, nil
}

// BecomeFollower makes this broker a follower of state's partition on l,
// fetching from state.Leader through leader (the Requester is used only
// if no fetcher of that broker runs yet). Leadership of the partition, if
// any, ends first. A partition without a leader (cluster.NoLeader) is
// only stopped. Like BecomeLeader, it runs concurrently with the role
// changes of other partitions.
func (m *Manager) BecomeFollower(l Log, state cluster.PartitionState, leader Requester) error {
	tp := state.TP()
	if state.Leader == m.cfg.Self {
		return fmt.Errorf("replica: follow %s-%d: this broker is its leader", tp.Topic, tp.Partition)
	}
	release, err := m.claim(tp, "follow")
	if err != nil {
		return err
	}
	defer release()
	m.mu.Lock()
	ld, led := m.leaders[tp]
	delete(m.leaders, tp)
	var unfollowed *stopFollowing
	if prev, ok := m.following[tp]; ok && prev != state.Leader {
		unfollowed = m.unfollowLocked(tp)
	}
	m.mu.Unlock()
	// The Leader stops (its appends in flight done) before any fetcher
	// may append to the log.
	if led {
		ld.Stop()
	}
	if unfollowed != nil {
		unfollowed.stop()
	}
	l.SetReplicated(true)
	if state.Leader == cluster.NoLeader {
		return nil
	}
	// Before mu, as every log write here (Add finds nothing left to do).
	if err := truncateUnepoched(l, state); err != nil {
		return err
	}
	var id [16]byte
	if m.cfg.TopicID != nil {
		id = m.cfg.TopicID(tp.Topic)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("replica: follow %s-%d: %w", tp.Topic, tp.Partition, ErrClosed)
	}
	f, ok := m.fetchers[state.Leader]
	if !ok {
		if leader == nil {
			m.mu.Unlock()
			return fmt.Errorf("replica: follow %s-%d: no requester for leader %d", tp.Topic, tp.Partition, state.Leader)
		}
		f = NewFetcher(state.Leader, leader, m.cfg.Fetch)
		m.fetchers[state.Leader] = f
	}
	// Added under mu: a fetcher left with no partition is closed (and
	// dropped from fetchers) under mu, so f is still running here.
	if err := f.Add(l, state, id); err != nil {
		m.mu.Unlock()
		return err
	}
	if prev, ok := m.following[tp]; !ok || prev != state.Leader {
		m.following[tp] = state.Leader
		m.followCount[state.Leader]++
	}
	m.mu.Unlock()
	return nil
}

// Stop ends this broker's part in tp's replication, leader or follower
// (the partition was deleted or moved away). Once it returns nothing here
// touches the partition's log.
func (m *Manager) Stop(tp cluster.TopicPartition) {
	release, err := m.claim(tp, "stop")
	if err != nil {
		return // closed: Close stopped everything
	}
	defer release()
	m.mu.Lock()
	ld, led := m.leaders[tp]
	delete(m.leaders, tp)
	f := m.unfollowLocked(tp)
	m.mu.Unlock()
	if led {
		ld.Stop()
	}
	if f != nil {
		f.stop()
	}
}

// stopFollowing is the rest of unfollowLocked, done after Manager.mu is
// released: the partition's removal from its fetcher (which waits for a
// response being applied to its log), and the fetcher's close if nothing
// is left to it.
type stopFollowing struct {
	f     *Fetcher
	tp    cluster.TopicPartition
	close bool
}

func (s *stopFollowing) stop() {
	s.f.Remove(s.tp)
	if s.close {
		s.f.Close()
	}
}

// unfollowLocked takes tp out of following; the caller finishes with
// stop, after releasing mu (nil: tp was not followed). A fetcher that is
// left with nothing is dropped from fetchers here, so that no partition
// is added to it meanwhile. Caller holds m.mu.
func (m *Manager) unfollowLocked(tp cluster.TopicPartition) *stopFollowing {
	leader, ok := m.following[tp]
	if !ok {
		return nil
	}
	delete(m.following, tp)
	f := m.fetchers[leader]
	// Counted here, not by the fetcher: its partition set still holds
	// tp until stop.
	last := m.followCount[leader] <= 1
	if last {
		delete(m.followCount, leader)
		delete(m.fetchers, leader)
	} else {
		m.followCount[leader]--
	}
	if f == nil {
		return nil
	}
	return &stopFollowing{f: f, tp: tp, close: last}
}

// Leader returns the Leader of tp if this broker leads it.
func (m *Manager) Leader(tp cluster.TopicPartition) (*Leader, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ld, ok := m.leaders[tp]
	return ld, ok
}

// Following returns the broker this broker fetches tp from, if any.
func (m *Manager) Following(tp cluster.TopicPartition) (int32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.following[tp]
	return l, ok
}

// Close stops every fetcher and leader and the ISR checks, and waits for
// their goroutines and for the role changes in progress.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	busy := slices.Collect(maps.Values(m.changing))
	m.mu.Unlock()
	// A role change in progress finds the Manager closed when it next
	// takes mu, and stops what it started.
	for _, ch := range busy {
		<-ch
	}
	m.mu.Lock()
	fetchers := m.fetchers
	leaders := m.leaders
	m.fetchers, m.leaders, m.following, m.followCount = nil, nil, nil, nil
	m.mu.Unlock()
	m.cancel()
	<-m.done
	for _, f := range fetchers {
		f.Close()
	}
	for _, ld := range leaders {
		ld.Stop()
	}
}

func (m *Manager) kickISR() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// checkISRs proposes ISR changes: every ISRCheckInterval for followers
// that fell behind, and at once when one may have caught up.
func (m *Manager) checkISRs(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.cfg.ISRCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
		m.mu.Lock()
		leaders := make([]*Leader, 0, len(m.leaders))
		for _, ld := range m.leaders {
			leaders = append(leaders, ld)
		}
		m.mu.Unlock()
		if m.cfg.AlterISRs != nil {
			m.proposeISRs(ctx, leaders)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		var g errgroup.Group
		g.SetLimit(isrProposalsInFlight)
		for _, ld := range leaders {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				m.proposeISR(ctx, ld)
				return nil
			})
		}
		_ = g.Wait()
		if ctx.Err() != nil {
			return
		}
	}
}

// proposeISR proposes ld's ISR change, if it has one, and logs it.
func (m *Manager) proposeISR(ctx context.Context, ld *Leader) {
	old := ld.State().ISR
	pctx, cancel := context.WithTimeout(ctx, isrProposalTimeout)
	isr, err := ld.MaybeChangeISR(pctx)
	cancel()
	if ctx.Err() != nil || isr == nil {
		return
	}
	tp := ld.TP()
	if err != nil {
		m.cfg.Logger.Warn("replica ISR change failed", "topic", tp.Topic, "partition", tp.Partition, "isr", isr, "err", err)
		return
	}
	m.countISRChange(old, isr)
	m.cfg.Logger.Info("replica ISR change proposed", "topic", tp.Topic, "partition", tp.Partition,
		"epoch", ld.Epoch(), "isr", slices.Clone(isr))
}

// isrSummaryExamples is how many partitions an ISR proposals' summary
// line names.
const isrSummaryExamples = 3

// isrSummary is what one check's ISR proposals did, for its one log line
// (a broker rejoining after a failover proposes thousands at once: a
// line each drowned the log). mu guards the rest: the batches end
// concurrently.
type isrSummary struct {
	mu               sync.Mutex
	proposed, failed int
	examples         []string
	firstErr         error
}

func (s *isrSummary) add(tp cluster.TopicPartition, epoch int32, isr []int32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.proposed++
	if len(s.examples) < isrSummaryExamples {
		s.examples = append(s.examples, fmt.Sprintf("%s-%d epoch %d isr %v", tp.Topic, tp.Partition, epoch, isr))
	}
}

// log writes the summary's line: Info, or Warn if a proposal failed.
func (s *isrSummary) log(l *slog.Logger, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proposed+s.failed == 0 {
		return
	}
	took := time.Since(start).Round(time.Microsecond)
	if s.failed > 0 {
		l.Warn("replica ISR changes proposed", "partitions", s.proposed, "failed", s.failed, "first_err", s.firstErr,
			"examples", s.examples, "took", took)
		return
	}
	l.Info("replica ISR changes proposed", "partitions", s.proposed, "examples", s.examples, "took", took)
}

// proposeISRs proposes the ISR changes of leaders that have one, in
// batches of isrProposalBatch (Config.AlterISRs), isrBatchesInFlight at
// once, and logs them: one line for all, each partition at Debug.
func (m *Manager) proposeISRs(ctx context.Context, leaders []*Leader) {
	var lds []*Leader
	var props []ISRProposal
	for _, ld := range leaders {
		if p, ok := ld.beginISRChange(); ok {
			lds = append(lds, ld)
			props = append(props, p)
		}
	}
	if len(props) == 0 {
		return
	}
	start := time.Now()
	sum := new(isrSummary)
	defer func() {
		if ctx.Err() == nil {
			sum.log(m.cfg.Logger, start)
		}
	}()
	var g errgroup.Group
	g.SetLimit(isrBatchesInFlight)
	for start := 0; start < len(props); start += isrProposalBatch {
		end := min(start+isrProposalBatch, len(props))
		g.Go(func() error {
			pctx, cancel := context.WithTimeout(ctx, isrProposalTimeout)
			errs := m.cfg.AlterISRs(pctx, props[start:end])
			cancel()
			for i := start; i < end; i++ {
				var err error
				if j := i - start; j < len(errs) {
					err = errs[j]
				} else {
					err = fmt.Errorf("replica: no answer to the ISR proposal of %d", i)
				}
				m.endISRProposal(ctx, lds[i], props[i], err, sum)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// endISRProposal hands ld the outcome of its proposal prop, logs it at
// Debug and adds it to sum.
func (m *Manager) endISRProposal(ctx context.Context, ld *Leader, prop ISRProposal, err error, sum *isrSummary) {
	err = ld.endISRChange(prop, err)
	if ctx.Err() != nil {
		return
	}
	tp := ld.TP()
	sum.add(tp, prop.Old.LeaderEpoch, prop.NewISR, err)
	if err != nil {
		m.cfg.Logger.Debug("replica ISR change failed", "topic", tp.Topic, "partition", tp.Partition, "isr", prop.NewISR, "err", err)
		return
	}
	m.countISRChange(prop.Old.ISR, prop.NewISR)
	m.cfg.Logger.Debug("replica ISR change proposed", "topic", tp.Topic, "partition", tp.Partition,
		"epoch", prop.Old.LeaderEpoch, "isr", prop.NewISR)
}

// SetBrokerEpoch sets the broker epoch fetchers started from now on send
// (a broker registered again after it was fenced). Fetchers already
// running keep theirs: the caller stops every partition on a fencing, so
// none outlives the old registration.
func (m *Manager) SetBrokerEpoch(epoch int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.BrokerEpoch = epoch
	m.cfg.Fetch.BrokerEpoch = epoch
}
