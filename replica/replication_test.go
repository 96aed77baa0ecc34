package replica

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
)

// testFetch is a fetch configuration for tests: short long-polls.
var testFetch = FetcherConfig{MaxWait: 5 * time.Millisecond, Backoff: 20 * time.Millisecond}

// quiet keeps the fetchers' warnings (expected in these scenarios) out of
// the test output.
var quiet = slog.New(slog.DiscardHandler)

func newFollowerManager(t *testing.T, self int32) *Manager {
	t.Helper()
	m := NewManager(Config{Self: self, BrokerEpoch: 7, Fetch: testFetch, TopicID: topicID, Logger: quiet})
	t.Cleanup(m.Close)
	return m
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sameLogs(a, b *fakeLog) func() bool {
	return func() bool { return slices.Equal(a.content(), b.content()) }
}

// leaderState is partition t-0 led by broker 1 at epoch with replicas 1
// and 2.
func leaderState(epoch int32, isr ...int32) cluster.PartitionState {
	if len(isr) == 0 {
		isr = []int32{1, 2}
	}
	return cluster.PartitionState{Topic: "t", Partition: 0, Replicas: []int32{1, 2}, ISR: isr, Leader: 1, LeaderEpoch: epoch, PartitionEpoch: epoch}
}

func startLeader(t *testing.T, node *leaderNode, l Log, st cluster.PartitionState, minISR int) *Leader {
	t.Helper()
	ld, err := NewLeader(l, st, LeaderConfig{Self: 1, MinISR: minISR})
	if err != nil {
		t.Fatal(err)
	}
	node.lead(ld)
	return ld
}

func TestFollowerReplicatesAndCommitsAtEveryFetchVersion(t *testing.T) {
	maxV := (&kmsg.FetchRequest{}).MaxVersion()
	for _, v := range []int16{12, 13, 15, maxV} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			node := newLeaderNode(v)
			ll, fl := newFakeLog(), newFakeLog()
			st := leaderState(1)
			ld := startLeader(t, node, ll, st, 2)
			m := newFollowerManager(t, 2)
			if err := m.BecomeFollower(fl, st, node); err != nil {
				t.Fatal(err)
			}
			var last int64
			for i := range 5 {
				if err := ld.CheckProduce(); err != nil {
					t.Fatal(err)
				}
				last = ll.appendLeader(i + 1)
				ld.Appended()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ld.WaitCommitted(ctx, last); err != nil {
				t.Fatalf("acks=all wait: %v", err)
			}
			if hw := ll.HighWatermark(); hw != last+1 {
				t.Fatalf("leader hw %d, want %d", hw, last+1)
			}
			eventually(t, "follower to hold the leader's batches", sameLogs(ll, fl))
			eventually(t, "follower hw to reach the leader's", func() bool { return fl.HighWatermark() == ll.HighWatermark() })
			if e := fl.LeaderEpoch(); e != 1 {
				t.Fatalf("follower learned epoch %d, want 1", e)
			}
		})
	}
}

func TestFollowerTruncatesDivergedTail(t *testing.T) {
	tests := []struct {
		name string
		// follower's and new leader's histories: epochs of 2-record batches
		follower, leader []int32
		leaderEpoch      int32
	}{
		// KIP-101: the old leader (now follower) wrote batches at epoch 1
		// that never reached the new leader, which wrote others at 2.
		{"leader change with divergent tails", []int32{1, 1, 1, 1}, []int32{1, 1, 2, 2, 2}, 2},
		// KIP-279: the follower led epochs 1 and 2 alone; the leader never
		// had them. The first answer names epoch 0, unknown... known to
		// both, ending where epoch 1 started on the follower.
		{"epochs the leader never had", []int32{0, 1, 2}, []int32{0, 3, 3}, 3},
		// KIP-279: the follower's epoch ends past the leader's end of it.
		{"same epoch ending earlier on the leader", []int32{0, 0, 0, 0}, []int32{0, 0, 4}, 4},
		// The follower holds only epochs newer than anything the leader
		// kept: it starts over.
		{"no common epoch", []int32{5, 5}, []int32{3, 3, 6}, 6},
		// A follower that is merely behind truncates nothing.
		{"behind, not diverged", []int32{0, 1}, []int32{0, 1, 1, 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
			ll, fl := history(tt.leader, 2), history(tt.follower, 2)
			ll.BecomeLeader(tt.leaderEpoch) // epoch already in the history
			st := leaderState(tt.leaderEpoch)
			startLeader(t, node, ll, st, 1)
			m := newFollowerManager(t, 2)
			if err := m.BecomeFollower(fl, st, node); err != nil {
				t.Fatal(err)
			}
			eventually(t, "follower to match the leader", sameLogs(ll, fl))
			le, lend := ll.EndOffsetForEpoch(tt.leaderEpoch)
			fe, fend := fl.EndOffsetForEpoch(tt.leaderEpoch)
			if le != fe || lend != fend {
				t.Fatalf("epoch caches differ: leader (%d, %d), follower (%d, %d)", le, lend, fe, fend)
			}
			if tt.name == "behind, not diverged" && fl.truncateCount() != 0 {
				t.Fatalf("%d truncations of a follower that was only behind", fl.truncateCount())
			}
		})
	}
}

