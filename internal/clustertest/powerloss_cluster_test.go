//go:build cluster

package clustertest

// Power loss of one node of three (issue 15 item 3: "a minority losing
// its unsynced writes", the NATS 2.12 Jepsen case): RF=3,
// min.insync.replicas=2, idempotent acks=all producers, Kafka's default
// flush settings (no flush.messages). The node loses every write it had
// not fsynced (its page cache), torn, and comes back at once, before its
// session would lapse: it must not lead, nor count toward acks=all, with
// the tail it lost; the checker must find nothing lost and no replica
// diverging.
//
//	go test -count=1 -tags cluster -run TestClusterPowerLoss -v ./internal/clustertest/

import (
	"testing"
)

// powerLossAndBack powers node off, restarts it at once and waits until
// the load goes on and the ISR is whole again.
func (s *scenario) powerLossAndBack(node int) {
	s.t.Helper()
	res, err := s.c.PowerLossTorn(node, s.rng)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("power loss of node %d (seed %d): %s", node, s.seed, res)
	if res.BytesDropped == 0 {
		s.t.Fatalf("the power loss of node %d dropped nothing: its log tail was never synced", node)
	}
	if err := s.c.Restart(s.ctx, node); err != nil {
		s.t.Fatalf("node %d does not recover from the power loss: %v", node, err)
	}
	s.progress("after the power loss", 500)
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		s.t.Fatal(err)
	}
	s.progress("node back in every ISR", 300)
}

func TestClusterPowerLossOfAFollowerLosesNothing(t *testing.T) {
	s := startScenarioConfig(t, Config{PowerLoss: true})
	p := int32(s.rng.IntN(scenarioParts))
	leader := s.leaderOf(p, 0)
	follower := leader%3 + 1 + s.rng.IntN(2)
	if follower > 3 {
		follower -= 3
	}
	t.Logf("partition %d: leader %d, power loss of follower %d", p, leader, follower)
	s.progress("load before the power loss", 500)
	s.powerLossAndBack(follower)
	s.replaceGroupMember()
	s.finish()
}

// TestClusterPowerLossOfALeaderLosesNothing powers off the controller
// (if it leads a partition; else a leader). With fast fencing its old
// registration usually ends before it is back; with the lease alone its
// restart takes over its own registration, and the controller moves at
// that same moment: the new controller's first snapshot already shows it
// registered again, in the ISR and leading, which only the broker epoch
// against the partition's last write tells apart.
func TestClusterPowerLossOfALeaderLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fast fencing", nil},
		{"lease only", []string{"--broker.fast.fencing.enable", "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) { powerLossOfALeader(t, tc.args) })
	}
}

func powerLossOfALeader(t *testing.T, args []string) {
	s := startScenarioConfig(t, Config{PowerLoss: true, Args: args})
	// The controller, if it leads a partition: its power loss also moves
	// the controller, whose successor decides from a fresh snapshot.
	ctl, err := s.c.Controller(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaders, err := s.c.Leaders(s.ctx, scenarioTopic)
	if err != nil {
		t.Fatal(err)
	}
	p := int32(s.rng.IntN(scenarioParts))
	for q, l := range leaders {
		if l == ctl {
			p = q
		}
	}
	leader := s.leaderOf(p, 0)
	t.Logf("partition %d: power loss of its leader %d (controller %d)", p, leader, ctl)
	s.progress("load before the power loss", 500)
	s.powerLossAndBack(leader)
	if now := s.leaderOf(p, 0); now == leader {
		t.Logf("partition %d: node %d leads again (it caught up first)", p, now)
	}
	s.replaceGroupMember()
	s.finish()
}

// TestClusterPowerLossOfEveryNodeWithFlushMessagesLosesNothing is the
// case Kafka's defaults do not cover: every replica of a partition loses
// its page cache at once (one rack, one PDU). With
// log.flush.interval.messages=1 (flush.messages=1: an fsync before each
// acknowledgement) nothing acknowledged is lost.
func TestClusterPowerLossOfEveryNodeWithFlushMessagesLosesNothing(t *testing.T) {
	s := startScenarioConfig(t, Config{PowerLoss: true, Args: []string{"--log.flush.interval.messages", "1"}})
	s.progress("load before the power loss", 500)
	for _, n := range s.c.Nodes {
		res, err := n.PowerLossTorn(s.rng)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("power loss of node %d (seed %d): %s", n.ID, s.seed, res)
	}
	// The voters wait for each other: every node starts at once.
	errs := make(chan error, len(s.c.Nodes))
	for _, n := range s.c.Nodes {
		go func() { errs <- n.Restart(s.ctx) }()
	}
	for range s.c.Nodes {
		if err := <-errs; err != nil {
			t.Fatalf("a node does not recover from the power loss: %v", err)
		}
	}
	s.progress("after the power loss of every node", 500)
	s.replaceGroupMember()
	s.finish()
}
