package server

// DescribeGroups, versions 0-6.
//
//	v1     throttle
//	v2     no wire change
//	v3     authorized operations on request (KIP-430)
//	v4     group.instance.id of each member (KIP-345)
//	v5     flexible
//	v6     an unknown group is GROUP_ID_NOT_FOUND with a message (KIP-1043);
//	       before, it is answered with no error and state Dead
//
// Member metadata and assignments are filled only when the group is Stable,
// as Kafka does: mid-rebalance they belong to no generation.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
)

func init() { register(15, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(c *conn, h *reqHeader, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = make([]kmsg.DescribeGroupsResponseGroup, len(req.Groups))
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		*rg = kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		if !c.authorize(h.key, auth.OpDescribe, auth.ResourceGroup, id) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			s.metrics.errorCode(h.key, rg.ErrorCode)
			continue
		}
		d, err := s.groups.DescribeGroup(id)
		switch {
		case errors.Is(err, consumergroup.ErrGroupNotFound):
			rg.State = consumergroup.Dead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				rg.ErrorMessage = adminMsg("Group %s not found.", id)
			}
		case err != nil:
			rg.ErrorCode, rg.ErrorMessage = errorCode(err), errorMessage(err)
		default:
			rg.State = d.State.String()
			rg.ProtocolType = d.ProtocolType
			rg.Protocol = d.Protocol
			for _, m := range d.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
				rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
				rg.Members = append(rg.Members, rm)
			}
		}
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = c.authorizedOperations(auth.ResourceGroup, id)
		}
		s.metrics.errorCode(h.key, rg.ErrorCode)
	}
	return resp, nil
}
