package consumergroup

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// subscription is a consumer's protocol metadata (ConsumerMemberMetadata
// v3) subscribed to topics, owning owned partitions of the first topic at
// generation gen, as Java and franz-go consumers send it.
func subscription(gen int32, owned []int32, topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 3
	md.Topics = topics
	md.Generation = gen
	if len(owned) > 0 {
		md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: topics[0], Partitions: owned}}
	}
	return md.AppendTo(nil)
}

// TestReviewStaticMemberNotRejoinedStays: a static member that does not
// rejoin within the rebalance timeout (it is restarting) stays in the
// group, as in Kafka: only its session timeout removes it. The rebalance
// completes with it in the member list, led by a member that did rejoin.
func TestReviewStaticMemberNotRejoinedStays(t *testing.T) {
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

// TestReviewExplicitExpiryKeepsSubscribedOffsets: a commit with a
// retention time (OffsetCommit v2-v4) carries an expire time; Kafka still
// never expires the offsets of a topic a live (Stable) consumer group is
// subscribed to.
func TestReviewExplicitExpiryKeepsSubscribedOffsets(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testConfig()
	cfg.Now = clock.now
	cfg.OffsetsRetention = time.Hour
	tc := startCoord(t, t.TempDir(), cfg)
	tc.topic("t", 1)
	r := joinReq("g", "", 10*time.Second)
	r.Protocols = []Protocol{{Name: "range", Metadata: subscription(-1, nil, "t")}}
	j := tc.join(r)
	tc.syncAll("g", []JoinResult{j})
	req := commitOne("g", j.MemberID, j.Generation, "t", 0, 42)
	req.Retention = time.Minute
	if errs, err := tc.c.Commit(req); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	clock.add(2 * time.Minute)
	tc.c.ExpireOffsets()
	got, _ := tc.c.FetchOffsets("g", nil)
	if got[TopicPartition{"t", 0}].Offset != 42 {
		t.Fatalf("the live group lost the offset of a topic it consumes: %v", got)
	}
}

// TestReviewCommitValidationOrder: Kafka validates a member's commit
// (fenced, unknown member, generation) before looking at the group's
// state, and treats a commit naming a member or instance as a member's
// commit even with generation -1.
func TestReviewCommitValidationOrder(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	// An empty group: a commit naming a member is not a simple commit.
	if _, err := tc.c.Commit(commitOne("simple", "", -1, "t", 0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.c.Commit(commitOne("simple", "stranger", -1, "t", 0, 2)); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("commit naming a member into an empty group: %v, want unknown member", err)
	}
	j := tc.joinAll("g", 1, 10*time.Second)[0] // CompletingRebalance: no SyncGroup yet
	for _, tt := range []struct {
		name string
		r    CommitRequest
		want error
	}{
		{"stale generation", commitOne("g", j.MemberID, j.Generation-1, "t", 0, 1), ErrIllegalGeneration},
		{"unknown member", commitOne("g", "stranger", j.Generation, "t", 0, 1), ErrUnknownMemberID},
		{"simple commit into a live group", commitOne("g", "", -1, "t", 0, 1), ErrUnknownMemberID},
		{"current generation", commitOne("g", j.MemberID, j.Generation, "t", 0, 1), ErrRebalanceInProgress},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tc.c.Commit(tt.r); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestReviewDeleteOffsetsUndecodableSubscription: when a member's
// subscription does not decode, nothing is known about what the group
// reads, so Kafka treats every topic as subscribed (OffsetDelete answers
// GROUP_SUBSCRIBED_TO_TOPIC) rather than deleting offsets in use.
func TestReviewDeleteOffsetsUndecodableSubscription(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	j := tc.join(joinReq("g", "", 10*time.Second)) // metadata "sub": no ConsumerMemberMetadata
	tc.syncAll("g", []JoinResult{j})
	if errs, err := tc.c.Commit(commitOne("g", j.MemberID, j.Generation, "t", 0, 9)); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	errs, err := tc.c.DeleteOffsets("g", []TopicPartition{{"t", 0}})
	if err != nil || !errors.Is(errs[0], ErrGroupSubscribedToTopic) {
		t.Fatalf("delete offsets: %v %v, want subscribed to topic", errs, err)
	}
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 1 {
		t.Fatalf("offsets of a live group deleted: %v", got)
	}
}

// TestReviewDescribeProtocolOnlyWhenStable: Kafka's DescribeGroups names
// the protocol only for a Stable group; mid-rebalance it is "" (the old
// generation's protocol is gone, the new one not in force).
func TestReviewDescribeProtocolOnlyWhenStable(t *testing.T) {
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

// TestReviewAbsentStaticMembersAloneWait: when only static members that
// have not rejoined are left, no one can lead a generation: the join phase
// waits (Kafka reschedules it) until one comes back or its session ends.
func TestReviewAbsentStaticMembersAloneWait(t *testing.T) {
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

// TestReviewRejoinWithoutInstanceIDKeepsStaticMap: a static member that
// rejoins by member id without its group.instance.id (a buggy or
// reconfigured client) stays static, as in Kafka where a member's instance
// id is fixed when it is added. Before, the member lost its instance id
// but the group's instance map kept it: after the member left, a join of
// that instance id looked up a member that was gone and the group's
// goroutine panicked, killing the broker.
func TestReviewRejoinWithoutInstanceIDKeepsStaticMap(t *testing.T) {
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

// TestReviewKnownMemberWithUnknownInstanceID: a join naming a member id
// and an instance id the group does not know is UNKNOWN_MEMBER_ID in
// Kafka (the client resets its member id), not a silent rejoin.
func TestReviewKnownMemberWithUnknownInstanceID(t *testing.T) {
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
