// The controller: leadership and ISR decisions for the whole cluster.
//
// Every decision is a pure function of a Snapshot (placement.go,
// election.go) and every write is a compare-and-swap of partition states
// through the Store, so any broker may make one and none can overwrite a
// change it has not seen: a write against a stale version fails with
// ErrConflict, and the writer re-reads the snapshot and decides again. Two
// kinds of writer exist:
//
//   - the active controller (one broker at a time, elected through the
//     store by the caller, which starts Controller.Run while it holds the
//     office and cancels it when it loses it) reacts to brokers leaving and
//     joining: Run reconciles every partition once when it starts, then on
//     each change of the store compares the live brokers with the previous
//     snapshot's and applies BrokersFenced and BrokerRegistered, plus
//     Reconcile on partitions written since (a write that raced with a
//     fencing, made against an older view of the brokers);
//   - any broker, for requests it serves: CreateTopic, AddPartitions,
//     ElectPreferredLeaders, ControlledShutdown of itself, and AlterISR for
//     the partitions it leads.
//
// Epochs: PartitionEpoch grows by one on every change of a partition's
// state, LeaderEpoch on every change of its leader (going offline too), so
// a leader that was replaced, or paused past its lease, is fenced by the
// epoch it still holds.
//
// Every committed leadership or ISR change is logged through slog at Info
// with the topic, partition, old and new leader, epochs and ISR, and why.
//
// (These notes are not the package comment, which is doc.go's.)

package cluster

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// MaxUpdatesPerTxn is how many partition updates the controller puts in
// one Store.UpdatePartitions: etcd refuses a transaction of more than
// --max-txn-ops operations (128 by default), and each update is a compare
// and a put.
const MaxUpdatesPerTxn = 64

// txnsInFlight is how many of those transactions the controller has in
// flight at once. One at a time, the 3,333 elections after one of three
// brokers of 10,000 partitions was fenced took 53 transactions and 7.5 s
// (BenchmarkFailover), the last partitions waiting for all the others;
// eight at a time, 15 s on a machine whose disk made each commit take
// 0.5 s: etcd commits the transactions in flight together (one raft
// entry batch, one WAL fsync), so more in flight is fewer commits.
const txnsInFlight = 32

// unsettledCommitter is a store whose partition writes can return as
// soon as they are committed, before its Snapshot shows them (the etcd
// store: its UpdatePartitions waits for its watch). The controller
// writes a decision's transactions that way and waits once, for the
// last, so that each in-flight slot is not held for the watch's delay
// as well.
type unsettledCommitter interface {
	// commitUnsettled is UpdatePartitions without the wait; it returns
	// the write's store revision.
	commitUnsettled(ctx context.Context, updates []PartitionUpdate) (int64, error)
	// WaitRevision waits until the Snapshot shows revision rev.
	WaitRevision(ctx context.Context, rev int64) (*Snapshot, error)
}

// retryBackoffMin and retryBackoffMax bound the wait after a store error that is not a conflict
// (the store unreachable, say) before the controller tries again.
const (
	retryBackoffMin = 50 * time.Millisecond
	retryBackoffMax = 2 * time.Second
)

// PartitionAdder is the store operation AddPartitions needs and Store does
// not have: new partitions' states and the topic's larger partition count,
// seen all at once (one transaction, or staged: doc.go, Writes). The etcd
// store implements it.
type PartitionAdder interface {
	// AddPartitions stores parts as partitions of topic numbered from its
	// current Topic.Partitions on, and raises Topic.Partitions to
	// include them: ErrUnknownTopic if topic is absent, ErrConflict if
	// its partition count is no longer parts[0].Partition.
	AddPartitions(ctx context.Context, topic string, parts []PartitionState) error
}

// OrphanCollector is the store operation that deletes partition keys no
// topic shows and no staged write claims (Snapshot.OrphanPartitions),
// left by a staged creation or growth that did not finish. The etcd
// store implements it; the active controller calls it.
type OrphanCollector interface {
	CollectOrphans(ctx context.Context) (int, error)
}

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	NodeID int32 // this broker
	Store  Store
	Policy Policy
	Logger *slog.Logger // nil: slog.Default()
	// Seed seeds placement's random start; 0 draws one. Tests set it to
	// get the same placement every run.
	Seed uint64
	// Elections, when set, counts the leaders this Controller's writes
	// elected; the Controllers of one broker share one.
	Elections *ElectionStats
}

