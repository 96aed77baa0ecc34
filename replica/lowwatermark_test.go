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

// aliveSet is a settable LeaderConfig.Alive.
type aliveSet struct {
	mu   sync.Mutex
	dead map[int32]bool
}

func (a *aliveSet) alive(id int32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.dead[id]
}

func (a *aliveSet) kill(id int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dead == nil {
		a.dead = map[int32]bool{}
	}
	a.dead[id] = true
}

// newLowLeader leads a fake log of 20 records whose log start is 10, with
// replicas {1, 2, 3} all in sync.
func newLowLeader(t *testing.T, a *aliveSet) (*fakeLog, *Leader) {
	t.Helper()
	l := newFakeLog()
	ld, err := NewLeader(l, pstate(1, []int32{1, 2, 3}, []int32{1, 2, 3}), LeaderConfig{Self: 1, MinISR: 1, Alive: a.alive})
	if err != nil {
		t.Fatal(err)
	}
	l.appendLeader(20)
	ld.Appended()
	// Followers at the end make the high watermark 20, so the log start
	// may move up to there.
	for _, id := range []int32{2, 3} {
		fetchWithLogStart(t, ld, id, 20, -1)
	}
	if err := l.MaybeIncrementLogStartOffset(10); err != nil {
		t.Fatal(err)
	}
	return l, ld
}

// fetchWithLogStart is a follower's fetch at its log end off, reporting
// its log start offset logStart.
func fetchWithLogStart(t *testing.T, ld *Leader, follower int32, off, logStart int64) {
	t.Helper()
	if _, err := ld.HandleFollowerFetch(follower, -1, off, logStart, -1, -1); err != nil {
		t.Fatalf("fetch by %d at %d: %v", follower, off, err)
	}
}

