package server

// The reconciler makes this broker's logs and replication follow the
// cluster metadata. On every new snapshot (store.Changed) it:
//
//   - knows every topic the metadata holds locally, with the metadata's
//     topic ID, configs and partition count, and creates a local log only
//     for the partitions this broker is a replica of
//     (log.Manager.CreateTopicHosting, HostPartitions, see
//     cluster_hosted.go), as the topic grows or replicas are assigned
//     here; applies config changes, and replaces a local topic whose ID
//     differs (the name was deleted and created again while this broker
//     was away);
//   - deletes the local log of a partition no longer assigned here, once
//     its replication has stopped and the snapshots have said so for
//     replicaRemoveGrace (cluster_hosted.go);
//   - deletes the local log of a topic the metadata no longer holds;
//   - for each partition this broker is a replica of, whose state moved
//     since it was last applied: leads it (replica.Manager.BecomeLeader,
//     min.insync.replicas from the topic's config or the broker's) or
//     follows its leader over the inter-broker listener
//     (BecomeFollower, one replica.Conn per leader broker, kept); a
//     leadership written before this broker registered is its previous
//     incarnation's and is not taken up (cluster.PartitionState.
//     WrittenBefore): the controller writes the partition again;
//   - stops the partitions no longer assigned here.
//
// The role changes of one snapshot are made by up to roleChangeWorkers
// at once (replica.Manager takes those of different partitions
// concurrently), follower changes that name a new leader or epoch first;
// the applied states, and the groups' partitions, are recorded once they
// have all returned. Takeovers — this broker to lead a partition under a
// new leader epoch, whose BecomeLeader writes the leader-epoch checkpoint
// (fsyncs) — do not hold the pass: they run on up to roleChangeWorkers
// takeover workers while later snapshots are applied, and are recorded by
// the first pass after they end (cluster_takeover.go). A
// partition whose takeover runs is left alone by every pass until it has
// ended, so one partition's role changes never overtake each other.
//
// A pass visits only the partitions the snapshots' change lists
// (cluster.ChangedSince) name since the snapshot of the pass before, as
// long as the topics, the brokers and every changed partition's
// assignment are the same and nothing failed; else, and at least every
// fullPassEvery, it visits every topic and partition (changedSince).
//
// Applying is idempotent: a partition whose state (its store version) is
// the one last applied is left alone, and a failed step is retried on
// the next change or after reconcileRetry, by a full pass. It runs on its own goroutine,
// never on the store's watch. min.insync.replicas is kept out of the
// local log's configs: package log still checks it against one replica,
// and the replica.Manager enforces it.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/cluster"
	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// reconcileRetry is how soon a reconciliation that could not finish is
// tried again without a new snapshot.
const reconcileRetry = 500 * time.Millisecond

// applied is the state of a partition the reconciler last applied.
type applied struct {
	version int64 // store version
	epoch   int32 // leader epoch
	leader  bool  // this broker leads it
}

type reconciler struct {
	n    *brokerNode
	log  *slog.Logger
	kick chan struct{} // cap 1

	mu         sync.Mutex                         // guards applied, requesters, unassigned and takeovers
	applied    map[cluster.TopicPartition]applied // partition → the state applied
	requesters map[int32]*replica.Conn
	// unassigned: hosted partitions the snapshots no longer assign here,
	// since when (see removeUnassigned).
	unassigned map[cluster.TopicPartition]time.Time
	// takeovers: the partitions whose takeover (cluster_takeover.go) has
	// started and not been recorded yet.
	takeovers map[cluster.TopicPartition]*takeover
	// takeoverSlots bounds the takeovers running at once (cap
	// roleChangeWorkers); takeoverWG counts the batches started, which
	// run waits for before it returns.
	takeoverSlots chan struct{}
	takeoverWG    sync.WaitGroup
	// lead, when set (by tests, under mu), makes a takeover instead of
	// replica.Manager.BecomeLeader.
	lead func(roleChange) error
	// prev is the snapshot of the last pass (nil: none since a fencing);
	// lastFull when the last pass over every partition started;
	// needFull, that the next pass must be one (something failed);
	// revisit, the partitions the last pass left to their takeovers.
	prev     *cluster.Snapshot
	lastFull time.Time
	needFull bool
	revisit  []cluster.TopicPartition

	// caughtUp is the revision of the last snapshot applied whole while
	// registered: readiness (readiness.go) compares it with the broker
	// epoch.
	caughtUp atomic.Int64
	// passes and fullPasses count the passes made while registered, and
	// those of them that visited every partition (changedSince).
	passes, fullPasses atomic.Int64

	// doneMu guards done: closed, and replaced, each time apply returns,
	// for fetches held until a partition this broker is to lead is
	// open (reconciled, awaitLeading).
	doneMu sync.Mutex
	done   chan struct{}
}

