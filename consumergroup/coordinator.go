package consumergroup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	tlog "github.com/tributary-io/tributary/log"
)

// Coordinator is the group coordinator of one broker: it owns every group
// and the internal topic __consumer_offsets of a log.Manager. New does no
// I/O; Start replays the topic in the background; Close stops every group.
type Coordinator struct {
	mgr    *tlog.Manager
	cfg    Config
	logger *slog.Logger

	loaded  chan struct{} // closed once Start's replay has finished
	loadErr error         // set before loaded is closed
	quit    chan struct{} // closed by Close
	wg      sync.WaitGroup
	// ctx is cancelled by Close, first: writes waiting for their
	// replicas (Config.WaitAppended) give up. Partitions' contexts
	// derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	startOnce sync.Once
	closeOnce sync.Once

	// life is read-held by operations that run on a parked group in
	// place (group.run) and by loop starts; Close write-locks it to set
	// stopping, so none is still running or starting when Close waits
	// for the loops. Lock order: group.mu, then life, then mu.
	life     sync.RWMutex
	stopping bool

	topicMu sync.Mutex // serialises creating __consumer_offsets
	// topicCreated: Config.CreateOffsetsTopic succeeded once; later
	// FindCoordinators do not call it again.
	topicCreated atomic.Bool

	mu         sync.Mutex // guards the fields below
	groups     map[string]*group
	partitions int // partitions of __consumer_offsets; fixed once it exists
	closed     bool
	// parts is, in a cluster (Config.Cluster), the ownership of each
	// __consumer_offsets partition handed by LoadPartition or
	// UnloadPartition (ownership.go); nil on a single broker.
	parts map[int32]*offsetsPartition

	// loadHook (Config.LoadHook; this package's tests may set it before
	// Start) runs before a replay, on its goroutine.
	loadHook func(p int32)
	// pendingRing holds the expiry timers of the last MaxPendingMembers
	// KIP-394 member ids handed out, over all groups; pendingNext is
	// where the next goes, over the oldest. See notePending.
	pendingRing []*time.Timer
	pendingNext int
}

// MaxPendingMembers bounds the KIP-394 member ids (MEMBER_ID_REQUIRED)
// handed out and not yet used, over all groups. Kafka keeps each one for
// the member's session timeout (up to group.max.session.timeout.ms, 30
// minutes) and counts them only against group.max.size, unlimited by
// default: one connection sending JoinGroup in a loop (~30,000/s here),
// with fresh group ids or not, would hold gigabytes. A real client uses
// its id one round trip after getting it, so the oldest beyond this many
// is dropped: a client that comes back with a dropped id gets
// UNKNOWN_MEMBER_ID and joins again, as after any expiry. A group that
// only existed for such ids goes with the last of them.
const MaxPendingMembers = 10_000

// maxMemberIDPrefix bounds the client id (or instance id) part of a
// member id, which Kafka copies whole: with a 32 KiB client id, pending
// ids would cost that much each.
const maxMemberIDPrefix = 128

// New returns a coordinator over mgr's topics. It does no I/O until Start.
func New(mgr *tlog.Manager, cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		ctx:        ctx,
		cancel:     cancel,
		mgr:        mgr,
		cfg:        cfg,
		logger:     cfg.logger(),
		loaded:     make(chan struct{}),
		quit:       make(chan struct{}),
		groups:     make(map[string]*group),
		partitions: cfg.OffsetsTopicPartitions,
		loadHook:   cfg.LoadHook,
	}
	if cfg.Cluster {
		c.parts = make(map[int32]*offsetsPartition)
	}
	return c, nil
}

// Start replays __consumer_offsets in the background (requests meanwhile
// get ErrLoadInProgress) and then runs offset expiry until Close. Calls
// after the first do nothing. In a cluster (Config.Cluster) it replays
// nothing: LoadPartition does, partition by partition.
func (c *Coordinator) Start() {
	c.startOnce.Do(func() {
		c.wg.Add(1)
		if c.cfg.Cluster {
			close(c.loaded)
			go func() {
				defer c.wg.Done()
				c.expireLoop()
			}()
			return
		}
		go func() {
			defer c.wg.Done()
			if c.loadHook != nil {
				c.loadHook(-1)
			}
			start := time.Now()
			err := c.load()
			if err != nil {
				c.logger.Error("consumergroup: loading __consumer_offsets failed; group requests will fail", "err", err)
			} else {
				c.mu.Lock()
				n := len(c.groups)
				c.mu.Unlock()
				c.logger.Info("consumergroup: loaded groups", "groups", n, "took", time.Since(start))
			}
			c.loadErr = err
			close(c.loaded)
			if err == nil {
				c.expireLoop()
			}
		}()
	})
}

