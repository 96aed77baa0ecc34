package replica

import (
	"context"
	"slices"
	"testing"
)

// fetchAs is a follower's fetch at off under broker epoch epoch.
func fetchAs(t *testing.T, ld *Leader, follower int32, epoch, off int64) {
	t.Helper()
	if _, err := ld.HandleFollowerFetch(follower, epoch, off, ld.log.StartOffset(), ld.log.LeaderEpoch(), -1); err != nil {
		t.Fatalf("fetch by %d (epoch %d) at %d: %v", follower, epoch, off, err)
	}
}

// propose runs MaybeChangeISR and returns what it proposed, with the
// broker epochs it named.
func propose(t *testing.T, ld *Leader, p *proposals) ([]int32, []int64) {
	t.Helper()
	got, err := ld.MaybeChangeISR(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return got, p.epochs[len(p.epochs)-1]
}

func TestISRExpansionNamesTheBrokerEpochTheJoiningFollowerFetchedUnder(t *testing.T) {
	l, c, p := newFakeLog(), newClock(), &proposals{}
	ld := newTestLeader(t, l, []int32{1, 3}, 1, c, p)
	l.appendLeader(5)
	fetchAs(t, ld, 3, 4, l.NextOffset())
	fetchAs(t, ld, 2, 7, l.NextOffset())
	isr, epochs := propose(t, ld, p)
	if !slices.Equal(isr, []int32{1, 3, 2}) || !slices.Equal(epochs, []int64{-1, -1, 7}) {
		t.Fatalf("proposed ISR %v with epochs %v, want [1 3 2] with [-1 -1 7]: only the joining member names its epoch", isr, epochs)
	}
}

// TestFollowerRestartedWithALostTailDoesNotRejoinOnItsPredecessorsProgress
// is the leader's side of a follower's power loss: the follower was
// caught up, lost its unflushed tail and came back under a new broker
// epoch; the controller took it out of the ISR. The leader must not
// bring it back on what its previous incarnation had fetched.
func TestFollowerRestartedWithALostTailDoesNotRejoinOnItsPredecessorsProgress(t *testing.T) {
	l, c, p := newFakeLog(), newClock(), &proposals{}
	ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, p)
	l.appendLeader(5)
	fetchAs(t, ld, 2, 7, l.NextOffset())
	fetchAs(t, ld, 3, 4, l.NextOffset())
	// The controller fences the restarted broker 2 out of the ISR.
	st := ld.State()
	st.ISR, st.PartitionEpoch = []int32{1, 3}, st.PartitionEpoch+1
	if err := ld.UpdateState(st); err != nil {
		t.Fatal(err)
	}
	// Before the new incarnation fetches, a proposal may name broker 2,
	// but only under the epoch it was seen at, which the controller
	// refuses (cluster.AlterISR, ErrIneligibleReplica).
	if isr, epochs := propose(t, ld, p); isr != nil && epochs[slices.Index(isr, 2)] != 7 {
		t.Fatalf("proposed %v with epochs %v: broker 2 not named at epoch 7, the one its progress was seen under", isr, epochs)
	}
	p.mu.Lock()
	p.isrs, p.epochs = nil, nil
	p.mu.Unlock()
	st.PartitionEpoch++ // the refused proposal's pending state ends
	if err := ld.UpdateState(st); err != nil {
		t.Fatal(err)
	}

	// The new incarnation fetches from the start of what it kept: behind.
	fetchAs(t, ld, 2, 9, 0)
	if isr, epochs := propose(t, ld, p); isr != nil {
		t.Fatalf("proposed %v (epochs %v) for a follower that lost its tail", isr, epochs)
	}
	// Caught up again, it rejoins under its new epoch.
	fetchAs(t, ld, 2, 9, l.NextOffset())
	if isr, epochs := propose(t, ld, p); !slices.Equal(isr, []int32{1, 3, 2}) || !slices.Equal(epochs, []int64{-1, -1, 9}) {
		t.Fatalf("proposed %v with epochs %v, want [1 3 2] with [-1 -1 9]", isr, epochs)
	}
}

func TestISRMemberFetchingUnderANewBrokerEpochBehindLeavesAtOnce(t *testing.T) {
	l, c, p := newFakeLog(), newClock(), &proposals{}
	ld := newTestLeader(t, l, []int32{1, 2, 3}, 1, c, p)
	l.appendLeader(5)
	fetchAs(t, ld, 2, 7, l.NextOffset())
	fetchAs(t, ld, 3, 4, l.NextOffset())
	// Broker 2 restarted (new epoch) with a shorter log, and the
	// controller has not fenced it yet: it is not caught up, whatever
	// its predecessor was, so it leaves without waiting for the lag time.
	fetchAs(t, ld, 2, 9, 2)
	if isr, _ := propose(t, ld, p); !slices.Equal(isr, []int32{1, 3}) {
		t.Fatalf("proposed %v, want [1 3]", isr)
	}
}
