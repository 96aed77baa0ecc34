package server

// group.max.creation.rate.per.connection: a connection that creates groups
// faster than the setting is throttled the way Kafka's quotas throttle
// (KIP-13, KIP-219): the request is served, its answer carries
// throttle_time_ms, and the broker reads nothing more from the connection
// until that time has passed. A client of a version from before KIP-219,
// which does not hold back on its own, gets its answer that much later
// instead. No client sees an error it does not know, and a flood of new
// group ids from one connection runs at the setting's rate.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/time/rate"

	"github.com/tributary-io/tributary/consumergroup"
)

// throttleResponse is a response with a throttle_time_ms field.
type throttleResponse interface {
	kmsg.ThrottleResponse
	kmsg.SetThrottleResponse
}

// groupCreationThrottle is the throttle a request that may create group
// earns: zero unless the limit is set, the group does not exist yet, and
// the connection created groups faster than the limit allows (a token
// bucket holding one second of the rate).
func (c *conn) groupCreationThrottle(group string) time.Duration {
	limit := c.s.cfg.Groups.MaxCreationRatePerConnection
	if limit >= consumergroup.DefaultMaxCreationRatePerConnection || c.s.groups.HasGroup(group) {
		return 0
	}
	if c.groupCreations == nil {
		c.groupCreations = rate.NewLimiter(rate.Limit(limit), limit)
	}
	d := c.groupCreations.Reserve().Delay()
	if d > 0 {
		c.s.metrics.groupCreationsThrottled.Inc()
	}
	return d
}

// throttle applies d to resp as Kafka does for its version: in
// throttle_time_ms, and by muting the connection for d after the answer
// (clients since KIP-219 wait d on their own) or, for older versions,
// by answering d later.
func (c *conn) throttle(resp throttleResponse, d time.Duration) {
	if d <= 0 {
		return
	}
	resp.SetThrottle(int32(min((d+time.Millisecond-1)/time.Millisecond, time.Duration(1<<31-1))))
	if _, clientWaits := resp.Throttle(); clientWaits {
		c.mutedUntil = time.Now().Add(d)
		return
	}
	c.pause(d)
}

// waitMuted waits until a throttled connection may be read again; false
// when the broker is stopping.
func (c *conn) waitMuted() bool {
	d := time.Until(c.mutedUntil)
	return d <= 0 || c.pause(d)
}

// pause waits d; false when the broker stops first.
func (c *conn) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.s.ctx.Done():
		return false
	}
}
