package server

// SyncGroup, versions 0-5.
//
//	v1     throttle
//	v2     no wire change
//	v3     group.instance.id (KIP-345)
//	v4     flexible
//	v5     the member names the protocol type and name it synced on;
//	       a mismatch is INCONSISTENT_GROUP_PROTOCOL (KIP-559)
//
// The leader's SyncGroup carries every member's assignment; the coordinator
// stores the generation in __consumer_offsets and then answers every
// member. A follower's SyncGroup waits for the leader's.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(c *conn, h *reqHeader, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	s := c.s
	if req.Group == "" {
		// As Kafka: INVALID_GROUP_ID, not UNKNOWN_MEMBER_ID of no group.
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.InvalidGroupID.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	if !c.authorize(h.key, auth.OpRead, auth.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	r := consumergroup.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   req.InstanceID,
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		r.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			r.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res := s.groups.Sync(s.ctx, r)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = errorCode(res.Err)
	if errors.Is(res.Err, consumergroup.ErrCommitTooLarge) {
		// The generation's metadata (members' subscriptions and
		// assignments) is too large to store. INVALID_COMMIT_OFFSET_SIZE
		// is OffsetCommit's code; Kafka's GroupCoordinator answers a
		// SyncGroup whose group cannot be stored UNKNOWN_SERVER_ERROR.
		resp.ErrorCode = kerr.UnknownServerError.Code
	}
	if res.Err == nil {
		resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
		resp.Protocol = kmsg.StringPtr(res.Protocol)
		resp.MemberAssignment = res.Assignment
	}
	s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}
