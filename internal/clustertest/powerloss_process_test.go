package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	plTopic = "pl"
	plParts = 2
	// plCount is each phase's records.
	plCount = 400
	// plTimeout bounds one power-loss test.
	plTimeout = 3 * time.Minute
)

// produceAll runs a producer of count records to completion and fails
// the test unless every one was acknowledged.
func produceAll(ctx context.Context, t *testing.T, c *Cluster, h *History, id int, count int64, opts ...kgo.Opt) {
	t.Helper()
	p, err := StartProducer(ctx, ProducerConfig{ID: id, Seeds: c.Seeds(), Topic: plTopic, Partitions: plParts,
		Count: count, Duration: time.Minute, Opts: opts}, h)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Wait(); st.Acked != count {
		t.Fatalf("producer %d: %s; want all %d acknowledged", id, st, count)
	}
}

// readAfterCleanStop stops node 1 with SIGTERM and reads its replica,
// which must show no damage: the restart after the power loss recovered
// it.
func readAfterCleanStop(t *testing.T, c *Cluster) Replica {
	t.Helper()
	if err := c.Term(1); err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReplica(1, c.Nodes[0].DataDir, plTopic)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("the log is damaged after the broker's recovery and a clean stop:\n%s", strings.Join(rep.Problems, "\n"))
	}
	return rep
}

// tailLoss checks that the acknowledged records of producer in rep are
// each at its acknowledged offset or lost, and that the lost ones are a
// tail: in every partition, none is below one that survived. It returns
// how many were lost.
func tailLoss(events []Event, rep Replica, producer int) (int, error) {
	lowestLost := map[TopicPartition]Event{}
	var kept []Event
	for _, e := range events {
		if e.Kind != EvAck || e.ID.Producer != producer {
			continue
		}
		pl := rep.Logs[e.TP]
		rc := (*LogRecord)(nil)
		if pl != nil {
			rc = findRecord(pl, e.Offset)
		}
		if rc != nil && rc.OK && rc.ID == e.ID {
			kept = append(kept, e)
			continue
		}
		if l, ok := lowestLost[e.TP]; !ok || e.Offset < l.Offset {
			lowestLost[e.TP] = e
		}
	}
	for _, e := range kept {
		if l, ok := lowestLost[e.TP]; ok && e.Offset > l.Offset {
			return 0, fmt.Errorf("not a tail: %s acknowledged at %s/%d is lost but %s at %d survived", l.ID, l.TP, l.Offset, e.ID, e.Offset)
		}
	}
	lost := 0
	for _, e := range events {
		if e.Kind == EvAck && e.ID.Producer == producer {
			lost++
		}
	}
	return lost - len(kept), nil
}

// TestPowerLossOfASingleBrokerLosesOnlyAnUnsyncedTail: acks=1 records
// acknowledged by a broker with Kafka's default flush settings (no
// flush.messages) are in the page cache only; a power loss may lose them,
// as Kafka would. What it must not do is lose what was synced (records
// before a clean shutdown), leave a hole, or keep the broker from
// recovering: it restarts, cuts the torn tail and takes new records at
// the offsets after what survived.
func TestPowerLossOfASingleBrokerLosesOnlyAnUnsyncedTail(t *testing.T) {
	skipShort(t)
	seed, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), plTimeout)
	defer cancel()
	c := Start(t, Config{Nodes: 1, Rand: rng, Args: singleArgs, PowerLoss: true})
	if err := c.CreateTopic(ctx, plTopic, plParts, 1, nil); err != nil {
		t.Fatal(err)
	}
	h := NewHistory()
	acks1 := []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}

	// Phase 1, made durable by a clean shutdown.
	produceAll(ctx, t, c, h, 1, plCount, acks1...)
	if err := c.Term(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Phase 2, in the page cache only, then the power goes.
	produceAll(ctx, t, c, h, 2, plCount, acks1...)
	res, err := c.PowerLossTorn(1, rng)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("power loss (seed %d): %s", seed, res)
	if res.BytesDropped == 0 {
		t.Fatal("the power loss dropped nothing: phase 2 was never synced, so its bytes should have been")
	}
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatalf("the broker does not recover from the power loss: %v", err)
	}
	// Phase 3: the recovered broker takes new records.
	produceAll(ctx, t, c, h, 3, plCount/4, acks1...)

	rep := readAfterCleanStop(t, c)
	events := h.Events()
	for _, producer := range []int{1, 3} {
		if lost, err := tailLoss(events, rep, producer); err != nil || lost != 0 {
			t.Errorf("producer %d (durable): %d acknowledged records lost, %v", producer, lost, err)
		}
	}
	lost, err := tailLoss(events, rep, 2)
	if err != nil {
		t.Fatalf("producer 2 (unsynced): %v", err)
	}
	t.Logf("unsynced acks=1 records lost, as a tail: %d of %d", lost, plCount)
	// Offsets stay contiguous: every partition's log, read back, has no
	// record the harness did not write and no gap.
	for tp, pl := range rep.Logs {
		for i, rc := range pl.Records {
			if !rc.OK || rc.Offset != pl.Start+int64(i) {
				t.Fatalf("%s: record %d is %+v: not contiguous from %d", tp, i, rc, pl.Start)
			}
		}
	}
}

