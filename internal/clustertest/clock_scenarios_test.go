//go:build cluster

package clustertest

// Issue 15 item 3's clock jumps on one node, under the load and checks of
// cluster_scenarios_test.go: the leader's and a follower's wall clock
// jumped forward and back (the fault build, clock.go), nothing lost,
// duplicated or divergent, and what a Kafka user sees by time unchanged
// in kind:
//
//	go test -count=1 -tags cluster -run TestClusterClockJumps -v ./internal/clustertest/

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// clockLATTopic is stamped by its leader (LogAppendTime).
	clockLATTopic = "ct-clock-lat"
	// clockRetTopic keeps an hour (retention.ms): the jump past it.
	clockRetTopic = "ct-clock-ret"
	// clockSimpleGroup commits once, before the jumps, and never again.
	clockSimpleGroup = "ct-clock-simple"
)

// epochs is every partition's leader epoch of topic.
func epochs(ctx context.Context, c *Cluster, topic string) (map[int32]int32, error) {
	pd, err := c.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for p, d := range pd {
		out[p] = d.LeaderEpoch
	}
	return out, nil
}

// coordinatorOf is the node that coordinates group.
func coordinatorOf(ctx context.Context, c *Cluster, group string) (int, error) {
	r := c.Admin().FindGroupCoordinators(ctx, group)
	if err := r.Error(); err != nil {
		return 0, err
	}
	byID, _, err := c.brokerNodes(ctx)
	if err != nil {
		return 0, err
	}
	if n := byID[r[group].NodeID]; n != nil {
		return n.ID, nil
	}
	return 0, fmt.Errorf("group %s: coordinator %d is no node", group, r[group].NodeID)
}

func TestClusterClockJumpsOnTheLeaderAndAFollowerLoseNothing(t *testing.T) {
	s := startScenarioConfig(t, Config{ClockFault: true, Args: []string{
		// Retention and offset expiry look often, so that they run
		// while a clock is jumped.
		"--log.retention.check.interval.ms", "300",
		"--offsets.retention.check.interval.ms", "300",
	}})
	ctx, c, adm := s.ctx, s.c, s.c.Admin()
	minISR, lat, idx := "2", "LogAppendTime", "1"
	if err := c.CreateTopic(ctx, clockLATTopic, 1, 3, map[string]*string{"min.insync.replicas": &minISR,
		"message.timestamp.type": &lat, "index.interval.bytes": &idx}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitISR(ctx, clockLATTopic, 3); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	offs := kadm.Offsets{}
	offs.AddOffset(scenarioTopic, 0, 1, -1)
	if resps, err := adm.CommitOffsets(ctx, clockSimpleGroup, offs); err != nil || resps.Error() != nil {
		t.Fatalf("commit %s: %v %v", clockSimpleGroup, err, resps.Error())
	}
	leaders, err := c.Leaders(ctx, clockLATTopic)
	if err != nil || leaders[0] == 0 {
		t.Fatalf("%s leader: %v %v", clockLATTopic, leaders, err)
	}
	leader := leaders[0]
	follower := leader%len(c.Nodes) + 1
	coord, err := coordinatorOf(ctx, c, clockSimpleGroup)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]map[int32]int32{}
	for _, topic := range []string{scenarioTopic, clockLATTopic} {
		if before[topic], err = epochs(ctx, c, topic); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s leader node %d, follower node %d; %s's coordinator node %d", clockLATTopic, leader, follower, clockSimpleGroup, coord)

	// Each jump holds while the load runs and a record is stamped; the
	// leader's clock stamps it, a follower's never does.
	type jump struct {
		node int
		by   time.Duration
	}
	var recs []stamped
	leaderAt := time.Duration(0)
	for _, j := range []jump{
		{leader, 2 * time.Hour}, {follower, -2 * time.Hour}, {leader, -90 * time.Second},
		{follower, 6 * time.Hour}, {coord, 6 * time.Hour}, {leader, 0}, {follower, 0}, {coord, 0},
	} {
		if err := c.ClockJump(j.node, j.by); err != nil {
			t.Fatal(err)
		}
		if j.node == leader {
			leaderAt = j.by
		}
		s.progress(fmt.Sprintf("node %d's clock at %v", j.node, j.by), 200)
		r, err := produceStamped(ctx, cl, clockLATTopic, 0, leaderAt)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}

	// LogAppendTime: the leader's clock, jumped or not, on every record.
	ts, err := readTimestamps(ctx, c, clockLATTopic, 0, recs[0].offset, recs[len(recs)-1].offset+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := r.wantStamp(ts[r.offset]); err != nil {
			t.Error(err)
		}
	}
	// ListOffsets by time still answers: the first record at or after an
	// hour from the first one's time is the one stamped two hours ahead.
	if off, err := listAfter(ctx, adm, clockLATTopic, 0, recs[0].before.Add(time.Hour).UnixMilli()); err != nil || off != recs[0].offset {
		t.Errorf("ListOffsets an hour ahead: %d, %v; want %d (stamped +2h)", off, err, recs[0].offset)
	}
	// No jump moved a leader or fenced anyone: leases, sessions and ISR
	// lag run on the monotonic clock.
	for topic, was := range before {
		now, err := epochs(ctx, c, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, e := range was {
			if now[p] != e {
				t.Errorf("%s/%d: leader epoch %d after the clock jumps, %d before: a jump moved leadership", topic, p, now[p], e)
			}
		}
	}
	// A commit younger than offsets.retention.minutes (7 days) survives
	// its coordinator's six hours ahead.
	if at, err := committed(ctx, adm, clockSimpleGroup, scenarioTopic, 0); err != nil || at != 1 {
		t.Errorf("%s after its coordinator's clock jumped 6h: committed %d, %v; want 1", clockSimpleGroup, at, err)
	}

	// A jump past retention.ms: the leader deletes what its clock now
	// finds older than an hour, as Kafka would (retention by size only,
	// retention.ms=-1, or a slewing clock prevents it). The topic is
	// made now, every clock back to the system's.
	hour, segBytes := "3600000", "200"
	if err := c.CreateTopic(ctx, clockRetTopic, 1, 3, map[string]*string{"min.insync.replicas": &minISR,
		"retention.ms": &hour, "segment.bytes": &segBytes}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitISR(ctx, clockRetTopic, 3); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: clockRetTopic, Value: make([]byte, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if start, err := startOffset(ctx, adm, clockRetTopic, 0); err != nil || start != 0 {
		t.Fatalf("%s before the jump: log start %d, %v", clockRetTopic, start, err)
	}
	retLeaders, err := c.Leaders(ctx, clockRetTopic)
	if err != nil || retLeaders[0] == 0 {
		t.Fatalf("%s leader: %v %v", clockRetTopic, retLeaders, err)
	}
	if err := c.ClockJump(retLeaders[0], 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, clockRetTopic+"'s retention", func() (bool, error) {
		start, err := startOffset(ctx, adm, clockRetTopic, 0)
		return start > 0, err
	}); err != nil {
		t.Error(err)
	}
	if err := c.ClockJump(retLeaders[0], 0); err != nil {
		t.Fatal(err)
	}

	s.finish()
	// On every replica, each time index only goes forward.
	for _, n := range c.Nodes {
		if _, err := timeIndexesIncrease(n.DataDir, clockLATTopic); err != nil {
			t.Errorf("node %d: %v", n.ID, err)
		}
	}
}
