package replica

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/cluster"
)

// clock is a settable clock for lag tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// proposals records ISR proposals and answers them with err.
type proposals struct {
	mu     sync.Mutex
	isrs   [][]int32
	epochs [][]int64 // the broker epochs of each proposal
	err    error
}

func (p *proposals) propose(_ context.Context, isr []int32, epochs []int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isrs = append(p.isrs, slices.Clone(isr))
	p.epochs = append(p.epochs, slices.Clone(epochs))
	return p.err
}

func pstate(epoch int32, replicas, isr []int32) cluster.PartitionState {
	return cluster.PartitionState{Topic: "t", Partition: 0, Replicas: replicas, ISR: isr, Leader: 1, LeaderEpoch: epoch, PartitionEpoch: epoch}
}

func newTestLeader(t *testing.T, l *fakeLog, isr []int32, minISR int, c *clock, p *proposals) *Leader {
	t.Helper()
	ld, err := NewLeader(l, pstate(1, []int32{1, 2, 3}, isr), LeaderConfig{
		Self: 1, MinISR: minISR, LagTimeMax: 10 * time.Second, Now: c.Now, ProposeISR: p.propose,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

func mustFetch(t *testing.T, ld *Leader, follower int32, off int64) FollowerFetch {
	t.Helper()
	r, err := ld.HandleFollowerFetch(follower, -1, off, ld.log.StartOffset(), ld.log.LeaderEpoch(), -1)
	if err != nil {
		t.Fatalf("fetch by %d at %d: %v", follower, off, err)
	}
	if r.Diverging {
		t.Fatalf("fetch by %d at %d: unexpected divergence %+v", follower, off, r.DivergingEpoch)
	}
	return r
}

func TestHighWatermarkIsLowestLogEndOffsetOfISR(t *testing.T) {
	l := newFakeLog()
	c := newClock()
	ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, &proposals{})
	if !l.replicated {
		t.Fatal("leader did not mark the log replicated")
	}
	l.appendLeader(10) // offsets 0..9
	ld.Appended()
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d before any follower fetched, want 0", hw)
	}
	mustFetch(t, ld, 2, 10)
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d with follower 3 unheard of, want 0", hw)
	}
	r := mustFetch(t, ld, 3, 4)
	if r.HighWatermark != 4 || l.HighWatermark() != 4 {
		t.Fatalf("hw answered %d, log %d, want 4 (follower 3 at 4)", r.HighWatermark, l.HighWatermark())
	}
	mustFetch(t, ld, 3, 10)
	if hw := l.HighWatermark(); hw != 10 {
		t.Fatalf("hw %d with every ISR member at 10, want 10", hw)
	}
	// A follower out of the ISR does not hold the high watermark back.
	ld2 := newTestLeader(t, newFakeLog(), []int32{1, 2}, 1, c, &proposals{})
	ld2.log.(*fakeLog).appendLeader(5)
	mustFetch(t, ld2, 2, 5)
	if hw := ld2.log.HighWatermark(); hw != 5 {
		t.Fatalf("hw %d with ISR {1,2} at 5 and 3 never fetching, want 5", hw)
	}
}

func TestHighWatermarkStaysBelowMinISR(t *testing.T) {
	l := newFakeLog()
	c := newClock()
	ld := newTestLeader(t, l, []int32{1}, 2, c, &proposals{})
	l.appendLeader(3)
	ld.Appended()
	mustFetch(t, ld, 2, 3)
	if hw := l.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d with ISR {1} under min ISR 2, want 0 (strict min ISR)", hw)
	}
	if err := ld.CheckProduce(); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("CheckProduce with ISR {1}, min 2: %v, want ErrNotEnoughReplicas", err)
	}
	// The ISR grows back to two: the high watermark moves.
	st := pstate(1, []int32{1, 2, 3}, []int32{1, 2})
	st.PartitionEpoch = 2
	if err := ld.UpdateState(st); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after ISR {1,2} reached min ISR, want 3", hw)
	}
	if err := ld.CheckProduce(); err != nil {
		t.Fatalf("CheckProduce with ISR {1,2}, min 2: %v", err)
	}
}