// WaitLoaded blocks until Start's replay finished and returns its error.
func (c *Coordinator) WaitLoaded() error {
	select {
	case <-c.loaded:
		return c.loadErr
	case <-c.quit:
		return ErrCoordinatorNotAvailable
	}
}

// Close stops every group (waiting JoinGroup and SyncGroup calls are
// answered with ErrCoordinatorNotAvailable) and waits for them.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		// First, so that an operation waiting for its write's replicas
		// ends and lets Close take life.
		c.cancel()
		c.life.Lock()
		c.stopping = true
		c.life.Unlock()
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.quit)
	})
	c.wg.Wait()
	return nil
}

// ready reports whether requests can be served.
func (c *Coordinator) ready() error {
	select {
	case <-c.quit:
		return ErrCoordinatorNotAvailable
	case <-c.loaded:
		if c.loadErr != nil {
			return fmt.Errorf("%w: %v", ErrCoordinatorNotAvailable, c.loadErr)
		}
		return nil
	default:
		return ErrLoadInProgress
	}
}

// serves returns the error a request for group gets because of this
// coordinator's state (stopping, loading, not its coordinator), nil when
// it is served: lookup's checks, without the lookup.
func (c *Coordinator) serves(group string) error {
	if err := c.ready(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrCoordinatorNotAvailable
	}
	return c.ownerErrLocked(group)
}

// lookup returns the group, or nil when it does not exist; create makes
// an Empty one.
func (c *Coordinator) lookup(id string, create bool) (*group, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrCoordinatorNotAvailable
	}
	if err := c.ownerErrLocked(id); err != nil {
		return nil, err
	}
	g := c.groups[id]
	if g == nil && create {
		// A copy: the id may point into a request's buffer.
		g = c.newGroupLocked(strings.Clone(id), nil)
	}
	return g, nil
}

// HasGroup reports whether a group exists: a request naming it does not
// create it.
func (c *Coordinator) HasGroup(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[id] != nil
}

// newGroupLocked makes a group, Empty (parked) or as loaded: a loaded
// group with members starts its loop. Caller holds mu.
func (c *Coordinator) newGroupLocked(id string, lg *loadedGroup) *group {
	g := newGroup(c, id, c.partitionForLocked(id))
	if lg != nil {
		// g is not in the map yet, so only the session timers restore
		// starts can reach it, and they wait for g.mu, then find the
		// loop (they never hold g.mu waiting for mu). Start's goroutine,
		// which loads, keeps c.wg above zero for startLocked.
		g.mu.Lock()
		g.restore(lg) // before the loop starts: it owns g from then on
		if !g.idle() {
			g.startLocked()
		}
		g.mu.Unlock()
	}
	c.groups[id] = g
	return g
}

// enter admits an operation on a parked group, or the start of a loop;
// false once Close has begun. A true enter is paired with exit.
func (c *Coordinator) enter() bool {
	c.life.RLock()
	if c.stopping {
		c.life.RUnlock()
		return false
	}
	return true
}

func (c *Coordinator) exit() { c.life.RUnlock() }

// forget removes g from the map once it is Dead.
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// allGroups returns a snapshot of the groups, sorted by id.
func (c *Coordinator) allGroups() []*group {
	gs := c.groupsUnsorted()
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	return gs
}

// groupsUnsorted returns a snapshot of the groups, in no order.
func (c *Coordinator) groupsUnsorted() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	return gs
}

// PartitionFor returns the __consumer_offsets partition holding group's
// records: Kafka's abs(group.hashCode()) % partitions.
func (c *Coordinator) PartitionFor(group string) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.partitionForLocked(group)
}

func (c *Coordinator) partitionForLocked(group string) int32 {
	return int32(int(javaHashCode(group)&0x7fffffff) % c.partitions)
}

