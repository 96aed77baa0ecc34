package server

// DeleteGroups, versions 0-3.
//
//	v1     no wire change
//	v2     flexible
//	v3     an error message per group
//
// Only an empty group can be deleted (NON_EMPTY_GROUP otherwise); its
// offsets and metadata are tombstoned in __consumer_offsets.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(42, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(c *conn, h *reqHeader, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		*rg = kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		var err error
		if !c.authorize(h.key, auth.OpDelete, auth.ResourceGroup, id) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		} else {
			err = c.s.groups.DeleteGroup(id)
			rg.ErrorCode = errorCode(err)
		}
		if req.Version >= 3 {
			rg.ErrorMessage = errorMessage(err)
		}
		c.s.metrics.errorCode(h.key, rg.ErrorCode)
	}
	return resp, nil
}
