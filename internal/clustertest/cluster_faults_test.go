//go:build cluster

package clustertest

// Network faults on the three-node scenarios (issue 15 item 3): every
// connection between the nodes, and the clients', goes through the fault
// proxies (Config.Faults, net.go). Each scenario injects one fault under
// the scenarios' load, checks what the cluster must do meanwhile, heals,
// and ends as every scenario does: the whole ISR back, the consumers
// caught up, every node stopped and every replica read by the checker,
// which must find nothing.
//
//	go test -count=1 -tags cluster -run TestClusterFaults -v ./internal/clustertest/

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/faultproxy"
)

// The scenarios run with the 3 s broker.session.timeout.ms of every
// scenario (sessionTimeout), and each first moves the metadata quorum's
// leadership (etcd's Raft leader) onto the node it is about to fault
// (leadQuorum): the worst case for the other brokers, whose lease
// renewals and watches go nowhere until the rest elect another leader.
// They keep their leases through it: the new leader extends every lease
// when it takes over, a broker's renewals are short requests that a
// stuck one does not hold up (cluster/lease_keeper.go), and its etcd
// client leaves a member that stopped answering within a third of the
// session (cluster/endpoint_guard.go). What remains is inherent: when the
// quorum has no leader for longer than the session (an election slower
// than that on an overloaded machine, or two of three members cut off),
// every broker's lease lapses and every broker registers again as a new
// incarnation; nothing acknowledged is lost, and a partition whose only
// ISR member is the faulted node stays offline until it is back, as it
// must. A broker.session.timeout.ms well above etcd's election timeout
// (1 s), such as Kafka's default 9 s, makes that rarer on a loaded host.
//
// One more is etcd's own (etcd-io/etcd#15247, #12528): a leader paused
// (SIGSTOP) for longer than the session, once resumed, still counts
// itself the lease authority for a moment (its check of its leadership
// is skipped for a member that ticked in the last three ticks, which a
// resumed one just did), finds every other broker's lease expired in its
// stale view, and the revocations it proposes are forwarded to the new
// leader and applied: every broker is fenced at the resume and registers
// again. It loses nothing (TestClusterPausedControllerIsFencedAndActsOnNothingStale
// checks); no setting prevents it for a pause longer than the session.

// faultFor is how long a fault is held: past broker.session.timeout.ms
// and replica.lag.time.max.ms, so that the cluster acts on it.
const faultFor = sessionTimeout + 3*time.Second

// leaderSeenBy is the leader of partition p of the scenario topic as
// node id's own metadata names it (broker ids are node ids); 0 for none.
func (s *scenario) leaderSeenBy(id int, p int32) int {
	n, err := s.c.Node(id)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := n.metadata(s.ctx, scenarioTopic)
	if err != nil {
		return 0
	}
	for _, t := range resp.Topics {
		for _, tp := range t.Partitions {
			if tp.Partition == p && tp.ErrorCode == 0 && tp.Leader > 0 {
				return int(tp.Leader)
			}
		}
	}
	return 0
}

// waitLeaderSeenBy waits until node id's metadata names a leader of
// partition p that ok accepts, and returns it.
func (s *scenario) waitLeaderSeenBy(id int, p int32, what string, ok func(leader int) bool) int {
	s.t.Helper()
	for {
		if l := s.leaderSeenBy(id, p); l != 0 && ok(l) {
			return l
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("partition %d: node %d never saw %s (it names %d)", p, id, what, s.leaderSeenBy(id, p))
		case <-time.After(waitEvery):
		}
	}
}

// controllerSeenBy is the active controller node id's DescribeCluster
// names; 0 for none.
func (s *scenario) controllerSeenBy(id int) int {
	n, err := s.c.Node(id)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := n.ask(s.ctx, kmsg.NewPtrDescribeClusterRequest())
	if err != nil {
		return 0
	}
	if dc := resp.(*kmsg.DescribeClusterResponse); dc.ErrorCode == 0 && dc.ControllerID > 0 {
		return int(dc.ControllerID)
	}
	return 0
}

// other is a node that is none of not.
func (s *scenario) other(not ...int) int {
	for _, n := range s.c.Nodes {
		if !slices.Contains(not, n.ID) {
			return n.ID
		}
	}
	s.t.Fatalf("no node but %v", not)
	return 0
}

