package cluster

// Fast fencing: a broker whose process is gone is fenced within a round
// trip or two instead of when its lease lapses (broker.session.timeout.ms).
//
// The lease stays the rule for everything this cannot know: a paused
// process (SIGSTOP), a network partition, a host that is down. Those keep
// their sockets open or answer nothing, and only the lease ends them. A
// process that died on a host that is still up is different: the kernel
// closes its sockets (the peers read EOF or a reset at once) and its
// listening port refuses connections (ECONNREFUSED: nothing listens
// there). A broker binds its inter-broker listener before it registers,
// so a refusal at the registered address means that registration's
// process is gone.
//
// Each watching broker keeps one idle connection to every other
// registered broker's inter-broker listener (nothing is sent on it; the
// server closes it after connections.max.idle.ms and it is dialled
// again). When it ends, it is dialled again at once; two refused dials in
// a row (confirmRefusalPause apart) end that registration: the lease the
// registration's key holds is revoked, if the key still holds the
// registration that was watched (same epoch), so a broker that restarted
// and registered again is untouched. The controller's watch then fences
// the broker as for a lapsed lease, and since the controller election
// rides the same lease, a dead controller's term ends with it.
//
// Between a watch connection's end and the verdict (a dial that
// connects, or the registration ended and gone from this node's
// snapshot) the broker is suspected
// (Suspected, Changed): a Metadata answer can wait for the verdict
// instead of naming a leader that is most likely dead, since a client
// asks for metadata at the same instant the brokers see the death.
//
// When the dead process also led etcd's Raft, no write succeeds until
// etcd elects another leader (about an election timeout, 1 s by
// default): the revoke is retried until it succeeds, the registration is
// gone or fenceRetryFor passes. A revoke sent before the surviving
// members noticed the leader's death is forwarded to the dead leader and
// lost: it waits out etcd's request timeout (seconds), or its attempt's.
// So attempts overlap: a new one starts every fenceAttemptEvery while
// earlier ones wait, and the first sent once a leader is elected ends
// the registration, within fenceAttemptEvery of the election instead of
// whenever the attempt in flight gives up.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/time/rate"
)

const (
	// fastFenceDialTimeout bounds one dial of a watched broker. A dial
	// that times out proves nothing (a host down, a partition): the
	// lease decides those.
	fastFenceDialTimeout = time.Second
	// confirmRefusals is how many refused dials in a row, each
	// confirmRefusalPause after the previous, end a registration.
	confirmRefusals     = 2
	confirmRefusalPause = 20 * time.Millisecond
	// watchStableFor is how long a watch connection must have lasted for
	// its end to be followed by a dial at once; a connection that ends
	// sooner (a listener that drops new connections) is dialled again
	// after a doubling pause from watchMinBackoff to watchMaxBackoff, so a
	// watcher never spins.
	watchStableFor  = time.Second
	watchMinBackoff = 50 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
	// fenceAttemptTimeout bounds one read-and-revoke (one sent while
	// etcd has no leader hangs until it ends); a new attempt starts every
	// fenceAttemptEvery while earlier ones wait, up to fenceMaxInFlight
	// at once; fenceRetryFor bounds them all (a lease TTL of the 2 s
	// minimum has lapsed on its own by then).
	fenceAttemptTimeout = 500 * time.Millisecond
	fenceAttemptEvery   = 50 * time.Millisecond
	fenceMaxInFlight    = int(fenceAttemptTimeout / fenceAttemptEvery)
	fenceRetryFor       = 5 * time.Second
	// fastFenceRate and fastFenceBurst bound how often one broker ends
	// registrations: a burst of fastFenceBurst, then one per
	// fastFenceRate. More deaths at once wait their turn; none is
	// dropped.
	fastFenceRate  = time.Second
	fastFenceBurst = 3
)

