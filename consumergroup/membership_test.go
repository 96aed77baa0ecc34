package consumergroup

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestJoinSyncFormsStableGeneration(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 3, 10*time.Second)
	gen, leader := joins[0].Generation, joins[0].Leader
	leaders := 0
	for _, j := range joins {
		if j.Err != nil {
			t.Fatalf("join: %v", j.Err)
		}
		if j.Generation != gen || j.Leader != leader || j.Protocol != "range" || j.ProtocolType != "consumer" {
			t.Fatalf("members disagree: %+v vs gen %d leader %s", j, gen, leader)
		}
		if j.MemberID == j.Leader {
			leaders++
			if len(j.Members) != 3 {
				t.Fatalf("leader sees %d members, want 3", len(j.Members))
			}
		} else if len(j.Members) != 0 {
			t.Fatalf("follower got the member list")
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
	got := tc.syncAll("g", joins)
	for id, a := range got {
		if a != "a-"+id {
			t.Fatalf("member %s got assignment %q", id, a)
		}
	}
	d, err := tc.c.DescribeGroup("g")
	if err != nil || d.State != Stable || len(d.Members) != 3 || d.Generation != gen {
		t.Fatalf("describe: %+v, %v", d, err)
	}
}

func TestJoinErrors(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessionTimeout = time.Minute
	tc := startCoord(t, t.TempDir(), cfg)
	first := tc.join(joinReq("g", "", 10*time.Second))
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	other := joinReq("g", "", 10*time.Second)
	other.ProtocolType = "connect"
	noCommon := joinReq("g", "", 10*time.Second)
	noCommon.Protocols = []Protocol{{Name: "roundrobin"}}
	longSession := joinReq("g", "", 2*time.Minute)
	empty := joinReq("", "", 10*time.Second)
	unknown := joinReq("g", "nobody", 10*time.Second)
	unknownGroup := joinReq("nogroup", "nobody", 10*time.Second)
	for _, tt := range []struct {
		name string
		r    JoinRequest
		want error
	}{
		{"other protocol type", other, ErrInconsistentProtocol},
		{"no common protocol", noCommon, ErrInconsistentProtocol},
		{"session over max", longSession, ErrInvalidSessionTimeout},
		{"empty group id", empty, ErrInvalidGroupID},
		{"unknown member", unknown, ErrUnknownMemberID},
		{"unknown member, unknown group", unknownGroup, ErrUnknownMemberID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if res := tc.c.Join(ctx(t), tt.r); !errors.Is(res.Err, tt.want) {
				t.Fatalf("got %v, want %v", res.Err, tt.want)
			}
		})
	}
	if _, ok := tc.c.groups["nogroup"]; ok {
		t.Fatal("a join with a member id created a group")
	}
}

func TestMemberIDRequiredThenExpires(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	r := joinReq("g", "", 50*time.Millisecond)
	res := tc.c.Join(ctx(t), r)
	if !errors.Is(res.Err, ErrMemberIDRequired) || res.MemberID == "" {
		t.Fatalf("first join: %+v", res)
	}
	// The handed-out id expires unused, and with it the group it made
	// (waited for: a fixed sleep can lose the race on a busy machine).
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := tc.c.DescribeGroup("g")
		if errors.Is(err, ErrGroupNotFound) && d.State == Dead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handed-out id never expired: group %+v, %v", d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.MemberID = res.MemberID
	if res := tc.c.Join(ctx(t), r); !errors.Is(res.Err, ErrUnknownMemberID) {
		t.Fatalf("join with an expired pending id: %v", res.Err)
	}
}

func TestHeartbeatStates(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 2, 10*time.Second)
	tc.syncAll("g", joins)
	a := joins[0]
	hb := func(member string, gen int32) error {
		return tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: member, Generation: gen})
	}
	if err := hb(a.MemberID, a.Generation); err != nil {
		t.Fatalf("stable heartbeat: %v", err)
	}
	if err := hb(a.MemberID, a.Generation+1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("bad generation: %v", err)
	}
	if err := hb("nobody", a.Generation); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("unknown member: %v", err)
	}
	if err := tc.c.Heartbeat(HeartbeatRequest{Group: "none", MemberID: "x"}); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("unknown group: %v", err)
	}
	// A third member joins: the others learn of the rebalance by heartbeat.
	third := make(chan JoinResult, 1)
	go func() { third <- tc.join(joinReq("g", "", 10*time.Second)) }()
	waitState(t, tc.c, "g", PreparingRebalance)
	if err := hb(a.MemberID, a.Generation); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat while preparing: %v", err)
	}
	// The old members rejoin; the generation forms with all three.
	rejoin := make(chan JoinResult, 2)
	for _, j := range joins {
		go func() { rejoin <- tc.c.Join(ctx(t), joinReq("g", j.MemberID, 10*time.Second)) }()
	}
	r1, r2, r3 := <-rejoin, <-rejoin, <-third
	for _, r := range []JoinResult{r1, r2, r3} {
		if r.Err != nil || r.Generation != a.Generation+1 {
			t.Fatalf("rejoin: %+v", r)
		}
	}
}