func newReconciler(n *brokerNode) *reconciler {
	return &reconciler{
		n:          n,
		log:        n.log.With("component", "reconciler"),
		kick:       make(chan struct{}, 1),
		applied:    make(map[cluster.TopicPartition]applied),
		requesters: make(map[int32]*replica.Conn),
		unassigned: make(map[cluster.TopicPartition]time.Time),
		takeovers:  make(map[cluster.TopicPartition]*takeover),
		done:       make(chan struct{}),

		takeoverSlots: make(chan struct{}, roleChangeWorkers),
	}
}

// reconciled returns a channel closed once an apply (the one running, or
// the next) returns.
func (r *reconciler) reconciled() <-chan struct{} {
	r.doneMu.Lock()
	defer r.doneMu.Unlock()
	return r.done
}

// applyDone wakes the waiters of reconciled.
func (r *reconciler) applyDone() {
	r.doneMu.Lock()
	close(r.done)
	r.done = make(chan struct{})
	r.doneMu.Unlock()
}

// leadingSoon reports whether the latest metadata names this registered
// broker leader of the partition (of the topic named, or with id when
// byID) while it has no replica.Leader of it yet: the reconciler is about
// to open it (clusterHooks.leadingSoon). For a follower's fetch
// (replica), a topic or partition the latest metadata does not have yet
// counts as well: the follower opened its replica from a newer metadata
// than this broker's watch has delivered, and this broker is then about
// to learn that it leads it (or that it does not, which ends the hold).
func (n *brokerNode) leadingSoon(topic string, id [16]byte, byID bool, partition int32, replica bool) (string, bool) {
	if !n.registered.Load() {
		return "", false // fenced: nothing is led until registered again
	}
	s := n.snapshot()
	if byID {
		topic = ""
		for name, t := range s.Topics {
			if t.ID == id {
				topic = name
				break
			}
		}
	}
	t, known := s.Topics[topic]
	if partition < 0 {
		return "", false
	}
	if !known || partition >= t.Partitions {
		return topic, replica
	}
	if st, ok := s.Partition(topic, partition); !ok || st.Leader != n.self {
		return "", false
	} else if reg := n.currentReg(); reg == nil || st.WrittenBefore(reg.Broker().IncarnationEpoch()) {
		return "", false // not led until the controller writes it again (reconciler.apply)
	}
	if _, open := n.replicas.Leader(cluster.TopicPartition{Topic: topic, Partition: partition}); open {
		return "", false
	}
	return topic, true
}

// topicPending reports whether a topic this broker's log manager does
// not have is one it may soon have: the latest metadata lists it (by
// name, or by id when byID), or this broker has not yet applied the
// metadata of its current registration (it is starting, or back from a
// crash or a power loss that took the topic's files). A client is then
// answered NOT_LEADER_OR_FOLLOWER, which it retries after refreshing its
// metadata, as Kafka answers for a partition its metadata knows and its
// ReplicaManager does not host, rather than UNKNOWN_TOPIC_OR_PARTITION,
// which clients give up on after a few retries.
func (n *brokerNode) topicPending(byID bool, name string, id [16]byte) bool {
	if !n.started.Load() {
		return true
	}
	reg := n.currentReg()
	if reg == nil || !n.registered.Load() || n.rec.caughtUp.Load() < reg.Epoch() {
		return true
	}
	s := n.store.Snapshot()
	if !byID {
		_, ok := s.Topics[name]
		return ok
	}
	for _, t := range s.Topics {
		if t.ID == id {
			return true
		}
	}
	return false
}

