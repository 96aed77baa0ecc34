package server

// Heartbeat, versions 0-4.
//
//	v1     throttle
//	v2     no wire change
//	v3     group.instance.id (KIP-345)
//	v4     flexible
//
// A heartbeat keeps the member's session alive; REBALANCE_IN_PROGRESS
// tells it to rejoin.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(c *conn, h *reqHeader, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
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
	err := c.s.groups.Heartbeat(consumergroup.HeartbeatRequest{
		Group:      req.Group,
		MemberID:   req.MemberID,
		InstanceID: req.InstanceID,
		Generation: req.Generation,
	})
	resp.ErrorCode = errorCode(err)
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}