func waitState(t testing.TB, c *Coordinator, group string, want State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := c.DescribeGroup(group); err == nil && d.State == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	d, err := c.DescribeGroup(group)
	t.Fatalf("group %s never reached %v: %+v %v", group, want, d, err)
}

func TestSessionExpiryRebalances(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	// The slow member's session must outlast the steps between its join
	// and its SyncGroup (no heartbeat covers them) on a busy machine; at
	// 150 ms it sometimes ended first and the sync met a rebalance.
	slow := joinReq("g", "", time.Second)
	fast := joinReq("g", "", 10*time.Second)
	var js [2]JoinResult
	done := make(chan struct{})
	go func() { js[0] = tc.join(slow); done <- struct{}{} }()
	go func() { js[1] = tc.join(fast); done <- struct{}{} }()
	<-done
	<-done
	tc.syncAll("g", js[:])
	// Only the fast member heartbeats; the slow one's session ends.
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		err = tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: js[1].MemberID, Generation: js[1].Generation})
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("survivor's heartbeat: %v, want rebalance in progress", err)
	}
	res := tc.c.Join(ctx(t), joinReq("g", js[1].MemberID, 10*time.Second))
	if res.Err != nil || res.Leader != js[1].MemberID || len(res.Members) != 1 || res.Generation != js[1].Generation+1 {
		t.Fatalf("survivor alone in the next generation: %+v", res)
	}
}

func TestRebalanceTimeoutRemovesMembersThatDoNotRejoin(t *testing.T) {
	const (
		// session is long: only the rebalance timeout may remove a
		// member, and a busy machine's pauses between the steps of the
		// setup (join, then sync) expire nothing.
		session = 10 * time.Second
		// rebalance is the timeout under test.
		rebalance = 300 * time.Millisecond
	)
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 2, session)
	tc.syncAll("g", joins)
	if joins[0].MemberID != joins[0].Leader {
		joins[0], joins[1] = joins[1], joins[0]
	}
	leader, follower := joins[0].MemberID, joins[1].MemberID
	// Both rejoin: the follower with the short rebalance timeout, the
	// leader still with the long one, which bounds this generation's
	// SyncGroup phase (the group's timeout is its members' longest). The
	// leader first: a follower rejoining a Stable group with unchanged
	// metadata is only handed the current generation back, as in Kafka.
	ljc := make(chan JoinResult, 1)
	go func() { ljc <- tc.c.Join(ctx(t), joinReq("g", leader, session)) }()
	waitState(t, tc.c, "g", PreparingRebalance)
	short := joinReq("g", follower, session)
	short.RebalanceTimeout = rebalance
	fj := tc.c.Join(ctx(t), short)
	lj := <-ljc
	if lj.Err != nil || fj.Err != nil || lj.Leader != leader || lj.Generation != fj.Generation {
		t.Fatalf("rejoin with the short rebalance timeout: leader %+v, follower %+v", lj, fj)
	}
	tc.syncAll("g", []JoinResult{lj, fj})

	// The leader rejoins (as it does to reassign), now with the short
	// rebalance timeout too; the follower keeps heartbeating but never
	// rejoins: the rebalance timeout removes it.
	c := tc.c
	stop := make(chan struct{})
	var heartbeats sync.WaitGroup
	heartbeats.Add(1)
	defer func() { close(stop); heartbeats.Wait() }()
	go func() {
		defer heartbeats.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
				c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: follower, Generation: fj.Generation})
			}
		}
	}()
	again := joinReq("g", leader, session)
	again.RebalanceTimeout = rebalance
	start := time.Now()
	res := c.Join(ctx(t), again)
	if res.Err != nil || len(res.Members) != 1 || res.Members[0].MemberID != leader {
		t.Fatalf("rejoin: %+v", res)
	}
	if took := time.Since(start); took < rebalance-50*time.Millisecond {
		t.Fatalf("join completed after %v, before the rebalance timeout", took)
	}
	err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: follower, Generation: fj.Generation})
	if !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("heartbeat of the member that did not rejoin: %v, want unknown member id", err)
	}
}