func (r *reconciler) run(ctx context.Context) {
	defer r.n.wg.Done()
	defer r.takeoverWG.Wait()
	var retry <-chan time.Time
	for {
		changed := r.n.store.Changed()
		// Registered before apply: an apply while fenced does nothing
		// and must not count as caught up.
		registered := r.n.registered.Load()
		snap := r.n.store.Snapshot()
		if hook := r.n.s.cfg.beforeReconcile; hook != nil {
			hook(snap)
		}
		if !r.apply(snap) {
			retry = time.After(reconcileRetry)
		} else {
			retry = nil
			if registered {
				r.caughtUp.Store(snap.Revision)
			}
		}
		r.applyDone()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-r.kick:
		case <-retry:
		}
	}
}

// kick asks for a reconciliation now (after a re-registration).
func (r *reconciler) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// apply reconciles with s; false if something is left to retry (a
// takeover still running included).
func (r *reconciler) apply(s *cluster.Snapshot) bool {
	reg := r.n.currentReg()
	if !r.n.registered.Load() || reg == nil {
		r.mu.Lock()
		r.prev = nil // back from the fencing: a full pass
		r.mu.Unlock()
		return true // fenced: nothing is led or followed until registered again
	}
	start := time.Now()
	r.n.throttles.update(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	failed := !r.harvest()
	changed, incremental := r.changedSince(s)
	revisit := r.revisit
	r.revisit = nil
	r.prev = s
	r.passes.Add(1)
	if !incremental {
		r.fullPasses.Add(1)
		failed = !r.topics(s) || failed
		r.lastFull = start
	}
	mgr := r.n.s.mgr
	self := r.n.self
	var changes []roleChange
	var takeovers []*takeover
	busy := 0
	visit := func(tp cluster.TopicPartition, p cluster.PartitionState) {
		if !p.IsReplica(self) {
			r.stop(tp)
			return
		}
		if _, running := r.takeovers[tp]; running {
			// Applied again once its takeover ends (harvest).
			busy++
			r.revisit = append(r.revisit, tp)
			return
		}
		a, had := r.applied[tp]
		if had && a.version == p.Version {
			return
		}
		l, found := mgr.Partition(tp.Topic, tp.Partition)
		if !found {
			failed = true
			return
		}
		c := roleChange{tp: tp, p: p, log: l}
		switch {
		case p.Leader == self && p.WrittenBefore(reg.Broker().IncarnationEpoch()):
			// Led by this broker's previous incarnation, whose log
			// may have been longer (an unflushed tail lost): leading
			// it at that leader epoch would tell the followers to
			// truncate to this log. The controller moves it, or
			// elects this broker again under a new epoch.
			r.stop(tp)
			return
		case p.Leader == self:
			c.minISR = r.minISR(s, tp.Topic)
			if had && (!a.leader || a.epoch != p.LeaderEpoch) {
				// A takeover. A partition new here (a topic just
				// created) is led within the pass, as its followers
				// start to fetch it only in theirs.
				takeovers = append(takeovers, &takeover{c: c, done: make(chan struct{})})
				return
			}
		case p.Leader == cluster.NoLeader:
		default:
			req, live := r.requester(s, p.Leader)
			if !live {
				// The leader is fenced: the controller elects another;
				// stop following the old one meanwhile.
				r.stop(tp)
				return
			}
			c.req = req
			// A new leader or epoch to fetch from: the new leader's
			// acks=all produces wait for this fetcher.
			c.first = !had || a.leader || a.epoch != p.LeaderEpoch
		}
		changes = append(changes, c)
	}
	visited := 0
	if incremental {
		seen := make(map[cluster.TopicPartition]bool, len(changed)+len(revisit))
		for _, tp := range slices.Concat(changed, revisit) {
			if seen[tp] {
				continue
			}
			seen[tp] = true
			visited++
			if p, ok := s.Partitions.Get(tp); ok {
				visit(tp, p)
			} else {
				r.stop(tp)
			}
		}
	} else {
		for tp, p := range s.Partitions.All() {
			visit(tp, p)
		}
		visited = s.Partitions.Len()
		for tp := range r.applied {
			if _, still := s.Partitions.Get(tp); !still {
				r.stop(tp)
			}
		}
		for tp := range r.takeovers {
			if _, still := s.Partitions.Get(tp); !still {
				r.stop(tp)
			}
		}
	}
	r.startTakeovers(takeovers)
	// Stable: the followers of a new leader or epoch first.
	slices.SortStableFunc(changes, func(a, b roleChange) int {
		switch {
		case a.first == b.first:
			return 0
		case a.first:
			return -1
		default:
			return 1
		}
	})
	scanned := time.Since(start)
	r.change(changes)
	led := 0 // partitions this pass made this broker lead (takeovers apart)
	for _, c := range changes {
		if !r.record(c) {
			failed = true
		} else if c.p.Leader == r.n.self {
			led++
		}
	}
	// A failure (a local log missing, a role change refused, a replica
	// in its removal grace) is retried by a full pass.
	r.needFull = failed || len(r.unassigned) > 0
	if len(changes) > 0 || len(takeovers) > 0 {
		level := slog.LevelDebug
		if took := time.Since(start); took >= slowApply || led > 0 {
			// Leaderships taken are said here, once per pass: the
			// replica's own line per partition is Debug.
			level = slog.LevelInfo
		}
		r.log.Log(context.Background(), level, "server: metadata applied", "revision", s.Revision,
			"incremental", incremental, "visited", visited, "role_changes", len(changes), "became_leader", led,
			"takeovers_started", len(takeovers), "takeovers_running", len(r.takeovers), "left_for_takeovers", busy,
			"scan", scanned.Round(time.Microsecond), "took", time.Since(start).Round(time.Microsecond))
	}
	// harvested by the pass its workers' end asks for
	return !failed && len(r.takeovers) == 0
}

// fullPassEvery is how often, at least, a pass visits every partition
// and topic even though the snapshots' change lists say what changed: a
// safety net under the incremental passes.
const fullPassEvery = 30 * time.Second

// changedSince returns the partitions to visit for s: those changed since
// the snapshot of the last pass, when a pass over them alone is enough;
// false when the pass must visit everything: the first pass, or after a
// failure, a fencing, a reload of the metadata, a change of the topics,
// of the brokers or of a partition's assignment (which the local logs
// follow, topics), a replica in its removal grace, or fullPassEvery
// after the last full pass. Caller holds r.mu.
func (r *reconciler) changedSince(s *cluster.Snapshot) ([]cluster.TopicPartition, bool) {
	prev := r.prev
	if prev == nil || r.needFull || len(r.unassigned) > 0 || time.Since(r.lastFull) >= fullPassEvery {
		return nil, false
	}
	changed, ok := cluster.ChangedSince(prev, s)
	if !ok || !sameTopics(prev, s) || !sameBrokers(prev, s) {
		return nil, false
	}
	for _, tp := range changed {
		was, had := prev.Partitions.Get(tp)
		is, has := s.Partitions.Get(tp)
		if had != has || !slices.Equal(was.Replicas, is.Replicas) {
			return nil, false
		}
	}
	return changed, true
}

// sameTopics reports whether a and b hold the same topics (IDs, partition
// counts, configs).
func sameTopics(a, b *cluster.Snapshot) bool {
	if len(a.Topics) != len(b.Topics) {
		return false
	}
	for name, t := range a.Topics {
		u, ok := b.Topics[name]
		if !ok || t.ID != u.ID || t.Partitions != u.Partitions || !maps.Equal(t.Configs, u.Configs) {
			return false
		}
	}
	return true
}

// sameBrokers reports whether a and b hold the same live brokers, each
// at the same broker epoch with the same endpoints.
func sameBrokers(a, b *cluster.Snapshot) bool {
	if len(a.Brokers) != len(b.Brokers) {
		return false
	}
	for id, x := range a.Brokers {
		y, ok := b.Brokers[id]
		if !ok || x.Epoch != y.Epoch || !slices.Equal(x.Endpoints, y.Endpoints) {
			return false
		}
	}
	return true
}

// slowApply is how long a pass (or a batch of takeovers) takes before its
// log line is Info rather than Debug.
const slowApply = time.Second

// record records a role change's outcome as applied (and hands the
// groups their partitions); false if it failed. Caller holds r.mu.
func (r *reconciler) record(c roleChange) bool {
	tp, p := c.tp, c.p
	if c.err != nil {
		r.log.Warn("server: partition role change failed", "topic", tp.Topic, "partition", tp.Partition,
			"leader", p.Leader, "leader_epoch", p.LeaderEpoch, "err", c.err)
		return false
	}
	r.applied[tp] = applied{version: p.Version, epoch: p.LeaderEpoch, leader: p.Leader == r.n.self}
	r.groupsFollow(tp, p.LeaderEpoch, p.Leader == r.n.self)
	return true
}

// roleChange is one partition whose new state apply hands the
// replica.Manager: led by this broker (minISR), or followed from p.Leader
// through req (nil: no leader).
type roleChange struct {
	tp     cluster.TopicPartition
	p      cluster.PartitionState
	log    *tlog.Log
	minISR int
	req    *replica.Conn
	// first: a follower change to a new leader or epoch, made before
	// the others of its pass.
	first bool
	err   error // the outcome
}

// roleChangeWorkers bounds the role changes made at once. Becoming a
// partition's leader writes its leader-epoch checkpoint (two fsyncs): a
// broker that takes over the ~1,700–3,300 partitions of a dead one in a
// 10,000-partition cluster, one at a time, took 9–29 s before the first
// acks=all produce on a random one of them succeeded (BenchmarkFailover);
// concurrent fsyncs share the file system's journal commits.
const roleChangeWorkers = 32

// change makes the role changes of cs, up to roleChangeWorkers at once
// (the replica.Manager takes those of different partitions
// concurrently), and sets each one's err. Caller holds r.mu.
func (r *reconciler) change(cs []roleChange) {
	one := func(c *roleChange) {
		switch {
		case c.p.Leader == r.n.self:
			_, c.err = r.n.replicas.BecomeLeader(c.log, c.p, c.minISR)
		case c.req == nil:
			c.err = r.n.replicas.BecomeFollower(c.log, c.p, nil)
		default:
			c.err = r.n.replicas.BecomeFollower(c.log, c.p, c.req)
		}
	}
	if len(cs) == 1 {
		one(&cs[0])
		return
	}
	var wg sync.WaitGroup
	next := make(chan *roleChange)
	for range min(len(cs), roleChangeWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				one(c)
			}
		}()
	}
	for i := range cs {
		next <- &cs[i]
	}
	close(next)
	wg.Wait()
}