// EndRegistration ends node's registration of broker epoch epoch: if the
// broker's key still holds that registration (its ModRevision is epoch),
// the lease it is bound to is revoked, which deletes the key and the
// registration's controller candidacy. ended is false, with no error,
// when the key is gone, holds a later registration, or its lease is
// already revoked: nothing of another incarnation is ever touched.
//
// The read is serializable (the local member's copy, no round to the
// raft leader): a stale copy can only name a lease that is revoked
// already (a newer registration of the node revoked it when it took the
// key over), and revoking it again fails with nothing changed, since a
// lease ID is never reused.
func (s *EtcdStore) EndRegistration(ctx context.Context, node int32, epoch int64) (ended bool, err error) {
	resp, err := s.client.Get(ctx, s.prefix+brokerKey(node), clientv3.WithSerializable())
	if err != nil {
		return false, fmt.Errorf("cluster: end registration of broker %d epoch %d: %w", node, epoch, err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != epoch || resp.Kvs[0].Lease == 0 {
		return false, nil
	}
	if _, err := s.client.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("cluster: end registration of broker %d epoch %d: revoke lease %x: %w", node, epoch, resp.Kvs[0].Lease, err)
	}
	return true, nil
}

// FastFenceConfig configures a FastFencer.
type FastFenceConfig struct {
	// Store is the watched metadata the registrations are read from and
	// ended in.
	Store *EtcdStore
	// Self is this broker's node ID: its own registration is not watched.
	Self int32
	// Listener is the name of the inter-broker listener whose registered
	// endpoint is watched; a broker without one is not watched.
	Listener string
	// Dial connects to a watched broker's address. It must return the
	// connect error as the net package does (a refusal wraps
	// syscall.ECONNREFUSED), and may go on to a TLS handshake; nil:
	// plain TCP.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Logger receives one warning per registration ended; nil discards.
	Logger *slog.Logger
}

// FastFencer watches the other registered brokers' inter-broker
// listeners and ends the registration of one whose process is gone (see
// the comment at the top of fastfence.go). Close stops it.
type FastFencer struct {
	cfg     FastFenceConfig
	log     *slog.Logger
	limiter *rate.Limiter
	fences  atomic.Uint64
	// endRegistration is Store.EndRegistration (a test's stand-in).
	endRegistration func(ctx context.Context, node int32, epoch int64) (bool, error)

	mu       sync.Mutex
	suspects map[peer]bool     // guarded by mu
	conns    map[peer]net.Conn // guarded by mu: each watch's open connection
	changed  chan struct{}     // guarded by mu: closed and replaced when suspects or lastFence change
	// lastFence is when this fencer last ended a registration (or gave
	// up on one), guarded by mu.
	lastFence time.Time

	// ctx ends at Close. A fence runs under it, not under its peer's
	// watch: the snapshot may show the registration gone (and stop the
	// watch) before the revoke's answer arrives.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // run and every peer watch
}

// peer is one registration watched: a broker at one epoch and address.
type peer struct {
	node  int32
	epoch int64
	addr  string
}

// StartFastFencer starts watching the registrations of cfg.Store.
func StartFastFencer(cfg FastFenceConfig) *FastFencer {
	f := &FastFencer{cfg: cfg, log: cfg.Logger, limiter: rate.NewLimiter(rate.Every(fastFenceRate), fastFenceBurst),
		endRegistration: cfg.Store.EndRegistration,
		suspects:        map[peer]bool{}, conns: map[peer]net.Conn{}, changed: make(chan struct{})}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.cfg.Dial == nil {
		d := &net.Dialer{}
		f.cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.run(f.ctx)
	return f
}

// Fences is how many registrations this fencer ended.
func (f *FastFencer) Fences() uint64 { return f.fences.Load() }

// Suspected reports whether node's watch connection ended (or its end is
// waiting in the socket, not read yet) and no verdict is in yet: neither
// a dial that connected nor the end of its registration.
func (f *FastFencer) Suspected(node int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.suspects {
		if p.node == node {
			return true
		}
	}
	for p, c := range f.conns {
		if p.node == node && connEnded(c) {
			return true
		}
	}
	return false
}

// Busy reports whether a broker is suspected (a watch connection's end
// waiting in its socket included), or a registration was ended (or
// given up on) within the last within: while it is not, no Metadata
// answer needs to wait for this fencer. It costs a non-blocking peek at
// each watch connection.
func (f *FastFencer) Busy(within time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.suspects) > 0 || (!f.lastFence.IsZero() && time.Since(f.lastFence) < within) {
		return true
	}
	for _, c := range f.conns {
		if connEnded(c) {
			return true
		}
	}
	return false
}

// setConn records p's open watch connection (nil: none).
func (f *FastFencer) setConn(p peer, c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c == nil {
		delete(f.conns, p)
	} else {
		f.conns[p] = c
	}
}

// Changed returns a channel closed at the next change of the suspected
// brokers or of the last fencing.
func (f *FastFencer) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// setSuspect records p as suspected or not, and the time of a fencing.
func (f *FastFencer) setSuspect(p peer, suspected, fenced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.suspects[p] == suspected && !fenced {
		return
	}
	if suspected {
		f.suspects[p] = true
	} else {
		delete(f.suspects, p)
	}
	if fenced {
		f.lastFence = time.Now()
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// Close stops every watch, closing their connections, and waits for them.
func (f *FastFencer) Close() {
	f.cancel()
	f.wg.Wait()
}

// run keeps one watch per registered broker (other than Self) that has the
// inter-broker listener, following every snapshot.
func (f *FastFencer) run(ctx context.Context) {
	defer f.wg.Done()
	watches := map[peer]context.CancelFunc{}
	defer func() {
		for _, stop := range watches {
			stop()
		}
	}()
	for {
		changed := f.cfg.Store.Changed()
		want := map[peer]bool{}
		for _, b := range f.cfg.Store.Snapshot().Brokers {
			if b.NodeID == f.cfg.Self {
				continue
			}
			if e, ok := b.Endpoint(f.cfg.Listener); ok {
				want[peer{node: b.NodeID, epoch: b.Epoch, addr: net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))}] = true
			}
		}
		for p, stop := range watches {
			if !want[p] {
				stop()
				delete(watches, p)
			}
		}
		for p := range want {
			if _, ok := watches[p]; !ok {
				wctx, stop := context.WithCancel(ctx)
				watches[p] = stop
				f.wg.Add(1)
				go f.watch(wctx, p)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// watch holds a connection to p's address, dialling again whenever it
// ends, until p's registration is ended (here, or by confirmRefusals
// refused dials in a row) or ctx ends. A dial that fails otherwise (a
// timeout, no route) is retried after a pause: only the lease ends those.
func (f *FastFencer) watch(ctx context.Context, p peer) {
	defer f.wg.Done()
	defer f.setSuspect(p, false, false)
	var (
		backoff  time.Duration
		refusals int
		lastEnd  = "no connection yet"
	)
	for {
		if backoff > 0 && !sleep(ctx, backoff) {
			return
		}
		start := time.Now()
		dctx, cancel := context.WithTimeout(ctx, fastFenceDialTimeout)
		conn, err := f.cfg.Dial(dctx, p.addr)
		cancel()
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return
		}
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				refusals++
				if refusals >= confirmRefusals {
					if f.fence(f.ctx, p, fmt.Sprintf("watch connection ended (%s), then %d dials in a row refused (%v)", lastEnd, refusals, err)) {
						// Still in doubt until this node's own snapshot
						// drops the registration (run stops this watch):
						// until then its Metadata would name the dead
						// broker.
						<-ctx.Done()
					}
					f.setSuspect(p, false, true)
					return
				}
				backoff = confirmRefusalPause
				continue
			}
			// Not a refusal (a timeout, no route): nothing this can
			// decide; the lease will.
			f.setSuspect(p, false, false)
			refusals = 0
			backoff = nextBackoff(backoff)
			continue
		}
		f.setSuspect(p, false, false)
		refusals = 0
		f.setConn(p, conn)
		lastEnd = waitClosed(ctx, conn)
		f.setConn(p, nil)
		f.setSuspect(p, true, false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) >= watchStableFor {
			backoff = 0
		} else {
			backoff = nextBackoff(backoff)
		}
	}
}

// nextBackoff doubles d within [watchMinBackoff, watchMaxBackoff].
func nextBackoff(d time.Duration) time.Duration {
	return min(max(2*d, watchMinBackoff), watchMaxBackoff)
}

// waitClosed reads conn until it fails or ctx ends, closes it, and says
// how it ended.
func waitClosed(ctx context.Context, conn net.Conn) string {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	var buf [512]byte
	for {
		if _, err := conn.Read(buf[:]); err != nil {
			return err.Error()
		}
	}
}

// fence ends p's registration, retrying while etcd cannot answer (no
// Raft leader yet) with overlapping attempts (see the top of the file),
// until it is ended or gone (true), fenceRetryFor passes or ctx ends
// (false). The attempts still waiting are given up and waited for.
func (f *FastFencer) fence(ctx context.Context, p peer, evidence string) bool {
	if err := f.limiter.Wait(ctx); err != nil {
		return false
	}
	type outcome struct {
		ended bool
		err   error
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	outcomes := make(chan outcome, fenceMaxInFlight)
	start := time.Now()
	attempts, inFlight := 0, 0
	var lastStart time.Time
	var lastErr error
	// gone: an attempt found the registration ended already, maybe by
	// an earlier attempt still waiting for its answer, which is waited
	// for so that the fence is counted and logged.
	gone := false
	tick := time.NewTicker(fenceAttemptEvery)
	defer tick.Stop()
	for {
		late := time.Since(start) >= fenceRetryFor
		if late && inFlight == 0 {
			f.log.Warn("cluster: fast fence: could not end the registration; its lease will lapse",
				"fenced_node", p.node, "fenced_epoch", p.epoch, "evidence", evidence, "attempts", attempts, "err", lastErr)
			return false
		}
		if !late && !gone && inFlight < fenceMaxInFlight && time.Since(lastStart) >= fenceAttemptEvery {
			attempts++
			inFlight++
			lastStart = time.Now()
			wg.Go(func() {
				c, done := context.WithTimeout(actx, fenceAttemptTimeout)
				defer done()
				ended, err := f.endRegistration(c, p.node, p.epoch)
				outcomes <- outcome{ended, err}
			})
		}
		select {
		case o := <-outcomes:
			inFlight--
			switch {
			case o.err == nil && o.ended:
				f.fences.Add(1)
				f.log.Warn("cluster: fast fence: broker process gone, registration ended",
					"fenced_node", p.node, "fenced_epoch", p.epoch, "addr", p.addr, "evidence", evidence,
					"attempts", attempts, "took", time.Since(start))
				return true
			case o.err == nil:
				gone = true
			case ctx.Err() != nil:
				return false
			default:
				lastErr = o.err
			}
			if gone && inFlight == 0 {
				f.log.Debug("cluster: fast fence: registration already gone", "fenced_node", p.node, "fenced_epoch", p.epoch)
				return true
			}
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