// pinnedProducer is a load producer of partition 0 alone whose every
// connection goes to node id's Kafka proxy, as a client that only ever
// reaches that node: what id acknowledges, and only that, is
// acknowledged to it. Its records are in the scenario's history like the
// others'; it is running once id has acknowledged some.
func (s *scenario) pinnedProducer(clientID, id int) *Producer {
	s.t.Helper()
	n, err := s.c.Node(id)
	if err != nil {
		s.t.Fatal(err)
	}
	var d net.Dialer
	p, err := StartProducer(s.ctx, ProducerConfig{ID: clientID, Seeds: []string{n.Addr}, Topic: scenarioTopic, Partitions: 1,
		Rate: 100, Duration: loadFor, DeliveryTimeout: 5 * time.Second,
		Opts: []kgo.Opt{kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, n.Addr)
		})}}, s.h)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := p.WaitAcked(s.ctx, 50); err != nil {
		s.t.Fatalf("producer pinned to node %d: %v (%s)", id, err, p.Stats())
	}
	return p
}

// checkSources logs, for every proxy, its connections by source, and
// checks that every node names itself to the others: the etcd proxies
// hold no client's connection (the brokers' etcd clients dial from their
// own address, the members' peer traffic is named by its process) and
// every node's proxies hold connections from both other nodes.
func (s *scenario) checkSources() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var bad []string
		for _, n := range s.c.Nodes {
			for _, l := range []string{ListenerKafka, ListenerEtcdPeer, ListenerEtcdClient} {
				got := s.c.Net().Proxy(NodeName(n.ID), l).ConnsFrom()
				if l != ListenerKafka && got[ClientSource] > 0 {
					bad = append(bad, fmt.Sprintf("%s/%s: %v", NodeName(n.ID), l, got))
				}
				for _, o := range s.c.Nodes {
					if o.ID != n.ID && got[NodeName(o.ID)] == 0 {
						bad = append(bad, fmt.Sprintf("%s/%s: %v: none from %s", NodeName(n.ID), l, got, NodeName(o.ID)))
					}
				}
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("connections not named by the node they come from: %v", bad)
		}
		time.Sleep(waitEvery)
	}
	for _, n := range s.c.Nodes {
		for _, l := range []string{ListenerKafka, ListenerEtcdPeer, ListenerEtcdClient} {
			s.t.Logf("proxy %s/%s: connections by source %v", NodeName(n.ID), l, s.c.Net().Proxy(NodeName(n.ID), l).ConnsFrom())
		}
	}
}

// leadQuorum makes node id's etcd member lead the metadata quorum before
// a fault cuts it off: the worst case for the other brokers, whose lease
// keep-alives stall until the rest elect another leader.
func (s *scenario) leadQuorum(id int) {
	s.t.Helper()
	if err := s.c.MoveQuorumLeader(s.ctx, id); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("node %d's etcd member leads the metadata quorum", id)
	s.faulted = append(s.faulted, id)
}

// heldAcks checks that p is acknowledged nothing more for hold, once
// what was in flight when the fault began has been answered (grace).
func (s *scenario) heldAcks(p *Producer, what string, grace, hold time.Duration) {
	s.t.Helper()
	time.Sleep(grace)
	before := p.Acked()
	time.Sleep(hold)
	if after := p.Acked(); after != before {
		s.t.Errorf("%s: %d records acknowledged to a client of the cut-off node (want none)", what, after-before)
	}
}

// faultProgressWait bounds progressDuringFault's wait.
const faultProgressWait = 15 * time.Second

// progressDuringFault waits, up to faultProgressWait, for n more
// acknowledgements while a fault is held, and logs what it saw; it does
// not fail the test. With one node cut off the two others should go on
// (min.insync.replicas=2), and usually do, but not always: when their
// leases lapse too (the quorum leaderless for longer than the session,
// see the file comment) they register again, and until the leaders'
// ISR proposals settle, a partition can stay below min.insync.replicas
// until the fault heals. Safety is what the scenarios assert; the
// progress after Heal is required.
func (s *scenario) progressDuringFault(what string, n int64) {
	s.t.Helper()
	start, want := s.acked(), s.acked()+n
	deadline := time.Now().Add(faultProgressWait)
	for s.acked() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.acked() - start; got < n {
		s.t.Logf("%s: only %d acknowledged in %v (want %d): the cluster stalled under the fault", what, got, faultProgressWait, n)
		return
	}
	s.t.Logf("%s: %d acknowledged", what, s.acked())
}