// startFlushedBroker starts one broker whose power losses drop what it
// did not sync, with plTopic created at flush.messages=1 (the configs
// returned, to create it again).
func startFlushedBroker(ctx context.Context, t *testing.T, rng *rand.Rand) (*Cluster, map[string]*string) {
	t.Helper()
	c := Start(t, Config{Nodes: 1, Rand: rng, Args: singleArgs, PowerLoss: true})
	one := "1"
	flush := map[string]*string{"flush.messages": &one}
	if err := c.CreateTopic(ctx, plTopic, plParts, 1, flush); err != nil {
		t.Fatal(err)
	}
	return c, flush
}

// TestPowerLossOfASingleBrokerWithFlushMessagesLosesNothing: with
// flush.messages=1 an acknowledged record is fsynced first (DESIGN.md's
// guarantee), so a power loss loses none of them.
func TestPowerLossOfASingleBrokerWithFlushMessagesLosesNothing(t *testing.T) {
	skipShort(t)
	seed, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), plTimeout)
	defer cancel()
	c, _ := startFlushedBroker(ctx, t, rng)
	h := NewHistory()
	produceAll(ctx, t, c, h, 1, plCount)
	res, err := c.PowerLossTorn(1, rng)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("power loss (seed %d): %s", seed, res)
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatalf("the broker does not recover from the power loss: %v", err)
	}
	produceAll(ctx, t, c, h, 2, plCount/4)
	rep := readAfterCleanStop(t, c)
	if r := Check(h.Events(), []Replica{rep}, CheckOptions{Seed: seed}); !r.OK() {
		t.Fatalf("after a power loss with flush.messages=1:\n%s", r.Report())
	}
}

// TestPowerLossAfterAWipeOfASingleBrokerLosesNothingSynced: a broker
// back on an empty disk, then a power loss. The power loss must read the
// new disk's syncs only: the old disk's were of inodes the wipe freed,
// which the file system may hand to the new disk's dirs and files (the
// chaos run's "rename .../ct-rf3-2 .../meta: file exists"; whether it
// does here is the file system's choice, which
// TestPowerLossAfterAWipeReadsNoJournalOfTheWipedDisk makes for it).
// With flush.messages=1 nothing acknowledged since the wipe is lost: the
// wipe's baseline knows the data dir's entries, so this also fails if the
// broker does not sync the data dir after making a partition dir.
func TestPowerLossAfterAWipeOfASingleBrokerLosesNothingSynced(t *testing.T) {
	skipShort(t)
	seed, rng := Seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), plTimeout)
	defer cancel()
	c, flush := startFlushedBroker(ctx, t, rng)
	h := NewHistory()
	produceAll(ctx, t, c, h, 1, plCount) // the old disk's, gone with it
	if err := c.Kill9(1); err != nil {
		t.Fatal(err)
	}
	if err := c.WipeAndRestart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic(ctx, plTopic, plParts, 1, flush); err != nil {
		t.Fatal(err)
	}
	produceAll(ctx, t, c, h, 2, plCount)
	res, err := c.PowerLoss(1)
	if err != nil {
		t.Fatalf("power loss after a wipe: %v", err)
	}
	t.Logf("power loss after a wipe (seed %d): %s", seed, res)
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatalf("the broker does not recover from the power loss: %v", err)
	}
	produceAll(ctx, t, c, h, 3, plCount/4)
	rep := readAfterCleanStop(t, c)
	var since []Event
	for _, e := range h.Events() {
		if e.ID.Producer != 1 {
			since = append(since, e)
		}
	}
	if r := Check(since, []Replica{rep}, CheckOptions{Seed: seed}); !r.OK() {
		t.Fatalf("after a wipe and a power loss with flush.messages=1:\n%s", r.Report())
	}
}
