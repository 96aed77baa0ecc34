package consumergroup

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestMetricsListGroupsWithMembersAndNewestEmptyOnesUpToTheCap(t *testing.T) {
	cfg := testConfig()
	cfg.MetricsMaxEmptyPartitions = 3
	var clock atomic.Int64
	clock.Store(1_700_000_000_000)
	cfg.Now = func() time.Time { return time.UnixMilli(clock.Add(1000)) }
	tc := startCoord(t, t.TempDir(), cfg)
	tc.topic("t", 2)
	commit := func(group string, parts ...int32) {
		t.Helper()
		r := CommitRequest{Group: group, Generation: -1}
		for _, p := range parts {
			r.Offsets = append(r.Offsets, CommitOffset{TopicPartition: TopicPartition{"t", p}, Offset: 1, LeaderEpoch: -1})
		}
		if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	// Oldest commit first: e1, e2, e3, big (2 partitions), e4.
	commit("e1", 0)
	commit("e2", 0)
	commit("e3", 0)
	commit("big", 0, 1)
	commit("e4", 1)
	joins := tc.joinAll("m", 1, time.Minute)
	tc.syncAll("m", joins)
	r := simpleCommit("m", "t", 0, 0)
	r.MemberID, r.Generation = joins[0].MemberID, joins[0].Generation
	if errs, err := tc.c.Commit(r); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}

	m := tc.c.Metrics()
	var listed []string
	for _, l := range m.Listed {
		listed = append(listed, l.Group)
	}
	// e4 (1 commit) and big (2) fill the cap of 3; the group with a
	// member is listed whatever the cap.
	if want := []string{"big", "e4", "m"}; !slices.Equal(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}
	var lagGroups []string
	for _, l := range m.Lag {
		lagGroups = append(lagGroups, l.Group+"/"+string(rune('0'+l.Partition)))
	}
	if want := []string{"big/0", "big/1", "e4/1", "m/0"}; !slices.Equal(lagGroups, want) {
		t.Errorf("lag series %v, want %v", lagGroups, want)
	}
	if m.Unlisted != 3 || m.States[Empty] != 5 || m.States[Stable] != 1 {
		t.Errorf("unlisted %d, states %v; want 3 unlisted, 5 Empty, 1 Stable", m.Unlisted, m.States)
	}

	// A cap of 0 lists only groups with members.
	tc.c.cfg.MetricsMaxEmptyPartitions = 0
	if m := tc.c.Metrics(); len(m.Listed) != 1 || m.Listed[0].Group != "m" || m.Unlisted != 5 {
		t.Errorf("cap 0: listed %+v, unlisted %d", m.Listed, m.Unlisted)
	}
}