func TestLowWatermarkIsLowestLogStartOfLiveReplicas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		starts map[int32]int64 // follower log starts reported; -1 unknown
		dead   []int32
		want   int64
	}{
		{"followers not heard of", map[int32]int64{2: -1, 3: -1}, nil, -1},
		{"one follower not heard of", map[int32]int64{2: 10, 3: -1}, nil, -1},
		{"a follower behind the leader", map[int32]int64{2: 10, 3: 4}, nil, 4},
		{"followers past the leader", map[int32]int64{2: 12, 3: 15}, nil, 10},
		{"a dead follower behind", map[int32]int64{2: 12, 3: 4}, []int32{3}, 10},
		{"a dead follower not heard of", map[int32]int64{2: 11, 3: -1}, []int32{3}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &aliveSet{}
			for _, id := range tc.dead {
				a.kill(id)
			}
			_, ld := newLowLeader(t, a)
			for id, start := range tc.starts {
				fetchWithLogStart(t, ld, id, 20, start)
			}
			if got, err := ld.LowWatermark(); err != nil || got != tc.want {
				t.Fatalf("low watermark %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}

func TestWaitLowWatermark(t *testing.T) {
	t.Run("completes once every live follower reports the offset", func(t *testing.T) {
		_, ld := newLowLeader(t, &aliveSet{})
		done := make(chan error, 1)
		var low int64
		go func() {
			var err error
			low, err = ld.WaitLowWatermark(context.Background(), 10)
			done <- err
		}()
		waitLowWaiters(t, ld, 1)
		fetchWithLogStart(t, ld, 2, 20, 10)
		select {
		case err := <-done:
			t.Fatalf("returned (%v) with follower 3's log start unknown", err)
		case <-time.After(20 * time.Millisecond):
		}
		fetchWithLogStart(t, ld, 3, 20, 12)
		if err := <-done; err != nil || low != 10 {
			t.Fatalf("low watermark %d (%v), want 10", low, err)
		}
		if n := lowWaiterCount(ld); n != 0 {
			t.Fatalf("%d waiters left", n)
		}
	})
	t.Run("answers at once when reached", func(t *testing.T) {
		_, ld := newLowLeader(t, &aliveSet{})
		fetchWithLogStart(t, ld, 2, 20, 10)
		fetchWithLogStart(t, ld, 3, 20, 10)
		if low, err := ld.WaitLowWatermark(context.Background(), 8); err != nil || low != 10 {
			t.Fatalf("low watermark %d (%v), want 10", low, err)
		}
	})
	t.Run("times out with the low watermark reached", func(t *testing.T) {
		_, ld := newLowLeader(t, &aliveSet{})
		fetchWithLogStart(t, ld, 2, 20, 10)
		fetchWithLogStart(t, ld, 3, 20, 6)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		low, err := ld.WaitLowWatermark(ctx, 10)
		if !errors.Is(err, context.DeadlineExceeded) || low != 6 {
			t.Fatalf("low watermark %d (%v), want 6 and DeadlineExceeded", low, err)
		}
		if n := lowWaiterCount(ld); n != 0 {
			t.Fatalf("%d waiters left after a timeout", n)
		}
	})
	t.Run("fails when leadership moves", func(t *testing.T) {
		_, ld := newLowLeader(t, &aliveSet{})
		done := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := ld.WaitLowWatermark(context.Background(), 10)
				done <- err
			}()
		}
		waitLowWaiters(t, ld, 2)
		ld.Stop()
		for range 2 {
			if err := <-done; !errors.Is(err, ErrNotLeaderOrFollower) {
				t.Fatalf("err %v, want ErrNotLeaderOrFollower", err)
			}
		}
		if _, err := ld.LowWatermark(); !errors.Is(err, ErrNotLeaderOrFollower) {
			t.Fatalf("low watermark after Stop: %v, want ErrNotLeaderOrFollower", err)
		}
	})
	t.Run("completes when the lagging replica is moved away", func(t *testing.T) {
		_, ld := newLowLeader(t, &aliveSet{})
		fetchWithLogStart(t, ld, 2, 20, 10)
		done := make(chan error, 1)
		go func() {
			_, err := ld.WaitLowWatermark(context.Background(), 10)
			done <- err
		}()
		waitLowWaiters(t, ld, 1)
		st := pstate(1, []int32{1, 2}, []int32{1, 2})
		st.PartitionEpoch = 2
		if err := ld.UpdateState(st); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func lowWaiterCount(ld *Leader) int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.lowWaiters)
}

func waitLowWaiters(t *testing.T, ld *Leader, n int) {
	t.Helper()
	eventually(t, "DeleteRecords waiters to register", func() bool { return lowWaiterCount(ld) >= n })
}

// TestAFencedReplicaIsNotProposedBackIntoTheISR: a replica whose broker
// is fenced stays out of the proposed ISR however caught up its last
// fetch was, so a live replica that catches up (a new replica of a
// reassignment) joins alone instead of behind a proposal the metadata
// refuses forever.
func TestAFencedReplicaIsNotProposedBackIntoTheISR(t *testing.T) {
	a := &aliveSet{}
	l := newFakeLog()
	var p proposals
	ld, err := NewLeader(l, pstate(1, []int32{1, 2, 3}, []int32{1, 2}), LeaderConfig{Self: 1, MinISR: 1, Alive: a.alive, ProposeISR: p.propose})
	if err != nil {
		t.Fatal(err)
	}
	l.appendLeader(5)
	ld.Appended()
	mustFetch(t, ld, 2, 5)
	mustFetch(t, ld, 3, 5)
	a.kill(3) // out of the ISR, fenced, its last fetch caught up
	if isr, err := ld.MaybeChangeISR(context.Background()); err != nil || isr != nil {
		t.Fatalf("proposed %v (%v) with the only replica outside the ISR fenced", isr, err)
	}
	if err := ld.UpdateState(cluster.PartitionState{Topic: "t", Replicas: []int32{1, 2, 3, 4}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2}); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, ld, 4, 5)
	isr, err := ld.MaybeChangeISR(context.Background())
	if err != nil || !slices.Equal(isr, []int32{1, 2, 4}) {
		t.Fatalf("proposed %v (%v), want [1 2 4]: the new replica without the fenced one", isr, err)
	}
}
