package consumergroup

import (
	"bytes"
	"sync"
	"time"
)

// group is one consumer group. Its state (everything from state down) has
// one owner at a time: the group's loop while it runs, else whoever holds
// mu (see run). A group with members runs its loop; an idle one (Empty, no
// members, no pending member ids, no timer due) parks: the loop returns and
// the group is this struct with its committed offsets, until the next
// operation runs on it, in place, or starts the loop again when it brings
// members.
type group struct {
	c         *Coordinator
	id        string
	partition int32 // of __consumer_offsets

	// mu guards the fields up to state, and is the owner of the state
	// while the loop is parked (ops == nil).
	mu   sync.Mutex
	ops  chan func()   // closures run by loop, in order; nil while parked
	done chan struct{} // closed when the loop stops for good (Dead, Close)
	// refs counts the closures handed ops and not yet received by the
	// loop: the loop parks only when it is 0, so none is lost.
	refs int
	dead bool // the loop stopped for good: operations fail
	// stopErr is what operations get once dead: ErrNotCoordinatorForGroup
	// after the group's partition was unloaded; nil means
	// ErrCoordinatorNotAvailable (deleted, or the coordinator closed).
	stopErr error
	// unloaded is set on the loop by unload: the loop stops after it.
	unloaded bool

	state        State
	stateTime    int64 // unix ms (Config.Now) of the last state change
	protocolType string
	protocol     string // chosen for the current generation; "" when Empty
	generation   int32
	leader       string
	// members, static and pending are nil while there are none.
	members map[string]*member
	order   []*member              // members in join order: leader election and answers are deterministic
	static  map[string]string      // group.instance.id -> member id
	pending map[string]*time.Timer // KIP-394 ids handed out, not joined yet; each expires after the session timeout

	offsets offsetTable
	// writes are the group's writes to __consumer_offsets appended and
	// waiting for their replicas (pending.go), in append order; nil on a
	// single broker, whose writes are done once appended.
	writes []*pendingWrite
	// hasMetadata: a GroupMetadata record of this group may be in the
	// log, so deleting the group must tombstone it.
	hasMetadata bool

	// seq numbers the current rebalance phase: a join or sync timer whose
	// seq is stale does nothing.
	seq           uint64
	phaseTimer    *time.Timer
	initialDelay  bool          // in group.initial.rebalance.delay.ms
	delayLeft     time.Duration // rebalance timeout left for more initial delays
	newMemberSeen bool          // a member joined during the current initial delay
}

// member is one member of a group, owned by its group's loop.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []Protocol
	assignment       []byte

	joinCh chan JoinResult // set while its JoinGroup waits for the rebalance
	syncCh chan SyncResult // set while its SyncGroup waits for the leader
	// pendingSync: joined the current generation and has not sent
	// SyncGroup yet (syncExpired removes it after the rebalance timeout).
	pendingSync bool

	deadline time.Time // session expiry (monotonic clock)
	timer    *time.Timer
}

// newGroup returns a parked group.
func newGroup(c *Coordinator, id string, partition int32) *group {
	return &group{
		c:         c,
		id:        id,
		partition: partition,
		state:     Empty,
		stateTime: c.cfg.now().UnixMilli(),
	}
}

// idle reports whether the group may park: nothing in it needs the loop
// (no member waits or expires, no phase timer is due). Called by the
// state's owner.
func (g *group) idle() bool {
	return g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && g.phaseTimer == nil
}

// startLocked starts the loop of a parked group. Caller holds mu and has
// entered the coordinator (Coordinator.enter), so Close waits for it.
func (g *group) startLocked() {
	g.ops = make(chan func())
	g.done = make(chan struct{})
	g.c.wg.Add(1)
	go g.loop(g.ops, g.done)
}

// loop runs the group's closures until the group parks, dies, or the
// coordinator closes.
func (g *group) loop(ops chan func(), done chan struct{}) {
	defer g.c.wg.Done()
	for {
		select {
		case fn := <-ops:
			g.mu.Lock()
			g.refs--
			g.mu.Unlock()
			fn()
			if g.state == Dead || g.unloaded {
				g.stop(done)
				return
			}
			if g.idle() && g.park() {
				return
			}
		case <-g.c.quit:
			g.stop(done)
			return
		}
	}
}

// stop ends the loop for good: waiting members are answered, and the
// operations still trying to reach the loop fail.
func (g *group) stop(done chan struct{}) {
	err := error(ErrCoordinatorNotAvailable)
	if g.unloaded {
		err = ErrNotCoordinatorForGroup
	}
	g.shutdown(err)
	g.mu.Lock()
	g.dead = true
	if g.unloaded {
		g.stopErr = err
	}
	g.mu.Unlock()
	close(done)
}

// unload stops the group because its __consumer_offsets partition was
// unloaded (its leadership moved): waiting members and every later
// operation get ErrNotCoordinatorForGroup, its loop is stopped and waited
// for, and nothing is written. The caller has taken the group out of the
// coordinator's map and cancelled the partition's context first, so an
// operation waiting for its write's replicas (Config.WaitAppended) ends
// and lets the loop, or mu, go.
func (g *group) unload() {
	g.mu.Lock()
	if g.dead {
		g.mu.Unlock()
		return
	}
	if g.ops == nil {
		// Parked: no member, timer or pending id to answer.
		g.dead = true
		g.stopErr = ErrNotCoordinatorForGroup
		g.mu.Unlock()
		return
	}
	ops, done := g.ops, g.done
	g.refs++
	g.mu.Unlock()
	select {
	case ops <- func() { g.unloaded = true }:
	case <-done:
	}
	<-done
}

