package consumergroup

import (
	"bytes"
	"context"
	"errors"
	"time"
	"unique"
)

// Join handles a JoinGroup request. It returns once the member's answer is
// known: at once for errors and for a member that only needs its id
// (KIP-394), otherwise when the rebalance completes, which waits for the
// other members up to the rebalance timeout. ctx ends the wait early (the
// broker is stopping) with ErrCoordinatorNotAvailable.
func (c *Coordinator) Join(ctx context.Context, r JoinRequest) JoinResult {
	fail := func(err error) JoinResult { return JoinResult{Err: err, MemberID: r.MemberID, Generation: -1} }
	if r.Group == "" {
		return fail(ErrInvalidGroupID)
	}
	// As Kafka: the coordinator's state (not coordinator, loading) is
	// answered before the request's own faults.
	if err := c.serves(r.Group); err != nil {
		return fail(err)
	}
	if r.SessionTimeout < c.cfg.MinSessionTimeout || r.SessionTimeout > c.cfg.MaxSessionTimeout {
		return fail(ErrInvalidSessionTimeout)
	}
	if r.RebalanceTimeout <= 0 { // JoinGroup v0 has none: Kafka uses the session timeout
		r.RebalanceTimeout = r.SessionTimeout
	}
	// A known member id names a member of an existing group; only a first
	// join (or a static member's) may create the group.
	g, err := c.lookup(r.Group, r.MemberID == "")
	if err != nil {
		return fail(err)
	}
	if g == nil {
		return fail(ErrUnknownMemberID)
	}
	res, err := await(ctx, g, func() (chan JoinResult, JoinResult) { return g.join(r) }, nil)
	if err != nil {
		return fail(err)
	}
	return res
}

// await runs op on g's loop; op answers at once or hands back the channel
// its answer will come on (JoinGroup and SyncGroup wait for other
// members), which await then waits on until ctx ends. settle, when set,
// runs first, off the loop: it waits for the write op made (the leader's
// SyncGroup stores the assignment), whose outcome answers the channel,
// as a new rebalance or the group's stop would.
func await[T any](ctx context.Context, g *group, op func() (chan T, T), settle func()) (T, error) {
	var ch chan T
	var res T
	if err := g.run(func() { ch, res = op() }); err != nil {
		return res, err
	}
	if settle != nil {
		settle()
	}
	if ch == nil {
		return res, nil
	}
	select {
	case res = <-ch:
		return res, nil
	case <-ctx.Done():
		return res, ErrCoordinatorNotAvailable
	}
}

// join is JoinGroup on the loop: an answer now, or a channel for later.
func (g *group) join(r JoinRequest) (chan JoinResult, JoinResult) {
	fail := func(err error) (chan JoinResult, JoinResult) {
		// A refused first join must not leave behind the empty group
		// it created (refused joins with fresh group ids would pile
		// them up).
		g.dieIfUnused()
		return nil, JoinResult{Err: err, MemberID: r.MemberID, Generation: -1}
	}
	if !g.supports(r.ProtocolType, r.Protocols) {
		return fail(ErrInconsistentProtocol)
	}
	if r.MemberID == "" {
		if r.InstanceID != nil {
			if old := g.members[g.static[*r.InstanceID]]; old != nil {
				return g.replaceStatic(old, r)
			}
		}
		if len(g.members)+len(g.pending) >= g.c.cfg.MaxGroupSize {
			return fail(ErrGroupMaxSize)
		}
		if r.InstanceID != nil {
			// Static members are known by their instance id: no
			// MEMBER_ID_REQUIRED round.
			return g.addMember(newMemberID(*r.InstanceID), r)
		}
		id := newMemberID(r.ClientID)
		if r.RequireKnownMemberID {
			g.addPending(id, r.SessionTimeout)
			return nil, JoinResult{Err: ErrMemberIDRequired, MemberID: id, Generation: -1}
		}
		return g.addMember(id, r)
	}
	if t, ok := g.pending[r.MemberID]; ok {
		t.Stop()
		delete(g.pending, r.MemberID)
		return g.addMember(r.MemberID, r)
	}
	if g.fenced(r.MemberID, r.InstanceID) {
		return fail(ErrFencedInstanceID)
	}
	m := g.members[r.MemberID]
	if m == nil || r.InstanceID != nil && g.static[*r.InstanceID] == "" {
		// An unknown member, or a static one whose instance id the
		// group does not know: the client resets its member id, as
		// with Kafka.
		return fail(ErrUnknownMemberID)
	}
	switch g.state {
	case PreparingRebalance:
		return g.updateMember(m, r, "member rejoined")
	case CompletingRebalance:
		if m.matches(r.Protocols) {
			// A retried join (the first answer was lost): same answer.
			return nil, g.joinResult(m)
		}
		return g.updateMember(m, r, "member changed its protocols")
	case Stable:
		if m.id == g.leader || !m.matches(r.Protocols) {
			// The leader rejoins to make the group reassign (for
			// example after metadata changes); so does a member whose
			// subscription changed.
			return g.updateMember(m, r, "member rejoined a stable group")
		}
		return nil, g.joinResult(m)
	default:
		return fail(ErrUnknownMemberID)
	}
}