// topics makes the local topics those of s. Caller holds r.mu.
func (r *reconciler) topics(s *cluster.Snapshot) bool {
	mgr := r.n.s.mgr
	ok := true
	for name, t := range s.Topics {
		overrides := localConfigs(t.Configs)
		lt, found := mgr.Topic(name)
		if found && lt.ID != tlog.TopicID(t.ID) {
			r.log.Info("server: replacing a local topic of an earlier incarnation", "topic", name)
			r.stopTopic(name)
			if err := mgr.DeleteTopic(name); err != nil {
				r.log.Warn("server: delete stale local topic", "topic", name, "err", err)
				ok = false
				continue
			}
			found = false
		}
		hosted := hostedHere(s, t, r.n.self)
		if !found {
			if _, err := mgr.CreateTopicHosting(name, tlog.TopicID(t.ID), int(t.Partitions), hosted, overrides); err != nil {
				r.log.Warn("server: create local topic", "topic", name, "err", err)
				ok = false
			}
			continue
		}
		if len(lt.Partitions) < int(t.Partitions) || !hostsAll(lt, hosted) {
			if err := mgr.HostPartitions(name, int(t.Partitions), hosted); err != nil {
				r.log.Warn("server: create local replicas", "topic", name, "partitions", t.Partitions, "hosted", hosted, "err", err)
				ok = false
			}
		}
		if !r.removeUnassigned(s, t, lt) {
			ok = false
		}
		if !maps.Equal(lt.Overrides, overrides) {
			if err := mgr.AlterTopicConfig(name, overrides); err != nil {
				r.log.Warn("server: apply topic configs", "topic", name, "err", err)
			}
		}
	}
	for _, lt := range mgr.Topics() {
		if _, keep := s.Topics[lt.Name]; keep || kafkaInternalTopic(lt.Name) {
			continue
		}
		r.stopTopic(lt.Name)
		if err := mgr.DeleteTopic(lt.Name); err != nil {
			r.log.Warn("server: delete local topic", "topic", lt.Name, "err", err)
			ok = false
			continue
		}
		r.log.Info("server: deleted the local log of a deleted topic", "topic", lt.Name)
	}
	return ok
}

