package server

// ListGroups, versions 0-5.
//
//	v1     throttle
//	v2     no wire change
//	v3     flexible
//	v4     filter by state, and each group's state (KIP-518)
//	v5     filter by type, and each group's type (KIP-848): every group
//	       here is "classic"
//
// Filters match case-insensitively, as Kafka's do.

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

// classicGroupType is the type of every group this broker runs.
const classicGroupType = "classic"

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(c *conn, h *reqHeader, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	groups, err := c.s.groups.ListGroups()
	resp.ErrorCode = errorCode(err)
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	if req.Version >= 5 && len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, classicGroupType) {
		return resp, nil
	}
	// As Kafka: Describe on the cluster lists every group, else only
	// those the principal may Describe.
	all := c.s.authz == nil || c.s.authz.Authorize(c.principal, c.host, auth.OpDescribe, auth.ResourceCluster, auth.ClusterName)
	for _, g := range groups {
		if !all && !c.mayDescribe(auth.ResourceGroup, g.Group) {
			continue
		}
		if req.Version >= 4 && len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, g.State.String()) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.Group, g.ProtocolType, g.State.String(), classicGroupType
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
