package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Registration is a live broker registration: the broker's key bound to
// a lease (an etcd session) that is kept alive in the background. The
// same lease holds the broker's controller candidacy, so one lapse ends
// both. A broker that sees Fenced closed must stop acting as a partition
// leader and as controller, then register again (a new broker epoch).
type Registration struct {
	store   *EtcdStore
	session *concurrency.Session
	release context.CancelFunc // ends the session's client view (newSession), once the session is over
	broker  Broker             // Epoch set
	key     string             // absolute broker key

	fenced    chan struct{} // closed when the registration ends
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // why it ended, guarded by errMu; nil after Close
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// Register registers b under a new lease of the store's session timeout
// and returns it with its broker epoch: the etcd revision of the
// registration write, so it grows with every registration. A previous
// registration of the same node ID (a broker restarted after kill -9
// whose lease has not lapsed yet) is taken over: its lease is revoked, so
// the old incarnation's registration and candidacy end at once and it
// sees itself fenced if it is still running.
//
// A registration whose request etcd dropped (Unavailable: the connection
// it was on closed, a member restarting or left by the EndpointGuard; or
// no leader, or no commit in time, for a moment), or whose new lease ran
// out before it, is tried again for up to registerRetryFor: the etcd
// client does not retry a transaction itself, and one dropped request
// must not end a broker's start.
func (s *EtcdStore) Register(ctx context.Context, b Broker) (*Registration, error) {
	if b.NodeID < 0 {
		return nil, fmt.Errorf("cluster: register broker: node id %d is negative", b.NodeID)
	}
	giveUp := time.Now().Add(registerRetryFor)
	for {
		r, err := s.register(ctx, b)
		// A lease not found ran out between its grant and the
		// registration (a machine too loaded to renew it): a new one may
		// not.
		again := RequestDropped(err) || errors.Is(err, rpctypes.ErrLeaseNotFound)
		if err == nil || !again || ctx.Err() != nil || time.Now().After(giveUp) {
			return r, err
		}
		s.log.Warn("cluster: registration dropped by etcd, trying again", "node", b.NodeID, "retry_in", registerRetryPause, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(registerRetryPause):
		}
	}
}

const (
	// registerRetryFor bounds how long Register tries again after
	// dropped requests (as the server's start bounds its cluster ID
	// transaction): long enough for a leader election or a member's
	// restart, short enough that a broker that cannot reach etcd says so.
	registerRetryFor = 30 * time.Second
	// registerRetryPause is the pause before each new try.
	registerRetryPause = 200 * time.Millisecond
)

// RequestDropped reports whether err is a request etcd dropped rather
// than refused: it never got an answer (Unavailable), the quorum had no
// leader for it or did not commit it in time, so trying again may
// succeed; whether a write dropped so committed is not known. (A
// registration that committed all the same is harmless: its try revoked
// its lease, and the next try's takeover revokes it again.)
func RequestDropped(err error) bool {
	for _, dropped := range []error{rpctypes.ErrNoLeader, rpctypes.ErrLeaderChanged, rpctypes.ErrTimeout,
		rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost} {
		if errors.Is(err, dropped) {
			return true
		}
	}
	return status.Code(err) == codes.Unavailable
}

// register is one try of Register. On error nothing of it is left: the
// lease is revoked (a transaction that committed without an answer loses
// its key with it), and a later try's takeover revokes it if that failed.
func (s *EtcdStore) register(ctx context.Context, b Broker) (*Registration, error) {
	sess, release, err := s.newSession(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: register broker %d: lease: %w", b.NodeID, err)
	}
	key := s.prefix + brokerKey(b.NodeID)
	resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(key), clientv3.OpPut(key, encodeBroker(b), clientv3.WithLease(sess.Lease()))).Commit()
	if err != nil {
		sess.Close()
		release()
		return nil, fmt.Errorf("cluster: register broker %d: %w", b.NodeID, err)
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 && kvs[0].Lease != 0 {
		// The lease may be gone already; either way the old one is over.
		_, _ = s.client.Revoke(ctx, clientv3.LeaseID(kvs[0].Lease))
	}
	b.Epoch = resp.Header.Revision
	if b.Incarnation == 0 {
		b.Incarnation = b.Epoch // the process's first registration
	}
	wctx, stop := context.WithCancel(context.Background())
	r := &Registration{store: s, session: sess, release: release, broker: b, key: key, fenced: make(chan struct{}), stop: stop}
	r.wg.Add(1)
	go r.guard(wctx)
	s.settle(ctx, b.Epoch)
	return r, nil
}

// newSession grants a lease of the store's TTL and returns a session on
// it that a leaseKeeper keeps alive (lease_keeper.go): etcd's own
// keep-alive stream stalls for seconds behind a renewal that a follower
// forwards to a leader that stopped answering. The session's client is a
// view of the store's with the keeper as its Lease, which the session and
// the controller election use; release ends it once the session is
// closed or orphaned (it ends with the store's client too).
func (s *EtcdStore) newSession(ctx context.Context) (sess *concurrency.Session, release context.CancelFunc, err error) {
	ttl := time.Duration(s.ttl) * time.Second
	granted := time.Now()
	g, err := s.client.Grant(ctx, s.ttl)
	if err != nil {
		return nil, nil, err
	}
	vctx, release := context.WithCancel(s.client.Ctx())
	view := clientv3.NewCtxClient(vctx, clientv3.WithZapLogger(s.client.GetLogger()))
	view.KV, view.Watcher, view.Cluster, view.Maintenance, view.Auth = s.client.KV, s.client.Watcher, s.client.Cluster, s.client.Maintenance, s.client.Auth
	view.Lease = newLeaseKeeper(s.client.Lease, ttl, granted)
	if sess, err = concurrency.NewSession(view, concurrency.WithLease(g.ID), concurrency.WithTTL(int(s.ttl))); err != nil {
		release()
		_, _ = s.client.Revoke(ctx, g.ID)
		return nil, nil, err
	}
	return sess, release, nil
}

// guard ends the registration when its lease stops being renewed (the
// lease lapsed, etcd was unreachable for the TTL, the lease was revoked)
// or its key is deleted or rewritten by another incarnation.
func (r *Registration) guard(ctx context.Context) {
	defer r.wg.Done()
	wch := r.store.client.Watch(ctx, r.key, clientv3.WithRev(r.broker.Epoch+1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.session.Done():
			r.end(fmt.Errorf("cluster: broker %d epoch %d: lease %x no longer renewed: %w", r.broker.NodeID, r.broker.Epoch, r.session.Lease(), ErrFenced))
			return
		case wr, ok := <-wch:
			if !ok {
				return // ctx ended
			}
			if wr.Err() != nil {
				// Compacted or cancelled: what the watch may have missed
				// is read, then watched on from there.
				rev, held, err := r.store.holds(ctx, r.key, func(kv *mvccpb.KeyValue) bool { return kv.Lease == int64(r.session.Lease()) })
				if err != nil {
					select {
					case <-ctx.Done():
						return
					case <-time.After(resyncBackoff):
					}
					wch = r.store.client.Watch(ctx, r.key, clientv3.WithRev(r.broker.Epoch+1))
					continue
				}
				if !held {
					r.end(fmt.Errorf("cluster: broker %d epoch %d: registration removed or taken over: %w", r.broker.NodeID, r.broker.Epoch, ErrFenced))
					return
				}
				wch = r.store.client.Watch(ctx, r.key, clientv3.WithRev(rev+1))
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE || ev.Kv.Lease != int64(r.session.Lease()) {
					r.end(fmt.Errorf("cluster: broker %d epoch %d: registration removed or taken over: %w", r.broker.NodeID, r.broker.Epoch, ErrFenced))
					return
				}
			}
		}
	}
}

// end records why the registration ended (the first reason wins) and
// closes Fenced.
func (r *Registration) end(err error) {
	r.closeOnce.Do(func() {
		r.errMu.Lock()
		r.err = err
		r.errMu.Unlock()
		close(r.fenced)
		if err != nil {
			r.store.log.Warn("cluster: broker fenced", "node", r.broker.NodeID, "epoch", r.broker.Epoch, "err", err)
		}
	})
}

// Broker returns the registered broker, with its epoch.
func (r *Registration) Broker() Broker { return r.broker }

// Epoch returns the broker epoch of this registration.
func (r *Registration) Epoch() int64 { return r.broker.Epoch }

// Fenced is closed when the registration ends: fenced (Err wraps
// ErrFenced) or closed (Err is nil).
func (r *Registration) Fenced() <-chan struct{} { return r.fenced }

// Err says why Fenced was closed; nil while registered or after Close.
func (r *Registration) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Store returns the store with writes fenced by this registration: each
// applies only while the broker's key still holds this registration's
// lease, and fails with ErrFenced otherwise (a leader's ISR change).
func (r *Registration) Store() Store {
	return fencedStore{EtcdStore: r.store, fence: []clientv3.Cmp{
		clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.session.Lease()),
	}}
}