// stopTopic ends replication of every partition of topic. Caller holds
// r.mu.
func (r *reconciler) stopTopic(topic string) {
	for tp := range r.takeovers {
		if tp.Topic == topic {
			r.stop(tp)
		}
	}
	for tp := range r.applied {
		if tp.Topic == topic {
			r.stop(tp)
		}
	}
	for tp := range r.unassigned {
		if tp.Topic == topic {
			delete(r.unassigned, tp)
		}
	}
}

// stopAll ends this broker's part in every partition (it was fenced).
func (r *reconciler) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for tp := range r.takeovers {
		r.stop(tp)
	}
	for tp := range r.applied {
		r.stop(tp)
	}
	r.prev, r.revisit = nil, nil
}

// stop ends this broker's part in tp, if it had one. Caller holds r.mu.
func (r *reconciler) stop(tp cluster.TopicPartition) {
	r.endTakeover(tp)
	a, had := r.applied[tp]
	if !had {
		return
	}
	r.n.replicas.Stop(tp)
	delete(r.applied, tp)
	r.groupsFollow(tp, a.epoch, false)
}

// groupsFollow hands the group coordinator the __consumer_offsets
// partitions this broker comes to lead, and takes back the others, with
// their leader epochs.
func (r *reconciler) groupsFollow(tp cluster.TopicPartition, epoch int32, lead bool) {
	if tp.Topic != consumergroup.OffsetsTopic {
		return
	}
	if lead {
		r.n.s.groups.LoadPartition(tp.Partition, epoch)
	} else {
		r.n.s.groups.UnloadPartition(tp.Partition, epoch)
	}
}

