package consumergroup

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// heldReplicas is a Config.WaitAppended whose answers the test gives:
// while held, each wait registers the last offset of its append, reports
// it on arrived, and waits for the test's answer (or its context).
type heldReplicas struct {
	mu      sync.Mutex
	hold    bool
	waits   map[int64]chan error
	arrived chan int64
}

func newHeldReplicas() *heldReplicas {
	return &heldReplicas{waits: make(map[int64]chan error), arrived: make(chan int64, 16)}
}

func (h *heldReplicas) setHold(hold bool) {
	h.mu.Lock()
	h.hold = hold
	h.mu.Unlock()
}

func (h *heldReplicas) wait(ctx context.Context, _ int32, last int64) error {
	h.mu.Lock()
	if !h.hold {
		h.mu.Unlock()
		return nil
	}
	ch := make(chan error, 1)
	h.waits[last] = ch
	h.mu.Unlock()
	h.arrived <- last
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next is the offset of the next write that starts waiting.
func (h *heldReplicas) next(t *testing.T) int64 {
	t.Helper()
	select {
	case off := <-h.arrived:
		return off
	case <-time.After(10 * time.Second):
		t.Fatal("no write waits for its replicas")
		return -1
	}
}

// answer ends the wait of the write that ended at offset with err.
func (h *heldReplicas) answer(t *testing.T, offset int64, err error) {
	t.Helper()
	h.mu.Lock()
	ch := h.waits[offset]
	delete(h.waits, offset)
	h.mu.Unlock()
	if ch == nil {
		t.Fatalf("no write of offset %d waits", offset)
	}
	ch <- err
}

// within runs fn and fails the test if it does not return within 10 s:
// what must not queue behind a write waiting for its replicas.
func within[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still not answered after 10 s: it waits behind a write waiting for its replicas", what)
		var zero T
		return zero
	}
}

func heldCoord(t *testing.T) (*testCoord, *heldReplicas) {
	t.Helper()
	h := newHeldReplicas()
	cfg := testConfig()
	cfg.OffsetsCommitTimeout = time.Minute
	cfg.WaitAppended = h.wait
	tc := startClusterCoord(t, cfg, nil)
	tc.topic("t", 1)
	tc.load("g", 1)
	return tc, h
}

func memberCommit(c *Coordinator, j JoinResult, offset int64) error {
	errs, err := c.Commit(CommitRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{Topic: "t", Partition: 0}, Offset: offset, LeaderEpoch: -1}}})
	if err != nil {
		return err
	}
	return errs[0]
}

func TestClusterGroupServedWhileACommitWaitsForReplicas(t *testing.T) {
	noGoroutineLeak(t)
	tc, h := heldCoord(t)
	joins := tc.joinAll("g", 2, time.Minute)
	tc.syncAll("g", joins)
	h.setHold(true)
	done := make(chan error, 1)
	go func() { done <- memberCommit(tc.c, joins[0], 42) }()
	off := h.next(t)

	// The commit waits for its replicas: the group goes on meanwhile.
	if err := within(t, "a heartbeat", func() error {
		return tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: joins[1].MemberID, Generation: joins[1].Generation})
	}); err != nil {
		t.Fatalf("heartbeat while a commit waits: %v", err)
	}
	if got := within(t, "an OffsetFetch", func() int64 { got, _ := tc.committed("g"); return got }); got != -1 {
		t.Fatalf("OffsetFetch shows %d before the commit is replicated, want none", got)
	}
	if d := within(t, "a DescribeGroups", func() GroupDescription { d, _ := tc.c.DescribeGroup("g"); return d }); d.State != Stable || len(d.Members) != 2 {
		t.Fatalf("group while a commit waits: %+v", d)
	}
	select {
	case err := <-done:
		t.Fatalf("commit answered (%v) before it was replicated", err)
	default:
	}

	h.answer(t, off, nil)
	if err := <-done; err != nil {
		t.Fatalf("replicated commit: %v", err)
	}
	if got, err := tc.committed("g"); err != nil || got != 42 {
		t.Fatalf("OffsetFetch after the commit was replicated: %d, %v; want 42", got, err)
	}
}

