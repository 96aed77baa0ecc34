package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// stallingLease answers KeepAliveOnce as etcd would through a member
// forwarding renewals to a leader that stopped answering: every renewal
// sent while stalled waits until it is given up; once unstalled they are
// answered at once (another leader elected), or with "lease not found"
// once gone.
type stallingLease struct {
	clientv3.Lease // nil: only KeepAliveOnce is called
	ttl            int64

	mu       sync.Mutex
	stalled  bool
	gone     bool
	inFlight int // guarded by mu
	answered int // guarded by mu
	givenUp  int // guarded by mu: stalled renewals whose context ended
}

func (l *stallingLease) set(stalled, gone bool) {
	l.mu.Lock()
	l.stalled, l.gone = stalled, gone
	l.mu.Unlock()
}

func (l *stallingLease) KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	l.mu.Lock()
	stalled, gone := l.stalled, l.gone
	l.inFlight++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.inFlight--
		l.mu.Unlock()
	}()
	switch {
	case gone:
		return nil, rpctypes.ErrLeaseNotFound
	case stalled:
		<-ctx.Done()
		l.mu.Lock()
		l.givenUp++
		l.mu.Unlock()
		return nil, ctx.Err()
	}
	l.mu.Lock()
	l.answered++
	l.mu.Unlock()
	return &clientv3.LeaseKeepAliveResponse{ID: id, TTL: l.ttl}, nil
}

func (l *stallingLease) counts() (inFlight, answered, givenUp int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight, l.answered, l.givenUp
}

// keepFor runs k.KeepAlive until the test ends and reports when its
// channel closes (the lease lost).
func keepFor(t *testing.T, k *leaseKeeper) (lost <-chan struct{}, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := k.KeepAlive(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var got atomic.Int64
	go func() {
		defer close(done)
		for range ch {
			got.Add(1)
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return done, stop
}

// TestLeaseKeeperRenewsPastRenewalsThatStall: with the first renewals of
// a lease stuck (a follower forwarding them to a leader that stopped
// answering), one sent after the quorum answers again renews it within
// the TTL: etcd's keep-alive stream would hold every later renewal
// behind the stuck one for the member's request timeout (7 s), and a
// 3 s lease would be given up. The stuck renewals are given up, and
// none is left running once the keeper stops.
func TestLeaseKeeperRenewsPastRenewalsThatStall(t *testing.T) {
	const ttl = 6 * time.Second
	l := &stallingLease{ttl: int64(ttl / time.Second), stalled: true}
	k := newLeaseKeeper(l, ttl, time.Now())
	lost, stop := keepFor(t, k)
	// Stalled for a sixth of the TTL: several renewals are sent and stuck.
	time.Sleep(ttl / 6)
	l.set(false, false)
	// Twice the TTL later the lease is still held: renewals went on.
	select {
	case <-lost:
		inFlight, answered, givenUp := l.counts()
		t.Fatalf("lease lost: in flight %d, answered %d, given up %d", inFlight, answered, givenUp)
	case <-time.After(2 * ttl):
	}
	stop()
	inFlight, answered, givenUp := l.counts()
	if answered == 0 || givenUp == 0 {
		t.Errorf("answered %d, given up %d: want both", answered, givenUp)
	}
	if inFlight != 0 {
		t.Errorf("%d renewals still running after the keeper stopped", inFlight)
	}
}

// TestLeaseKeeperLosesTheLease: the lease counts as lost once no renewal
// sent within a TTL succeeded, and at once when the quorum says it is
// gone.
func TestLeaseKeeperLosesTheLease(t *testing.T) {
	t.Run("every renewal stalls", func(t *testing.T) {
		const ttl = time.Second
		l := &stallingLease{ttl: 1, stalled: true}
		start := time.Now()
		lost, _ := keepFor(t, newLeaseKeeper(l, ttl, start))
		select {
		case <-lost:
		case <-time.After(30 * time.Second):
			t.Fatal("the lease is still held after 30 s with no renewal answered")
		}
		if d := time.Since(start); d < ttl {
			t.Errorf("lost after %v, before its TTL %v", d, ttl)
		}
	})
	t.Run("lease not found", func(t *testing.T) {
		const ttl = time.Hour
		l := &stallingLease{ttl: 3600, gone: true}
		lost, _ := keepFor(t, newLeaseKeeper(l, ttl, time.Now()))
		select {
		case <-lost:
		case <-time.After(30 * time.Second):
			t.Fatal("a lease the quorum says is gone is still held")
		}
	})
}
