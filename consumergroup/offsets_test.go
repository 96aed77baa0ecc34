package consumergroup

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func commitOne(group, member string, gen int32, topic string, p int32, off int64) CommitRequest {
	return CommitRequest{Group: group, MemberID: member, Generation: gen,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{topic, p}, Offset: off, LeaderEpoch: -1}}}
}

func TestCommitRules(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 2)
	// Simple commits (no member, generation -1) create and fill an empty group.
	if errs, err := tc.c.Commit(commitOne("simple", "", -1, "t", 0, 5)); err != nil || errs[0] != nil {
		t.Fatalf("simple commit: %v %v", errs, err)
	}
	// A generation for a group that does not exist is refused.
	if _, err := tc.c.Commit(commitOne("nogroup", "m", 3, "t", 0, 5)); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("commit to unknown group with a generation: %v", err)
	}
	joins := tc.joinAll("g", 1, 10*time.Second)
	j := joins[0]
	// CompletingRebalance: the generation has no assignment yet.
	if _, err := tc.c.Commit(commitOne("g", j.MemberID, j.Generation, "t", 0, 1)); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit before sync: %v", err)
	}
	tc.syncAll("g", joins)
	long := strings.Repeat("m", DefaultOffsetMetadataMaxBytes+1)
	req := commitOne("g", j.MemberID, j.Generation, "t", 0, 7)
	req.Offsets = append(req.Offsets,
		CommitOffset{TopicPartition: TopicPartition{"t", 9}, Offset: 1},
		CommitOffset{TopicPartition: TopicPartition{"missing", 0}, Offset: 1},
		CommitOffset{TopicPartition: TopicPartition{"t", 1}, Offset: 1, Metadata: &long},
	)
	errs, err := tc.c.Commit(req)
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownTopicOrPartition) ||
		!errors.Is(errs[2], ErrUnknownTopicOrPartition) || !errors.Is(errs[3], ErrMetadataTooLarge) {
		t.Fatalf("member commit: %v %v", errs, err)
	}
	for _, tt := range []struct {
		name string
		r    CommitRequest
		want error
	}{
		{"stale generation", commitOne("g", j.MemberID, j.Generation-1, "t", 0, 1), ErrIllegalGeneration},
		{"unknown member", commitOne("g", "stranger", j.Generation, "t", 0, 1), ErrUnknownMemberID},
		{"simple commit into a live group", commitOne("g", "", -1, "t", 0, 1), ErrUnknownMemberID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tc.c.Commit(tt.r); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	got, err := tc.c.FetchOffsets("g", nil)
	if err != nil || len(got) != 1 || got[TopicPartition{"t", 0}].Offset != 7 {
		t.Fatalf("fetch: %v %v", got, err)
	}
	if got, _ := tc.c.FetchOffsets("nogroup", nil); len(got) != 0 {
		t.Fatalf("unknown group has offsets: %v", got)
	}
}

// TestOffsetsAndGroupSurviveRestart: commits and the last generation are
// replayed from __consumer_offsets.
func TestOffsetsAndGroupSurviveRestart(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 3)
	joins := tc.joinAll("g", 2, 10*time.Second)
	assigned := tc.syncAll("g", joins)
	meta := "note"
	for p := int32(0); p < 3; p++ {
		r := commitOne("g", joins[0].MemberID, joins[0].Generation, "t", p, int64(100+p))
		r.Offsets[0].Metadata = &meta
		r.Offsets[0].LeaderEpoch = 4
		if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
			t.Fatal(errs, err)
		}
	}
	// A later commit replaces an earlier one.
	tc.c.Commit(commitOne("g", joins[0].MemberID, joins[0].Generation, "t", 1, 555))
	tc.c.Commit(commitOne("simple", "", -1, "t", 2, 9))
	tc = tc.restart()
	got, err := tc.c.FetchOffsets("g", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[TopicPartition]int64{{"t", 0}: 100, {"t", 1}: 555, {"t", 2}: 102}
	if len(got) != len(want) {
		t.Fatalf("after restart: %v", got)
	}
	for tp, off := range want {
		if got[tp].Offset != off {
			t.Fatalf("%v: %d, want %d", tp, got[tp].Offset, off)
		}
	}
	if om := got[TopicPartition{"t", 0}]; om.Metadata != meta || om.LeaderEpoch != 4 || om.CommitTime == 0 {
		t.Fatalf("metadata lost: %+v", om)
	}
	d, err := tc.c.DescribeGroup("g")
	if err != nil || d.State != Stable || d.Generation != joins[0].Generation || len(d.Members) != 2 {
		t.Fatalf("group after restart: %+v %v", d, err)
	}
	for _, m := range d.Members {
		if string(m.Assignment) != assigned[m.MemberID] {
			t.Fatalf("assignment of %s after restart: %q", m.MemberID, m.Assignment)
		}
	}
	// The members still heartbeat with their generation.
	if err := tc.c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: joins[1].MemberID, Generation: joins[1].Generation}); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	if got, _ := tc.c.FetchOffsets("simple", nil); got[TopicPartition{"t", 2}].Offset != 9 {
		t.Fatalf("simple group's offsets after restart: %v", got)
	}
}

// TestReloadedMembersExpire: members of a reloaded generation that never
// come back are removed after their session timeout; the group empties.
func TestReloadedMembersExpire(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	joins := tc.joinAll("g", 1, 200*time.Millisecond)
	tc.syncAll("g", joins)
	tc = tc.restart()
	waitState(t, tc.c, "g", Empty)
}

