package server

// CreateAcls, versions 0-3.
//
//	v1   resource pattern types (KIP-290): LITERAL or PREFIXED; v0 creates
//	     LITERAL bindings
//	v2   flexible
//	v3   User resource type (KIP-554); no other wire change
//
// Needs Alter on the cluster. Each creation is answered on its own:
// INVALID_REQUEST for a binding Kafka would refuse, SECURITY_DISABLED
// without an authorizer. The bindings are in the ACL file (in a cluster,
// the metadata store: cluster_auth.go) before the answer and take effect
// on every connection at once; on a cluster's other brokers once their
// watch delivers them.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

const createACLsKey = 30

func init() { register(createACLsKey, 0, 3, handleCreateACLs) }

func handleCreateACLs(c *conn, h *reqHeader, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	fail := func(code int16, msg *string) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
	}
	a := c.s.authz
	switch {
	case !c.authorizeCluster(h.key, auth.OpAlter):
		fail(kerr.ClusterAuthorizationFailed.Code, nil)
	case a == nil:
		fail(errSecurityDisabled.Code, kmsg.StringPtr(securityDisabledMsg))
	default:
		bs := make([]auth.Binding, len(req.Creations))
		for i, cr := range req.Creations {
			bs[i] = auth.Binding{
				ResourceType: auth.ResourceType(cr.ResourceType), ResourceName: cr.ResourceName,
				PatternType: auth.PatternType(cr.ResourcePatternType), Principal: cr.Principal, Host: cr.Host,
				Operation: auth.Operation(cr.Operation), Permission: auth.Permission(cr.PermissionType),
			}
		}
		for i, err := range a.Create(bs) {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errorCode(err), errorMessage(err)
			if err != nil && errorCode(err) != kerr.InvalidRequest.Code {
				c.s.logger.Error("server: CreateAcls: storing the ACLs failed", "err", err)
			}
		}
	}
	for i := range resp.Results {
		c.s.metrics.errorCode(h.key, resp.Results[i].ErrorCode)
	}
	return resp, nil
}