func TestSingleReplicaISRCommitsOnAppend(t *testing.T) {
	l := newFakeLog()
	ld, err := NewLeader(l, pstate(0, []int32{1}, []int32{1}), LeaderConfig{Self: 1, MinISR: 1})
	if err != nil {
		t.Fatal(err)
	}
	last := l.appendLeader(4)
	ld.Appended()
	if hw := l.HighWatermark(); hw != 4 {
		t.Fatalf("hw %d, want 4", hw)
	}
	if err := ld.WaitCommitted(context.Background(), last); err != nil {
		t.Fatal(err)
	}
}

func TestSoleReplicaLeaderCommitsWhatItHoldsAtOnce(t *testing.T) {
	l := newFakeLog()
	l.SetReplicated(true)
	l.appendLeader(3) // records from before this leadership, not yet committed
	if hw := l.HighWatermark(); hw == 3 {
		t.Fatalf("fake log committed before leadership: hw %d", hw)
	}
	if _, err := NewLeader(l, pstate(1, []int32{1, 2}, []int32{1}), LeaderConfig{Self: 1, MinISR: 1}); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after becoming sole in-sync leader, want 3", hw)
	}
}

func TestISRShrinksWhenFollowerLags(t *testing.T) {
	tests := []struct {
		name    string
		fetchAt func(leo int64) int64 // follower 2's fetch offset; 3 fetches at the end
		wait    time.Duration
		want    []int32 // proposed ISR, nil for none
	}{
		{"caught up follower stays", func(leo int64) int64 { return leo }, 11 * time.Second, nil},
		{"lagging under the limit stays", func(int64) int64 { return 0 }, 9 * time.Second, nil},
		{"lagging past the limit leaves", func(int64) int64 { return 0 }, 11 * time.Second, []int32{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newFakeLog()
			c := newClock()
			p := &proposals{}
			ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, p)
			l.appendLeader(5)
			c.advance(tt.wait)
			mustFetch(t, ld, 2, tt.fetchAt(l.NextOffset()))
			mustFetch(t, ld, 3, l.NextOffset())
			got, err := ld.MaybeChangeISR(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("proposed %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFollowerCaughtUpToPreviousLeaderEndStaysInSync(t *testing.T) {
	// A steady stream of produces keeps the follower always one batch
	// behind, but each fetch reaches the leader's end of the fetch
	// before: it is caught up as of that previous fetch and stays.
	l := newFakeLog()
	c := newClock()
	p := &proposals{}
	ld := newTestLeader(t, l, []int32{1, 2}, 1, c, p)
	mustFetch(t, ld, 2, 0)
	for range 10 {
		prevEnd := l.NextOffset()
		l.appendLeader(1)
		c.advance(3 * time.Second)
		mustFetch(t, ld, 2, prevEnd)
	}
	if got, _ := ld.MaybeChangeISR(context.Background()); got != nil {
		t.Fatalf("proposed %v for a follower caught up to the previous end", got)
	}
	// One fetch that falls behind the previous end: after the lag time it
	// leaves.
	l.appendLeader(1)
	c.advance(3 * time.Second)
	mustFetch(t, ld, 2, l.NextOffset()-3)
	c.advance(8 * time.Second)
	if got, _ := ld.MaybeChangeISR(context.Background()); !slices.Equal(got, []int32{1}) {
		t.Fatalf("proposed %v, want [1]", got)
	}
}

func TestISRExpandsWhenReplicaReachesHighWatermark(t *testing.T) {
	l := newFakeLog()
	c := newClock()
	p := &proposals{}
	ld := newTestLeader(t, l, []int32{1, 2}, 1, c, p)
	l.appendLeader(6)
	mustFetch(t, ld, 2, 6) // hw 6
	mustFetch(t, ld, 3, 4)
	if got, _ := ld.MaybeChangeISR(context.Background()); got != nil {
		t.Fatalf("proposed %v for replica 3 below the hw", got)
	}
	mustFetch(t, ld, 3, 6)
	got, err := ld.MaybeChangeISR(context.Background())
	if err != nil || !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("proposed %v, %v; want [1 2 3]", got, err)
	}
	// In flight: no second proposal until the state comes back.
	if again, _ := ld.MaybeChangeISR(context.Background()); again != nil {
		t.Fatalf("second proposal %v while one is pending", again)
	}
	// Meanwhile the high watermark counts the joining replica (maximal ISR).
	l.appendLeader(2)
	mustFetch(t, ld, 2, 8)
	if hw := l.HighWatermark(); hw != 6 {
		t.Fatalf("hw %d while joining replica 3 is at 6, want 6", hw)
	}
	st := pstate(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	st.PartitionEpoch = 2
	if err := ld.UpdateState(st); err != nil {
		t.Fatal(err)
	}
	if got, _ := ld.MaybeChangeISR(context.Background()); got != nil {
		t.Fatalf("proposed %v after the ISR was committed", got)
	}
}

func TestFailedISRProposalIsRetried(t *testing.T) {
	l := newFakeLog()
	c := newClock()
	p := &proposals{err: cluster.ErrConflict}
	ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, p)
	l.appendLeader(1)
	c.advance(11 * time.Second)
	if _, err := ld.MaybeChangeISR(context.Background()); !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("err %v, want the proposal's ErrConflict wrapped", err)
	}
	p.err = nil
	if got, err := ld.MaybeChangeISR(context.Background()); err != nil || !slices.Equal(got, []int32{1}) {
		t.Fatalf("retry proposed %v, %v; want [1]", got, err)
	}
}

func TestWaitCommitted(t *testing.T) {
	t.Run("completes when hw passes the offset", func(t *testing.T) {
		l := newFakeLog()
		ld := newTestLeader(t, l, []int32{1, 2}, 2, newClock(), &proposals{})
		last := l.appendLeader(3)
		done := make(chan error, 1)
		go func() { done <- ld.WaitCommitted(context.Background(), last) }()
		waitWaiters(t, ld, 1)
		mustFetch(t, ld, 2, last) // hw = last: not past it
		select {
		case err := <-done:
			t.Fatalf("returned %v with hw at the last offset", err)
		case <-time.After(20 * time.Millisecond):
		}
		mustFetch(t, ld, 2, last+1)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := waiterCount(ld); n != 0 {
			t.Fatalf("%d waiters left", n)
		}
	})
	t.Run("times out with the context", func(t *testing.T) {
		l := newFakeLog()
		ld := newTestLeader(t, l, []int32{1, 2}, 2, newClock(), &proposals{})
		last := l.appendLeader(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := ld.WaitCommitted(ctx, last); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want DeadlineExceeded", err)
		}
		if n := waiterCount(ld); n != 0 {
			t.Fatalf("%d waiters left after a timeout", n)
		}
	})
	t.Run("fails when the ISR shrinks below min", func(t *testing.T) {
		l := newFakeLog()
		ld := newTestLeader(t, l, []int32{1, 2}, 2, newClock(), &proposals{})
		last := l.appendLeader(1)
		done := make(chan error, 1)
		go func() { done <- ld.WaitCommitted(context.Background(), last) }()
		waitWaiters(t, ld, 1)
		st := pstate(1, []int32{1, 2, 3}, []int32{1})
		st.PartitionEpoch = 2
		if err := ld.UpdateState(st); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
			t.Fatalf("err %v, want ErrNotEnoughReplicasAfterAppend", err)
		}
		// And a new wait fails at once.
		if err := ld.WaitCommitted(context.Background(), last); !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
			t.Fatalf("err %v, want ErrNotEnoughReplicasAfterAppend", err)
		}
	})
	t.Run("fails when leadership moves", func(t *testing.T) {
		l := newFakeLog()
		ld := newTestLeader(t, l, []int32{1, 2}, 2, newClock(), &proposals{})
		last := l.appendLeader(1)
		done := make(chan error, 1)
		go func() { done <- ld.WaitCommitted(context.Background(), last) }()
		waitWaiters(t, ld, 1)
		ld.Stop()
		if err := <-done; !errors.Is(err, ErrNotLeaderOrFollower) {
			t.Fatalf("err %v, want ErrNotLeaderOrFollower", err)
		}
	})
	t.Run("many waiters complete in offset order", func(t *testing.T) {
		l := newFakeLog()
		ld := newTestLeader(t, l, []int32{1, 2}, 2, newClock(), &proposals{})
		var lasts []int64
		for range 20 {
			lasts = append(lasts, l.appendLeader(1))
		}
		results := make([]chan error, len(lasts))
		for i, last := range lasts {
			results[i] = make(chan error, 1)
			go func() { results[i] <- ld.WaitCommitted(context.Background(), last) }()
		}
		waitWaiters(t, ld, len(lasts))
		mustFetch(t, ld, 2, 10)
		for i := range 10 {
			if err := <-results[i]; err != nil {
				t.Fatalf("waiter %d: %v", i, err)
			}
		}
		if n := waiterCount(ld); n != 10 {
			t.Fatalf("%d waiters left at hw 10, want 10", n)
		}
		mustFetch(t, ld, 2, 20)
		for i := 10; i < 20; i++ {
			if err := <-results[i]; err != nil {
				t.Fatalf("waiter %d: %v", i, err)
			}
		}
	})
}

