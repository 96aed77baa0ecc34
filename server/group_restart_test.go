package server

// Committed offsets survive a broker restart: a franz-go group commits,
// the broker stops and starts again on the same data directory,
// OffsetFetch answers the same offsets, and a new member of the group
// resumes exactly at them.

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroupCommitsSurviveRestart(t *testing.T) {
	const (
		topic      = "grs"
		group      = "grs-group"
		partitions = 3
		perPart    = 40
	)
	// Distinct per partition, and not at a batch boundary.
	want := map[int32]int64{0: 7, 1: 23, 2: 31}

	dir := t.TempDir()
	b := startBrokerIn(t, dir, groupBrokerOpts)
	ctx := testContext(t)
	adm := b.admin()
	createGroupTopic(t, ctx, adm, topic, partitions)
	produceToPartitions(t, ctx, manualPartitionClient(b), topic, partitions, perPart)

	cl := b.client(append(groupClientOpts(group, topic), kgo.DisableAutoCommit())...)
	seen := 0
	for seen < partitions*perPart && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		seen += fs.NumRecords()
	}
	commitSync(t, ctx, cl, topic, want)
	if got := committedOffsets(t, ctx, adm, group, topic); !mapsEqual(got, want) {
		t.Fatalf("before the restart: committed %v, want %v", got, want)
	}
	cl.Close() // leaves the group
	waitGroup(t, ctx, adm, group, "Empty", 0, nil)

	b.stop()
	b = startBrokerIn(t, dir, groupBrokerOpts)
	adm = b.admin()
	if got := committedOffsets(t, ctx, adm, group, topic); !mapsEqual(got, want) {
		t.Fatalf("after the restart: committed %v, want %v", got, want)
	}
	if dg := waitGroup(t, ctx, adm, group, "Empty", 0, nil); dg.ProtocolType != "consumer" {
		t.Errorf("reloaded group's protocol type %q, want consumer", dg.ProtocolType)
	}

	// A new member resumes at the commits, not at the start (its reset
	// offset).
	cl = b.client(append(groupClientOpts(group, topic), kgo.DisableAutoCommit())...)
	first := map[int32]int64{}
	cctx, cancel := context.WithTimeout(ctx, groupWait)
	defer cancel()
	for len(first) < partitions && cctx.Err() == nil {
		fs := cl.PollFetches(cctx)
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		})
	}
	if !mapsEqual(first, want) {
		t.Fatalf("after the restart the group resumed at %v, want the commits %v", first, want)
	}
}

// A group whose member is still in it when the broker stops is reloaded
// with that member: it may carry on heartbeating its generation, and once
// it stops, its session expires and the group empties; the commits stay.
func TestGroupRestoredMemberExpires(t *testing.T) {
	const (
		topic = "grm"
		group = "grm-group"
	)
	dir := t.TempDir()
	b := startBrokerIn(t, dir, groupBrokerOpts)
	ctx := testContext(t)
	createGroupTopic(t, ctx, b.admin(), topic, 2)
	produceToPartitions(t, ctx, manualPartitionClient(b), topic, 2, 10)

	b.waitGroupsLoaded()
	c := rawGroupConn(t, b)
	assignment := kmsg.NewConsumerMemberAssignment()
	assignment.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: []int32{0, 1}}}
	member, gen := rawJoinSync(t, c, group, assignment.AppendTo(nil))
	r := c.do(commitReq(8, group, member, gen, topic, 6, nil, 0, 1)).(*kmsg.OffsetCommitResponse)
	if got := commitCodes(r); got["grm/0"] != nil || got["grm/1"] != nil {
		t.Fatalf("commit: %v", got)
	}
	b.stop()

	b = startBrokerIn(t, dir, groupBrokerOpts)
	adm := b.admin()
	dg := waitGroup(t, ctx, adm, group, "Stable", 1, nil)
	if as, _ := groupAssignments(dg); dg.Members[0].MemberID != member || !slices.Equal(as[member][topic], []int32{0, 1}) {
		t.Errorf("reloaded group: %s, want member %s with %s [0 1]", describeAssignments(dg), member, topic)
	}
	c = rawGroupConn(t, b)
	wantCode(t, "heartbeat of the reloaded member", c.do(heartbeatReq(group, member, gen)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
	waitGroup(t, ctx, adm, group, "Empty", 0, nil) // its session expired
	want := map[int32]int64{0: 6, 1: 6}
	if got := committedOffsets(t, ctx, adm, group, topic); !mapsEqual(got, want) {
		t.Fatalf("after the member expired: committed %v, want %v", got, want)
	}
	cl := b.client(groupClientOpts(group, topic)...)
	first := map[int32]int64{}
	for len(first) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		})
	}
	if !mapsEqual(first, want) {
		t.Errorf("a new member resumed at %v, want %v", first, want)
	}
}
