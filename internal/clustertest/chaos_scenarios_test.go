//go:build cluster

package clustertest

// Issue 15 item 3's scenarios that process faults can make, each one
// fault on purpose (the schedule of chaos_test.go draws them at random),
// under the load and checks of cluster_scenarios_test.go:
//
//	go test -count=1 -tags cluster -run 'TestClusterPausedController|TestClusterBrokerBackWithAnEmptyLog' -v ./internal/clustertest/

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// duringPauseTopic is created while the controller is paused.
const duringPauseTopic = "ct-during-pause"

// partitionsOn is topic's partitions as node n's metadata has them.
func partitionsOn(ctx context.Context, n *Node, topic string) (map[int32]kmsg.MetadataResponseTopicPartition, error) {
	resp, err := n.metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("node %d: topic %s: %w", n.ID, topic, err)
		}
		out := map[int32]kmsg.MetadataResponseTopicPartition{}
		for _, p := range t.Partitions {
			out[p.Partition] = p
		}
		return out, nil
	}
	return nil, fmt.Errorf("node %d does not list topic %s", n.ID, topic)
}

// createTopicOn creates topic through the node the live nodes name as
// controller, retrying until it answers, and waits for its leaders.
func createTopicOn(ctx context.Context, c *Cluster, topic string, parts int32, rf int16) error {
	for {
		var err error
		ctl, cerr := c.Controller(ctx)
		n, nerr := c.Node(ctl)
		switch {
		case cerr != nil:
			err = cerr
		case nerr != nil:
			err = nerr
		default:
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 5000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
			req.Topics = append(req.Topics, rt)
			var resp kmsg.Response
			if resp, err = n.ask(ctx, req); err == nil {
				ct := resp.(*kmsg.CreateTopicsResponse)
				if len(ct.Topics) != 1 {
					return fmt.Errorf("create topic %s: %d topics answered", topic, len(ct.Topics))
				}
				err = kerr.ErrorForCode(ct.Topics[0].ErrorCode)
				if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
					return c.WaitPartitions(ctx, topic, func(p kadm.PartitionDetail) bool { return p.Err == nil && p.Leader >= 0 })
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %s: %w (last: %v)", topic, ctx.Err(), err)
		case <-time.After(waitEvery):
		}
	}
}

// controllersSeen is the controller every live node names in
// DescribeCluster, by node.
func (c *Cluster) controllersSeen(ctx context.Context) map[int]int32 {
	out := map[int]int32{}
	for _, n := range c.live() {
		resp, err := n.ask(ctx, kmsg.NewPtrDescribeClusterRequest())
		if err != nil {
			out[n.ID] = -2
			continue
		}
		dc := resp.(*kmsg.DescribeClusterResponse)
		out[n.ID] = dc.ControllerID
		if dc.ErrorCode != 0 {
			out[n.ID] = -3
		}
	}
	return out
}

// logCount counts the lines of node n's log (every incarnation) holding
// what.
func logCount(t *testing.T, n *Node, what string) int {
	t.Helper()
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(what))
}