// addPending hands out a member id (KIP-394) that expires unless used
// within the session timeout, or earlier when MaxPendingMembers newer ids
// were handed out (Coordinator.notePending).
func (g *group) addPending(id string, session time.Duration) {
	t := time.AfterFunc(session, func() {
		g.post(func() {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
				g.tryCompleteJoin()
				g.dieIfUnused()
			}
		})
	})
	g.makeMaps()
	g.pending[id] = t
	g.c.notePending(t)
}

// makeMaps makes the member maps, which a group without members (a parked
// one) does without.
func (g *group) makeMaps() {
	if g.members == nil {
		g.members = make(map[string]*member)
		g.static = make(map[string]string)
		g.pending = make(map[string]*time.Timer)
	}
}

// dieIfUnused ends a group that holds nothing: Empty, with no members,
// pending ids, offsets or record in __consumer_offsets. Such a group was
// made by a JoinGroup whose member never came back; keeping it until the
// next offsets.retention.check.interval.ms, as Kafka does, would let
// JoinGroups with fresh group ids pile up groups.
func (g *group) dieIfUnused() {
	if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && g.offsets.len() == 0 && !g.hasMetadata && len(g.writes) == 0 {
		g.setState(Dead)
	}
}

// addMember adds a member and starts (or joins) a rebalance.
func (g *group) addMember(id string, r JoinRequest) (chan JoinResult, JoinResult) {
	m := &member{id: id, instanceID: r.InstanceID, joinCh: make(chan JoinResult, 1)}
	m.update(r)
	if len(g.members) == 0 {
		g.protocolType = unique.Make(r.ProtocolType).Value() // one copy for all groups: it outlives the members
	}
	g.makeMaps()
	g.members[id] = m
	g.order = append(g.order, m)
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	if g.initialDelay {
		g.newMemberSeen = true
	}
	g.c.logger.Info("consumergroup: member joined", "group", g.id, "member", id, "client", r.ClientID, "reason", r.Reason)
	ch := m.joinCh
	g.maybeRebalance("new member " + id + " joined")
	return ch, JoinResult{}
}

// updateMember records a known member's (re)join and starts or joins a
// rebalance.
func (g *group) updateMember(m *member, r JoinRequest, reason string) (chan JoinResult, JoinResult) {
	// A second join while one waits: the older request is superseded.
	g.answerJoin(m, JoinResult{Err: ErrRebalanceInProgress, MemberID: m.id, Generation: -1})
	m.update(r)
	m.joinCh = make(chan JoinResult, 1)
	ch := m.joinCh
	g.maybeRebalance(reason)
	return ch, JoinResult{}
}

