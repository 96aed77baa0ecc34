package replica

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Throttle is one direction of a broker's replication throttle (KIP-73):
// leader.replication.throttled.rate, the bytes per second a leader sends
// to the followers it throttles, or follower.replication.throttled.rate,
// the bytes per second this broker's throttled replicas fetch. It is a
// token bucket that may go into debt, as Kafka's quota does: throttled
// traffic moves while the bucket is not in debt (Allow), and every byte
// it moved is taken from the bucket afterwards (Record), so a read of
// any size is never split and the long-run rate is the limit. The bucket
// holds at most one second of the rate. A rate of 0 or less is no limit
// (Kafka's default, Long.MAX_VALUE). Bytes counts what went through it
// either way, for tributary_replication_throttled_bytes_total. Safe for
// concurrent use.
type Throttle struct {
	mu  sync.Mutex // guards lim and rate
	lim *rate.Limiter
	bps int64 // bytes per second; <= 0: unlimited
	now func() time.Time

	bytes atomic.Int64
}

// NewThrottle returns a throttle of bytesPerSec (<= 0: no limit).
func NewThrottle(bytesPerSec int64) *Throttle {
	t := &Throttle{now: time.Now}
	t.SetRate(bytesPerSec)
	return t
}

// SetRate changes the limit (<= 0: no limit); the bucket starts full.
func (t *Throttle) SetRate(bytesPerSec int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if bytesPerSec <= 0 || bytesPerSec == math.MaxInt64 { // Kafka's "no limit"
		t.bps, t.lim = 0, nil
		return
	}
	burst := int(min(bytesPerSec, math.MaxInt32))
	t.bps = bytesPerSec
	t.lim = rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}

// Rate is the limit in bytes per second, 0 when there is none.
func (t *Throttle) Rate() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bps
}

// Delay is how long throttled traffic must wait before it may move
// again: 0 while the bucket is not in debt (or there is no limit).
func (t *Throttle) Delay() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lim == nil {
		return 0
	}
	tokens := t.lim.TokensAt(t.now())
	if tokens > 0 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(t.bps) * float64(time.Second))
}

// Allow reports whether throttled traffic may move now.
func (t *Throttle) Allow() bool { return t.Delay() == 0 }

// Record counts n bytes of throttled traffic that moved and takes them
// from the bucket, which may go into debt.
func (t *Throttle) Record(n int) {
	if n <= 0 {
		return
	}
	t.bytes.Add(int64(n))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lim == nil {
		return
	}
	now := t.now()
	burst := t.lim.Burst()
	for n > 0 {
		k := min(n, burst)
		t.lim.ReserveN(now, k) // within the burst: always granted, into debt
		n -= k
	}
}

// Bytes is how many bytes of throttled traffic went through.
func (t *Throttle) Bytes() int64 { return t.bytes.Load() }

// Throttles returns the Manager's replication throttles, leader and
// follower side (Config.LeaderThrottle, Config.Fetch.Throttle), nil where
// none was configured.
func (m *Manager) Throttles() (leader, follower *Throttle) {
	return m.cfg.LeaderThrottle, m.cfg.Fetch.Throttle
}