// Close deregisters: the lease is revoked, so the broker leaves
// Snapshot.Brokers at once and any controllership ends.
func (r *Registration) Close() error {
	r.end(nil)
	r.stop()
	var err error
	if errors.Is(r.Err(), ErrFenced) {
		r.session.Orphan() // its lease is gone or another's now
	} else {
		err = r.session.Close()
	}
	r.release()
	r.wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("cluster: deregister broker %d: %w", r.broker.NodeID, err)
	}
	return nil
}

// Abandon stops renewing the registration without revoking it, as a
// killed process does: the broker stays registered until its lease lapses
// or another broker ends the registration (EndRegistration). For tests
// and crash simulations; a broker that stops calls Close.
func (r *Registration) Abandon() {
	r.end(nil)
	r.stop()
	r.session.Orphan()
	r.release()
	r.wg.Wait()
}

// Leadership is this broker's term as the active controller.
type Leadership struct {
	reg      *Registration
	election *concurrency.Election
	key      string // the election key won (absolute), and its
	rev      int64  // create revision: the term's identity
	lost     chan struct{}
	once     sync.Once
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Campaign blocks until this broker is the active controller (or ctx
// ends, withdrawing the candidacy) and returns its term. The term ends,
// closing Lost, when it resigns, its registration lapses or closes, or its
// election key is deleted.
func (r *Registration) Campaign(ctx context.Context) (*Leadership, error) {
	e := concurrency.NewElection(r.session, r.store.prefix+keyController)
	if err := e.Campaign(ctx, encodeController(r.broker.NodeID)); err != nil {
		return nil, fmt.Errorf("cluster: broker %d campaign for controller: %w", r.broker.NodeID, err)
	}
	wctx, stop := context.WithCancel(context.Background())
	l := &Leadership{reg: r, election: e, key: e.Key(), rev: e.Rev(), lost: make(chan struct{}), stop: stop}
	l.wg.Add(1)
	go l.guard(wctx)
	r.store.settle(ctx, e.Rev())
	return l, nil
}

func (l *Leadership) guard(ctx context.Context) {
	defer l.wg.Done()
	defer l.end()
	key := l.key
	wch := l.reg.store.client.Watch(ctx, key, clientv3.WithRev(l.rev+1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.reg.fenced:
			return
		case wr, ok := <-wch:
			if !ok {
				return
			}
			if wr.Err() != nil {
				rev, held, err := l.reg.store.holds(ctx, key, func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision == l.rev })
				if err != nil {
					select {
					case <-ctx.Done():
						return
					case <-time.After(resyncBackoff):
					}
					wch = l.reg.store.client.Watch(ctx, key, clientv3.WithRev(l.rev+1))
					continue
				}
				if !held {
					return
				}
				wch = l.reg.store.client.Watch(ctx, key, clientv3.WithRev(rev+1))
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					return
				}
			}
		}
	}
}

