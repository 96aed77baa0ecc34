package cluster

// Keeping a registration's lease alive when the metadata quorum's leader
// stops answering.
//
// etcd's client renews a lease over one keep-alive stream per client, and
// the member at the other end answers that stream's requests one at a
// time. A member that does not lead the quorum forwards each renewal to
// the leader over its peer connection and waits for the answer, for up
// to its request timeout (5 s plus two election timeouts). When the
// leader is cut off or paused, that forward hangs; every later renewal
// on the stream waits behind it, the new leader elected a second or two
// later never sees them, and the client gives the lease up once a TTL
// has passed since the last answer. With broker.session.timeout.ms=3000
// every broker whose stream sat on a follower was fenced and registered
// again, though the new leader had extended every lease when it took
// over. The EndpointGuard cannot see it: the follower answers everything
// else.
//
// A leaseKeeper renews instead with one short-lived request per renewal
// (KeepAliveOnce: a stream of its own, cancelled when it is given up, so
// the member drops its forward too), a new one every keepInterval (a
// sixth of the TTL) even while earlier ones are still waiting, up to
// keepMaxInFlight of them, each given up after half the TTL. A renewal
// that is stuck holds up none after it: the first one sent once a leader
// is known again renews the lease. The lease counts as lost once a TTL
// has passed since the last renewal that succeeded was sent (not
// answered: the leader renewed it at or after that instant, so the
// broker never believes in a lease the quorum let lapse), or at once
// when the quorum answers that the lease is gone.

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// keepMaxInFlight bounds the renewals of one lease waiting at once.
	keepMaxInFlight = 4
	// minKeepInterval bounds the renewal interval from below.
	minKeepInterval = 50 * time.Millisecond
)

// leaseKeeper is a clientv3.Lease whose KeepAlive renews as the file
// comment says; everything else is the embedded Lease's.
type leaseKeeper struct {
	clientv3.Lease
	ttl     time.Duration // the lease's TTL
	granted time.Time     // when the Grant was sent: the first deadline is granted+ttl
}

// newLeaseKeeper keeps leases of ttl granted at granted through l.
func newLeaseKeeper(l clientv3.Lease, ttl time.Duration, granted time.Time) *leaseKeeper {
	return &leaseKeeper{Lease: l, ttl: ttl, granted: granted}
}

// keepInterval is how often a renewal is sent.
func (k *leaseKeeper) keepInterval() time.Duration { return max(k.ttl/6, minKeepInterval) }

// renewal is one KeepAliveOnce's outcome.
type renewal struct {
	sent time.Time
	resp *clientv3.LeaseKeepAliveResponse
	err  error
}

// KeepAlive renews id until ctx ends or the lease is lost, then closes
// the channel it returns, which carries the answers that renewed it (one
// buffered; a reader that lags misses some, as with etcd's own).
func (k *leaseKeeper) KeepAlive(ctx context.Context, id clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	ch := make(chan *clientv3.LeaseKeepAliveResponse, 1)
	go k.keep(ctx, id, ch)
	return ch, nil
}

func (k *leaseKeeper) keep(ctx context.Context, id clientv3.LeaseID, ch chan<- *clientv3.LeaseKeepAliveResponse) {
	defer close(ch)
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // the renewals still waiting are given up
		wg.Wait()
	}()
	results := make(chan renewal, keepMaxInFlight)
	inFlight := 0
	send := func() {
		inFlight++
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			rctx, rcancel := context.WithTimeout(actx, k.ttl/2)
			resp, err := k.Lease.KeepAliveOnce(rctx, id)
			rcancel()
			results <- renewal{sent: sent, resp: resp, err: err}
		}()
	}
	deadline := time.NewTimer(time.Until(k.granted.Add(k.ttl)))
	defer deadline.Stop()
	lastRenewed := k.granted
	tick := time.NewTicker(k.keepInterval())
	defer tick.Stop()
	send()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return // lost: not renewed for a TTL
		case <-tick.C:
			if inFlight < keepMaxInFlight {
				send()
			}
		case r := <-results:
			inFlight--
			switch {
			case r.err == nil && r.resp.TTL > 0:
				if r.sent.After(lastRenewed) {
					lastRenewed = r.sent
					deadline.Reset(time.Until(r.sent.Add(time.Duration(r.resp.TTL) * time.Second)))
				}
				select {
				case ch <- r.resp:
				default:
				}
			case r.err == nil, errors.Is(r.err, rpctypes.ErrLeaseNotFound):
				return // the quorum says the lease is gone
			}
			// Any other error (given up, no leader, a member going away):
			// the next tick sends again, to whichever member is picked.
		}
	}
}