// javaHashCode is Java's String.hashCode over UTF-16 code units, so that a
// group maps to the partition Kafka would give it.
func javaHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r1, r2 := utf16.EncodeRune(r); r1 != '\uFFFD' {
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// EnsureOffsetsTopic creates __consumer_offsets if it does not exist yet
// (Kafka creates it on the first FindCoordinator): through
// Config.CreateOffsetsTopic when set, else in the local Manager. While
// Start's replay runs it answers, as Kafka's FindCoordinator names its
// broker as soon as it leads the partition: the group requests that
// follow answer ErrLoadInProgress until the replay is done.
func (c *Coordinator) EnsureOffsetsTopic() error {
	if err := c.ready(); err != nil && !errors.Is(err, ErrLoadInProgress) {
		return err
	}
	if c.cfg.CreateOffsetsTopic != nil {
		return c.createOffsetsTopic()
	}
	_, err := c.offsetsTopic()
	return err
}

// createOffsetsTopic creates __consumer_offsets with
// Config.CreateOffsetsTopic, until it succeeds once.
func (c *Coordinator) createOffsetsTopic() error {
	if c.topicCreated.Load() {
		return nil
	}
	c.topicMu.Lock()
	defer c.topicMu.Unlock()
	if c.topicCreated.Load() {
		return nil
	}
	c.mu.Lock()
	n := c.partitions
	c.mu.Unlock()
	if err := c.cfg.CreateOffsetsTopic(n); err != nil {
		// KIP-115: with fewer live brokers than its replication factor
		// the topic is not created, and FindCoordinator answers
		// COORDINATOR_NOT_AVAILABLE until there are enough.
		return fmt.Errorf("%w: create %s: %w", ErrCoordinatorNotAvailable, OffsetsTopic, err)
	}
	c.topicCreated.Store(true)
	return nil
}

// offsetsLog returns the local log of __consumer_offsets partition p. In
// a cluster, or when the topic is created elsewhere
// (Config.CreateOffsetsTopic), it is never created here: the partition's
// replica is.
func (c *Coordinator) offsetsLog(p int32) (*tlog.Log, error) {
	if c.cfg.Cluster || c.cfg.CreateOffsetsTopic != nil {
		l, ok := c.mgr.Partition(OffsetsTopic, p)
		if !ok {
			return nil, fmt.Errorf("%w: no local replica of %s-%d", ErrCoordinatorNotAvailable, OffsetsTopic, p)
		}
		return l, nil
	}
	t, err := c.offsetsTopic()
	if err != nil {
		return nil, err
	}
	l := t.PartitionLog(p)
	if l == nil {
		return nil, fmt.Errorf("%w: %s has no partition %d here", ErrCoordinatorNotAvailable, OffsetsTopic, p)
	}
	return l, nil
}

// offsetsTopic returns __consumer_offsets, creating it when missing.
func (c *Coordinator) offsetsTopic() (*tlog.Topic, error) {
	if t, ok := c.mgr.Topic(OffsetsTopic); ok {
		return t, nil
	}
	c.topicMu.Lock()
	defer c.topicMu.Unlock()
	if t, ok := c.mgr.Topic(OffsetsTopic); ok {
		return t, nil
	}
	c.mu.Lock()
	n := c.partitions
	c.mu.Unlock()
	t, err := c.mgr.CreateTopic(OffsetsTopic, n, map[string]string{
		tlog.ConfigCleanupPolicy: tlog.CleanupPolicyCompact,
		tlog.ConfigSegmentBytes:  fmt.Sprint(c.cfg.OffsetsTopicSegmentBytes),
	})
	if errors.Is(err, tlog.ErrTopicExists) {
		if t, ok := c.mgr.Topic(OffsetsTopic); ok {
			return t, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", ErrCoordinatorNotAvailable, OffsetsTopic, err)
	}
	c.logger.Info("consumergroup: created the offsets topic", "topic", OffsetsTopic, "partitions", n)
	return t, nil
}

// expireLoop drops offsets past offsets.retention.minutes every
// offsets.retention.check.interval.ms until Close.
func (c *Coordinator) expireLoop() {
	t := time.NewTicker(c.cfg.OffsetsRetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

// ExpireOffsets runs one pass of offset expiry now (the background loop
// runs it every offsets.retention.check.interval.ms).
func (c *Coordinator) ExpireOffsets() {
	now := c.cfg.now()
	for _, g := range c.allGroups() {
		_ = g.run(func() { g.expireOffsets(now) })
	}
}

// notePending records the expiry timer of a member id just handed out
// and drops the oldest id beyond MaxPendingMembers, in whichever group, by
// firing its timer now: timers are safe to reset from any goroutine, and
// the expiry runs on its group's loop and does nothing if the id was used
// or already expired.
func (c *Coordinator) notePending(timer *time.Timer) {
	c.mu.Lock()
	if c.pendingRing == nil {
		c.pendingRing = make([]*time.Timer, MaxPendingMembers)
	}
	old := c.pendingRing[c.pendingNext]
	c.pendingRing[c.pendingNext] = timer
	c.pendingNext = (c.pendingNext + 1) % len(c.pendingRing)
	c.mu.Unlock()
	if old != nil {
		old.Reset(0)
	}
}

// newMemberID is Kafka's member id: the client id (or instance id), cut
// to maxMemberIDPrefix bytes, and a random UUID.
func newMemberID(prefix string) string {
	if len(prefix) > maxMemberIDPrefix {
		prefix = strings.ToValidUTF8(prefix[:maxMemberIDPrefix], "")
	}
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
