package server

// Readiness: whether this broker has caught up enough to be sent
// clients, for Kubernetes' readiness probe (serve's /readyz) and for
// tools that wait for a broker (a rolling restart goes on to the next
// broker once this one is ready). Liveness is not decided here: a
// broker that is not ready (fenced, waiting for a quorum) is alive and
// must not be restarted for it.
//
// A single broker is ready once it serves a listener and is not closing
// (its logs are open before New). A cluster node is ready when, besides:
//
//   - joined: StartCluster has opened the metadata store (a voter's
//     embedded etcd member has found a quorum) and agreed on the cluster
//     ID;
//   - registered: its registration is live, under broker epoch E (the
//     store revision of the registration write), not fenced;
//   - metadata: its copy of the metadata has reached revision E and
//     shows this broker registered at epoch E, so the watch delivers
//     what was written after the node started;
//   - reconciled: the reconciler has applied, without anything left to
//     retry, a snapshot at revision E or later: the local logs of the
//     partitions assigned here are open and led or followed.
//
// Once reached, reconciled stays true until the next registration (a
// fencing): a reconciliation retried later does not make a ready
// broker flap. Being fenced does: the broker leads and follows nothing
// until it registers again.

import (
	"fmt"
	"strings"
)

// The names of the readiness checks, as /readyz lists them.
const (
	ReadyListeners  = "listeners"
	ReadyJoined     = "joined"
	ReadyRegistered = "registered"
	ReadyMetadata   = "metadata"
	ReadyReconciled = "reconciled"
)

// ReadinessCheck is one condition of readiness.
type ReadinessCheck struct {
	Name   string
	OK     bool
	Detail string // what holds, or why not
}

// Readiness is every check and whether all hold.
type Readiness struct {
	Ready  bool
	Checks []ReadinessCheck
}

// String is the checks one a line, as Kubernetes' own /readyz writes
// them: "[+]name detail" or "[-]name detail".
func (r Readiness) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		mark := "[-]"
		if c.OK {
			mark = "[+]"
		}
		fmt.Fprintf(&b, "%s%s %s\n", mark, c.Name, c.Detail)
	}
	if r.Ready {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	return b.String()
}

// Ready says whether the broker should be sent clients: Readiness().Ready.
func (s *Server) Ready() bool { return s.Readiness().Ready }

// Readiness checks the broker's readiness now. It takes no lock held
// across I/O, so a probe answers while the broker is busy.
func (s *Server) Readiness() Readiness {
	var r Readiness
	add := func(name string, ok bool, format string, args ...any) bool {
		r.Checks = append(r.Checks, ReadinessCheck{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
		return ok
	}
	s.mu.Lock()
	closed, listening := s.closed, len(s.listeners)
	s.mu.Unlock()
	switch {
	case closed:
		add(ReadyListeners, false, "closing: shutting down")
	case listening == 0:
		add(ReadyListeners, false, "no listener open yet")
	default:
		add(ReadyListeners, true, "%d serving", listening)
	}
	if s.node != nil {
		s.node.readiness(add)
	}
	r.Ready = true
	for _, c := range r.Checks {
		r.Ready = r.Ready && c.OK
	}
	return r
}

// readiness adds the cluster's checks, stopping at the first that fails
// (the later ones read what it establishes).
func (n *brokerNode) readiness(add func(name string, ok bool, format string, args ...any) bool) {
	if !add(ReadyJoined, n.started.Load(), "%s", n.joinedDetail()) {
		return
	}
	reg := n.currentReg()
	if reg == nil || !n.registered.Load() {
		add(ReadyRegistered, false, "fenced: registering again")
		return
	}
	add(ReadyRegistered, true, "broker epoch %d", reg.Epoch())
	epoch := reg.Epoch()
	snap := n.store.Snapshot()
	b, listed := snap.Brokers[n.self]
	if !add(ReadyMetadata, snap.Revision >= epoch && listed && b.Epoch == epoch,
		"at revision %d, this broker listed at epoch %d (current %d)", snap.Revision, b.Epoch, epoch) {
		return
	}
	applied := n.rec.caughtUp.Load()
	add(ReadyReconciled, applied >= epoch, "partitions at revision %d (broker epoch %d)", applied, epoch)
}

func (n *brokerNode) joinedDetail() string {
	if n.started.Load() {
		return "cluster " + n.clusterID
	}
	if n.cfg.IsVoter() {
		return fmt.Sprintf("joining: waiting for a quorum of controller.quorum.voters (%d of %d) and the metadata store", len(n.cfg.Voters)/2+1, len(n.cfg.Voters))
	}
	return "joining: waiting for the metadata store " + strings.Join(n.cfg.StoreEndpoints(), ",")
}
