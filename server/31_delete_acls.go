package server

// DeleteAcls, versions 0-3.
//
//	v1   resource pattern types in filters (KIP-290): ANY, MATCH,
//	     LITERAL, PREFIXED; v0 filters match LITERAL bindings
//	v2   flexible
//	v3   User resource type (KIP-554); no other wire change
//
// Needs Alter on the cluster. Each filter is answered with the bindings it
// removed (a binding matched by two filters is listed under both);
// INVALID_REQUEST for a filter with an unknown field, SECURITY_DISABLED
// without an authorizer. The removal is in the ACL file (in a cluster,
// the metadata store, which decides what the filters select) before the
// answer.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

const deleteACLsKey = 31

func init() { register(deleteACLsKey, 0, 3, handleDeleteACLs) }

func handleDeleteACLs(c *conn, h *reqHeader, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	fail := func(i int, code int16, msg *string) {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
	}
	a := c.s.authz
	switch {
	case !c.authorizeCluster(h.key, auth.OpAlter):
		for i := range resp.Results {
			fail(i, kerr.ClusterAuthorizationFailed.Code, nil)
		}
	case a == nil:
		for i := range resp.Results {
			fail(i, errSecurityDisabled.Code, kmsg.StringPtr(securityDisabledMsg))
		}
	default:
		var filters []auth.Filter
		var at []int // at[k]: the result of filters[k]
		for i, rf := range req.Filters {
			f := aclFilter(int8(rf.ResourceType), int8(rf.ResourcePatternType), int8(rf.Operation), int8(rf.PermissionType),
				rf.ResourceName, rf.Principal, rf.Host)
			if err := f.Validate(); err != nil {
				fail(i, errorCode(err), errorMessage(err))
				continue
			}
			filters = append(filters, f)
			at = append(at, i)
		}
		removed, err := a.Delete(filters)
		if err != nil {
			c.s.logger.Error("server: DeleteAcls: storing the ACLs failed", "err", err)
			for _, i := range at {
				fail(i, errorCode(err), errorMessage(err))
			}
			break
		}
		for k, bs := range removed {
			r := &resp.Results[at[k]]
			for _, b := range bs {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourcePatternType, m.Operation, m.PermissionType = kmsgACLFields(b)
				m.ResourceName, m.Principal, m.Host = b.ResourceName, b.Principal, b.Host
				r.MatchingACLs = append(r.MatchingACLs, m)
			}
		}
	}
	for i := range resp.Results {
		c.s.metrics.errorCode(h.key, resp.Results[i].ErrorCode)
	}
	return resp, nil
}
