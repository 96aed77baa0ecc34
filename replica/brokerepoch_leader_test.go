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

// rejoinMetadata is the metadata an in-process rejoin decides ISR
// changes against, with cluster.AlterISR as the controller does; it
// counts the changes refused as INELIGIBLE_REPLICA and those committed.
type rejoinMetadata struct {
	mu        sync.Mutex
	snap      *cluster.Snapshot
	refused   int
	committed map[cluster.TopicPartition][]int64 // the epochs each committed change named
}

func (m *rejoinMetadata) registeredEpoch(id int32) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap.Brokers[id].Epoch
}

func (m *rejoinMetadata) alive(id int32) bool { return m.registeredEpoch(id) > 0 }

func (m *rejoinMetadata) alterISR(_ context.Context, old cluster.PartitionState, newISR []int32, epochs []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, _, err := cluster.AlterISR(m.snap, cluster.ISRChange{
		Topic: old.Topic, Partition: old.Partition, Leader: old.Leader,
		LeaderEpoch: old.LeaderEpoch, PartitionEpoch: old.PartitionEpoch,
		NewISR: newISR, NewISREpochs: epochs,
	})
	if errors.Is(err, cluster.ErrIneligibleReplica) {
		m.refused++
	}
	if err != nil {
		return err
	}
	m.snap.Partitions = m.snap.Partitions.With(u.New)
	m.committed[old.TP()] = slices.Clone(epochs)
	return nil
}

// TestRejoinedFollowerIsProposedOnlyUnderItsRegisteredEpoch is a
// follower's rejoin as the leader of many idle partitions sees it:
// broker 2 was caught up on every partition under broker epoch 20, was
// fenced out of their ISRs, and registered again at 50. Its last fetches
// still look caught up (nothing was produced since), but they were its
// previous registration's: the controller refuses an ISR naming broker 2
// at 20, so the leader must not propose it until a fetch under 50
// arrives, and then proposes it at 50.
func TestRejoinedFollowerIsProposedOnlyUnderItsRegisteredEpoch(t *testing.T) {
	const parts = 64
	md := &rejoinMetadata{committed: map[cluster.TopicPartition][]int64{}, snap: &cluster.Snapshot{
		Brokers:    map[int32]cluster.Broker{1: {NodeID: 1, Epoch: 10}, 2: {NodeID: 2, Epoch: 20}, 3: {NodeID: 3, Epoch: 30}},
		Partitions: cluster.PartitionMap{},
	}}
	m := NewManager(Config{Self: 1, LagTimeMax: time.Hour, ISRCheckInterval: time.Hour, Logger: quiet,
		AlterISR: md.alterISR, Alive: md.alive, RegisteredEpoch: md.registeredEpoch, Fetch: testFetch, TopicID: topicID})
	defer m.Close()
	leaders := make([]*Leader, parts)
	for i := range leaders {
		st := cluster.PartitionState{Topic: "t", Partition: int32(i), Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
			Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Version: 1}
		md.snap.Partitions = md.snap.Partitions.With(st)
		l := newFakeLog()
		ld, err := m.BecomeLeader(l, st, 1)
		if err != nil {
			t.Fatal(err)
		}
		l.appendLeader(3)
		fetchAs(t, ld, 2, 20, l.NextOffset())
		fetchAs(t, ld, 3, 30, l.NextOffset())
		leaders[i] = ld
	}
	// Broker 2's registration lapses: the controller takes it out of
	// every ISR; then it registers again, at broker epoch 50.
	md.mu.Lock()
	delete(md.snap.Brokers, 2)
	for i, ld := range leaders {
		st, _ := md.snap.Partitions.Get(ld.TP())
		st = st.Clone()
		st.ISR, st.PartitionEpoch, st.Version = []int32{1, 3}, 2, 2
		md.snap.Partitions = md.snap.Partitions.With(st)
		if err := leaders[i].UpdateState(st); err != nil {
			t.Fatal(err)
		}
	}
	md.snap.Brokers[2] = cluster.Broker{NodeID: 2, Epoch: 50}
	md.mu.Unlock()

	for _, ld := range leaders {
		if isr, err := ld.MaybeChangeISR(context.Background()); isr != nil || err != nil {
			t.Errorf("%v: proposed ISR %v (err %v) before broker 2 fetched under its new registration", ld.TP(), isr, err)
		}
	}
	// Its new registration fetches: now it joins, at epoch 50.
	for _, ld := range leaders {
		fetchAs(t, ld, 2, 50, ld.log.NextOffset())
		if _, err := ld.MaybeChangeISR(context.Background()); err != nil {
			t.Errorf("%v: %v", ld.TP(), err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		md.mu.Lock()
		done, refused := len(md.committed), md.refused
		md.mu.Unlock()
		if done == parts || time.Now().After(deadline) {
			if refused != 0 || done != parts {
				t.Fatalf("%d ISR changes refused as INELIGIBLE_REPLICA, %d of %d partitions took broker 2 back", refused, done, parts)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	for tp, epochs := range md.committed {
		if !slices.Equal(epochs, []int64{-1, -1, 50}) {
			t.Errorf("%v: committed with epochs %v, want [-1 -1 50]", tp, epochs)
		}
	}
}