func TestFollowerRestartResumesWithoutTruncating(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), newFakeLog()
	st := leaderState(1)
	ld := startLeader(t, node, ll, st, 1)
	for range 3 {
		ll.appendLeader(2)
	}
	ld.Appended()
	m := NewManager(Config{Self: 2, Fetch: testFetch, TopicID: topicID, Logger: quiet})
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first catch-up", sameLogs(ll, fl))
	m.Close()
	before := fl.content()
	// The follower is down while the leader takes more.
	for range 3 {
		ll.appendLeader(1)
	}
	m2 := newFollowerManager(t, 2)
	if err := m2.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "catch-up after restart", sameLogs(ll, fl))
	if !slices.Equal(fl.content()[:len(before)], before) || fl.truncateCount() != 0 {
		t.Fatalf("restart rewrote the follower's log (%d truncations)", fl.truncateCount())
	}
}

// A follower whose log holds records but no epochs (it cannot say what it
// last fetched) starts from its high watermark, not from a tail its leader
// could not check.
func TestFollowerWithoutEpochsStartsFromItsHighWatermark(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), newFakeLog()
	st := leaderState(1)
	startLeader(t, node, ll, st, 1)
	for range 3 {
		ll.appendLeader(2) // the leader's end is past the follower's
	}
	fl.SetReplicated(true)
	fl.stamp = st.LeaderEpoch // the leader's batch, its epoch forgotten
	fl.appendLeader(2)        // committed here
	fl.SetHighWatermark(2)
	fl.appendLeader(3) // not committed, and not the leader's
	m := newFollowerManager(t, 2)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "catch-up", sameLogs(ll, fl))
	if n := fl.truncateCount(); n != 1 {
		t.Fatalf("%d truncations, want the one to the high watermark", n)
	}
}

func TestFollowerBelowLeaderStartRestartsThere(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), history([]int32{0}, 3)
	if err := ll.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	st := leaderState(1)
	startLeader(t, node, ll, st, 1)
	ll.appendLeader(4)
	m := newFollowerManager(t, 2)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "follower to restart at the leader's start", sameLogs(ll, fl))
	if s := fl.StartOffset(); s != 100 {
		t.Fatalf("follower starts at %d, want 100", s)
	}
}

func TestFencedFollowerWaitsForNewEpoch(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), newFakeLog()
	startLeader(t, node, ll, leaderState(2), 1)
	ll.appendLeader(3)
	m := NewManager(Config{Self: 2, TopicID: topicID, Logger: quiet, Fetch: FetcherConfig{MaxWait: 5 * time.Millisecond, Backoff: time.Hour}})
	t.Cleanup(m.Close)
	if err := m.BecomeFollower(fl, leaderState(1), node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fetch at the stale epoch", func() bool { return node.fetchCount() >= 1 })
	time.Sleep(20 * time.Millisecond)
	if n := node.fetchCount(); n != 1 {
		t.Fatalf("%d fetches by a fenced follower resting for an hour, want 1", n)
	}
	if fl.NextOffset() != 0 {
		t.Fatal("a fenced follower appended")
	}
	if err := m.BecomeFollower(fl, leaderState(2), node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "follower at the new epoch to catch up", sameLogs(ll, fl))
}

