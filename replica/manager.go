package replica

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/cluster"
)

// isrProposalTimeout bounds one ISR proposal (a metadata compare-and-swap).
const isrProposalTimeout = 10 * time.Second

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
	// TopicID returns a topic's ID, which Fetch v13+ names topics by.
	// Nil: zero IDs, which only a leader answering v12 resolves.
	TopicID func(topic string) [16]byte
	// Alive reports whether a broker is live (registered, not fenced):
	// only live followers hold a partition's low watermark back
	// (LeaderConfig.Alive). It must not block. Nil: every replica counts.
	Alive func(id int32) bool
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

	mu        sync.Mutex // guards the maps and closed
	leaders   map[cluster.TopicPartition]*Leader
	following map[cluster.TopicPartition]int32 // leader followed
	fetchers  map[int32]*Fetcher               // by leader broker
	closed    bool

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
		cfg:       cfg,
		leaders:   make(map[cluster.TopicPartition]*Leader),
		following: make(map[cluster.TopicPartition]int32),
		fetchers:  make(map[int32]*Fetcher),
		kick:      make(chan struct{}, 1),
		cancel:    cancel,
		done:      make(chan struct{}),
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
func (m *Manager) BecomeLeader(l Log, state cluster.PartitionState, minISR int) (*Leader, error) {
	tp := state.TP()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("replica: lead %s-%d: %w", tp.Topic, tp.Partition, ErrClosed)
	}
	m.stopFollowingLocked(tp)
	if ld, ok := m.leaders[tp]; ok {
		if ld.log == l {
			if err := ld.UpdateState(state); err != nil {
				return nil, err
			}
			ld.SetMinISR(minISR)
			return ld, nil
		}
		ld.Stop()
		delete(m.leaders, tp)
	}
	var ld *Leader
	cfg := LeaderConfig{
		Self:       m.cfg.Self,
		MinISR:     minISR,
		LagTimeMax: m.cfg.LagTimeMax,
		Now:        m.cfg.Now,
		CaughtUp:   m.kickISR,
		Alive:      m.cfg.Alive,
	}
	if m.cfg.AlterISR != nil {
		cfg.ProposeISR = func(ctx context.Context, newISR []int32, epochs []int64) error {
			return m.cfg.AlterISR(ctx, ld.State(), newISR, epochs)
		}
	}
	ld, err := NewLeader(l, state, cfg)
	if err != nil {
		return nil, err
	}
	m.leaders[tp] = ld
	m.cfg.Logger.Info("replica became leader", "topic", tp.Topic, "partition", tp.Partition,
		"epoch", state.LeaderEpoch, "isr", state.ISR, "log_end", l.NextOffset())
	return ld, nil
}

// BecomeFollower makes this broker a follower of state's partition on l,
// fetching from state.Leader through leader (the Requester is used only
// if no fetcher of that broker runs yet). Leadership of the partition, if
// any, ends first. A partition without a leader (cluster.NoLeader) is
// only stopped.
func (m *Manager) BecomeFollower(l Log, state cluster.PartitionState, leader Requester) error {
	tp := state.TP()
	if state.Leader == m.cfg.Self {
		return fmt.Errorf("replica: follow %s-%d: this broker is its leader", tp.Topic, tp.Partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("replica: follow %s-%d: %w", tp.Topic, tp.Partition, ErrClosed)
	}
	if ld, ok := m.leaders[tp]; ok {
		ld.Stop()
		delete(m.leaders, tp)
	}
	if prev, ok := m.following[tp]; ok && prev != state.Leader {
		m.stopFollowingLocked(tp)
	}
	l.SetReplicated(true)
	if state.Leader == cluster.NoLeader {
		return nil
	}
	f, ok := m.fetchers[state.Leader]
	if !ok {
		if leader == nil {
			return fmt.Errorf("replica: follow %s-%d: no requester for leader %d", tp.Topic, tp.Partition, state.Leader)
		}
		f = NewFetcher(state.Leader, leader, m.cfg.Fetch)
		m.fetchers[state.Leader] = f
	}
	var id [16]byte
	if m.cfg.TopicID != nil {
		id = m.cfg.TopicID(tp.Topic)
	}
	if err := f.Add(l, state, id); err != nil {
		return err
	}
	m.following[tp] = state.Leader
	return nil
}

// Stop ends this broker's part in tp's replication, leader or follower
// (the partition was deleted or moved away). Once it returns nothing here
// touches the partition's log.
func (m *Manager) Stop(tp cluster.TopicPartition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ld, ok := m.leaders[tp]; ok {
		ld.Stop()
		delete(m.leaders, tp)
	}
	m.stopFollowingLocked(tp)
}

// stopFollowingLocked stops fetching tp, and the fetcher if it has
// nothing left. Caller holds m.mu.
func (m *Manager) stopFollowingLocked(tp cluster.TopicPartition) {
	leader, ok := m.following[tp]
	if !ok {
		return
	}
	delete(m.following, tp)
	if f := m.fetchers[leader]; f != nil {
		f.Remove(tp)
		if f.Len() == 0 {
			f.Close()
			delete(m.fetchers, leader)
		}
	}
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
// their goroutines.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	fetchers := m.fetchers
	leaders := m.leaders
	m.fetchers, m.leaders, m.following = nil, nil, nil
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
		for _, ld := range leaders {
			old := ld.State().ISR
			pctx, cancel := context.WithTimeout(ctx, isrProposalTimeout)
			isr, err := ld.MaybeChangeISR(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if isr == nil {
				continue
			}
			tp := ld.TP()
			if err != nil {
				m.cfg.Logger.Warn("replica ISR change failed", "topic", tp.Topic, "partition", tp.Partition, "isr", isr, "err", err)
				continue
			}
			m.countISRChange(old, isr)
			m.cfg.Logger.Info("replica ISR change proposed", "topic", tp.Topic, "partition", tp.Partition,
				"epoch", ld.Epoch(), "isr", slices.Clone(isr))
		}
	}
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