// minISR is min.insync.replicas of topic: its config, else the broker's.
func (r *reconciler) minISR(s *cluster.Snapshot, topic string) int {
	if v, ok := s.Topics[topic].Configs[tlog.ConfigMinInsyncReplicas]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 {
			return n
		}
	}
	return max(r.n.cfg.MinInsyncReplicas, 1)
}

// requester is the fetchers' connection to broker leader's inter-broker
// listener, made once per broker; it dials the address the metadata has
// at each (re)connection. Caller holds r.mu.
func (r *reconciler) requester(s *cluster.Snapshot, leader int32) (*replica.Conn, bool) {
	if _, live := s.Brokers[leader]; !live {
		return nil, false
	}
	if req, ok := r.requesters[leader]; ok {
		return req, true
	}
	if _, ok := r.interBrokerAddr(s, leader); !ok {
		r.log.Warn("server: leader has no inter-broker endpoint", "leader", leader, "listener", r.n.interBroker)
		return nil, false
	}
	sec := r.n.opts.Security.InterBrokerConn
	req := replica.NewConn(leader, replica.ConnConfig{
		Resolve: func() (string, error) {
			addr, ok := r.interBrokerAddr(r.n.snapshot(), leader)
			if !ok {
				return "", fmt.Errorf("server: broker %d has no live %s endpoint in the metadata", leader, r.n.interBroker)
			}
			return addr, nil
		},
		TLS:       sec.TLS,
		SASL:      sec.SASL,
		LocalAddr: sec.LocalAddr,
		ClientID:  "tributary-replica-" + strconv.Itoa(int(r.n.self)),
	})
	r.requesters[leader] = req
	return req, true
}

// interBrokerAddr is where broker id serves the inter-broker listener,
// as s has it.
func (r *reconciler) interBrokerAddr(s *cluster.Snapshot, id int32) (string, bool) {
	b, live := s.Brokers[id]
	if !live {
		return "", false
	}
	e, ok := b.Endpoint(r.n.interBroker)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
}

// close is called once run has returned.
func (r *reconciler) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.applied)
	clear(r.unassigned)
	clear(r.takeovers)
	r.prev, r.revisit = nil, nil
}

// closeRequesters closes the fetchers' clients, once the replica.Manager
// (which uses them) is closed.
func (r *reconciler) closeRequesters() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, req := range r.requesters {
		req.Close()
		delete(r.requesters, id)
	}
}

// localConfigs are a cluster topic's configs as its local log takes them:
// without min.insync.replicas, which the replica.Manager enforces (package
// log still checks it against a single replica).
func localConfigs(configs map[string]string) map[string]string {
	if _, ok := configs[tlog.ConfigMinInsyncReplicas]; !ok {
		return configs
	}
	out := maps.Clone(configs)
	delete(out, tlog.ConfigMinInsyncReplicas)
	return out
}
