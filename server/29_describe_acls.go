package server

// DescribeAcls, versions 0-3.
//
//	v1   resource pattern types (KIP-290): PREFIXED, and the ANY and MATCH
//	     filters; v0 describes LITERAL patterns only
//	v2   flexible
//	v3   User resource type (KIP-554); no other wire change
//
// Needs Describe on the cluster. Without an authorizer it is still
// served, and answers SECURITY_DISABLED as Kafka does (so tools that send
// it anyway get an answer, not a closed connection).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

const describeACLsKey = 29

func init() { register(describeACLsKey, 0, 3, handleDescribeACLs) }

func handleDescribeACLs(c *conn, h *reqHeader, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	a := c.s.authz
	f := aclFilter(int8(req.ResourceType), int8(req.ResourcePatternType), int8(req.Operation), int8(req.PermissionType),
		req.ResourceName, req.Principal, req.Host)
	switch {
	case !c.authorizeCluster(h.key, auth.OpDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	case a == nil:
		resp.ErrorCode, resp.ErrorMessage = errSecurityDisabled.Code, kmsg.StringPtr(securityDisabledMsg)
	default:
		if err := f.Validate(); err != nil {
			resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
			break
		}
		resp.Resources = describeACLsResources(a.ACLs(f))
	}
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}

// describeACLsResources groups bindings by resource pattern, in the
// authorizer's order (sorted by resource first).
func describeACLsResources(bs []auth.Binding) []kmsg.DescribeACLsResponseResource {
	var out []kmsg.DescribeACLsResponseResource
	for _, b := range bs {
		rt, pt, op, perm := kmsgACLFields(b)
		if n := len(out); n == 0 || out[n-1].ResourceType != rt || out[n-1].ResourceName != b.ResourceName || out[n-1].ResourcePatternType != pt {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = rt, b.ResourceName, pt
			out = append(out, r)
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host, acl.Operation, acl.PermissionType = b.Principal, b.Host, op, perm
		out[len(out)-1].ACLs = append(out[len(out)-1].ACLs, acl)
	}
	return out
}