func (l *Leadership) end() { l.once.Do(func() { close(l.lost) }) }

// Lost is closed when this term as controller is over.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Store returns the store with writes fenced by this term: each applies
// only while this broker is still the controller that won this election,
// and fails with ErrFenced otherwise (a deposed controller's decision).
func (l *Leadership) Store() Store {
	return fencedStore{EtcdStore: l.reg.store, fence: []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(l.key), "=", l.rev),
	}}
}

// Abandon stops watching the term without resigning, as a killed
// process does: the election key stays until the registration's lease
// lapses or is revoked (EndRegistration), and no other candidate wins
// before. For tests and crash simulations; a broker that stops resigns.
func (l *Leadership) Abandon() {
	l.stop()
	l.wg.Wait()
	l.end()
}

// Resign ends the term: another candidate may win at once.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	l.stop()
	l.wg.Wait()
	l.end()
	if err != nil {
		return fmt.Errorf("cluster: broker %d resign controller: %w", l.reg.broker.NodeID, err)
	}
	return nil
}

// holds reads key and reports whether it exists and satisfies ok, with
// the revision of the read.
func (s *EtcdStore) holds(ctx context.Context, key string, ok func(*mvccpb.KeyValue) bool) (rev int64, held bool, err error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return 0, false, err
	}
	return resp.Header.Revision, len(resp.Kvs) == 1 && ok(resp.Kvs[0]), nil
}