// TestClusterFaultsIsolatedLeaderIsReplacedAndRejoins isolates the
// leader of a partition from the other nodes (brokers and etcd) while
// clients still reach it: the case that lost acknowledged writes in
// Kafka 0.8 (Jepsen, 2013). It must stop acknowledging acks=all writes
// (min.insync.replicas=2: its followers cannot fetch and it cannot
// shrink the ISR without the metadata quorum), be fenced, and another
// replica must lead; once healed it follows and truncates whatever it
// appended that the new leader does not have.
func TestClusterFaultsIsolatedLeaderIsReplacedAndRejoins(t *testing.T) {
	s := startScenarioConfig(t, Config{Faults: true})
	const p = 0 // the pinned producer's
	old := s.leaderOf(p, 0)
	pinned := s.pinnedProducer(3, old)
	s.checkSources()
	s.leadQuorum(old)

	if err := s.c.Isolate(old); err != nil {
		t.Fatal(err)
	}
	t.Logf("partition %d: leader %d isolated from the other nodes", p, old)
	witness := s.other(old)
	now := s.waitLeaderSeenBy(witness, p, "a leader other than the isolated one", func(l int) bool { return l != old })
	t.Logf("partition %d: node %d leads, as node %d sees it", p, now, witness)
	s.heldAcks(pinned, fmt.Sprintf("node %d isolated", old), time.Second, 2*time.Second)
	s.progressDuringFault(fmt.Sprintf("with node %d isolated", old), 300)
	t.Log(pinned.Stop())

	if err := s.c.Heal(); err != nil {
		t.Fatal(err)
	}
	// The old leader follows: its own metadata names the new leader, and
	// it is back in the ISR.
	s.waitLeaderSeenBy(old, p, "the leader elected while it was isolated", func(l int) bool { return l != old })
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", old, err)
	}
	s.progress(fmt.Sprintf("after node %d rejoined", old), 300)
	s.replaceGroupMember()
	s.finish()
}