func TestClusterCommitsTakeEffectInAppendOrder(t *testing.T) {
	errTimedOut := errors.New("replica: wait for the high watermark: context deadline exceeded")
	t.Run("second replicated first", func(t *testing.T) {
		// The high watermark passed both appends: the second takes
		// effect after the first, whichever answer reaches the group
		// first, and the first is answered as replicated.
		tc, h := heldCoord(t)
		joins := tc.joinAll("g", 1, time.Minute)
		tc.syncAll("g", joins)
		h.setHold(true)
		first, second, o1, o2 := twoCommits(t, tc, h, joins[0])
		h.answer(t, o2, nil)
		if err := <-second; err != nil {
			t.Fatalf("second commit: %v", err)
		}
		if got, err := tc.committed("g"); err != nil || got != 2 {
			t.Fatalf("OffsetFetch once the second commit is replicated: %d, %v; want 2", got, err)
		}
		h.answer(t, o1, errTimedOut) // its wait ended late: the group knows better
		if err := <-first; err != nil {
			t.Fatalf("first commit, replicated below the second: %v", err)
		}
		if got, err := tc.committed("g"); err != nil || got != 2 {
			t.Fatalf("OffsetFetch at the end: %d, %v; want 2", got, err)
		}
	})
	t.Run("first not replicated", func(t *testing.T) {
		tc, h := heldCoord(t)
		joins := tc.joinAll("g", 1, time.Minute)
		tc.syncAll("g", joins)
		h.setHold(true)
		first, second, o1, o2 := twoCommits(t, tc, h, joins[0])
		h.answer(t, o1, errTimedOut)
		if err := <-first; !errors.Is(err, ErrCoordinatorNotAvailable) {
			t.Fatalf("first commit not replicated: %v, want ErrCoordinatorNotAvailable", err)
		}
		if got, err := tc.committed("g"); err != nil || got != -1 {
			t.Fatalf("OffsetFetch while the second commit waits: %d, %v; want none", got, err)
		}
		h.answer(t, o2, nil)
		if err := <-second; err != nil {
			t.Fatalf("second commit: %v", err)
		}
		if got, err := tc.committed("g"); err != nil || got != 2 {
			t.Fatalf("OffsetFetch at the end: %d, %v; want 2", got, err)
		}
	})
}

// twoCommits starts two commits of member j (offsets 1, then 2) that wait
// for their replicas, and returns their answers' channels and the last
// offsets of their appends.
func twoCommits(t *testing.T, tc *testCoord, h *heldReplicas, j JoinResult) (first, second chan error, o1, o2 int64) {
	t.Helper()
	first, second = make(chan error, 1), make(chan error, 1)
	go func() { first <- memberCommit(tc.c, j, 1) }()
	o1 = h.next(t)
	go func() { second <- memberCommit(tc.c, j, 2) }()
	o2 = h.next(t)
	if o1 >= o2 {
		t.Fatalf("appends at %d then %d", o1, o2)
	}
	return first, second, o1, o2
}

