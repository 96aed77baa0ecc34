package server

// Group requests a well-behaved client rarely sends, over the wire: each
// gets Kafka's error code, and none disturbs the broker.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawGroupConn is a raw connection whose failures belong to t (a subtest).
func rawGroupConn(t *testing.T, b *testBroker) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

// consumerProtocol is a "range" protocol subscribing to topics.
func consumerProtocol(name string, topics ...string) kmsg.JoinGroupRequestProtocol {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = name, md.AppendTo(nil)
	return p
}

// joinReq is a JoinGroup request of a consumer with a 1.5 s session.
func joinReq(version int16, group, member string, protocols ...kmsg.JoinGroupRequestProtocol) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID = group, member
	req.ProtocolType = "consumer"
	req.SessionTimeoutMillis = int32(groupSessionTimeout.Milliseconds())
	req.RebalanceTimeoutMillis = 3000
	req.Protocols = protocols
	if len(protocols) == 0 {
		req.Protocols = []kmsg.JoinGroupRequestProtocol{consumerProtocol("range", "bad")}
	}
	return req
}

// rawJoinSync makes a single-member group of group through the MEMBER_ID_REQUIRED round, the
// join and the leader's sync (assigning it assignment), and returns the
// member id and generation. The group is Stable then.
func rawJoinSync(t *testing.T, c *rawConn, group string, assignment []byte) (string, int32) {
	t.Helper()
	resp := c.do(joinReq(9, group, "")).(*kmsg.JoinGroupResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.MemberIDRequired {
		t.Fatalf("first join of %s: %v, want MEMBER_ID_REQUIRED", group, err)
	}
	resp = c.do(joinReq(9, group, resp.MemberID)).(*kmsg.JoinGroupResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("join %s: %v", group, err)
	}
	if resp.LeaderID != resp.MemberID || len(resp.Members) != 1 {
		t.Fatalf("join %s: leader %s, member %s, %d members; want a lone leader", group, resp.LeaderID, resp.MemberID, len(resp.Members))
	}
	sresp := c.do(syncReq(group, resp.MemberID, resp.Generation, assignment)).(*kmsg.SyncGroupResponse)
	if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
		t.Fatalf("sync %s: %v", group, err)
	}
	if !bytes.Equal(sresp.MemberAssignment, assignment) {
		t.Fatalf("sync %s: assignment %q, want %q", group, sresp.MemberAssignment, assignment)
	}
	return resp.MemberID, resp.Generation
}

func syncReq(group, member string, generation int32, assignment []byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, generation
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	if assignment != nil {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = member, assignment
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	return req
}

func heartbeatReq(group, member string, generation int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, generation
	return req
}

func leaveReq(group string, members ...string) *kmsg.LeaveGroupRequest {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	for _, m := range members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m
		req.Members = append(req.Members, lm)
	}
	return req
}

// commitReq commits offset (with metadata) to partitions of topic.
func commitReq(version int16, group, member string, generation int32, topic string, offset int64, metadata *string, partitions ...int32) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group, req.MemberID, req.Generation = group, member, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, offset, metadata
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// commitCodes flattens an OffsetCommit answer: "topic/partition" to error.
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]error {
	out := map[string]error{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = kerr.ErrorForCode(p.ErrorCode)
		}
	}
	return out
}

// fetchOne is OffsetFetch v8 of one partition: its offset and metadata.
func fetchOne(t *testing.T, c *rawConn, group, topic string, partition int32) (int64, string) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := c.do(req).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 1 || kerr.ErrorForCode(resp.Groups[0].ErrorCode) != nil ||
		len(resp.Groups[0].Topics) != 1 || len(resp.Groups[0].Topics[0].Partitions) != 1 {
		t.Fatalf("offset fetch %s %s/%d: %+v", group, topic, partition, resp)
	}
	p := resp.Groups[0].Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("offset fetch %s %s/%d: %v", group, topic, partition, err)
	}
	md := ""
	if p.Metadata != nil {
		md = *p.Metadata
	}
	return p.Offset, md
}

