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
// across restarts; in a cluster it takes them from blocks no other broker
// is given, and answers COORDINATOR_LOAD_IN_PROGRESS (as Kafka does, a
// retriable error for every client version) while it cannot get one.
// A transactional id is refused: this broker has no
// transaction coordinator, and says so rather than pretend.
//
// Every new producer id costs state in each partition it produces to, so
// a client that creates producers in a loop (a new producer per message,
// a crash loop) can be held to producer.id.quota.rate new ids a second,
// as KIP-936 proposes for Kafka (there counted at Produce, per principal):
// past its burst (the rate times producer.id.quota.window.size.seconds)
// its InitProducerId is answered THROTTLING_QUOTA_EXCEEDED, a retriable
// error, with the time until it may have one in throttle_time_ms, which
// clients wait before retrying. That error code came with Kafka 2.7, as
// did v4: an older client (v0-v3) would take it for a fatal error, so it
// is throttled as Kafka throttles clients that predate an error code
// (KIP-599): its request waits its turn in the broker (up to
// maxThrottleHold; past that it is answered COORDINATOR_LOAD_IN_PROGRESS,
// which every client retries) and is then served, with the wait in
// throttle_time_ms. Off by default, as Kafka's quotas are.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/time/rate"
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
	} else if !c.mayWriteIdempotently(h.key) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	} else if !c.s.throttleInitProducerID(c, h, req, resp) {
		// Throttled: answered with the error and throttle time.
	} else if id, err := c.s.mgr.AllocateProducerID(); err != nil {
		resp.ErrorCode = errorCode(err)
		c.s.logger.Error("server: allocating a producer id failed", "err", err)
	} else {
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	c.s.metrics.errorCode(h.key, resp.ErrorCode)
	return resp, nil
}

// throttleInitProducerID applies producer.id.quota.rate to one request;
// false when it is answered (throttled) and must not get an id.
func (s *Server) throttleInitProducerID(c *conn, h *reqHeader, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) bool {
	q := s.pidQuota
	if q == nil {
		return true
	}
	now := time.Now()
	wait, cancel := q.reserve(h.clientID, now)
	if wait <= 0 {
		return true
	}
	s.logLimited(&q.logged, "server: throttling InitProducerId: a client asks for new producer ids faster than producer.id.quota.rate",
		"client", h.clientID, "remote", c.remote, "producer.id.quota.rate", s.cfg.ProducerIDQuotaRate)
	resp.ThrottleMillis = int32(min(wait.Milliseconds()+1, maxThrottleMillis))
	switch {
	case req.Version >= firstThrottlingErrorVersion:
		cancel()
		resp.ErrorCode = kerr.ThrottlingQuotaExceeded.Code
		return false
	case wait > maxThrottleHold:
		cancel()
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return false
	}
	// An old client: hold the request until its turn (or shutdown).
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		cancel()
		resp.ErrorCode = kerr.NotCoordinator.Code // retriable: ask again elsewhere
		return false
	}
}

const (
	// firstThrottlingErrorVersion is the first InitProducerId version of
	// a client that knows THROTTLING_QUOTA_EXCEEDED (Kafka 2.7).
	firstThrottlingErrorVersion = 4
	// maxThrottleHold is the longest an old client's request is held
	// for its turn: well within the 30 s request timeout of Kafka's
	// clients, so that it is not retried while it waits.
	maxThrottleHold = 10 * time.Second
	// maxThrottleMillis caps the throttle time answered (an int32 on the
	// wire; a client waits at most this long before retrying).
	maxThrottleMillis = 30_000
	// maxQuotaClients bounds the client ids whose rate is tracked, so
	// that a flood of client ids costs bounded memory; past it, clients
	// not tracked share one bucket (overflowClient).
	maxQuotaClients = 10_000
	// overflowClient keys the shared bucket (a client id equal to it
	// would share it, which only throttles that client more).
	overflowClient = "\x00overflow"
	// quotaPruneInterval spaces out the scans that forget clients whose
	// bucket is full again (idle ones).
	quotaPruneInterval = time.Second
)

// producerIDQuota holds each client to a rate of new producer ids with a
// token bucket per client id (per principal, once connections carry one).
// A nil *producerIDQuota is the quota turned off.
type producerIDQuota struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	clients   map[string]*rate.Limiter // guarded by mu
	lastPrune time.Time                // guarded by mu

	logged atomic.Int64 // unix ns of the last "throttling" log line
}

// newProducerIDQuota returns the quota of cfg, nil when it is off.
func newProducerIDQuota(cfg Config) *producerIDQuota {
	if cfg.ProducerIDQuotaRate <= 0 {
		return nil
	}
	burst := max(1, int(cfg.ProducerIDQuotaRate*cfg.ProducerIDQuotaWindow.Seconds()))
	return &producerIDQuota{limit: rate.Limit(cfg.ProducerIDQuotaRate), burst: burst,
		clients: make(map[string]*rate.Limiter)}
}

// reserve reserves client's next producer id at now and returns how long
// until it is due, and cancel, which gives the reservation back.
func (q *producerIDQuota) reserve(client string, now time.Time) (wait time.Duration, cancel func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	lim := q.clients[client]
	if lim == nil {
		if len(q.clients) >= maxQuotaClients && now.Sub(q.lastPrune) >= quotaPruneInterval {
			q.lastPrune = now
			for k, l := range q.clients {
				if l.TokensAt(now) >= float64(q.burst) {
					delete(q.clients, k) // idle: a new bucket is the same
				}
			}
		}
		if len(q.clients) >= maxQuotaClients {
			client = overflowClient
		}
		if lim = q.clients[client]; lim == nil {
			lim = rate.NewLimiter(q.limit, q.burst)
			q.clients[client] = lim
		}
	}
	r := lim.ReserveN(now, 1)
	return r.DelayFrom(now), func() { r.CancelAt(now) }
}