func TestClusterHeartbeatsAnsweredWhileTheAssignmentWaitsForReplicas(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error // the answer to the assignment's wait
		stable bool
	}{
		{"replicated", nil, true},
		{"not replicated", errors.New("replica: ISR below min.insync.replicas"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, h := heldCoord(t)
			joins := tc.joinAll("g", 2, time.Minute)
			h.setHold(true)
			leader, follower := joins[0], joins[1]
			if follower.MemberID == follower.Leader {
				leader, follower = follower, leader
			}
			assign := map[string][]byte{leader.MemberID: []byte("a0"), follower.MemberID: []byte("a1")}
			followerSync, leaderSync := make(chan SyncResult, 1), make(chan SyncResult, 1)
			go func() {
				followerSync <- tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation})
			}()
			go func() {
				leaderSync <- tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation, Assignments: assign})
			}()
			off := h.next(t)
			for _, j := range joins {
				if err := within(t, "a heartbeat", func() error {
					return tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation})
				}); err != nil {
					t.Fatalf("heartbeat of %s while the assignment waits: %v", j.MemberID, err)
				}
			}
			if d, err := tc.c.DescribeGroup("g"); err != nil || d.State != CompletingRebalance {
				t.Fatalf("group while its assignment waits: %v, %v; want CompletingRebalance", d.State, err)
			}
			h.answer(t, off, tt.err)
			lr, fr := <-leaderSync, <-followerSync
			if tt.stable {
				if lr.Err != nil || fr.Err != nil || string(lr.Assignment) != "a0" || string(fr.Assignment) != "a1" {
					t.Fatalf("SyncGroup after the assignment was replicated: leader %q, %v; follower %q, %v", lr.Assignment, lr.Err, fr.Assignment, fr.Err)
				}
			} else {
				if !errors.Is(lr.Err, ErrCoordinatorNotAvailable) {
					t.Fatalf("leader's SyncGroup after the assignment was not replicated: %v, want ErrCoordinatorNotAvailable", lr.Err)
				}
				// The follower's SyncGroup came before the failure (its
				// error) or after it, into the rebalance that followed.
				if !errors.Is(fr.Err, ErrCoordinatorNotAvailable) && !errors.Is(fr.Err, ErrRebalanceInProgress) {
					t.Fatalf("follower's SyncGroup after the assignment was not replicated: %v", fr.Err)
				}
			}
			d, err := tc.c.DescribeGroup("g")
			if err != nil || (d.State == Stable) != tt.stable {
				t.Fatalf("group after its assignment's wait: %v, %v", d.State, err)
			}
		})
	}
}

func TestClusterUnloadAnswersALeaderWhoseAssignmentWaits(t *testing.T) {
	noGoroutineLeak(t)
	tc, h := heldCoord(t)
	joins := tc.joinAll("g", 1, time.Minute)
	h.setHold(true)
	j := joins[0]
	res := make(chan SyncResult, 1)
	go func() {
		res <- tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation,
			Assignments: map[string][]byte{j.MemberID: []byte("a")}})
	}()
	h.next(t)
	tc.unload("g", 1)
	select {
	case r := <-res:
		if !errors.Is(r.Err, ErrNotCoordinatorForGroup) {
			t.Fatalf("leader's SyncGroup when the partition was unloaded: %v, want ErrNotCoordinatorForGroup", r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("leader's SyncGroup still waiting after unload")
	}
}

func TestDeleteGroupTombstonesACommitStillWaiting(t *testing.T) {
	tc, h := heldCoord(t)
	h.setHold(true)
	done := make(chan error, 1)
	go func() { done <- tc.commitOne("g", 9) }()
	off := h.next(t)
	del := make(chan error, 1)
	go func() { del <- tc.c.DeleteGroup("g") }()
	delOff := h.next(t)
	// The tombstones are replicated, so the commit below them is too.
	h.answer(t, delOff, nil)
	if err := <-del; err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	h.answer(t, off, nil)
	if err := <-done; err != nil {
		t.Fatalf("commit replicated before the group was deleted: %v", err)
	}
	if tc.c.HasGroup("g") {
		t.Fatal("group still there after DeleteGroup")
	}
	// What a new coordinator replays: the commit's tombstone comes after
	// it, so not even a compacted log brings the offset back.
	st := make(loadState)
	var unknown int
	if err := tc.c.replayInto(tc.c.PartitionFor("g"), tc.offsetsLog("g"), nil, st, &unknown); err != nil {
		t.Fatal(err)
	}
	if lg := st["g"]; lg != nil && lg.offsets.len() != 0 {
		t.Fatalf("replay after DeleteGroup finds %d offsets", lg.offsets.len())
	}
	var tombstoned bool
	if err := replay(tc.offsetsLog("g"), nil, func(key, value []byte) {
		if value == nil && len(key) > 2 && key[1] == offsetKeyVersion {
			tombstoned = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !tombstoned {
		t.Fatal("no tombstone for the offset of the commit that was waiting")
	}
}
