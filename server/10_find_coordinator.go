package server

// FindCoordinator, versions 0-5.
//
//	v1     adds the key type (0 group, 1 transaction) and throttle
//	v2     no wire change
//	v3     flexible
//	v4     several keys per request (KIP-699), answered per key
//	v5     no wire change (KIP-890: TRANSACTION_ABORTABLE may be returned)
//
// This broker coordinates every group. The first group lookup creates
// __consumer_offsets, as Kafka does. Transactions are not served: a
// transactional key is answered TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as
// InitProducerId answers a transactional id, so clients fail fast rather
// than retry forever. v6 (share groups, KIP-932) is not advertised.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func init() { register(10, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(c *conn, h *reqHeader, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	host, port := c.ln.advHost, c.ln.advPort
	resp.Coordinators = make([]kmsg.FindCoordinatorResponseCoordinator, len(keys))
	for i, key := range keys {
		co := &resp.Coordinators[i]
		*co = kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		clustered := s.node != nil && req.CoordinatorType == coordinatorGroup
		if clustered {
			co.NodeID, co.Host, co.Port, co.ErrorCode, co.ErrorMessage = c.groupCoordinator(key)
		} else {
			co.ErrorCode, co.ErrorMessage = s.findCoordinator(req.CoordinatorType)
		}
		if co.ErrorCode == 0 && !c.mayFindCoordinator(h.key, req.CoordinatorType, key) {
			co.ErrorCode, co.ErrorMessage = kerr.GroupAuthorizationFailed.Code, nil
			if req.CoordinatorType == coordinatorTransaction {
				co.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			}
		}
		if co.ErrorCode == 0 && !clustered {
			co.NodeID, co.Host, co.Port = NodeID, host, port
		} else if co.ErrorCode != 0 {
			co.NodeID, co.Port = -1, -1
		}
		s.metrics.errorCode(h.key, co.ErrorCode)
	}
	if req.Version < 4 {
		co := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = co.ErrorCode, co.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = co.NodeID, co.Host, co.Port
	}
	return resp, nil
}

func (s *Server) findCoordinator(keyType int8) (int16, *string) {
	switch keyType {
	case coordinatorGroup:
		if err := s.groups.EnsureOffsetsTopic(); err != nil {
			return errorCode(err), errorMessage(err)
		}
		return 0, nil
	case coordinatorTransaction:
		return kerr.TransactionalIDAuthorizationFailed.Code, adminMsg("Transactions are not supported by this broker.")
	default:
		return kerr.InvalidRequest.Code, adminMsg("Unknown coordinator key type %d.", keyType)
	}
}

// mayFindCoordinator is Kafka's check: Describe on the group, or on the
// transactional id.
func (c *conn) mayFindCoordinator(api int16, keyType int8, key string) bool {
	if keyType == coordinatorTransaction {
		return c.authorize(api, auth.OpDescribe, auth.ResourceTransactionalID, key)
	}
	return c.authorize(api, auth.OpDescribe, auth.ResourceGroup, key)
}
