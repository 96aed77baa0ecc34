package server

// InitProducerId, versions 0-5.
//
//	v1   no change (throttle semantics)
//	v2   flexible
//	v3   the client may send its current producer id and epoch (KIP-360)
//	v4   PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH (txn only)
//	v5   no change (KIP-890)
//
// Only idempotent producers are served: without a transactional id Kafka
// hands out a fresh producer id at epoch 0 every time, also when the client
// sends its old id to bump the epoch, and so does this broker. Ids come
// from Manager.AllocateProducerID, which never hands out one twice, also
// across restarts. A transactional id is refused: this broker has no
// transaction coordinator, and says so rather than pretend.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(c *conn, h *reqHeader, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && *req.TransactionalID == "" {
		// Kafka: an empty transactional id is a malformed request, not
		// "no transactional id" (that is null).
		resp.ErrorCode = kerr.InvalidRequest.Code
	} else if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		c.s.logger.Warn("server: refusing a transactional producer: transactions are not supported",
			"transactional.id", *req.TransactionalID, "client", h.clientID, "remote", c.remote)
	} else if id, err := c.s.mgr.AllocateProducerID(); err != nil {
		resp.ErrorCode = errorCode(err)
		c.s.logger.Error("server: allocating a producer id failed", "err", err)
	} else {
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}
