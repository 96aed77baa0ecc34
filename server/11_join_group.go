package server

// JoinGroup, versions 0-9.
//
//	v1     adds the rebalance timeout (v0 uses the session timeout)
//	v2     throttle
//	v3     no wire change
//	v4     MEMBER_ID_REQUIRED round for a first join (KIP-394)
//	v5     group.instance.id: static membership (KIP-345)
//	v6     flexible
//	v7     the answer carries the protocol type; protocol name nullable
//	v8     the member says why it joins (KIP-800)
//	v9     SkipAssignment for a static leader rejoining a stable group (KIP-814)
//
// The request waits in the coordinator until the rebalance completes (up
// to the rebalance timeout); the connection answers nothing else meanwhile,
// as Kafka, which reads one request per connection at a time. A first join
// that creates its group counts against
// group.max.creation.rate.per.connection (group_quota.go).

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(c *conn, h *reqHeader, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	s := c.s
	r := consumergroup.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		InstanceID:           req.InstanceID,
		ClientID:             h.clientID,
		ClientHost:           clientHost(c.nc),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
	}
	if req.Version < 1 {
		r.RebalanceTimeout = r.SessionTimeout
	}
	if req.Reason != nil {
		r.Reason = *req.Reason
	}
	r.Protocols = make([]consumergroup.Protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		r.Protocols[i] = consumergroup.Protocol{Name: p.Name, Metadata: p.Metadata}
	}
	if !c.authorize(h.key, auth.OpRead, auth.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.MemberID, resp.Generation = kerr.GroupAuthorizationFailed.Code, req.MemberID, -1
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	var throttle time.Duration
	if r.MemberID == "" && r.Group != "" { // a first join creates its group
		throttle = c.groupCreationThrottle(r.Group)
	}
	res := s.groups.Join(s.ctx, r)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = errorCode(res.Err)
	resp.MemberID = res.MemberID
	resp.Generation = res.Generation
	resp.LeaderID = res.Leader
	resp.SkipAssignment = res.SkipAssignment
	if res.Err == nil || req.Version < 7 {
		// From v7 an error answer carries a null protocol, as Kafka's.
		resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
		resp.Protocol = kmsg.StringPtr(res.Protocol)
	}
	resp.Members = make([]kmsg.JoinGroupResponseMember, len(res.Members))
	for i, m := range res.Members {
		resp.Members[i] = kmsg.JoinGroupResponseMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ProtocolMetadata: m.Metadata}
	}
	s.metrics.errorCode(h.key, resp.ErrorCode)
	c.throttle(resp, throttle)
	return resp, nil
}

// clientHost is the client's address as Kafka reports it: "/" and the IP.
func clientHost(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return "/" + nc.RemoteAddr().String()
	}
	return "/" + host
}