// TestClusterFaultsLeaderThatCannotSpeakIsReplaced cuts one way every
// byte the leader of a partition sends to the other nodes: it still
// hears them (fetch requests, etcd traffic) but its answers, its
// heartbeats and its lease renewals never arrive. It must be fenced and
// replaced as if isolated, and acknowledge nothing meanwhile.
func TestClusterFaultsLeaderThatCannotSpeakIsReplaced(t *testing.T) {
	s := startScenarioConfig(t, Config{Faults: true})
	const p = 0 // the pinned producer's
	old := s.leaderOf(p, 0)
	pinned := s.pinnedProducer(3, old)
	s.checkSources()
	s.leadQuorum(old)

	for _, n := range s.c.Nodes {
		if n.ID != old {
			if err := s.c.CutOneWay(old, n.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("partition %d: leader %d's bytes to the other nodes cut", p, old)
	witness := s.other(old)
	now := s.waitLeaderSeenBy(witness, p, "a leader other than the muted one", func(l int) bool { return l != old })
	t.Logf("partition %d: node %d leads, as node %d sees it", p, now, witness)
	s.heldAcks(pinned, fmt.Sprintf("node %d muted", old), time.Second, 2*time.Second)
	s.progressDuringFault(fmt.Sprintf("with node %d muted", old), 300)
	t.Log(pinned.Stop())

	if err := s.c.Heal(); err != nil {
		t.Fatal(err)
	}
	s.waitLeaderSeenBy(old, p, "the leader elected while it was muted", func(l int) bool { return l != old })
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", old, err)
	}
	s.progress(fmt.Sprintf("after node %d was heard again", old), 300)
	s.replaceGroupMember()
	s.finish()
}

// TestClusterFaultsFrozenControllerLinksMoveTheController freezes every
// connection of the active controller, the clients' included (the
// network view of a SIGSTOP, while the process and its timers run on):
// another node must take over as controller and the partitions it led
// must move; healed, it rejoins as a broker among the others.
func TestClusterFaultsFrozenControllerLinksMoveTheController(t *testing.T) {
	s := startScenarioConfig(t, Config{Faults: true})
	old, err := s.c.Controller(s.ctx)
	if err != nil || old == 0 {
		t.Fatalf("controller %d, %v", old, err)
	}
	s.leadQuorum(old)
	if err := s.c.Freeze(old); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	witness := s.other(old)
	for {
		if ctl := s.controllerSeenBy(witness); ctl != 0 && ctl != old {
			t.Logf("controller %d frozen, node %d controls as node %d sees it, after %v", old, ctl, witness, time.Since(frozenAt).Round(time.Millisecond))
			break
		}
		select {
		case <-s.ctx.Done():
			t.Fatalf("node %d still names %d controller with its links frozen", witness, s.controllerSeenBy(witness))
		case <-time.After(waitEvery):
		}
	}
	for p := range int32(scenarioParts) {
		s.waitLeaderSeenBy(witness, p, "a leader other than the frozen controller", func(l int) bool { return l != old })
	}
	s.progressDuringFault(fmt.Sprintf("with controller %d frozen", old), 300)
	if d := faultFor - time.Since(frozenAt); d > 0 {
		time.Sleep(d)
	}
	if err := s.c.Heal(); err != nil {
		t.Fatal(err)
	}
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", old, err)
	}
	s.progress(fmt.Sprintf("after controller %d's links thawed", old), 300)
	s.replaceGroupMember()
	s.finish()
}

// cutKafka holds, until Heal, the Kafka connections between node id and
// every other node (replica fetches, both ways) and leaves everything
// else, etcd included, alone: the leader still reaches the metadata
// quorum, so it can shrink the ISR to itself.
func (s *scenario) cutKafka(id int) {
	net := s.c.Net()
	for _, n := range s.c.Nodes {
		if n.ID == id {
			continue
		}
		net.Proxy(NodeName(id), ListenerKafka).For(faultproxy.Only(NodeName(n.ID))).Drop()
		net.Proxy(NodeName(n.ID), ListenerKafka).For(faultproxy.Only(NodeName(id))).Drop()
	}
}

// TestClusterFaultsISRShrunkToTheLeaderThenIsolatedLosesNothing is the
// case Jepsen found losing acknowledged writes in Kafka 0.8 (2013): with
// min.insync.replicas=1 (Kafka's default), the ISR of a partition shrinks
// to its leader, which goes on acknowledging acks=all writes alone; then
// the leader is isolated. No other replica may lead (they lack those
// writes, and unclean.leader.election.enable is false), so the partition
// is offline until the leader returns, and nothing is lost.
func TestClusterFaultsISRShrunkToTheLeaderThenIsolatedLosesNothing(t *testing.T) {
	s := startScenarioConfig(t, Config{Faults: true})
	one := "1"
	alter, err := s.c.Admin().AlterTopicConfigs(s.ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: &one}}, scenarioTopic)
	if err == nil {
		err = alter[0].Err
	}
	if err != nil {
		t.Fatalf("min.insync.replicas=1 on %s: %v", scenarioTopic, err)
	}
	const p = 0 // the pinned producer's
	old := s.leaderOf(p, 0)
	oldBroker := int32(old)
	witness := s.other(old)
	pinned := s.pinnedProducer(3, old)

	s.cutKafka(old)
	if err := s.c.WaitPartitions(s.ctx, scenarioTopic, func(d kadm.PartitionDetail) bool {
		return d.Partition != p || slices.Equal(d.ISR, []int32{oldBroker})
	}); err != nil {
		t.Fatalf("partition %d's ISR never shrank to its leader %d: %v", p, old, err)
	}
	// Acknowledged by the leader alone, with the ISR of one it is allowed.
	if err := pinned.WaitAcked(s.ctx, pinned.Acked()+50); err != nil {
		t.Fatalf("with the ISR shrunk to node %d: %v", old, err)
	}
	t.Logf("partition %d: ISR shrunk to its leader %d, which acknowledged %d records", p, old, pinned.Acked())

	s.leadQuorum(old)
	if err := s.c.Isolate(old); err != nil {
		t.Fatal(err)
	}
	isolatedAt := time.Now()
	// Its lease lapses and it is fenced; no other replica may take the
	// partition meanwhile.
	for time.Since(isolatedAt) < faultFor {
		if l := s.leaderSeenBy(witness, p); l != 0 && l != old {
			t.Fatalf("partition %d: node %d leads, out of the ISR, while the only ISR member %d is isolated (unclean election)", p, l, old)
		}
		time.Sleep(waitEvery)
	}
	t.Log(pinned.Stop())
	if err := s.c.Heal(); err != nil {
		t.Fatal(err)
	}
	if l := s.waitLeaderSeenBy(witness, p, "a leader once healed", func(int) bool { return true }); l != old {
		t.Errorf("partition %d: node %d leads once healed, want the only ISR member %d", p, l, old)
	}
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("the ISR never grew back: %v", err)
	}
	s.progress(fmt.Sprintf("after node %d rejoined", old), 300)
	s.replaceGroupMember()
	s.finish()
}