// update takes the join's fields; the protocol metadata is copied, the
// caller's buffers may be reused once Join returns. The instance id is not
// among them: it is fixed when the member is added (as Kafka's), so that
// the group's instance map and its members always agree.
func (m *member) update(r JoinRequest) {
	m.clientID = r.ClientID
	m.clientHost = r.ClientHost
	m.sessionTimeout = r.SessionTimeout
	m.rebalanceTimeout = r.RebalanceTimeout
	m.protocolType = r.ProtocolType
	m.protocols = make([]Protocol, len(r.Protocols))
	for i, p := range r.Protocols {
		m.protocols[i] = Protocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
}

// replaceStatic gives a static member's instance id a new member id (a
// restarted instance) and fences the old one (KIP-345). A stable group
// whose member kept its protocols does not rebalance: the instance gets
// its old assignment back through SyncGroup.
func (g *group) replaceStatic(old *member, r JoinRequest) (chan JoinResult, JoinResult) {
	id := newMemberID(*r.InstanceID)
	g.answerJoin(old, JoinResult{Err: ErrFencedInstanceID, MemberID: old.id, Generation: -1})
	g.answerSync(old, SyncResult{Err: ErrFencedInstanceID})
	delete(g.members, old.id)
	oldID := old.id
	old.id = id
	g.members[id] = old
	g.static[*r.InstanceID] = id
	if g.leader == oldID {
		g.leader = id
	}
	g.c.logger.Info("consumergroup: static member rejoined", "group", g.id, "instance", *r.InstanceID, "old", oldID, "member", id)
	if g.state == Stable {
		// A restarted client's subscription bytes differ (its generation,
		// owned partitions): like Kafka, rebalance only when the group's
		// protocol would change, else keep the generation.
		before := old.protocols
		old.update(r)
		if g.selectProtocol() == g.protocol {
			// Waited for on the owner: rare (a restarted static
			// member), and what it answers depends on it.
			if err := g.storeMetadataNow(); err != nil {
				// Kafka reverts the replacement when it cannot be stored.
				delete(g.members, id)
				old.id = oldID
				old.protocols = before
				g.members[oldID] = old
				g.static[*r.InstanceID] = oldID
				if g.leader == id {
					g.leader = oldID
				}
				return nil, JoinResult{Err: err, Generation: -1}
			}
			g.heartbeat(old)
			res := g.joinResult(old)
			res.SkipAssignment = id == g.leader
			return nil, res
		}
	}
	return g.updateMember(old, r, "static member "+*r.InstanceID+" rejoined")
}

// joinResult is the JoinGroup answer of the current generation for m.
func (g *group) joinResult(m *member) JoinResult {
	res := JoinResult{
		Generation:   g.generation,
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		Leader:       g.leader,
		MemberID:     m.id,
	}
	if m.id == g.leader {
		res.Members = make([]MemberMetadata, 0, len(g.order))
		for _, o := range g.order {
			res.Members = append(res.Members, MemberMetadata{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadataFor(g.protocol)})
		}
	}
	return res
}

// maybeRebalance starts a rebalance unless one is already preparing, in
// which case it checks whether everyone has now joined.
func (g *group) maybeRebalance(reason string) {
	switch g.state {
	case Empty, Stable, CompletingRebalance:
		g.prepareRebalance(reason)
	case PreparingRebalance:
		g.tryCompleteJoin()
	}
}

// prepareRebalance moves the group to PreparingRebalance: members must
// rejoin within the rebalance timeout. A new group first waits
// group.initial.rebalance.delay.ms for more members.
func (g *group) prepareRebalance(reason string) {
	if g.state == CompletingRebalance {
		// The leader's assignment for this generation will never come
		// into force: tell the members waiting for it to rejoin.
		for _, m := range g.order {
			m.assignment = nil
			g.answerSync(m, SyncResult{Err: ErrRebalanceInProgress})
		}
	}
	for _, m := range g.order {
		m.pendingSync = false // the next generation's join decides again
	}
	g.stopPhaseTimer()
	g.seq++
	timeout := g.rebalanceTimeout()
	delay := g.c.cfg.InitialRebalanceDelay
	if g.state == Empty && delay > 0 {
		g.initialDelay = true
		g.newMemberSeen = false
		delay = min(delay, timeout)
		g.delayLeft = timeout - delay
		g.phaseTimer = g.after(delay, g.initialDelayDone)
	} else {
		g.initialDelay = false
		g.phaseTimer = g.after(timeout, g.completeJoin)
	}
	g.c.logger.Info("consumergroup: preparing to rebalance", "group", g.id, "generation", g.generation, "reason", reason)
	g.setState(PreparingRebalance)
	g.tryCompleteJoin()
}

// initialDelayDone ends one initial delay: another one (up to the
// rebalance timeout) if members kept arriving, else the join completes.
func (g *group) initialDelayDone() {
	if g.newMemberSeen && g.delayLeft > 0 {
		g.newMemberSeen = false
		d := min(g.c.cfg.InitialRebalanceDelay, g.delayLeft)
		g.delayLeft -= d
		g.phaseTimer = g.after(d, g.initialDelayDone)
		return
	}
	g.initialDelay = false
	g.completeJoin()
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.order {
		d = max(d, m.rebalanceTimeout)
	}
	return max(d, time.Millisecond)
}

// tryCompleteJoin completes the join phase early once every member has
// rejoined and no handed-out member id is still expected.
func (g *group) tryCompleteJoin() {
	if g.state != PreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.order {
		if m.joinCh == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the generation advances, the protocol is chosen, and every
// member gets its JoinGroup answer (the leader with the member list).
func (g *group) completeJoin() {
	if g.state != PreparingRebalance {
		return
	}
	g.stopPhaseTimer()
	g.seq++
	for _, m := range append([]*member(nil), g.order...) {
		// A static member that did not rejoin stays (KIP-345): it may
		// be restarting, and keeps its place and partitions until its
		// session timeout removes it, as in Kafka.
		if m.joinCh == nil && m.instanceID == nil {
			g.c.logger.Info("consumergroup: member removed: did not rejoin within the rebalance timeout", "group", g.id, "member", m.id)
			g.removeMember(m)
		}
	}
	if len(g.order) > 0 && !g.electJoinedLeader() {
		// Only absent static members are left: no one can lead the
		// generation. Wait another rebalance timeout; their sessions
		// end it sooner if they stay away.
		g.phaseTimer = g.after(g.rebalanceTimeout(), g.completeJoin)
		return
	}
	g.generation++
	if len(g.order) == 0 {
		g.protocol = ""
		g.leader = ""
		g.setState(Empty)
		// Waited for on the owner: no member is left to heartbeat.
		if err := g.storeMetadataNow(); err != nil {
			g.c.logger.Warn("consumergroup: storing empty group failed", "group", g.id, "err", err)
		}
		g.c.logger.Info("consumergroup: group is empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(CompletingRebalance)
	for _, m := range g.order {
		if m.joinCh == nil {
			continue // an absent static member: its session keeps running
		}
		g.answerJoin(m, g.joinResult(m))
		m.pendingSync = true
		g.heartbeat(m)
	}
	g.c.logger.Info("consumergroup: generation formed", "group", g.id, "generation", g.generation, "protocol", g.protocol, "members", len(g.order), "leader", g.leader)
	// Members that never send SyncGroup would hold the group in
	// CompletingRebalance: like Kafka, remove them after the rebalance
	// timeout and rebalance again.
	g.phaseTimer = g.after(g.rebalanceTimeout(), g.syncExpired)
}

// electJoinedLeader keeps the leader if it rejoined, else makes the first
// member that did the leader; false when no member rejoined. The leader
// must be waiting for its JoinGroup answer: it computes the assignment.
func (g *group) electJoinedLeader() bool {
	if m := g.members[g.leader]; m != nil && m.joinCh != nil {
		return true
	}
	for _, m := range g.order {
		if m.joinCh != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// syncExpired removes the members of the generation that did not send
// SyncGroup within the rebalance timeout (waiting for the leader's, or
// after the group became Stable without them) and rebalances.
func (g *group) syncExpired() {
	if g.state != CompletingRebalance && g.state != Stable {
		return
	}
	removed := false
	for _, m := range append([]*member(nil), g.order...) {
		if m.pendingSync {
			g.c.logger.Info("consumergroup: member removed: no SyncGroup within the rebalance timeout", "group", g.id, "member", m.id)
			g.removeMember(m)
			removed = true
		}
	}
	if removed {
		g.prepareRebalance("members did not sync")
	}
}

// removeMember drops m from the group; the caller decides on the rebalance.
func (g *group) removeMember(m *member) {
	g.answerJoin(m, JoinResult{Err: ErrUnknownMemberID, MemberID: m.id, Generation: -1})
	g.answerSync(m, SyncResult{Err: ErrUnknownMemberID})
	if m.timer != nil {
		m.timer.Stop()
	}
	delete(g.members, m.id)
	for i, o := range g.order {
		if o == m {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		// Prefer a member already waiting in the join phase.
		for _, o := range g.order {
			if o.joinCh != nil {
				g.leader = o.id
				break
			}
		}
		if g.leader == "" && len(g.order) > 0 {
			g.leader = g.order[0].id
		}
	}
}

// generationMember returns the member of the current generation that a
// request names, checked in Kafka's order: a fenced static instance, an
// unknown member, then a stale generation.
func (g *group) generationMember(memberID string, instanceID *string, generation int32) (*member, error) {
	m := g.members[memberID]
	switch {
	case g.fenced(memberID, instanceID):
		return nil, ErrFencedInstanceID
	case m == nil:
		return nil, ErrUnknownMemberID
	case generation != g.generation:
		return nil, ErrIllegalGeneration
	}
	return m, nil
}

// heartbeat restarts m's session timer.
func (g *group) heartbeat(m *member) {
	m.deadline = time.Now().Add(m.sessionTimeout)
	if m.timer == nil {
		m.timer = time.AfterFunc(m.sessionTimeout, func() { g.post(func() { g.sessionCheck(m) }) })
		return
	}
	m.timer.Reset(m.sessionTimeout)
}

// sessionCheck removes m if its session timed out. A member waiting for
// its JoinGroup or SyncGroup answer is alive: the broker holds its request.
func (g *group) sessionCheck(m *member) {
	if g.members[m.id] != m {
		return
	}
	if left := time.Until(m.deadline); left > 0 {
		m.timer.Reset(left)
		return
	}
	if m.joinCh != nil || m.syncCh != nil {
		g.heartbeat(m)
		return
	}
	g.c.logger.Info("consumergroup: member removed: session timeout expired", "group", g.id, "member", m.id, "session_timeout", m.sessionTimeout)
	g.removeMember(m)
	g.maybeRebalance("member " + m.id + " session expired")
}

// Sync handles a SyncGroup request: the leader's assignment is stored and
// handed to every member; followers wait for it.
func (c *Coordinator) Sync(ctx context.Context, r SyncRequest) SyncResult {
	g, err := c.lookup(r.Group, false)
	if err != nil {
		return SyncResult{Err: err}
	}
	if g == nil {
		return SyncResult{Err: ErrUnknownMemberID}
	}
	var w *pendingWrite
	res, err := await(ctx, g, func() (chan SyncResult, SyncResult) {
		ch, res, pw := g.sync(r)
		w = pw
		return ch, res
	}, func() {
		// The write's outcome reaches the members through their
		// channels (the assignment, or its error), the leader's too.
		_ = g.awaitWrite(w)
	})
	if err != nil {
		return SyncResult{Err: err}
	}
	return res
}

func (g *group) sync(r SyncRequest) (chan SyncResult, SyncResult, *pendingWrite) {
	fail := func(err error) (chan SyncResult, SyncResult, *pendingWrite) { return nil, SyncResult{Err: err}, nil }
	m, err := g.generationMember(r.MemberID, r.InstanceID, r.Generation)
	switch {
	case err != nil:
		return fail(err)
	case r.ProtocolType != nil && *r.ProtocolType != g.protocolType,
		r.Protocol != nil && *r.Protocol != g.protocol:
		return fail(ErrInconsistentProtocol)
	}
	switch g.state {
	case PreparingRebalance:
		return fail(ErrRebalanceInProgress)
	case Stable:
		g.heartbeat(m)
		if m.pendingSync {
			m.pendingSync = false
			g.stopSyncTimerIfAllSynced()
		}
		return nil, g.syncResult(m), nil
	case CompletingRebalance:
	default:
		return fail(ErrUnknownMemberID)
	}
	g.answerSync(m, SyncResult{Err: ErrRebalanceInProgress}) // a duplicate SyncGroup supersedes the first
	m.syncCh = make(chan SyncResult, 1)
	m.pendingSync = false
	ch := m.syncCh
	g.heartbeat(m)
	if m.id != g.leader {
		return ch, SyncResult{}, nil
	}
	for _, o := range g.order {
		// A member the leader left out gets an empty assignment. Copied:
		// the caller's buffer may be reused once Sync returns.
		o.assignment = bytes.Clone(r.Assignments[o.id])
	}
	// The generation becomes Stable, and its members get their
	// assignments, once the assignment is replicated: the leader's
	// request waits for that off the group's owner (Coordinator.Sync),
	// which keeps answering heartbeats meanwhile. If the group moved on
	// by then (a member joined or left: a new rebalance), the outcome
	// changes nothing, as in Kafka.
	gen := g.generation
	current := func() bool { return g.state == CompletingRebalance && g.generation == gen }
	failed := func(err error) {
		if !current() {
			return
		}
		g.c.logger.Warn("consumergroup: storing the assignment failed; rebalancing", "group", g.id, "err", err)
		for _, o := range g.order {
			o.assignment = nil
			g.answerSync(o, SyncResult{Err: err})
		}
		g.prepareRebalance("storing the assignment failed")
	}
	w, err := g.storeMetadata(func() {
		if !current() {
			return
		}
		g.setState(Stable)
		for _, o := range g.order {
			g.answerSync(o, g.syncResult(o))
		}
		g.stopSyncTimerIfAllSynced()
	}, failed)
	if err != nil {
		failed(err)
	}
	return ch, SyncResult{}, w
}

// stopSyncTimerIfAllSynced ends the sync phase's timer once every member
// of the generation has sent SyncGroup; until then syncExpired stays due,
// in Stable too, as Kafka's pending-sync members.
func (g *group) stopSyncTimerIfAllSynced() {
	for _, m := range g.order {
		if m.pendingSync {
			return
		}
	}
	g.stopPhaseTimer()
	g.seq++
}

func (g *group) syncResult(m *member) SyncResult {
	a := m.assignment
	if a == nil {
		a = []byte{}
	}
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: a}
}

// Heartbeat handles a Heartbeat request: it keeps the member's session
// alive and tells it when the group is rebalancing. While the group's
// partition loads it answers nil, as Kafka does.
func (c *Coordinator) Heartbeat(r HeartbeatRequest) error {
	g, err := c.lookup(r.Group, false)
	if errors.Is(err, ErrLoadInProgress) {
		// As Kafka's group coordinator: a heartbeat while the group's
		// partition loads is answered blindly, so a member that moved
		// here with its coordinator keeps its session instead of
		// rejoining; the load restores the member and its session.
		return nil
	}
	if err != nil {
		return err
	}
	if g == nil {
		return ErrUnknownMemberID
	}
	var res error
	if err := g.run(func() { res = g.heartbeatReq(r) }); err != nil {
		return err
	}
	return res
}

func (g *group) heartbeatReq(r HeartbeatRequest) error {
	if _, ok := g.pending[r.MemberID]; ok {
		return nil
	}
	m, err := g.generationMember(r.MemberID, r.InstanceID, r.Generation)
	if err != nil {
		return err
	}
	switch g.state {
	case Stable, CompletingRebalance:
		g.heartbeat(m)
		return nil
	case PreparingRebalance:
		g.heartbeat(m)
		return ErrRebalanceInProgress
	}
	return ErrUnknownMemberID
}

// Leave handles a LeaveGroup request; it returns one error per member
// (nil for each that left).
func (c *Coordinator) Leave(groupID string, leaving []LeaveMember) ([]error, error) {
	g, err := c.lookup(groupID, false)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(leaving))
	if g == nil {
		for i := range errs {
			errs[i] = ErrUnknownMemberID
		}
		return errs, nil
	}
	if err := g.run(func() { g.leave(leaving, errs) }); err != nil {
		return nil, err
	}
	return errs, nil
}

func (g *group) leave(leaving []LeaveMember, errs []error) {
	removed := 0
	for i, lm := range leaving {
		id := lm.MemberID
		if lm.InstanceID != nil {
			cur, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMemberID
				continue
			case id != "" && id != cur:
				errs[i] = ErrFencedInstanceID
				continue
			}
			id = cur
		}
		if t, ok := g.pending[id]; ok {
			t.Stop()
			delete(g.pending, id)
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = ErrUnknownMemberID
			continue
		}
		g.c.logger.Info("consumergroup: member left", "group", g.id, "member", id, "reason", lm.Reason)
		g.removeMember(m)
		removed++
	}
	if removed > 0 {
		g.maybeRebalance("members left")
	} else {
		g.tryCompleteJoin()
	}
}
