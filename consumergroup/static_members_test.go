package consumergroup

// Static membership (KIP-345) and what a rebalance shows of it, as Kafka's
// coordinator does.

import (
	"errors"
	"testing"
	"time"
)

// TestStaticMemberThatDoesNotRejoinStaysInTheGroup: a static member that does not
// rejoin within the rebalance timeout (it is restarting) stays in the
// group, as in Kafka: only its session timeout removes it. The rebalance
// completes with it in the member list, led by a member that did rejoin.
func TestStaticMemberThatDoesNotRejoinStaysInTheGroup(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	inst := "instance-1"
	_, b, ja, jb := tc.joinStaticAndDynamic("g", inst, 300*time.Millisecond)
	if ja.Err != nil || jb.Err != nil {
		t.Fatal(ja.Err, jb.Err)
	}
	tc.syncAll("g", []JoinResult{ja, jb})
	// b's subscription changes: it rejoins; a is down and does not.
	b.MemberID = jb.MemberID
	b.Protocols = []Protocol{{Name: "range", Metadata: []byte("sub2")}}
	res := tc.c.Join(ctx(t), b)
	if res.Err != nil || res.Generation != jb.Generation+1 {
		t.Fatalf("rejoin: %+v", res)
	}
	if res.Leader != jb.MemberID || len(res.Members) != 2 {
		t.Fatalf("the static member was dropped from the generation: leader %s (b is %s), members %+v", res.Leader, jb.MemberID, res.Members)
	}
	if d, _ := tc.c.DescribeGroup("g"); len(d.Members) != 2 {
		t.Fatalf("static member removed: %+v", d)
	}
}

// TestDescribeNamesProtocolOnlyWhenStable: Kafka's DescribeGroups names
// the protocol only for a Stable group; mid-rebalance it is "" (the old
// generation's protocol is gone, the new one not in force).
func TestDescribeNamesProtocolOnlyWhenStable(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.joinAll("g", 1, 10*time.Second) // CompletingRebalance
	d, err := tc.c.DescribeGroup("g")
	if err != nil || d.State != CompletingRebalance {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if d.Protocol != "" {
		t.Fatalf("protocol %q while %v, want \"\"", d.Protocol, d.State)
	}
}

// TestJoinWaitsWhileOnlyAbsentStaticMembersRemain: when only static members that
// have not rejoined are left, no one can lead a generation: the join phase
// waits (Kafka reschedules it) until one comes back or its session ends.
func TestJoinWaitsWhileOnlyAbsentStaticMembersRemain(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	inst := "instance-1"
	a, _, ja, jb := tc.joinStaticAndDynamic("g", inst, 50*time.Millisecond)
	tc.syncAll("g", []JoinResult{ja, jb})
	// b leaves; a is restarting and does not rejoin in time.
	if _, err := tc.c.Leave("g", []LeaveMember{{MemberID: jb.MemberID}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // four rebalance timeouts
	if d, _ := tc.c.DescribeGroup("g"); d.State != PreparingRebalance || d.Generation != ja.Generation || len(d.Members) != 1 {
		t.Fatalf("a generation formed with no member to lead it: %+v", d)
	}
	// The restarted instance comes back and leads the next generation.
	res := tc.c.Join(ctx(t), a)
	if res.Err != nil || res.Generation != ja.Generation+1 || res.Leader != res.MemberID || len(res.Members) != 1 {
		t.Fatalf("static member back: %+v", res)
	}
}

// TestRejoinWithoutInstanceIDKeepsMemberStatic: a static member that
// rejoins by member id without its group.instance.id (a buggy or
// reconfigured client) stays static, as in Kafka where a member's instance
// id is fixed when it is added. Before, the member lost its instance id
// but the group's instance map kept it: after the member left, a join of
// that instance id looked up a member that was gone and the group's
// goroutine panicked, killing the broker.
func TestRejoinWithoutInstanceIDKeepsMemberStatic(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	inst := "instance-1"
	r := joinReq("g", "", 10*time.Second)
	r.InstanceID = &inst
	first := tc.c.Join(ctx(t), r)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	tc.syncAll("g", []JoinResult{first})
	// The same member id, no instance id, new protocols: a rejoin.
	again := joinReq("g", first.MemberID, 10*time.Second)
	again.Protocols = []Protocol{{Name: "range", Metadata: []byte("sub2")}}
	if res := tc.c.Join(ctx(t), again); res.Err != nil {
		t.Fatalf("rejoin: %v", res.Err)
	}
	if errs, err := tc.c.Leave("g", []LeaveMember{{MemberID: first.MemberID}}); err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", errs, err)
	}
	waitState(t, tc.c, "g", Empty)
	// The instance comes back: a first join.
	if res := tc.c.Join(ctx(t), r); res.Err != nil || len(res.Members) != 1 {
		t.Fatalf("static join after leave: %+v", res)
	}
}

// TestJoinWithKnownMemberAndUnknownInstanceIDIsUnknownMember: a join naming a member id
// and an instance id the group does not know is UNKNOWN_MEMBER_ID in
// Kafka (the client resets its member id), not a silent rejoin.
func TestJoinWithKnownMemberAndUnknownInstanceIDIsUnknownMember(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	j := tc.join(joinReq("g", "", 10*time.Second))
	tc.syncAll("g", []JoinResult{j})
	inst := "instance-1"
	r := joinReq("g", j.MemberID, 10*time.Second)
	r.InstanceID = &inst
	if res := tc.c.Join(ctx(t), r); !errors.Is(res.Err, ErrUnknownMemberID) {
		t.Fatalf("join: %v, want unknown member id", res.Err)
	}
}

// joinStaticAndDynamic joins a static member (instance inst) and a dynamic
// one to group together, both with the given rebalance timeout, and
// returns their requests and answers.
func (tc *testCoord) joinStaticAndDynamic(group, inst string, rebalance time.Duration) (a, b JoinRequest, ja, jb JoinResult) {
	a = joinReq(group, "", 10*time.Second)
	a.InstanceID = &inst
	a.RebalanceTimeout = rebalance
	b = joinReq(group, "", 10*time.Second)
	b.RebalanceTimeout = rebalance
	done := make(chan struct{}, 2)
	go func() { ja = tc.c.Join(ctx(tc.t), a); done <- struct{}{} }()
	go func() { jb = tc.join(b); done <- struct{}{} }()
	<-done
	<-done
	return a, b, ja, jb
}