func waiterCount(ld *Leader) int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.waiters.Len()
}

func waitWaiters(t *testing.T, ld *Leader, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for waiterCount(ld) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters registered, want %d", waiterCount(ld), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHandleFollowerFetchChecksEpochsAndReplicas(t *testing.T) {
	l := newFakeLog()
	ld, err := NewLeader(l, pstate(5, []int32{1, 2}, []int32{1, 2}), LeaderConfig{Self: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.appendLeader(2)
	tests := []struct {
		name     string
		follower int32
		offset   int64
		current  int32
		want     error
	}{
		{"older epoch is fenced", 2, 0, 4, ErrFencedLeaderEpoch},
		{"newer epoch is unknown", 2, 0, 6, ErrUnknownLeaderEpoch},
		{"not a replica", 7, 0, 5, ErrNotLeaderOrFollower},
		{"past the end", 2, 3, 5, ErrOffsetOutOfRange},
		{"no epoch given", 2, 0, -1, nil},
		{"current epoch", 2, 2, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ld.HandleFollowerFetch(tt.follower, -1, tt.offset, 0, -1, tt.current)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	ld.Stop()
	if _, err := ld.HandleFollowerFetch(2, -1, 0, 0, -1, 5); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("fetch after Stop: %v", err)
	}
}

func TestNewLeaderEpochResetsFollowers(t *testing.T) {
	l := newFakeLog()
	c := newClock()
	ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, &proposals{})
	l.appendLeader(3)
	mustFetch(t, ld, 2, 3)
	mustFetch(t, ld, 3, 3)
	st := pstate(2, []int32{1, 2, 3}, []int32{1, 2, 3})
	if err := ld.UpdateState(st); err != nil {
		t.Fatal(err)
	}
	if e := l.LeaderEpoch(); e != 2 {
		t.Fatalf("log epoch %d, want 2", e)
	}
	if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 3 {
		t.Fatalf("epoch 1 ends at (%d, %d), want (1, 3)", e, end)
	}
	l.appendLeader(1)
	mustFetch(t, ld, 2, 4)
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d with follower 3 not heard from in epoch 2, want 3", hw)
	}
}
