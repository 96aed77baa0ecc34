package server

// DescribeUserScramCredentials, version 0 (KIP-554).
//
//	v0  flexible; users by name, or none for every user
//
// Each user's SCRAM mechanisms and iteration counts, never a salt or key.
// A user without credentials is RESOURCE_NOT_FOUND; a user named twice is
// DUPLICATE_RESOURCE, once, as in Kafka. Needs Describe on the cluster
// (CLUSTER_AUTHORIZATION_FAILED otherwise).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(50, 0, 0, handleDescribeUserScramCredentials) }

func handleDescribeUserScramCredentials(c *conn, h *reqHeader, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	result := func(um auth.UserMechanisms) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = um.User
		for _, m := range um.Mechanisms {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = int8(m.Mechanism), int32(m.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	if !c.authorizeCluster(h.key, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = adminMsg("Describe on the cluster is required to describe SCRAM credentials")
		s.metrics.errorCode(h.key, resp.ErrorCode)
		return resp, nil
	}
	if len(req.Users) == 0 {
		for _, um := range s.creds.Users() {
			resp.Results = append(resp.Results, result(um))
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	seen := map[string]bool{}
	for _, u := range req.Users {
		if seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = u.Name
		switch um, ok := s.creds.Describe(u.Name); {
		case count[u.Name] > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = adminMsg("Cannot describe SCRAM credentials for the same user twice in a single request: %s", u.Name)
		case !ok:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = adminMsg("Attempt to describe a user credential that does not exist: %s", u.Name)
		default:
			r = result(um)
		}
		s.metrics.errorCode(h.key, r.ErrorCode)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