// ElectionStats counts committed leader elections, clean (the new leader
// was in the ISR) and unclean (it was not: Kafka's
// UncleanLeaderElectionsPerSec), for MetricLeaderElections. Safe for
// concurrent use; the zero value is ready.
type ElectionStats struct {
	clean, unclean atomic.Int64
}

// Counts returns the elections counted so far.
func (e *ElectionStats) Counts() (clean, unclean int64) {
	return e.clean.Load(), e.unclean.Load()
}

// Controller decides leadership and ISR changes and writes them to the
// store. Its methods are safe for concurrent use; Run runs only on the
// active controller.
type Controller struct {
	node   int32
	store  Store
	policy Policy
	log    *slog.Logger
	stats  *ElectionStats // nil: not counted

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	// byBroker indexes the partitions of the Snapshot onChange last
	// decided from; owned by Run's goroutine.
	byBroker partitionsByBroker
}

// NewController returns a Controller of cfg.NodeID over cfg.Store.
func NewController(cfg ControllerConfig) *Controller {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Controller{
		node:   cfg.NodeID,
		store:  cfg.Store,
		policy: cfg.Policy,
		stats:  cfg.Elections,
		log:    log.With("component", "controller", "node", cfg.NodeID),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Run acts as the active controller until ctx ends, then returns nil. It
// first reconciles every partition (a new controller finishes what its
// predecessor left half done), then follows the store's changes.
func (c *Controller) Run(ctx context.Context) error {
	changed := c.store.Changed()
	s := c.store.Snapshot()
	c.log.Info("controller active", "revision", s.Revision)
	defer c.log.Info("controller inactive")
	s = c.commit(ctx, s, Reconcile(s, c.policy), "controller start")
	c.collectOrphans(ctx, s)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		changed = c.store.Changed()
		next := c.store.Snapshot()
		if next.Revision == s.Revision {
			continue
		}
		s = c.commit(ctx, next, c.onChange(s, next), "metadata change")
		c.collectOrphans(ctx, s)
	}
}

// collectOrphans deletes orphan partition keys when s counts some. A
// collection that fails, or finds them claimed again, is retried on the
// next change of the store.
func (c *Controller) collectOrphans(ctx context.Context, s *Snapshot) {
	oc, ok := c.store.(OrphanCollector)
	if !ok || s.OrphanPartitions == 0 {
		return
	}
	n, err := oc.CollectOrphans(ctx)
	if err != nil {
		c.log.Warn("controller: collecting orphan partition keys failed", "orphans", s.OrphanPartitions, "err", err)
		return
	}
	if n > 0 {
		c.log.Info("orphan partition keys deleted", "count", n)
	}
}

// onChange decides what cur needs after prev: the partitions of brokers
// that left or joined, and any written since prev (a leader's ISR change
// may have raced with a fencing it had not seen yet). A broker that
// re-registered (a new broker epoch) in between is handled as Kafka
// handles a new incarnation: its old one is fenced first, leaving every
// ISR (its log may have lost an unflushed tail), then it joins again.
func (c *Controller) onChange(prev, cur *Snapshot) []PartitionUpdate {
	var gone, joined, restarted []int32
	for n := range prev.Brokers {
		if !cur.Live(n) {
			gone = append(gone, n)
		}
	}
	for n, b := range cur.Brokers {
		old, ok := prev.Brokers[n]
		if !ok || old.Epoch != b.Epoch {
			joined = append(joined, n)
		}
		if ok && old.IncarnationEpoch() != b.IncarnationEpoch() {
			// A new process: not a lease renewed by the same one,
			// whose log is whole.
			restarted = append(restarted, n)
		}
	}
	slices.Sort(gone)
	slices.Sort(joined)
	for _, n := range gone {
		c.log.Info("broker fenced", "broker", n)
	}
	for _, n := range joined {
		c.log.Info("broker registered", "broker", n, "broker_epoch", cur.Brokers[n].Epoch)
	}
	touched := map[int32]bool{}
	for _, n := range slices.Concat(gone, joined) {
		touched[n] = true
	}
	fence := elector{s: cur, policy: c.policy, gone: map[int32]bool{}}
	for _, n := range restarted {
		fence.gone[n] = true
	}
	join := elector{s: cur, policy: c.policy}
	return c.byBroker.decideSince(prev, cur, touched, func(p PartitionState) bool {
		return p.Version > prev.Revision || touched[p.Leader] ||
			slices.ContainsFunc(p.ISR, func(n int32) bool { return touched[n] }) ||
			(p.Leader == NoLeader && slices.ContainsFunc(p.Replicas, func(n int32) bool { return touched[n] }))
	}, func(p PartitionState) (PartitionState, bool) {
		fenced, ok1 := fence.reconcile(p)
		next, ok2 := join.reconcile(fenced)
		return next, ok1 || ok2
	})
}

// commit writes updates decided against s, in transactions of at most
// MaxUpdatesPerTxn. On a conflict it waits for a newer snapshot and
// reconciles all of it again; on another error it backs off and does the
// same. It returns the snapshot it last decided from, or early when ctx
// ends.
func (c *Controller) commit(ctx context.Context, s *Snapshot, updates []PartitionUpdate, why string) *Snapshot {
	backoff := retryBackoffMin
	for {
		changed := c.store.Changed()
		err := c.apply(ctx, updates, why)
		if err == nil || ctx.Err() != nil {
			return s
		}
		if errors.Is(err, ErrConflict) {
			if c.waitNewer(ctx, s, changed) != nil {
				return s
			}
		} else {
			c.log.Warn("controller write failed, retrying", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return s
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, retryBackoffMax)
		}
		s = c.store.Snapshot()
		updates = Reconcile(s, c.policy)
		why = "controller retry"
	}
}

// apply writes updates in chunks, up to txnsInFlight at once (they
// touch different partitions), logging each chunk once it is stored, and
// returns the first error. The changes of leader are all committed before
// any ISR-only change is sent (electionsFirst): a failover's elections,
// which clients wait for, share no commit and no in-flight slot with the
// shrinks of partitions that kept their leader (at 10,000 partitions the
// last election showed at p50 481 ms against 689 ms with the shrinks sent
// as slots freed, BenchmarkControllerFailoverWrites). A lost compare-and-swap
// in one chunk says nothing of the others (each compares its own
// partitions), so it stops no other chunk, in flight or not started yet:
// a write already sent commits whether or not its writer still waits for
// the answer (one cancelled would commit unlogged and uncounted), and the
// rest of a large failover need not wait for the retry. After any other
// error (the store unreachable, the term fenced) the chunks not yet
// started are not written. It returns once the store's snapshot shows
// every chunk written (or ctx ends), as UpdatePartitions does, so the
// controller decides next from a snapshot that holds its own writes.
func (c *Controller) apply(ctx context.Context, updates []PartitionUpdate, why string) error {
	updates = electionsFirst(updates)
	moves := 0
	for moves < len(updates) && updates[moves].New.Leader != updates[moves].Old.Leader {
		moves++
	}
	w := &chunkWriter{c: c, why: why, sum: &updateSummary{start: time.Now()}, per: partitionTxnSize}
	w.uc, w.unsettled = c.store.(unsettledCommitter)
	err := w.write(ctx, updates[:moves])
	if err == nil || !w.failed.Load() {
		// Only lost compares: the shrinks compare their own partitions.
		if err2 := w.write(ctx, updates[moves:]); err == nil {
			err = err2
		}
	}
	c.logSummary(w.sum, why)
	if w.last > 0 {
		_, _ = w.uc.WaitRevision(ctx, w.last)
	}
	return err
}

// chunkWriter is one apply's state across its two rounds of chunks.
type chunkWriter struct {
	c         *Controller
	why       string
	sum       *updateSummary
	per       int // updates per transaction
	uc        unsettledCommitter
	unsettled bool
	mu        sync.Mutex
	last      int64       // guarded by mu: the highest revision written
	failed    atomic.Bool // a chunk failed otherwise than by a lost compare
}

// write commits updates in chunks of w.per, txnsInFlight at once, and
// returns when every chunk started has answered, with the first error.
func (w *chunkWriter) write(ctx context.Context, updates []PartitionUpdate) error {
	var g errgroup.Group // no context of its own: an error cancels no chunk
	g.SetLimit(txnsInFlight)
	fail := func(err error) error {
		if !errors.Is(err, ErrConflict) {
			w.failed.Store(true)
		}
		return fmt.Errorf("cluster: %s: %w", w.why, err)
	}
	for chunk := range slices.Chunk(updates, w.per) {
		if ctx.Err() != nil || w.failed.Load() {
			break
		}
		g.Go(func() error {
			if !w.unsettled {
				if err := w.c.store.UpdatePartitions(ctx, chunk); err != nil {
					return fail(err)
				}
				w.c.logUpdates(chunk, w.why, w.sum)
				return nil
			}
			rev, err := w.uc.commitUnsettled(ctx, chunk)
			if err != nil {
				return fail(err)
			}
			w.mu.Lock()
			w.last = max(w.last, rev)
			w.mu.Unlock()
			w.c.logUpdates(chunk, w.why, w.sum)
			return nil
		})
	}
	return g.Wait()
}

// partitionTxnSize is how many updates apply puts in one transaction:
// MaxUpdatesPerTxn, which any etcd takes. A variable only for
// BenchmarkControllerFailoverWrites, which tried larger ones over the
// embedded quorum (whose --max-txn-ops is EmbedMaxTxnOps): 1024 a
// transaction made a failover's 10,000 writes slower, not faster (p50
// 924 ms against 674 ms for 64, taking turns on a shared 2-core
// machine): etcd applies one transaction at a time, while many small
// ones in flight share raft entries and fsyncs.
var partitionTxnSize = MaxUpdatesPerTxn

// electionsFirst returns updates with the changes of leader first, the
// rest (ISR changes) after, each in their order. A fenced broker of
// 10,000 partitions, in every ISR, needs 3,333 elections and 6,667 ISR
// shrinks written in transactions of MaxUpdatesPerTxn; clients wait only
// for the elections, which then do not wait behind the shrinks.
func electionsFirst(updates []PartitionUpdate) []PartitionUpdate {
	out := make([]PartitionUpdate, 0, len(updates))
	for _, moves := range []bool{true, false} {
		for _, u := range updates {
			if (u.New.Leader != u.Old.Leader) == moves {
				out = append(out, u)
			}
		}
	}
	return out
}

// logUpdates logs each committed change of leader or ISR at Debug, adds
// it to sum (whose one Info line logSummary writes for the batch: a
// failover at ten thousand partitions made ten thousand Info lines), and
// counts the elections. An unclean election is logged at Warn on its own
// with what it loses: an operator must be able to find every one.
func (c *Controller) logUpdates(updates []PartitionUpdate, why string, sum *updateSummary) {
	debug := c.log.Enabled(context.Background(), slog.LevelDebug)
	for _, u := range updates {
		msg := "partition ISR changed"
		if u.Old.Leader != u.New.Leader {
			msg = "partition leader changed"
			if u.New.Leader == NoLeader {
				msg = "partition offline"
			}
		}
		if !debug && !u.Unclean() {
			// Not logged: no arguments to build (ten thousand of
			// them in a failover, on the controller's way to its
			// next transactions).
			if msg == "partition ISR changed" && (!slices.Equal(u.Old.Replicas, u.New.Replicas) || !sameReassignment(u.Old, u.New)) {
				msg = "partition replicas changed"
			}
			c.count(msg, u, sum)
			continue
		}
		args := []any{
			"reason", why,
			"topic", u.New.Topic,
			"partition", u.New.Partition,
			"old_leader", u.Old.Leader,
			"leader", u.New.Leader,
			"leader_epoch", u.New.LeaderEpoch,
			"partition_epoch", u.New.PartitionEpoch,
			"old_isr", u.Old.ISR,
			"isr", u.New.ISR,
		}
		if !slices.Equal(u.Old.Replicas, u.New.Replicas) || !sameReassignment(u.Old, u.New) {
			if msg == "partition ISR changed" {
				msg = "partition replicas changed"
			}
			args = append(args, "old_replicas", u.Old.Replicas, "replicas", u.New.Replicas,
				"adding", u.New.AddingReplicas, "removing", u.New.RemovingReplicas)
		}
		if u.Unclean() {
			c.log.Warn("UNCLEAN leader election: the new leader was not in sync; records only the old ISR held are lost", args...)
		} else {
			c.log.Debug(msg, args...)
		}
		c.count(msg, u, sum)
	}
}

// count adds u, logged as msg, to sum and to the election counts.
func (c *Controller) count(msg string, u PartitionUpdate, sum *updateSummary) {
	sum.add(msg, u)
	if c.stats != nil && u.Elects() {
		if u.Unclean() {
			c.stats.unclean.Add(1)
		} else {
			c.stats.clean.Add(1)
		}
	}
}

// summaryExamples is how many changes a batch's Info line shows.
const summaryExamples = 3

// updateSummary is what one batch of committed updates changed, for its
// one Info line.
type updateSummary struct {
	start time.Time
	mu    sync.Mutex // guards the fields below
	// leaders, offline, isr, replicas count the changes by kind, as the
	// Debug lines name them; unclean counts the unclean elections (also
	// in leaders).
	leaders, offline, isr, replicas, unclean int
	examples                                 []string
}

func (sum *updateSummary) add(msg string, u PartitionUpdate) {
	sum.mu.Lock()
	defer sum.mu.Unlock()
	switch msg {
	case "partition leader changed":
		sum.leaders++
	case "partition offline":
		sum.offline++
	case "partition replicas changed":
		sum.replicas++
	default:
		sum.isr++
	}
	if u.Unclean() {
		sum.unclean++
	}
	if len(sum.examples) < summaryExamples {
		sum.examples = append(sum.examples, fmt.Sprintf("%s-%d leader %d->%d epoch %d isr %v->%v",
			u.New.Topic, u.New.Partition, u.Old.Leader, u.New.Leader, u.New.LeaderEpoch, u.Old.ISR, u.New.ISR))
	}
}

// logSummary writes sum's Info line, if anything changed.
func (c *Controller) logSummary(sum *updateSummary, why string) {
	sum.mu.Lock()
	defer sum.mu.Unlock()
	total := sum.leaders + sum.offline + sum.isr + sum.replicas
	if total == 0 {
		return
	}
	c.log.Info("partitions changed", "reason", why, "partitions", total, "leaders_elected", sum.leaders,
		"offline", sum.offline, "isr_changed", sum.isr, "replicas_changed", sum.replicas, "unclean", sum.unclean,
		"examples", sum.examples, "took", time.Since(sum.start).Round(time.Microsecond))
}

// retry runs decide against the latest snapshot and writes what it
// returns, deciding again from a newer snapshot after each conflict (a
// lost write, or decide's own ErrConflict: the request is ahead of the
// snapshot), until the write succeeds or decide fails otherwise or ctx
// ends.
func (c *Controller) retry(ctx context.Context, why string, decide func(s *Snapshot) ([]PartitionUpdate, error)) error {
	for {
		changed := c.store.Changed()
		s := c.store.Snapshot()
		updates, err := decide(s)
		if err == nil {
			err = c.apply(ctx, updates, why)
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if err := c.waitNewer(ctx, s, changed); err != nil {
			return fmt.Errorf("cluster: %s: %w", why, err)
		}
	}
}

// waitNewer returns once the store's snapshot is newer than s (changed was
// taken before s was read), or ctx's error: after a conflict, deciding
// again from the same snapshot would only conflict again.
func (c *Controller) waitNewer(ctx context.Context, s *Snapshot, changed <-chan struct{}) error {
	if c.store.Snapshot().Revision != s.Revision {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
		return nil
	}
}

// CreateTopic places a new topic's replicas over the live brokers and
// stores it with each partition led by its first replica, every replica in
// sync, epochs 0. A replication factor above the live broker count is
// ErrNotEnoughBrokers; a taken name ErrTopicExists.
func (c *Controller) CreateTopic(ctx context.Context, name string, partitions int32, rf int, configs map[string]string) (Topic, error) {
	s := c.store.Snapshot()
	if _, ok := s.Topics[name]; ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	c.mu.Lock()
	assignment, err := PlaceReplicas(liveBrokers(s), partitions, rf, c.rng)
	c.mu.Unlock()
	if err != nil {
		return Topic{}, fmt.Errorf("cluster: create topic %s: %w", name, err)
	}
	return c.createTopic(ctx, name, assignment, configs)
}

// CreateTopicAssigned stores a new topic whose replicas are assignment
// (one list per partition, numbered from 0, the preferred leader first),
// as Kafka's CreateTopics with a manual assignment: CheckAssignment
// against the live brokers (ErrInvalidReplicaAssignment), then each
// partition led by its first replica, every replica in sync, epochs 0. A
// taken name is ErrTopicExists.
func (c *Controller) CreateTopicAssigned(ctx context.Context, name string, assignment [][]int32, configs map[string]string) (Topic, error) {
	s := c.store.Snapshot()
	if _, ok := s.Topics[name]; ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	if len(assignment) == 0 {
		return Topic{}, fmt.Errorf("cluster: create topic %s: %w: no partitions", name, ErrInvalidReplicaAssignment)
	}
	if err := CheckAssignment(assignment, 0, 0, s.Live); err != nil {
		return Topic{}, fmt.Errorf("cluster: create topic %s: %w", name, err)
	}
	return c.createTopic(ctx, name, cloneAssignment(assignment), configs)
}

// createTopic stores topic name with the replicas of assignment.
func (c *Controller) createTopic(ctx context.Context, name string, assignment [][]int32, configs map[string]string) (Topic, error) {
	t := Topic{Name: name, Partitions: int32(len(assignment)), Configs: maps.Clone(configs)}
	if _, err := crand.Read(t.ID[:]); err != nil {
		return Topic{}, fmt.Errorf("cluster: create topic %s: topic ID: %w", name, err)
	}
	parts := initialStates(name, 0, assignment)
	if err := c.store.CreateTopic(ctx, t, parts); err != nil {
		return Topic{}, fmt.Errorf("cluster: create topic %s: %w", name, err)
	}
	for _, p := range parts {
		c.log.Info("partition created", "topic", name, "partition", p.Partition,
			"replicas", p.Replicas, "leader", p.Leader, "leader_epoch", p.LeaderEpoch, "isr", p.ISR)
	}
	return t, nil
}

// cloneAssignment copies a caller's assignment, so the stored states
// share nothing with it.
func cloneAssignment(a [][]int32) [][]int32 {
	out := make([][]int32, len(a))
	for i, r := range a {
		out[i] = slices.Clone(r)
	}
	return out
}

// AddPartitions grows topic to total partitions, placing the new ones as
// Kafka does (PlaceAddedPartitions). The store must implement
// PartitionAdder. total not above the current count is
// ErrInvalidPartitions.
func (c *Controller) AddPartitions(ctx context.Context, topic string, total int32) error {
	return c.AddPartitionsAssigned(ctx, topic, total, nil)
}

// AddPartitionsAssigned is AddPartitions with the new partitions' replicas
// given (one list per new partition, in partition order, the preferred
// leader first) when assignment is not nil, as Kafka's CreatePartitions
// with a manual assignment: one list per added partition, each passing
// CheckAssignment with the replication factor of the topic's lowest
// partition, else ErrInvalidReplicaAssignment.
func (c *Controller) AddPartitionsAssigned(ctx context.Context, topic string, total int32, assignment [][]int32) error {
	adder, ok := c.store.(PartitionAdder)
	if !ok {
		return fmt.Errorf("cluster: add partitions to %s: the metadata store cannot add partitions", topic)
	}
	for {
		changed := c.store.Changed()
		s := c.store.Snapshot()
		t, ok := s.Topics[topic]
		if !ok {
			return fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
		}
		if total <= t.Partitions {
			return fmt.Errorf("%w: %s has %d partitions, asked for %d", ErrInvalidPartitions, topic, t.Partitions, total)
		}
		var existing []PartitionState
		for i := range t.Partitions {
			if p, ok := s.Partition(topic, i); ok {
				existing = append(existing, p)
			}
		}
		placed, err := c.placeAdded(s, existing, t.Partitions, total, assignment)
		if err != nil {
			return fmt.Errorf("cluster: add partitions to %s: %w", topic, err)
		}
		parts := initialStates(topic, t.Partitions, placed)
		err = adder.AddPartitions(ctx, topic, parts)
		if err == nil {
			for _, p := range parts {
				c.log.Info("partition created", "topic", topic, "partition", p.Partition,
					"replicas", p.Replicas, "leader", p.Leader, "leader_epoch", p.LeaderEpoch, "isr", p.ISR)
			}
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("cluster: add partitions to %s: %w", topic, err)
		}
		if err := c.waitNewer(ctx, s, changed); err != nil {
			return fmt.Errorf("cluster: add partitions to %s: %w", topic, err)
		}
	}
}

// placeAdded is the replicas of partitions cur..total-1 of a topic whose
// partitions are existing: assignment checked, or placed when nil.
func (c *Controller) placeAdded(s *Snapshot, existing []PartitionState, cur, total int32, assignment [][]int32) ([][]int32, error) {
	if assignment == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return PlaceAddedPartitions(liveBrokers(s), existing, total-cur)
	}
	if int32(len(assignment)) != total-cur {
		return nil, fmt.Errorf("%w: %d partition(s) to add, %d assignment(s) given", ErrInvalidReplicaAssignment, total-cur, len(assignment))
	}
	if len(existing) == 0 {
		return nil, fmt.Errorf("%w: the topic has no partitions to add to", ErrInvalidPartitions)
	}
	first := slices.MinFunc(existing, func(a, b PartitionState) int { return cmp.Compare(a.Partition, b.Partition) })
	if err := CheckAssignment(assignment, cur, len(first.Replicas), s.Live); err != nil {
		return nil, err
	}
	return cloneAssignment(assignment), nil
}

// ElectPreferredLeaders moves the leadership of partitions (all when nil)
// to their preferred replicas where those are live and in sync. The map
// holds, per named partition that was not moved, why:
// ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable or
// ErrUnknownPartition. The error is the store's.
func (c *Controller) ElectPreferredLeaders(ctx context.Context, partitions []TopicPartition) (map[TopicPartition]error, error) {
	var errs map[TopicPartition]error
	err := c.retry(ctx, "preferred leader election", func(s *Snapshot) ([]PartitionUpdate, error) {
		var updates []PartitionUpdate
		updates, errs = ElectPreferred(s, partitions)
		return updates, nil
	})
	return errs, err
}

// ElectUncleanLeaders runs an unclean leader election (ElectUnclean) of
// partitions (all when nil): each partition without a live leader takes
// one from its ISR, or else its first live replica alone, as a
// compare-and-swap of its state at a new leader epoch, so a leader it
// replaced is fenced as by any other election. The map holds, per named
// partition not moved, why: ErrElectionNotNeeded,
// ErrEligibleLeadersNotAvailable or ErrUnknownPartition. The error is the
// store's.
func (c *Controller) ElectUncleanLeaders(ctx context.Context, partitions []TopicPartition) (map[TopicPartition]error, error) {
	var errs map[TopicPartition]error
	err := c.retry(ctx, "unclean leader election", func(s *Snapshot) ([]PartitionUpdate, error) {
		var updates []PartitionUpdate
		updates, errs = ElectUnclean(s, partitions)
		return updates, nil
	})
	return errs, err
}

// ControlledShutdown moves leadership away from node before it stops, and
// node out of every ISR that keeps another live member (see the function
// ControlledShutdown). It returns how many partitions node still leads
// because no other ISR member is live: they go offline when it stops.
func (c *Controller) ControlledShutdown(ctx context.Context, node int32) (remaining int, err error) {
	err = c.retry(ctx, fmt.Sprintf("controlled shutdown of %d", node), func(s *Snapshot) ([]PartitionUpdate, error) {
		updates := ControlledShutdown(s, node)
		remaining = 0
		moved := map[TopicPartition]bool{}
		for _, u := range updates {
			moved[u.New.TP()] = u.New.Leader != node
		}
		for tp, p := range s.Partitions.All() {
			if p.Leader == node && !moved[tp] {
				remaining++
			}
		}
		return updates, nil
	})
	return remaining, err
}

// AlterISR validates a leader's ISR change (the function AlterISR) and
// writes it, returning the partition's new state (the current one when it
// needed no change). A write that loses a race is decided again against
// the newer state, where the leader's stale epochs get ErrFenced or
// ErrInvalidUpdateVersion; a request ahead of this broker's snapshot waits
// for the snapshot to catch up, so ctx should carry a deadline.
func (c *Controller) AlterISR(ctx context.Context, req ISRChange) (PartitionState, error) {
	var state PartitionState
	err := c.retry(ctx, "ISR change", func(s *Snapshot) ([]PartitionUpdate, error) {
		u, changed, err := AlterISR(s, req)
		if err != nil {
			return nil, err
		}
		state = u.New
		if !changed {
			return nil, nil
		}
		return []PartitionUpdate{u}, nil
	})
	if err != nil {
		return PartitionState{}, err
	}
	return state, nil
}

// AlterISRs is AlterISR of many partitions at once, as Kafka's
// AlterPartition carries many: the changes go to the store in
// transactions of up to MaxUpdatesPerTxn partitions (txnsInFlight at
// once) instead of one each, so a broker that rejoins the ISRs of
// thousands of partitions costs etcd tens of commits, not thousands. It
// returns one error per request, in order: nil once the change is
// committed (or needed none), else AlterISR's error for it. A transaction
// that loses a race on any of its partitions is decided again, its
// partitions against a newer snapshot, as AlterISR's one is; a request
// ahead of the snapshot waits for it, so ctx should carry a deadline.
func (c *Controller) AlterISRs(ctx context.Context, reqs []ISRChange) []error {
	errs := make([]error, len(reqs))
	sum := &updateSummary{start: time.Now()}
	defer c.logSummary(sum, "ISR change")
	todo := make([]int, len(reqs)) // indexes of reqs not decided for good
	for i := range todo {
		todo[i] = i
	}
	for len(todo) > 0 {
		changed := c.store.Changed()
		s := c.store.Snapshot()
		var updates []PartitionUpdate
		var of []int // the request of each update
		again := todo[:0:0]
		for _, i := range todo {
			u, ch, err := AlterISR(s, reqs[i])
			switch {
			case errors.Is(err, ErrConflict):
				again = append(again, i)
			case err != nil:
				errs[i] = err
			case ch:
				updates = append(updates, u)
				of = append(of, i)
			}
		}
		var mu sync.Mutex // guards errs and again
		var g errgroup.Group
		g.SetLimit(txnsInFlight)
		for start := 0; start < len(updates); start += MaxUpdatesPerTxn {
			end := min(start+MaxUpdatesPerTxn, len(updates))
			g.Go(func() error {
				err := c.store.UpdatePartitions(ctx, updates[start:end])
				if err == nil {
					c.logUpdates(updates[start:end], "ISR change", sum)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, i := range of[start:end] {
					switch {
					case errors.Is(err, ErrConflict):
						again = append(again, i)
					case err != nil:
						errs[i] = fmt.Errorf("cluster: ISR change: %w", err)
					}
				}
				return nil
			})
		}
		_ = g.Wait()
		if len(again) == 0 {
			break
		}
		if err := c.waitNewer(ctx, s, changed); err != nil {
			for _, i := range again {
				errs[i] = fmt.Errorf("cluster: ISR change: %w", err)
			}
			break
		}
		slices.Sort(again)
		todo = again
	}
	return errs
}

// liveBrokers is s's live brokers, in node ID order.
func liveBrokers(s *Snapshot) []Broker {
	ids := slices.Sorted(maps.Keys(s.Brokers))
	out := make([]Broker, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.Brokers[id])
	}
	return out
}

// initialStates is the first state of new partitions numbered from first:
// every replica in sync, the first leading, epochs 0.
func initialStates(topic string, first int32, assignment [][]int32) []PartitionState {
	parts := make([]PartitionState, len(assignment))
	for i, replicas := range assignment {
		parts[i] = PartitionState{
			Topic:     topic,
			Partition: first + int32(i),
			Replicas:  replicas,
			ISR:       slices.Clone(replicas),
			Leader:    replicas[0],
		}
	}
	return parts
}
