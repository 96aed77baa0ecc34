package consumergroup

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// parked reports whether group's loop is parked (nil when no such group).
func (tc *testCoord) parked(id string) (parked, ok bool) {
	tc.c.mu.Lock()
	g := tc.c.groups[id]
	tc.c.mu.Unlock()
	if g == nil {
		return false, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ops == nil && !g.dead, true
}

// waitParked waits for group's loop to park: it returns on its own after
// the operation that left the group idle.
func (tc *testCoord) waitParked(id string) {
	tc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p, _ := tc.parked(id); p {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tc.t.Fatalf("group %s never parked", id)
}

func simpleCommit(group, topic string, partition int32, offset int64) CommitRequest {
	return CommitRequest{Group: group, Generation: -1,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{topic, partition}, Offset: offset, LeaderEpoch: -1}}}
}

func TestIdleGroupParksAndWakesWithItsState(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 2)
	if errs, err := tc.c.Commit(simpleCommit("g", "t", 1, 7)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	// A group made by a simple commit never starts a loop.
	if p, ok := tc.parked("g"); !ok || !p {
		t.Fatalf("after a simple commit: parked %v, exists %v", p, ok)
	}

	joins := tc.joinAll("g", 1, time.Minute)
	if p, _ := tc.parked("g"); p {
		t.Fatal("a group with a member is parked")
	}
	tc.syncAll("g", joins)
	j := joins[0]
	r := simpleCommit("g", "t", 0, 3)
	r.MemberID, r.Generation = j.MemberID, j.Generation
	if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: j.MemberID}}); err != nil {
		t.Fatal(err)
	}
	tc.waitParked("g")

	// Parked, it still answers, in place, with everything it had.
	d, err := tc.c.DescribeGroup("g")
	if err != nil || d.State != Empty || d.ProtocolType != "consumer" || d.Generation != j.Generation+1 {
		t.Fatalf("describe parked group: %+v %v (joined at generation %d)", d, err, j.Generation)
	}
	got, err := tc.c.FetchOffsets("g", nil)
	want := map[TopicPartition]OffsetAndMetadata{}
	if err != nil || len(got) != 2 || got[TopicPartition{"t", 0}].Offset != 3 || got[TopicPartition{"t", 1}].Offset != 7 {
		t.Fatalf("offsets of the parked group: %+v %v, want t/0=3 t/1=7 %v", got, err, want)
	}
	if p, _ := tc.parked("g"); !p {
		t.Fatal("reading a parked group started its loop")
	}

	// A member wakes it: the next generation follows the last one.
	joins = tc.joinAll("g", 1, time.Minute)
	if joins[0].Err != nil || joins[0].Generation != j.Generation+2 {
		t.Fatalf("rejoin after parking: %+v, want generation %d", joins[0], j.Generation+2)
	}
	tc.syncAll("g", joins)
	if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: joins[0].MemberID}}); err != nil {
		t.Fatal(err)
	}
	tc.waitParked("g")

	// And a restart brings back a parked group's offsets.
	tc = tc.restart()
	got, err = tc.c.FetchOffsets("g", nil)
	if err != nil || got[TopicPartition{"t", 0}].Offset != 3 || got[TopicPartition{"t", 1}].Offset != 7 {
		t.Fatalf("offsets after restart: %+v %v", got, err)
	}
	if p, ok := tc.parked("g"); !ok || !p {
		t.Fatalf("a loaded idle group: parked %v, exists %v", p, ok)
	}
}

// A pending member id (KIP-394) keeps the loop running for its expiry;
// when it expires unused, the group parks again with its offsets.
func TestGroupParksWhenPendingMemberExpires(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	if errs, err := tc.c.Commit(simpleCommit("g", "t", 0, 5)); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	res := tc.c.Join(ctx(t), joinReq("g", "", 50*time.Millisecond))
	if res.Err != ErrMemberIDRequired {
		t.Fatalf("first join: %v", res.Err)
	}
	if p, _ := tc.parked("g"); p {
		t.Fatal("parked with a pending member id")
	}
	tc.waitParked("g")
	got, err := tc.c.FetchOffsets("g", nil)
	if err != nil || got[TopicPartition{"t", 0}].Offset != 5 {
		t.Fatalf("offsets: %+v %v", got, err)
	}
	// The expired id is gone.
	if res := tc.c.Join(ctx(t), joinReq("g", res.MemberID, time.Minute)); res.Err != ErrUnknownMemberID {
		t.Fatalf("join with the expired id: %v", res.Err)
	}
}

// Operations race the loop parking and starting again: members join and
// leave in a loop while others commit, read and list. Every operation is
// answered (none lost to a loop that parked under it) and the last simple
// commit that succeeded is the one stored.
func TestNoOperationLostWhileGroupParks(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.cfg.InitialRebalanceDelay = 0
	tc = tc.restart()
	tc.topic("t", 1)
	const rounds = 40
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lastOK atomic.Int64
	lastOK.Store(-1)
	wg.Add(1)
	go func() { // simple commits of increasing offsets: they succeed while the group is Empty
		defer wg.Done()
		for off := int64(0); !stop.Load(); off++ {
			errs, err := tc.c.Commit(simpleCommit("g", "t", 0, off))
			switch {
			case err == ErrUnknownMemberID: // the group has a member
			case err != nil:
				t.Errorf("commit: %v", err)
				return
			case errs[0] == nil:
				lastOK.Store(off)
			default:
				t.Errorf("commit: %v", errs[0])
				return
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			for !stop.Load() {
				if _, err := tc.c.FetchOffsets("g", nil); err != nil {
					t.Errorf("fetch: %v", err)
					return
				}
				if _, err := tc.c.DescribeGroup("g"); err != nil && err != ErrGroupNotFound {
					t.Errorf("describe: %v", err)
					return
				}
				if _, err := tc.c.ListGroups(); err != nil {
					t.Errorf("list: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < rounds && !t.Failed(); i++ {
		joins := tc.joinAll("g", 1, time.Minute)
		if joins[0].Err != nil {
			t.Fatalf("round %d: join: %v", i, joins[0].Err)
		}
		tc.syncAll("g", joins)
		if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: joins[0].MemberID}}); err != nil {
			t.Fatalf("round %d: leave: %v", i, err)
		}
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	tc.waitParked("g")
	got, err := tc.c.FetchOffsets("g", nil)
	if want := lastOK.Load(); err != nil || want < 0 || got[TopicPartition{"t", 0}].Offset != want {
		t.Fatalf("stored offset %+v %v, want the last acknowledged simple commit, %d", got, err, want)
	}
}

// A first JoinGroup that is refused (no protocol in common here) leaves
// no group behind: refused joins with fresh group ids cannot pile up
// groups, parked or not.
func TestRefusedJoinLeavesNoGroup(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	for i := 0; i < 3; i++ {
		r := joinReq("refused-"+string(rune('a'+i)), "", time.Minute)
		r.Protocols = nil
		if res := tc.c.Join(ctx(t), r); res.Err != ErrInconsistentProtocol {
			t.Fatalf("join without protocols: %v", res.Err)
		}
	}
	if gs, err := tc.c.ListGroups(); err != nil || len(gs) != 0 {
		t.Fatalf("groups after refused joins: %+v %v", gs, err)
	}
}