func TestDeleteGroup(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 1)
	joins := tc.joinAll("g", 1, 10*time.Second)
	tc.syncAll("g", joins)
	tc.c.Commit(commitOne("g", joins[0].MemberID, joins[0].Generation, "t", 0, 3))
	if err := tc.c.DeleteGroup("g"); !errors.Is(err, ErrNonEmptyGroup) {
		t.Fatalf("delete with members: %v", err)
	}
	if err := tc.c.DeleteGroup("none"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	tc.c.Leave("g", []LeaveMember{{MemberID: joins[0].MemberID}})
	waitState(t, tc.c, "g", Empty)
	if err := tc.c.DeleteGroup("g"); err != nil {
		t.Fatalf("delete empty group: %v", err)
	}
	if _, err := tc.c.DescribeGroup("g"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("deleted group still described: %v", err)
	}
	tc = tc.restart()
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 0 {
		t.Fatalf("deleted group's offsets came back: %v", got)
	}
	if gs, _ := tc.c.ListGroups(); len(gs) != 0 {
		t.Fatalf("deleted group listed after restart: %v", gs)
	}
}

func TestDeleteOffsets(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("t", 2)
	tc.topic("u", 1)
	// A consumer subscribed to "t" (kmsg ConsumerMemberMetadata v0: topics ["t"]).
	r := joinReq("g", "", 10*time.Second)
	r.Protocols = []Protocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0}}}
	j := tc.join(r)
	tc.syncAll("g", []JoinResult{j})
	req := commitOne("g", j.MemberID, j.Generation, "t", 0, 1)
	req.Offsets = append(req.Offsets, CommitOffset{TopicPartition: TopicPartition{"u", 0}, Offset: 2})
	tc.c.Commit(req)
	errs, err := tc.c.DeleteOffsets("g", []TopicPartition{{"t", 0}, {"u", 0}})
	if err != nil || !errors.Is(errs[0], ErrGroupSubscribedToTopic) || errs[1] != nil {
		t.Fatalf("delete offsets: %v %v", errs, err)
	}
	got, _ := tc.c.FetchOffsets("g", nil)
	if _, ok := got[TopicPartition{"u", 0}]; ok || len(got) != 1 {
		t.Fatalf("after delete: %v", got)
	}
	if _, err := tc.c.DeleteOffsets("none", nil); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
}

// fakeClock is a settable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOffsetsExpire(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testConfig()
	cfg.Now = clock.now
	cfg.OffsetsRetention = time.Hour
	tc := startCoord(t, t.TempDir(), cfg)
	tc.topic("t", 1)
	// A consumer group that empties keeps its offsets for the retention
	// after it became empty.
	joins := tc.joinAll("g", 1, 10*time.Second)
	tc.syncAll("g", joins)
	tc.c.Commit(commitOne("g", joins[0].MemberID, joins[0].Generation, "t", 0, 1))
	clock.add(2 * time.Hour) // long after the commit, but the group is not empty
	tc.c.ExpireOffsets()
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 1 {
		t.Fatal("offsets of a live group expired")
	}
	tc.c.Leave("g", []LeaveMember{{MemberID: joins[0].MemberID}})
	waitState(t, tc.c, "g", Empty)
	// Simple commits expire by their own commit time.
	tc.c.Commit(commitOne("simple", "", -1, "t", 0, 4))
	clock.add(59 * time.Minute)
	tc.c.ExpireOffsets()
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 1 {
		t.Fatal("offsets expired before the retention")
	}
	clock.add(2 * time.Minute)
	tc.c.ExpireOffsets()
	if got, _ := tc.c.FetchOffsets("g", nil); len(got) != 0 {
		t.Fatalf("offsets kept past the retention: %v", got)
	}
	if _, err := tc.c.DescribeGroup("g"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("an empty group without offsets should be removed: %v", err)
	}
	if got, _ := tc.c.FetchOffsets("simple", nil); len(got) != 0 {
		t.Fatalf("simple offsets kept past the retention: %v", got)
	}
	tc = tc.restart()
	if gs, _ := tc.c.ListGroups(); len(gs) != 0 {
		t.Fatalf("expired groups came back after restart: %+v", gs)
	}
}

// TestDeleteTopicOffsets: a deleted topic's commits leave every group, live
// or empty, and stay gone after a restart; other topics' commits stay.
func TestDeleteTopicOffsets(t *testing.T) {
	tc := startCoord(t, t.TempDir(), testConfig())
	tc.topic("gone", 2)
	tc.topic("kept", 1)
	for _, r := range []CommitRequest{
		commitOne("simple", "", -1, "gone", 0, 5),
		commitOne("simple", "", -1, "gone", 1, 6),
		commitOne("simple", "", -1, "kept", 0, 7),
	} {
		if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
			t.Fatal(errs, err)
		}
	}
	joins := tc.joinAll("live", 1, 10*time.Second)
	tc.syncAll("live", joins)
	if errs, err := tc.c.Commit(commitOne("live", joins[0].MemberID, joins[0].Generation, "gone", 0, 3)); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	if err := tc.mgr.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if err := tc.c.DeleteTopicOffsets("gone"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := tc.c.FetchOffsets("simple", nil)
		if err != nil || len(got) != 1 || got[TopicPartition{"kept", 0}].Offset != 7 {
			t.Fatalf("%s: simple group's offsets %v %v, want only kept/0=7", when, got, err)
		}
		if got, err := tc.c.FetchOffsets("live", nil); err != nil || len(got) != 0 {
			t.Fatalf("%s: live group's offsets %v %v, want none", when, got, err)
		}
	}
	check("after delete")
	tc = tc.restart()
	check("after restart")
}