// TestFollowerRetriesSoonWhileLeaderDoesNotKnowPartitionYet: a follower's
// first fetches of a topic just created can reach the leader's broker
// before it has opened the partition. The follower fetches it again after
// a short wait, not after the whole backoff (an hour here: it could not
// catch up in this test without the short retry).
func TestFollowerRetriesSoonWhileLeaderDoesNotKnowPartitionYet(t *testing.T) {
	for _, code := range []int16{kerr.UnknownTopicID.Code, kerr.UnknownTopicOrPartition.Code, kerr.NotLeaderForPartition.Code} {
		t.Run(kerr.ErrorForCode(code).(*kerr.Error).Message, func(t *testing.T) {
			node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
			node.answerNotLed(code)
			ll, fl := newFakeLog(), newFakeLog()
			m := NewManager(Config{Self: 2, TopicID: topicID, Logger: quiet, Fetch: FetcherConfig{MaxWait: 5 * time.Millisecond, Backoff: time.Hour}})
			t.Cleanup(m.Close)
			st := leaderState(1)
			if err := m.BecomeFollower(fl, st, node); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a second fetch the leader refuses", func() bool { return node.fetchCount() >= 2 })
			if fl.NextOffset() != 0 {
				t.Fatal("the follower appended before the leader knew the partition")
			}
			startLeader(t, node, ll, st, 1)
			ll.appendLeader(3)
			eventually(t, "follower to catch up once the leader knows the partition", sameLogs(ll, fl))
		})
	}
}

