package server

// LeaveGroup, versions 0-5.
//
//	v1     throttle
//	v2     no wire change
//	v3     several members per request, by member id or group.instance.id
//	       (KIP-345), answered per member
//	v4     flexible
//	v5     each member says why it leaves (KIP-800)
//
// The group rebalances at once; the partitions of the members that left
// go to the others.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(c *conn, h *reqHeader, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Group == "" {
		// As Kafka: INVALID_GROUP_ID, not UNKNOWN_MEMBER_ID of no group.
		resp.ErrorCode = kerr.InvalidGroupID.Code
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	if !c.authorize(h.key, auth.OpRead, auth.ResourceGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		c.s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	var leaving []consumergroup.LeaveMember
	if req.Version < 3 {
		leaving = []consumergroup.LeaveMember{{MemberID: req.MemberID}}
	} else {
		leaving = make([]consumergroup.LeaveMember, len(req.Members))
		for i, m := range req.Members {
			leaving[i] = consumergroup.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID}
			if m.Reason != nil {
				leaving[i].Reason = *m.Reason
			}
		}
	}
	errs, err := c.s.groups.Leave(req.Group, leaving)
	switch {
	case err != nil:
		resp.ErrorCode = errorCode(err)
	case req.Version < 3:
		resp.ErrorCode = errorCode(errs[0])
	default:
		resp.Members = make([]kmsg.LeaveGroupResponseMember, len(leaving))
		for i, m := range leaving {
			rm := &resp.Members[i]
			*rm = kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
			rm.ErrorCode = errorCode(errs[i])
			c.s.metrics.errorCode(h.key, rm.ErrorCode)
		}
	}
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}
