package server

// Wire-level checks of group coordinator answers against Kafka's, with
// raw kmsg requests at exact versions.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func rawGroupBroker(t *testing.T) *testBroker {
	t.Helper()
	b := startBroker(t, func(c *Config) {
		c.Groups.InitialRebalanceDelay = 0
		c.Groups.MinSessionTimeout = 100 * time.Millisecond
		c.Groups.OffsetsTopicPartitions = 1
	})
	if _, err := b.mgr.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// rawJoin joins group at JoinGroup v9 (the KIP-394 round included) and
// returns the answer: one member alone forms a generation at once.
func rawJoin(t *testing.T, c *rawConn, group string) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group = group
	req.SessionTimeoutMillis = 10_000
	req.RebalanceTimeoutMillis = 10_000
	req.ProtocolType = "consumer"
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"t"}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: md.AppendTo(nil)}}
	resp := c.do(req).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		req.MemberID = resp.MemberID
		resp = c.do(req).(*kmsg.JoinGroupResponse)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp
}

func rawCommit(c *rawConn, version int16, group, member string, generation int32, offset int64, retentionMs int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group, req.MemberID, req.Generation = group, member, generation
	req.RetentionTimeMillis = retentionMs
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, offset
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	resp := c.do(req).(*kmsg.OffsetCommitResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestGroupCommitOfStaleGenerationWhileCompletingIsIllegalGeneration: a commit of an old
// generation while the group waits for the leader's SyncGroup is
// ILLEGAL_GENERATION, as Kafka answers (the Java client then fails the
// commit with CommitFailedException instead of retrying it after a
// rejoin), and a commit naming a member that is not in the group is
// UNKNOWN_MEMBER_ID.
func TestGroupCommitOfStaleGenerationWhileCompletingIsIllegalGeneration(t *testing.T) {
	b := rawGroupBroker(t)
	c := b.raw()
	j := rawJoin(t, c, "g") // CompletingRebalance: no SyncGroup sent
	for _, tt := range []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"stale generation", j.MemberID, j.Generation - 1, kerr.IllegalGeneration.Code},
		{"unknown member", "stranger", j.Generation, kerr.UnknownMemberID.Code},
		{"current generation", j.MemberID, j.Generation, kerr.RebalanceInProgress.Code},
	} {
		if got := rawCommit(c, 8, "g", tt.member, tt.gen, 5, -1); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tt.want))
		}
	}
}

// TestGroupRetentionCommitOfLiveGroupSurvivesExpiry: an OffsetCommit
// v2 with a retention time into a Stable consumer group subscribed to the
// topic; once the retention passes, offset expiry must not drop it.
func TestGroupRetentionCommitOfLiveGroupSurvivesExpiry(t *testing.T) {
	b := rawGroupBroker(t)
	c := b.raw()
	j := rawJoin(t, c, "g")
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version = 5
	sync.Group, sync.MemberID, sync.Generation = "g", j.MemberID, j.Generation
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte{}}}
	if resp := c.do(sync).(*kmsg.SyncGroupResponse); resp.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if code := rawCommit(c, 2, "g", j.MemberID, j.Generation, 7, 1); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	time.Sleep(10 * time.Millisecond) // past the 1 ms retention
	b.srv.Groups().ExpireOffsets()
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 5
	fetch.Group = "g"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	resp := c.do(fetch).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].Offset != 7 {
		t.Fatalf("a live group's offset expired: %+v", resp.Topics)
	}
}

// TestGroupDescribeNamesNoProtocolMidRebalance: DescribeGroups names no
// protocol while the group is rebalancing, as Kafka.
func TestGroupDescribeNamesNoProtocolMidRebalance(t *testing.T) {
	b := rawGroupBroker(t)
	c := b.raw()
	rawJoin(t, c, "g") // CompletingRebalance
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{"g"}
	g := c.do(req).(*kmsg.DescribeGroupsResponse).Groups[0]
	if g.State != "CompletingRebalance" || g.Protocol != "" || len(g.Members) != 1 {
		t.Fatalf("describe: state %s protocol %q members %d", g.State, g.Protocol, len(g.Members))
	}
}

// TestGroupStaticMemberRejoinsWithoutInstanceIDLeavesAndReturns: a static member
// rejoins by member id without its group.instance.id (JoinGroup v5 with
// a null instance id), leaves, and its instance id joins again. This
// crashed the broker (nil member in the group's goroutine).
func TestGroupStaticMemberRejoinsWithoutInstanceIDLeavesAndReturns(t *testing.T) {
	b := rawGroupBroker(t)
	c := b.raw()
	join := func(member string, instance *string, metadata string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.InstanceID = "g", member, instance
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 10_000
		req.ProtocolType = "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(metadata)}}
		return c.do(req).(*kmsg.JoinGroupResponse)
	}
	inst := "instance-1"
	first := join("", &inst, "a")
	if first.ErrorCode != 0 {
		t.Fatalf("static join: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	if resp := join(first.MemberID, nil, "b"); resp.ErrorCode != 0 {
		t.Fatalf("rejoin without instance id: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 2
	leave.Group, leave.MemberID = "g", first.MemberID
	if resp := c.do(leave).(*kmsg.LeaveGroupResponse); resp.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp := join("", &inst, "a"); resp.ErrorCode != 0 {
		t.Fatalf("static join after leave: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestGroupOffsetFetchAnswersGroupErrorAlone: from v2 a group-level error is
// answered with no topics, as Kafka (a client must not read the listed
// offsets -1 as "no commit"); v0-v1 carry it on each partition.
func TestGroupOffsetFetchAnswersGroupErrorAlone(t *testing.T) {
	b := rawGroupBroker(t)
	c := b.raw()
	b.srv.Groups().Close() // every group request is now COORDINATOR_NOT_AVAILABLE
	for _, v := range []int16{1, 5, 8} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		req.Group = "g"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "g"
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
		req.Groups = []kmsg.OffsetFetchRequestGroup{g}
		resp := c.do(req).(*kmsg.OffsetFetchResponse)
		want := kerr.CoordinatorNotAvailable.Code
		switch {
		case v < 2:
			if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != want {
				t.Errorf("v%d: %+v, want the error on the partition", v, resp.Topics)
			}
		case v < 8:
			if resp.ErrorCode != want || len(resp.Topics) != 0 {
				t.Errorf("v%d: error %d, topics %+v, want the error alone", v, resp.ErrorCode, resp.Topics)
			}
		default:
			if rg := resp.Groups[0]; rg.ErrorCode != want || len(rg.Topics) != 0 {
				t.Errorf("v%d: error %d, topics %+v, want the error alone", v, rg.ErrorCode, rg.Topics)
			}
		}
	}
}