func TestClusterPausedControllerIsFencedAndActsOnNothingStale(t *testing.T) {
	// The paused node's etcd member leads the quorum (leadQuorum), as in
	// the network scenarios (cluster_faults_test.go).
	s := startScenario(t)
	old, err := s.c.Controller(s.ctx)
	if err != nil || old == 0 {
		t.Fatalf("controller %d, %v", old, err)
	}
	s.leadQuorum(old)
	oldNode, _ := s.c.Node(old)
	const inactive = `msg="controller inactive"`
	stepDowns := logCount(t, oldNode, inactive)
	if err := s.c.Stop(old); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	var now int
	for now == 0 || now == old {
		select {
		case <-s.ctx.Done():
			t.Fatalf("no new controller with controller %d paused", old)
		case <-time.After(waitEvery):
		}
		now, _ = s.c.Controller(s.ctx)
	}
	t.Logf("controller %d paused, node %d controls after %v", old, now, time.Since(pausedAt).Round(time.Millisecond))
	// The new controller works meanwhile: it creates a topic and moves
	// every leadership off the paused node, at new leader epochs. (The
	// topic is created through the controller itself: a kadm client that
	// knew the paused one keeps waiting on it.)
	if err := createTopicOn(s.ctx, s.c, duringPauseTopic, 2, 2); err != nil {
		t.Fatal(err)
	}
	for p := range int32(scenarioParts) {
		s.leaderOf(p, old)
	}
	s.progress(fmt.Sprintf("with controller %d paused", old), 300)
	if d := sessionTimeout + 2*time.Second - time.Since(pausedAt); d > 0 {
		time.Sleep(d)
	}
	// What the live controller decided, as a live node sees it.
	var watcher *Node
	for _, n := range s.c.live() {
		watcher = n
		break
	}
	decided := map[string]map[int32]kmsg.MetadataResponseTopicPartition{}
	for _, topic := range []string{scenarioTopic, duringPauseTopic} {
		pd, err := partitionsOn(s.ctx, watcher, topic)
		if err != nil {
			t.Fatal(err)
		}
		decided[topic] = pd
	}
	if err := s.c.Cont(old); err != nil {
		t.Fatal(err)
	}
	resumedAt := time.Now()

	// For 5 s after the resume, no live node that was not paused may see
	// the metadata go back: every partition keeps the leader epoch the
	// new controller gave it or a newer one, none is led by the resumed
	// node at an epoch it did not get after its pause, and the topic
	// created meanwhile stays. The resumed controller's stale writes, if
	// any were let through, would show here.
	for time.Since(resumedAt) < 5*time.Second {
		for _, n := range s.c.live() {
			if n.ID == old {
				continue
			}
			for topic, was := range decided {
				pd, err := partitionsOn(s.ctx, n, topic)
				if err != nil {
					t.Fatalf("after controller %d resumed: %v", old, err)
				}
				for p, w := range was {
					got, ok := pd[p]
					switch {
					case !ok:
						t.Fatalf("node %d: %s/%d gone after controller %d resumed", n.ID, topic, p, old)
					case got.LeaderEpoch < w.LeaderEpoch:
						t.Fatalf("node %d: %s/%d at leader epoch %d (leader %d) after controller %d resumed, was %d (leader %d)",
							n.ID, topic, p, got.LeaderEpoch, got.Leader, old, w.LeaderEpoch, w.Leader)
					case got.Leader == int32(old) && got.LeaderEpoch <= w.LeaderEpoch:
						t.Fatalf("node %d: %s/%d led by the resumed node %d at epoch %d, not a newer one than %d",
							n.ID, topic, p, old, got.LeaderEpoch, w.LeaderEpoch)
					}
				}
			}
		}
		time.Sleep(waitEvery)
	}
	// The resumed node knows its term is over, and every node names one
	// controller, the same.
	for logCount(t, oldNode, inactive) <= stepDowns {
		select {
		case <-s.ctx.Done():
			t.Fatalf("node %d never logged %s after its pause", old, inactive)
		case <-time.After(waitEvery):
		}
	}
	for {
		seen := s.c.controllersSeen(s.ctx)
		var ids []int32
		for _, id := range seen {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if len(seen) == len(s.c.Nodes) && ids[0] > 0 && ids[0] == ids[len(ids)-1] {
			t.Logf("after the resume every node names controller %d", ids[0])
			break
		}
		select {
		case <-s.ctx.Done():
			t.Fatalf("the nodes do not agree on one controller: %v", seen)
		case <-time.After(waitEvery):
		}
	}
	s.progress(fmt.Sprintf("after controller %d resumed", old), 300)
	if err := s.c.WaitISR(s.ctx, scenarioTopic, 3); err != nil {
		t.Fatalf("node %d never rejoined the ISR: %v", old, err)
	}
	s.replaceGroupMember()
	s.finish()
}

// endsOn asks node n for the log end offset of each partition of topic it
// leads; partitions it does not lead are left out.
func endsOn(ctx context.Context, n *Node, topic string, parts int32) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // the end
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := n.ask(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

func TestClusterBrokerBackWithAnEmptyLogRefetchesAndDoesNotLead(t *testing.T) {
	s := startScenario(t)
	// The worst case: the node that leads partition 0 and is its
	// preferred replica, whom a preferred-leader election would pick.
	pd, err := s.c.Partitions(s.ctx, scenarioTopic)
	if err != nil {
		t.Fatal(err)
	}
	victim := int(pd[0].Replicas[0])
	n, err := s.c.Node(victim)
	if err != nil {
		t.Fatal(err)
	}
	s.leaderOf(0, 0)
	if err := s.c.Kill9(victim); err != nil {
		t.Fatal(err)
	}
	now := s.leaderOf(0, victim)
	s.progress(fmt.Sprintf("with node %d down", victim), 300)
	// Everything acknowledged so far is below these ends: the node must
	// not serve as leader below them once back with nothing.
	floor, err := s.c.EndOffsets(s.ctx, scenarioTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.WipeLogsAndRestart(s.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("node %d back with an empty log (partition 0 led by node %d); ends before: %v", victim, now, floor)
	whole := false
	for checks := 0; !whole || checks < 40; checks++ {
		ends, err := endsOn(s.ctx, n, scenarioTopic, scenarioParts)
		if err != nil {
			t.Logf("node %d: list offsets: %v", victim, err)
		}
		for p, end := range ends {
			if end < floor[p] {
				t.Fatalf("node %d, back with an empty log, answers as leader of partition %d with end %d below the %d acknowledged before",
					victim, p, end, floor[p])
			}
		}
		if !whole {
			wctx, cancel := context.WithTimeout(s.ctx, waitEvery)
			whole = s.c.WaitISR(wctx, scenarioTopic, 3) == nil
			cancel()
		}
		select {
		case <-s.ctx.Done():
			t.Fatalf("node %d never rejoined every ISR", victim)
		case <-time.After(waitEvery):
		}
	}
	s.progress(fmt.Sprintf("with node %d back", victim), 300)
	s.replaceGroupMember()
	// finish reads the wiped node's data dir too: it must hold every
	// partition, to the same end as the others.
	s.finish()
}

// TestClusterRollingRestartOfAnIdlePartitionKeepsItsISR: found by the
// chaos run (an idle __consumer_offsets partition left with its leader
// alone in its ISR, the group on it unable to store an assignment). A
// leader stopped before it appended anything in its epoch keeps that
// epoch at its log end; the next leader never had it, and told "your
// epochs diverge at your own end" the follower refetched the same for
// ever. Each leader in turn is stopped with SIGTERM and restarted, and
// must rejoin the ISR.
func TestClusterRollingRestartOfAnIdlePartitionKeepsItsISR(t *testing.T) {
	skipShort(t)
	t.Parallel() // beside the scenarios (startScenarioConfig)
	_, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := Start(t, Config{Nodes: 3, Rand: rng, Args: clusterArgs})
	const topic = "ct-idle"
	if err := c.CreateTopic(ctx, topic, 1, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitISR(ctx, topic, 3); err != nil {
		t.Fatal(err)
	}
	p, err := StartProducer(ctx, ProducerConfig{ID: 1, Seeds: c.Seeds(), Topic: topic, Partitions: 1, Count: 10,
		Duration: 30 * time.Second}, NewHistory())
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Wait(); st.Acked != 10 {
		t.Fatalf("%s", st)
	}
	// No record is written from here on: each new leader starts an epoch
	// it appends nothing in. The second restarted leader holds the
	// first's epoch, which the leader after it never learnt.
	for round := 1; round <= 3; round++ {
		leaders, err := c.Leaders(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		old := leaders[0]
		if err := c.Term(old); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(ctx, old); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err = c.WaitISR(wctx, topic, 3)
		wcancel()
		if err != nil {
			t.Fatalf("round %d: node %d, its leader until a controlled shutdown, never rejoined the ISR of the idle partition: %v", round, old, err)
		}
	}
}