// deadErr is what an operation on a dead group gets. Caller holds mu.
func (g *group) deadErr() error {
	if g.stopErr != nil {
		return g.stopErr
	}
	return ErrCoordinatorNotAvailable
}

// park stops an idle group's loop unless an operation is on its way to
// it, and drops what an idle group does not need. True when parked.
func (g *group) park() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refs > 0 {
		return false
	}
	g.ops, g.done = nil, nil
	g.members, g.static, g.pending, g.order = nil, nil, nil, nil
	return true
}

// shutdown answers every waiting member with err and stops the timers.
func (g *group) shutdown(err error) {
	for _, m := range g.order {
		g.answerJoin(m, JoinResult{Err: err, MemberID: m.id, Generation: -1})
		g.answerSync(m, SyncResult{Err: err})
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
	g.stopPhaseTimer()
}

// run runs fn as the owner of the group's state and waits for it;
// ErrCoordinatorNotAvailable when the group has stopped (deleted or the
// coordinator closed): the client retries and finds the group anew.
//
// A running loop runs fn. A parked group runs fn here, under mu, which
// keeps the loop from starting meanwhile: an idle group's commits, reads
// and expiry cost no goroutine. If fn leaves the group needing its loop
// (a member joined, a timer is due), the loop starts before mu is
// released, and owns the state from then on.
func (g *group) run(fn func()) error {
	g.mu.Lock()
	if g.dead {
		err := g.deadErr()
		g.mu.Unlock()
		return err
	}
	if g.ops == nil {
		defer g.mu.Unlock()
		if !g.c.enter() {
			return ErrCoordinatorNotAvailable
		}
		defer g.c.exit()
		fn()
		switch {
		case g.state == Dead:
			g.shutdown(ErrCoordinatorNotAvailable)
			g.dead = true
		case !g.idle():
			g.startLocked()
		}
		return nil
	}
	ops, done := g.ops, g.done
	g.refs++
	g.mu.Unlock()
	finished := make(chan struct{})
	select {
	case ops <- func() { fn(); close(finished) }:
		<-finished
		return nil
	case <-done:
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.deadErr()
	}
}

// post runs fn as the owner of the group's state, from a timer, without
// waiting for it on a running loop; dropped if the group stopped.
func (g *group) post(fn func()) {
	g.mu.Lock()
	if g.ops == nil || g.dead {
		g.mu.Unlock()
		_ = g.run(fn) // parked: in place (a late timer of an idle group does nothing)
		return
	}
	ops, done := g.ops, g.done
	g.refs++
	g.mu.Unlock()
	select {
	case ops <- fn:
	case <-done:
	}
}

// after runs fn on the loop after d, unless the rebalance phase changed.
func (g *group) after(d time.Duration, fn func()) *time.Timer {
	seq := g.seq
	return time.AfterFunc(d, func() {
		g.post(func() {
			if g.seq == seq {
				fn()
			}
		})
	})
}

func (g *group) setState(s State) {
	if g.state != s {
		g.c.logger.Debug("consumergroup: state", "group", g.id, "from", g.state, "to", s, "generation", g.generation)
	}
	g.state = s
	g.stateTime = g.c.cfg.now().UnixMilli()
	if s == Dead {
		// Out of the map before the operation that killed the group is
		// answered, so the client's next request finds no group (or a
		// new one), not this one stopping.
		g.c.forget(g)
	}
}

func (g *group) stopPhaseTimer() {
	if g.phaseTimer != nil {
		g.phaseTimer.Stop()
		g.phaseTimer = nil
	}
}

func (g *group) answerJoin(m *member, r JoinResult) {
	if m.joinCh != nil {
		m.joinCh <- r // buffered, one answer per channel
		m.joinCh = nil
	}
}

func (g *group) answerSync(m *member, r SyncResult) {
	if m.syncCh != nil {
		m.syncCh <- r
		m.syncCh = nil
	}
}

// fenced reports a static member whose instance id is now held by another
// member id.
func (g *group) fenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// supports reports whether a member with these protocols may join: an
// empty group takes any non-empty type and list; otherwise the type must
// be the group's and one protocol must be supported by every member.
func (g *group) supports(protocolType string, protocols []Protocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedByAll(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.order {
		if m.metadataFor(name) == nil {
			return false
		}
	}
	return true
}

// selectProtocol is Kafka's vote: among protocols every member supports,
// each member votes for the first in its own order; most votes wins, ties
// to the leader's preference.
func (g *group) selectProtocol() string {
	votes := make(map[string]int)
	for _, m := range g.order {
		for _, p := range m.protocols {
			if g.supportedByAll(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	lead := g.members[g.leader]
	if lead == nil && len(g.order) > 0 {
		lead = g.order[0]
	}
	if lead != nil {
		for _, p := range lead.protocols {
			if n, ok := votes[p.Name]; ok && n > bestVotes {
				best, bestVotes = p.Name, n
			}
		}
	}
	return best
}

// metadataFor returns the member's metadata for protocol name; nil when
// it does not support it (an empty non-nil slice when it does with none).
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			if p.Metadata == nil {
				return []byte{}
			}
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly what the member joined with.
func (m *member) matches(protocols []Protocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i, p := range protocols {
		if p.Name != m.protocols[i].Name || !bytes.Equal(p.Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}