func wantCode(t *testing.T, what string, code int16, want error) {
	t.Helper()
	if got := kerr.ErrorForCode(code); got != want {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func TestGroupBadInput(t *testing.T) {
	b := startGroupBroker(t)
	ctx := testContext(t)
	createGroupTopic(t, ctx, b.admin(), "bad", 2)

	cases := []struct {
		name string
		run  func(t *testing.T, c *rawConn)
	}{
		{"commit of an unknown topic or partition", func(t *testing.T, c *rawConn) {
			req := commitReq(8, "g-unknown-topic", "", -1, "nope", 5, nil, 0)
			req.Topics = append(req.Topics, commitReq(8, "", "", -1, "bad", 5, nil, 0, 7).Topics...)
			got := commitCodes(c.do(req).(*kmsg.OffsetCommitResponse))
			want := map[string]error{"nope/0": kerr.UnknownTopicOrPartition, "bad/0": nil, "bad/7": kerr.UnknownTopicOrPartition}
			if !mapsEqual(got, want) {
				t.Errorf("commit codes %v, want %v", got, want)
			}
			if o, _ := fetchOne(t, c, "g-unknown-topic", "bad", 0); o != 5 {
				t.Errorf("bad/0 committed %d alongside unknown partitions, want 5", o)
			}
		}},
		{"metadata over offset.metadata.max.bytes", func(t *testing.T, c *rawConn) {
			big, max := strings.Repeat("m", 4097), strings.Repeat("m", 4096)
			resp := c.do(commitReq(8, "g-metadata", "", -1, "bad", 9, &big, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit with 4097 bytes of metadata", resp.Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)
			if o, _ := fetchOne(t, c, "g-metadata", "bad", 0); o != -1 {
				t.Errorf("refused commit stored offset %d", o)
			}
			resp = c.do(commitReq(8, "g-metadata", "", -1, "bad", 9, &max, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit with 4096 bytes of metadata", resp.Topics[0].Partitions[0].ErrorCode, nil)
			if o, md := fetchOne(t, c, "g-metadata", "bad", 0); o != 9 || md != max {
				t.Errorf("fetched offset %d with %d bytes of metadata, want 9 with 4096", o, len(md))
			}
		}},
		{"1 MiB of protocol metadata", func(t *testing.T, c *rawConn) {
			huge := kmsg.NewJoinGroupRequestProtocol()
			huge.Name, huge.Metadata = "range", bytes.Repeat([]byte{7}, 1<<20)
			resp := c.do(joinReq(5, "g-huge", "", huge)).(*kmsg.JoinGroupResponse)
			if resp.ErrorCode == kerr.MemberIDRequired.Code {
				resp = c.do(joinReq(5, "g-huge", resp.MemberID, huge)).(*kmsg.JoinGroupResponse)
			}
			t.Logf("join with 1 MiB of metadata: %v, generation %d", kerr.ErrorForCode(resp.ErrorCode), resp.Generation)
			if resp.ErrorCode == 0 {
				if len(resp.Members) != 1 || !bytes.Equal(resp.Members[0].ProtocolMetadata, huge.Metadata) {
					t.Errorf("the leader's member list does not carry the metadata back")
				}
				sresp := c.do(syncReq("g-huge", resp.MemberID, resp.Generation, []byte("a"))).(*kmsg.SyncGroupResponse)
				t.Logf("sync: %v", kerr.ErrorForCode(sresp.ErrorCode))
				if sresp.ErrorCode != 0 {
					// Kafka cannot store such a generation either, and
					// answers UNKNOWN_SERVER_ERROR (not OffsetCommit's
					// INVALID_COMMIT_OFFSET_SIZE).
					wantCode(t, "sync of a generation too large to store", sresp.ErrorCode, kerr.UnknownServerError)
					// Refused: cleanly, with a code a client understands
					// and the group not stuck rebalancing.
					leave := c.do(leaveReq("g-huge", resp.MemberID)).(*kmsg.LeaveGroupResponse)
					wantCode(t, "leave after a refused sync", leave.Members[0].ErrorCode, nil)
				}
			}
			// The broker is unharmed: another client commits and fetches.
			c2 := rawGroupConn(t, b)
			_, gen := rawJoinSync(t, c2, "g-after-huge", []byte("x"))
			if gen != 1 {
				t.Errorf("generation %d, want 1", gen)
			}
			r := c2.do(commitReq(8, "g-after-huge-simple", "", -1, "bad", 3, nil, 1)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit after the huge join", r.Topics[0].Partitions[0].ErrorCode, nil)
		}},
		{"bogus generation", func(t *testing.T, c *rawConn) {
			m, gen := rawJoinSync(t, c, "g-generation", []byte("a"))
			wantCode(t, "heartbeat of the generation", c.do(heartbeatReq("g-generation", m, gen)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
			wantCode(t, "heartbeat of another generation", c.do(heartbeatReq("g-generation", m, gen+7)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.IllegalGeneration)
			wantCode(t, "sync of another generation", c.do(syncReq("g-generation", m, gen-1, nil)).(*kmsg.SyncGroupResponse).ErrorCode, kerr.IllegalGeneration)
			r := c.do(commitReq(8, "g-generation", m, gen+1, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit of another generation", r.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
			r = c.do(commitReq(8, "g-no-such-group", "m", 3, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit of a generation of a group that does not exist", r.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
			r = c.do(commitReq(8, "g-generation", m, gen, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit of the generation", r.Topics[0].Partitions[0].ErrorCode, nil)
		}},
		{"unknown member", func(t *testing.T, c *rawConn) {
			_, gen := rawJoinSync(t, c, "g-member", []byte("a"))
			wantCode(t, "heartbeat", c.do(heartbeatReq("g-member", "nobody", gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
			wantCode(t, "sync", c.do(syncReq("g-member", "nobody", gen, nil)).(*kmsg.SyncGroupResponse).ErrorCode, kerr.UnknownMemberID)
			wantCode(t, "join", c.do(joinReq(9, "g-member", "nobody")).(*kmsg.JoinGroupResponse).ErrorCode, kerr.UnknownMemberID)
			r := c.do(commitReq(8, "g-member", "nobody", gen, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit", r.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
			r = c.do(commitReq(8, "g-member", "", -1, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit to a group with members", r.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
			leave := c.do(leaveReq("g-member", "nobody")).(*kmsg.LeaveGroupResponse)
			if leave.ErrorCode != 0 || len(leave.Members) != 1 {
				t.Fatalf("leave: %v, %d members", kerr.ErrorForCode(leave.ErrorCode), len(leave.Members))
			}
			wantCode(t, "leave", leave.Members[0].ErrorCode, kerr.UnknownMemberID)
		}},
		{"empty group id", func(t *testing.T, c *rawConn) {
			wantCode(t, "join", c.do(joinReq(9, "", "")).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidGroupID)
			wantCode(t, "sync", c.do(syncReq("", "m", 1, nil)).(*kmsg.SyncGroupResponse).ErrorCode, kerr.InvalidGroupID)
			wantCode(t, "heartbeat", c.do(heartbeatReq("", "m", 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.InvalidGroupID)
			wantCode(t, "leave", c.do(leaveReq("", "m")).(*kmsg.LeaveGroupResponse).ErrorCode, kerr.InvalidGroupID)
			// Kafka keeps the empty group id valid for simple commits
			// and fetches, for old clients.
			r := c.do(commitReq(8, "", "", -1, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "commit", r.Topics[0].Partitions[0].ErrorCode, nil)
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version = 7
			f.Group = ""
			fr := c.do(f).(*kmsg.OffsetFetchResponse)
			if fr.ErrorCode != 0 || len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].Offset != 1 {
				t.Fatalf("fetch of the empty group's commit: %+v", fr)
			}
		}},
		{"session timeout out of range", func(t *testing.T, c *rawConn) {
			for _, ms := range []int32{299, 30*60*1000 + 1, 0, -1} {
				req := joinReq(9, "g-session", "")
				req.SessionTimeoutMillis = ms
				wantCode(t, fmt.Sprintf("join with a session timeout of %d ms", ms), c.do(req).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
			}
		}},
		{"MEMBER_ID_REQUIRED from v4", func(t *testing.T, c *rawConn) {
			req := joinReq(4, "g-kip394", "")
			resp := c.do(req).(*kmsg.JoinGroupResponse)
			wantCode(t, "first join v4", resp.ErrorCode, kerr.MemberIDRequired)
			if !strings.HasPrefix(resp.MemberID, "test-") || len(resp.MemberID) < len("test-")+36 {
				t.Errorf("member id %q, want the client id and a UUID", resp.MemberID)
			}
			resp2 := c.do(joinReq(4, "g-kip394", resp.MemberID)).(*kmsg.JoinGroupResponse)
			wantCode(t, "join v4 with the id", resp2.ErrorCode, nil)
			if resp2.MemberID != resp.MemberID || resp2.Generation != 1 {
				t.Errorf("joined as %s generation %d, want %s generation 1", resp2.MemberID, resp2.Generation, resp.MemberID)
			}
			// v3 joins at once.
			resp3 := c.do(joinReq(3, "g-kip394-v3", "")).(*kmsg.JoinGroupResponse)
			wantCode(t, "first join v3", resp3.ErrorCode, nil)
			if resp3.MemberID == "" || resp3.Generation != 1 {
				t.Errorf("v3 joined as %q generation %d", resp3.MemberID, resp3.Generation)
			}
		}},
		{"inconsistent protocols", func(t *testing.T, c *rawConn) {
			m, gen := rawJoinSync(t, c, "g-protocol", []byte("a"))
			c2 := rawGroupConn(t, b)
			connect := joinReq(9, "g-protocol", "")
			connect.ProtocolType = "connect"
			wantCode(t, "join as connect", c2.do(connect).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
			wantCode(t, "join with no common protocol", c2.do(joinReq(9, "g-protocol", "", consumerProtocol("roundrobin", "bad"))).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
			empty := joinReq(9, "g-protocol-2", "")
			empty.ProtocolType = ""
			wantCode(t, "join with no protocol type", c2.do(empty).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
			none := joinReq(9, "g-protocol-2", "")
			none.Protocols = []kmsg.JoinGroupRequestProtocol{}
			wantCode(t, "join with no protocols", c2.do(none).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
			sync := syncReq("g-protocol", m, gen, nil)
			sync.Protocol = kmsg.StringPtr("sticky")
			wantCode(t, "sync naming another protocol", c.do(sync).(*kmsg.SyncGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
			wantCode(t, "the member is still in the group", c.do(heartbeatReq("g-protocol", m, gen)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
		}},
		{"DeleteGroups", func(t *testing.T, c *rawConn) {
			m, _ := rawJoinSync(t, c, "g-delete", []byte("a"))
			simple := c.do(commitReq(8, "g-delete-empty", "", -1, "bad", 4, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit", simple.Topics[0].Partitions[0].ErrorCode, nil)
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Version = 2
			req.Groups = []string{"g-delete", "g-delete-unknown", "g-delete-empty"}
			resp := c.do(req).(*kmsg.DeleteGroupsResponse)
			got := map[string]error{}
			for _, g := range resp.Groups {
				got[g.Group] = kerr.ErrorForCode(g.ErrorCode)
			}
			want := map[string]error{"g-delete": kerr.NonEmptyGroup, "g-delete-unknown": kerr.GroupIDNotFound, "g-delete-empty": nil}
			if !mapsEqual(got, want) {
				t.Errorf("delete groups: %v, want %v", got, want)
			}
			// (What a request right after the delete finds is
			// TestGroupRequestsRightAfterDelete's concern.)
			// Once its member left, the group can be deleted.
			leave := c.do(leaveReq("g-delete", m)).(*kmsg.LeaveGroupResponse)
			wantCode(t, "leave", leave.Members[0].ErrorCode, nil)
			req.Groups = []string{"g-delete"}
			resp = c.do(req).(*kmsg.DeleteGroupsResponse)
			wantCode(t, "delete after the leave", resp.Groups[0].ErrorCode, nil)
		}},
		{"simple commit", func(t *testing.T, c *rawConn) {
			md := "simple"
			for _, v := range []int16{0, 1, 2, 5, 8, 9} {
				r := c.do(commitReq(v, "g-simple", "", -1, "bad", int64(100+v), &md, 1)).(*kmsg.OffsetCommitResponse)
				wantCode(t, "simple commit", r.Topics[0].Partitions[0].ErrorCode, nil)
				if o, gotMD := fetchOne(t, c, "g-simple", "bad", 1); o != int64(100+v) || gotMD != md {
					t.Errorf("commit v%d: fetched %d %q, want %d %q", v, o, gotMD, 100+v, md)
				}
			}
			// OffsetFetch v1 (per-partition errors) and v2+ with null
			// topics (every commit of the group).
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Version, req.Group = 1, "g-simple"
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = "bad", []int32{0, 1}
			req.Topics = append(req.Topics, rt)
			resp := c.do(req).(*kmsg.OffsetFetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 || resp.Topics[0].Partitions[0].Offset != -1 || resp.Topics[0].Partitions[1].Offset != 109 {
				t.Errorf("offset fetch v1: %+v", resp.Topics)
			}
			req = kmsg.NewPtrOffsetFetchRequest()
			req.Version, req.Group, req.Topics = 7, "g-simple", nil
			resp = c.do(req).(*kmsg.OffsetFetchResponse)
			if len(resp.Topics) != 1 || resp.Topics[0].Topic != "bad" || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Offset != 109 {
				t.Errorf("offset fetch v7 of every topic: %+v", resp.Topics)
			}
			d := c.do(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g-simple"}}).(*kmsg.DescribeGroupsResponse)
			if d.Groups[0].ErrorCode != 0 || d.Groups[0].State != "Empty" || d.Groups[0].ProtocolType != "" {
				t.Errorf("group of simple commits described as %+v, want Empty with no protocol type", d.Groups[0])
			}
		}},
		{"FindCoordinator with several keys", func(t *testing.T, c *rawConn) {
			host, port, _ := net.SplitHostPort(b.addr)
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorKeys = 4, []string{"g-a", "g-b", "g-c"}
			resp := c.do(req).(*kmsg.FindCoordinatorResponse)
			if len(resp.Coordinators) != 3 {
				t.Fatalf("%d coordinators, want 3", len(resp.Coordinators))
			}
			for i, co := range resp.Coordinators {
				if co.Key != req.CoordinatorKeys[i] || co.ErrorCode != 0 || co.NodeID != NodeID || co.Host != host || port != strconv.Itoa(int(co.Port)) {
					t.Errorf("coordinator %d: %+v, want key %s at %d %s:%s", i, co, req.CoordinatorKeys[i], NodeID, host, port)
				}
			}
			req.CoordinatorType = 1
			resp = c.do(req).(*kmsg.FindCoordinatorResponse)
			for _, co := range resp.Coordinators {
				wantCode(t, "transaction coordinator", co.ErrorCode, kerr.TransactionalIDAuthorizationFailed)
			}
			old := kmsg.NewPtrFindCoordinatorRequest()
			old.Version, old.CoordinatorKey = 3, "g-a"
			oresp := c.do(old).(*kmsg.FindCoordinatorResponse)
			if oresp.ErrorCode != 0 || oresp.NodeID != NodeID || oresp.Host != host {
				t.Errorf("FindCoordinator v3: %+v", oresp)
			}
		}},
		{"ListGroups state filter", func(t *testing.T, c *rawConn) {
			rawJoinSync(t, c, "g-list-stable", []byte("a"))
			r := c.do(commitReq(8, "g-list-empty", "", -1, "bad", 1, nil, 0)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit", r.Topics[0].Partitions[0].ErrorCode, nil)
			list := func(version int16, states, types []string) map[string]string {
				req := kmsg.NewPtrListGroupsRequest()
				req.Version, req.StatesFilter, req.TypesFilter = version, states, types
				resp := c.do(req).(*kmsg.ListGroupsResponse)
				wantCode(t, "list groups", resp.ErrorCode, nil)
				out := map[string]string{}
				for _, g := range resp.Groups {
					if strings.HasPrefix(g.Group, "g-list-") {
						out[g.Group] = g.GroupState
					}
				}
				return out
			}
			for _, tc := range []struct {
				version int16
				states  []string
				types   []string
				want    map[string]string
			}{
				{4, nil, nil, map[string]string{"g-list-stable": "Stable", "g-list-empty": "Empty"}},
				{4, []string{"stable"}, nil, map[string]string{"g-list-stable": "Stable"}},
				{4, []string{"Empty", "Dead"}, nil, map[string]string{"g-list-empty": "Empty"}},
				{4, []string{"PreparingRebalance"}, nil, map[string]string{}},
				{5, nil, []string{"classic"}, map[string]string{"g-list-stable": "Stable", "g-list-empty": "Empty"}},
				{5, nil, []string{"consumer"}, map[string]string{}},
				{3, []string{"Empty"}, nil, map[string]string{"g-list-stable": "", "g-list-empty": ""}}, // no filter before v4
			} {
				if got := list(tc.version, tc.states, tc.types); !mapsEqual(got, tc.want) {
					t.Errorf("ListGroups v%d states %v types %v: %v, want %v", tc.version, tc.states, tc.types, got, tc.want)
				}
			}
		}},
		{"DescribeGroups of an unknown group", func(t *testing.T, c *rawConn) {
			for _, tc := range []struct {
				version int16
				err     error
			}{{0, nil}, {5, nil}, {6, kerr.GroupIDNotFound}} {
				resp := c.do(&kmsg.DescribeGroupsRequest{Version: tc.version, Groups: []string{"g-nobody"}}).(*kmsg.DescribeGroupsResponse)
				if len(resp.Groups) != 1 {
					t.Fatalf("v%d: %d groups", tc.version, len(resp.Groups))
				}
				g := resp.Groups[0]
				wantCode(t, fmt.Sprintf("describe v%d", tc.version), g.ErrorCode, tc.err)
				if g.Group != "g-nobody" || g.State != "Dead" || len(g.Members) != 0 {
					t.Errorf("v%d: %+v, want g-nobody Dead with no members", tc.version, g)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, rawGroupConn(t, b)) })
	}
	// Whatever came before, the broker still serves a group end to end.
	rawJoinSync(t, rawGroupConn(t, b), "g-final", []byte("z"))
}

// Requests for a group right after DeleteGroups answered find no group
// (or a new one): never COORDINATOR_NOT_AVAILABLE from the deleted one.
// Each round commits to a group, then sends DeleteGroups and OffsetFetch
// back to back on one connection (the broker handles them in order).
func TestGroupRequestsRightAfterDelete(t *testing.T) {
	b := startGroupBroker(t)
	ctx := testContext(t)
	createGroupTopic(t, ctx, b.admin(), "bad", 1)
	c := rawGroupConn(t, b)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "g-redelete"
	fetch.Groups = append(fetch.Groups, rg) // null topics: all of them
	commit := commitReq(8, "g-redelete", "", -1, "bad", 1, nil, 0)

	const rounds = 1000
	fetchErrs, commitErrs := 0, 0
	var firstErr error
	for range rounds {
		rs := c.pipeline(commit, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"g-redelete"}}, fetch, commit)
		if err := kerr.ErrorForCode(rs[1].(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode); err != nil {
			// The commit before it may itself have hit the deleted group.
			if err != kerr.GroupIDNotFound {
				t.Fatalf("delete: %v", err)
			}
		}
		resp := rs[2].(*kmsg.OffsetFetchResponse)
		if err := kerr.ErrorForCode(resp.Groups[0].ErrorCode); err != nil {
			fetchErrs++
			firstErr = cmp.Or(firstErr, err)
		} else if len(resp.Groups[0].Topics) != 0 {
			t.Errorf("the deleted group still has offsets %+v", resp.Groups[0].Topics)
		}
		if err := kerr.ErrorForCode(rs[3].(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode); err != nil {
			commitErrs++
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if fetchErrs+commitErrs > 0 {
		t.Errorf("of %d rounds, %d OffsetFetch and %d simple OffsetCommit right after DeleteGroups failed, first with %v", rounds, fetchErrs, commitErrs, firstErr)
	}
}

// pipeline writes every request before reading the answers, in order.
func (c *rawConn) pipeline(reqs ...kmsg.Request) []kmsg.Response {
	c.t.Helper()
	var frames []byte
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	first := c.corr + 1
	for _, req := range reqs {
		c.corr++
		// AppendRequest writes the size at dst[0]: one frame at a time.
		frames = append(frames, f.AppendRequest(nil, req, c.corr)...)
	}
	c.nc.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.nc.Write(frames); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	out := make([]kmsg.Response, len(reqs))
	for i, req := range reqs {
		var size [4]byte
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			c.t.Fatalf("read %T response: %v", req, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c.nc, body); err != nil {
			c.t.Fatalf("read %T response: %v", req, err)
		}
		if got := int32(binary.BigEndian.Uint32(body)); got != first+int32(i) {
			c.t.Fatalf("correlation id %d, want %d", got, first+int32(i))
		}
		body = body[4:]
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		if resp.IsFlexible() {
			body = body[1:] // empty header tags
		}
		if err := resp.ReadFrom(body); err != nil {
			c.t.Fatalf("decode %T: %v", resp, err)
		}
		out[i] = resp
	}
	return out
}