func TestLeaveRebalancesAtOnce(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 2, 10*time.Second)
	tc.syncAll("g", joins)
	errs, err := tc.c.Leave("g", []LeaveMember{{MemberID: joins[0].MemberID}, {MemberID: "nobody"}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMemberID) {
		t.Fatalf("leave: %v %v", errs, err)
	}
	res := tc.c.Join(ctx(t), joinReq("g", joins[1].MemberID, 10*time.Second))
	if res.Err != nil || len(res.Members) != 1 {
		t.Fatalf("rejoin after leave: %+v", res)
	}
	// Last member leaves: the group is Empty with a new generation.
	tc.syncAll("g", []JoinResult{res})
	if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: res.MemberID}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, tc.c, "g", Empty)
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	inst := "instance-1"
	r := joinReq("g", "", 10*time.Second)
	r.InstanceID = &inst
	first := tc.c.Join(ctx(t), r) // static members need no MEMBER_ID_REQUIRED round
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	tc.syncAll("g", []JoinResult{first})
	// The instance restarts: a new join with no member id.
	again := tc.c.Join(ctx(t), r)
	if again.Err != nil || again.Generation != first.Generation || again.MemberID == first.MemberID {
		t.Fatalf("static rejoin: %+v (first %+v)", again, first)
	}
	if !again.SkipAssignment {
		t.Fatal("static leader rejoining a stable group should skip assignment")
	}
	sr := tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: again.MemberID, InstanceID: &inst, Generation: again.Generation})
	if sr.Err != nil || string(sr.Assignment) != "a-"+first.MemberID {
		t.Fatalf("static member's assignment after rejoin: %q %v", sr.Assignment, sr.Err)
	}
	// The old incarnation is fenced.
	err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: first.MemberID, InstanceID: &inst, Generation: first.Generation})
	if !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("old instance heartbeat: %v", err)
	}
	if d, _ := tc.c.DescribeGroup("g"); d.State != Stable || d.Generation != first.Generation {
		t.Fatalf("group rebalanced: %+v", d)
	}
}

func TestSyncErrors(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 1, 10*time.Second)
	j := joins[0]
	other := "other"
	for _, tt := range []struct {
		name string
		r    SyncRequest
		want error
	}{
		{"unknown group", SyncRequest{Group: "none", MemberID: j.MemberID}, ErrUnknownMemberID},
		{"unknown member", SyncRequest{Group: "g", MemberID: "x", Generation: j.Generation}, ErrUnknownMemberID},
		{"old generation", SyncRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation - 1}, ErrIllegalGeneration},
		{"other protocol", SyncRequest{Group: "g", MemberID: j.MemberID, Generation: j.Generation, Protocol: &other}, ErrInconsistentProtocol},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if res := tc.c.Sync(ctx(t), tt.r); !errors.Is(res.Err, tt.want) {
				t.Fatalf("got %v, want %v", res.Err, tt.want)
			}
		})
	}
}

func TestInitialRebalanceDelayGathersMembers(t *testing.T) {
	cfg := testConfig()
	cfg.InitialRebalanceDelay = 200 * time.Millisecond
	tc := startCoord(t, t.TempDir(), cfg)
	joins := tc.joinAll("g", 3, 10*time.Second)
	for _, j := range joins {
		if j.Err != nil || j.Generation != 1 {
			t.Fatalf("members should form generation 1 together: %+v", j)
		}
	}
}

func TestJavaHashCode(t *testing.T) {
	// Values of Java's String.hashCode.
	for s, want := range map[string]int32{"": 0, "abc": 96354, "hello": 99162322, "consumer-group-1": 147483020, "é😀": 1996812} {
		if got := javaHashCode(s); got != want {
			t.Errorf("javaHashCode(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestMemberThatNeverSyncsIsRemoved: a follower that gets its JoinGroup
// answer but never sends SyncGroup is removed after the rebalance timeout,
// also once the leader's sync made the group Stable (Kafka's pending-sync
// members), and the group rebalances without it.
func TestMemberThatNeverSyncsIsRemoved(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 2, 300*time.Millisecond)
	leader, follower := joins[0], joins[1]
	if leader.MemberID != leader.Leader {
		leader, follower = follower, leader
	}
	assign := map[string][]byte{leader.MemberID: []byte("a"), follower.MemberID: []byte("b")}
	res := tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation, Assignments: assign})
	if res.Err != nil || string(res.Assignment) != "a" {
		t.Fatalf("leader sync: %+v", res)
	}
	if d, _ := tc.c.DescribeGroup("g"); d.State != Stable {
		t.Fatalf("state %v after the leader's sync", d.State)
	}
	// Both keep their sessions alive; the follower never syncs.
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation})
		if err = tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation}); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("leader's heartbeat: %v, want a rebalance once the follower is dropped", err)
	}
	next := tc.c.Join(ctx(t), joinReq("g", leader.MemberID, 300*time.Millisecond))
	if next.Err != nil || len(next.Members) != 1 {
		t.Fatalf("rejoin: %+v", next)
	}
}

// TestLateSyncInStableKeepsMember: a follower whose SyncGroup arrives after
// the group became Stable gets its assignment and stays.
func TestLateSyncInStableKeepsMember(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	joins := tc.joinAll("g", 2, 300*time.Millisecond)
	leader, follower := joins[0], joins[1]
	if leader.MemberID != leader.Leader {
		leader, follower = follower, leader
	}
	assign := map[string][]byte{leader.MemberID: []byte("a"), follower.MemberID: []byte("b")}
	tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: leader.MemberID, Generation: leader.Generation, Assignments: assign})
	if res := tc.c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: follower.MemberID, Generation: follower.Generation}); string(res.Assignment) != "b" {
		t.Fatalf("late sync: %+v", res)
	}
	for i := 0; i < 25; i++ { // 500 ms: past the rebalance timeout
		for _, m := range []JoinResult{leader, follower} {
			if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: m.MemberID, Generation: m.Generation}); err != nil {
				t.Fatalf("heartbeat of %s: %v", m.MemberID, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