func TestManagerShrinksAndExpandsISR(t *testing.T) {
	c := newClock()
	ll, fl := newFakeLog(), newFakeLog()
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	var (
		mu      sync.Mutex
		current = leaderState(1)
		history [][]int32
		lm      *Manager
	)
	lm = NewManager(Config{
		Self: 1, LagTimeMax: 10 * time.Second, Logger: quiet, ISRCheckInterval: 2 * time.Millisecond, Now: c.Now,
		AlterISR: func(_ context.Context, old cluster.PartitionState, isr []int32, _ []int64) error {
			mu.Lock()
			if old.PartitionEpoch != current.PartitionEpoch {
				mu.Unlock()
				return cluster.ErrConflict
			}
			next := current.Clone()
			next.ISR = slices.Clone(isr)
			next.PartitionEpoch++
			current = next
			history = append(history, slices.Clone(isr))
			mu.Unlock()
			_, err := lm.BecomeLeader(ll, next, 1)
			return err
		},
	})
	t.Cleanup(lm.Close)
	ld, err := lm.BecomeLeader(ll, leaderState(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	node.lead(ld)
	ll.appendLeader(5)
	ld.Appended()
	c.advance(11 * time.Second) // follower 2 never fetched
	isr := func() []int32 { mu.Lock(); defer mu.Unlock(); return slices.Clone(current.ISR) }
	eventually(t, "ISR to shrink to the leader", func() bool { return slices.Equal(isr(), []int32{1}) })
	eventually(t, "hw to move with the leader alone in the ISR", func() bool { return ll.HighWatermark() == 5 })

	fm := newFollowerManager(t, 2)
	if err := fm.BecomeFollower(fl, leaderState(1), node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ISR to grow back", func() bool { return slices.Equal(isr(), []int32{1, 2}) })
	mu.Lock()
	changes := slices.Clone(history)
	mu.Unlock()
	if len(changes) != 2 {
		t.Fatalf("ISR changes %v, want exactly a shrink and an expand", changes)
	}
	// Counted once the proposal returns, just after it committed.
	eventually(t, "one shrink and one expansion counted", func() bool {
		s := lm.Stats()
		return s.ISRShrinks == 1 && s.ISRExpands == 1 && s.Leaders == 1
	})
}

// TestManagerProposesISRChangesOfManyPartitionsAtOnce: a check with many
// partitions to change has several proposals in flight, not one after
// the other (a broker rejoining 10,000 ISRs took minutes one at a time).
func TestManagerProposesISRChangesOfManyPartitionsAtOnce(t *testing.T) {
	const partitions = 16
	c := newClock()
	var inFlight, most, proposed atomic.Int32
	lm := NewManager(Config{
		Self: 1, LagTimeMax: 10 * time.Second, Logger: quiet, ISRCheckInterval: 2 * time.Millisecond, Now: c.Now,
		AlterISR: func(context.Context, cluster.PartitionState, []int32, []int64) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			proposed.Add(1)
			return nil
		},
	})
	t.Cleanup(lm.Close)
	leadPartitionsWithOneRecord(t, lm, partitions)
	c.advance(11 * time.Second) // no follower ever fetched: every ISR shrinks
	eventually(t, "every partition's shrink proposed", func() bool { return proposed.Load() >= partitions })
	if m := most.Load(); m < 2 {
		t.Fatalf("at most %d proposal in flight, want several", m)
	}
}

func TestManagerHandsPartitionBetweenRoles(t *testing.T) {
	before := runtime.NumGoroutine()
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), newFakeLog()
	startLeader(t, node, ll, leaderState(1), 1)
	ll.appendLeader(2)
	m := NewManager(Config{Self: 2, Fetch: testFetch, TopicID: topicID, Logger: quiet})
	st := leaderState(1)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "catch-up", sameLogs(ll, fl))
	// Broker 2 is elected at epoch 2.
	st2 := st.Clone()
	st2.Leader, st2.LeaderEpoch, st2.PartitionEpoch = 2, 2, 2
	ld2, err := m.BecomeLeader(fl, st2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Following(st.TP()); ok {
		t.Fatal("still following after becoming leader")
	}
	m.mu.Lock()
	n := len(m.fetchers)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d fetchers left with nothing to fetch", n)
	}
	if e := fl.LeaderEpoch(); e != 2 {
		t.Fatalf("log epoch %d, want 2", e)
	}
	// And back to follower: leadership ends, waiters fail.
	last := fl.appendLeader(1)
	done := make(chan error, 1)
	go func() { done <- ld2.WaitCommitted(context.Background(), last) }()
	waitWaiters(t, ld2, 1)
	if err := m.BecomeFollower(fl, leaderState(3), node); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("a waiter of a lost leadership succeeded")
	}
	if _, ok := m.Leader(st.TP()); ok {
		t.Fatal("still leader after becoming follower")
	}
	m.Close()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestConcurrentAcksAllProducesAllCommit(t *testing.T) {
	node := newLeaderNode((&kmsg.FetchRequest{}).MaxVersion())
	ll, fl := newFakeLog(), newFakeLog()
	st := leaderState(1)
	ld := startLeader(t, node, ll, st, 2)
	m := newFollowerManager(t, 2)
	if err := m.BecomeFollower(fl, st, node); err != nil {
		t.Fatal(err)
	}
	const producers, perProducer = 4, 50
	errs := make(chan error, producers*perProducer)
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range perProducer {
				if err := ld.CheckProduce(); err != nil {
					errs <- err
					return
				}
				last := ll.appendLeader(1)
				ld.Appended()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := ld.WaitCommitted(ctx, last)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if fl.NextOffset() <= last {
					errs <- fmt.Errorf("offset %d acknowledged before the follower had it (follower end %d)", last, fl.NextOffset())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if hw := ll.HighWatermark(); hw != producers*perProducer {
		t.Fatalf("leader hw %d, want %d", hw, producers*perProducer)
	}
	eventually(t, "follower to hold every batch", sameLogs(ll, fl))
}

// TestManagerBatchesISRProposalsOfManyPartitions: with Config.AlterISRs,
// a check's proposals go in batches of isrProposalBatch (one metadata
// transaction each) rather than one call per partition; a proposal that
// fails is proposed again at a later check, the committed ones are not.
func TestManagerBatchesISRProposalsOfManyPartitions(t *testing.T) {
	const partitions = 3*isrProposalBatch + 5
	c := newClock()
	var (
		mu      sync.Mutex
		batches []int
		tries   = map[int32]int{}
	)
	lm := NewManager(Config{
		Self: 1, LagTimeMax: 10 * time.Second, Logger: quiet, ISRCheckInterval: 2 * time.Millisecond, Now: c.Now,
		AlterISR: func(context.Context, cluster.PartitionState, []int32, []int64) error {
			t.Error("AlterISR called with AlterISRs set")
			return nil
		},
		AlterISRs: func(_ context.Context, props []ISRProposal) []error {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, len(props))
			errs := make([]error, len(props))
			for i, p := range props {
				if !slices.Equal(p.NewISR, []int32{1}) || len(p.NewISREpochs) != 1 {
					t.Errorf("partition %d: proposal %+v, want a shrink to [1]", p.Old.Partition, p)
				}
				tries[p.Old.Partition]++
				if p.Old.Partition == 0 && tries[0] == 1 {
					errs[i] = cluster.ErrConflict
				}
			}
			return errs
		},
	})
	t.Cleanup(lm.Close)
	leadPartitionsWithOneRecord(t, lm, partitions)
	c.advance(11 * time.Second) // no follower ever fetched: every ISR shrinks
	eventually(t, "every shrink proposed, the failed one twice", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tries) == partitions && tries[0] >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	for p, n := range tries {
		if p != 0 && n != 1 {
			t.Errorf("partition %d proposed %d times after its proposal committed", p, n)
		}
	}
	for _, n := range batches {
		if n > isrProposalBatch {
			t.Errorf("a batch of %d proposals, limit %d", n, isrProposalBatch)
		}
	}
	// The shrinks are found by at most two checks (one may have been
	// part way through the leaders when the clock moved), each sending
	// full batches; the retries of partition 0 come one a check.
	full := (partitions + isrProposalBatch - 1) / isrProposalBatch
	if most := 2*full + tries[0] - 1; len(batches) > most {
		t.Errorf("%d calls for %d partitions (%v), want at most %d: not batched", len(batches), partitions, batches, most)
	}
}

// leadPartitionsWithOneRecord makes lm the leader of partitions 0 to n-1,
// each with a record appended that no follower has fetched.
func leadPartitionsWithOneRecord(t *testing.T, lm *Manager, n int) {
	t.Helper()
	for p := range int32(n) {
		l := newFakeLog()
		st := leaderState(1)
		st.Partition = p
		ld, err := lm.BecomeLeader(l, st, 1)
		if err != nil {
			t.Fatal(err)
		}
		l.appendLeader(2)
		ld.Appended()
	}
}

// infoRecords is a slog handler that keeps the message and int attributes
// of every record at Info or above.
type infoRecords struct {
	mu   sync.Mutex
	msgs []string
	ints []map[string]int64
}

func (h *infoRecords) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *infoRecords) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *infoRecords) WithGroup(string) slog.Handler                { return h }
func (h *infoRecords) Handle(_ context.Context, r slog.Record) error {
	ints := map[string]int64{}
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindInt64 {
			ints[a.Key] = a.Value.Int64()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	h.ints = append(h.ints, ints)
	return nil
}

// TestManagerLogsOneLineForACheckOfManyISRProposals: the ISR proposals of
// one check are logged in one Info line that counts them, not one line a
// partition (a broker rejoining at 10,000 partitions wrote ~6,700).
func TestManagerLogsOneLineForACheckOfManyISRProposals(t *testing.T) {
	const partitions = 3*isrProposalBatch + 5
	c := newClock()
	logs := new(infoRecords)
	var proposed atomic.Int64
	lm := NewManager(Config{
		Self: 1, LagTimeMax: 10 * time.Second, Logger: slog.New(logs), ISRCheckInterval: 2 * time.Millisecond, Now: c.Now,
		AlterISRs: func(_ context.Context, props []ISRProposal) []error {
			proposed.Add(int64(len(props)))
			return make([]error, len(props))
		},
	})
	t.Cleanup(lm.Close)
	leadPartitionsWithOneRecord(t, lm, partitions)
	c.advance(11 * time.Second) // no follower ever fetched: every ISR shrinks
	var lines, counted int64
	eventually(t, "every shrink proposed and logged", func() bool {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		lines, counted = 0, 0
		for i, m := range logs.msgs {
			switch m {
			case "replica ISR changes proposed":
				lines++
				counted += logs.ints[i]["partitions"]
			case "replica ISR change proposed":
				t.Fatalf("a line for one partition's ISR proposal at Info: %v", logs.ints[i])
			}
		}
		return counted == partitions
	})
	// The shrinks are found by at most two checks (one may have been
	// part way through the leaders when the clock moved).
	if lines > 2 {
		t.Fatalf("%d lines for the ISR proposals of %d partitions, want one a check (at most 2)", lines, partitions)
	}
	if p := proposed.Load(); p != partitions {
		t.Fatalf("%d proposals, want %d", p, partitions)
	}
}
