package cluster

// Moving a broker's etcd client off a member that stopped answering.
//
// A broker's etcd client balances its requests over every voter's client
// endpoint, and its long-lived streams (the lease keep-alive of its
// registration, the metadata watch) each stay on the connection they
// were opened on. When a member is cut off (a network partition holds
// its packets, its process is paused), nothing closes that connection:
// the streams on it hang while the lease runs out. gRPC's keepalive
// pings would notice, but gRPC raises a client's ping interval to at
// least 10 s (and an etcd server's policy refuses pings more frequent
// than its --grpc-keepalive-min-time, 5 s by default, with
// too_many_pings), so with broker.session.timeout.ms=3000 every broker
// whose keep-alive stream sat on that member would be fenced.
//
// An EndpointGuard finds such a member by request timeouts instead: it
// asks each endpoint for its status (Maintenance.Status, over a
// connection of its own to that endpoint) every period, with three
// periods to answer, and an endpoint that does not answer in time twice
// in a row (silentProbes) has every connection the client dialled to it
// closed at once, provided another endpoint answered its last probe
// (with none answering, there is nowhere better to go). One late answer
// is not enough: on a loaded machine a member that is only slow misses
// one probe now and then, and closing its connections fails every
// request in flight on them (registrations, admin writes, ISR changes),
// while the broker's lease no longer depends on one connection (its
// renewals are separate short requests: lease_keeper.go). Only silence counts: an endpoint that
// answers with an error (refused, no leader yet while the quorum forms)
// either has no connection the client would use or answers the client's
// requests too, and closing a connection fails the requests in flight on
// it. Its streams then fail, and etcd's client opens
// them again on a connection that works; a new connection to the
// cut-off member completes no gRPC handshake, so it is not used until
// the member answers again. With a period of a twelfth of the session
// timeout, a broker's watch leaves a member that stopped answering within
// about half of it.
//
// The guard sees the client's connections because it is the client's
// dialer (DialOption); it also binds their local address when asked
// (inter.broker.source.bind.enable, as EtcdSourceDialOption does).

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// silentProbes is how many probes in a row an endpoint must leave
// unanswered before its connections are closed.
const silentProbes = 2

// minGuardInterval bounds the probe interval from below, so a tiny
// session timeout does not turn the probes into a busy loop.
const minGuardInterval = 100 * time.Millisecond

// EndpointGuard closes a client's connections to etcd endpoints that stop
// answering (see the package's file comment). Its methods are safe for
// concurrent use.
type EndpointGuard struct {
	dialer net.Dialer

	mu    sync.Mutex
	conns map[string]map[*guardedConn]struct{} // by dialled address (host:port); guarded by mu
	// answered is whether each endpoint answered its last probe (false
	// until it did); guarded by mu. An endpoint is left only while
	// another one answers: when none does (the whole quorum away, or a
	// machine too loaded to answer in time), moving would not help.
	answered map[string]bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewEndpointGuard returns a guard whose dialer binds local as the local
// address of every connection when it is not nil.
func NewEndpointGuard(local *net.TCPAddr) *EndpointGuard {
	g := &EndpointGuard{conns: map[string]map[*guardedConn]struct{}{}, answered: map[string]bool{}}
	if local != nil {
		g.dialer.LocalAddr = local
	}
	return g
}

// DialOption makes the guard the dialer of an etcd client's connections.
func (g *EndpointGuard) DialOption() grpc.DialOption {
	return grpc.WithContextDialer(g.dial)
}

func (g *EndpointGuard) dial(ctx context.Context, addr string) (net.Conn, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		var plain net.Dialer
		return plain.DialContext(ctx, "unix", strings.TrimPrefix(path, "//"))
	}
	c, err := g.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	gc := &guardedConn{Conn: c, g: g, addr: addr}
	g.mu.Lock()
	set := g.conns[addr]
	if set == nil {
		set = map[*guardedConn]struct{}{}
		g.conns[addr] = set
	}
	set[gc] = struct{}{}
	g.mu.Unlock()
	return gc, nil
}

// closeEndpoint closes every connection dialled to addr; it returns how
// many there were.
func (g *EndpointGuard) closeEndpoint(addr string) int {
	g.mu.Lock()
	set := g.conns[addr]
	delete(g.conns, addr)
	g.mu.Unlock()
	for c := range set {
		c.Conn.Close()
	}
	return len(set)
}

// Start probes each of endpoints (the client's, as given to it) every
// period (at least minGuardInterval), with three periods to answer, over
// connections cli's configuration dials, until Close. A period of a
// twelfth of the session timeout leaves a silent endpoint within about half
// of it.
func (g *EndpointGuard) Start(cli *clientv3.Client, endpoints []string, period time.Duration, log *slog.Logger) {
	period = max(period, minGuardInterval)
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	for _, ep := range endpoints {
		g.wg.Add(1)
		go g.probe(ctx, cli, ep, period, log)
	}
}

// Close stops the probes and waits for them.
func (g *EndpointGuard) Close() {
	if g.cancel != nil {
		g.cancel()
	}
	g.wg.Wait()
}

// probe checks endpoint ep every period until ctx ends.
func (g *EndpointGuard) probe(ctx context.Context, cli *clientv3.Client, ep string, period time.Duration, log *slog.Logger) {
	defer g.wg.Done()
	addr := endpointAddr(ep)
	var conn *grpc.ClientConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var st probeRun
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if conn == nil {
			var err error
			if conn, err = cli.Dial(ep); err != nil {
				log.Warn("cluster: etcd endpoint probe: dial", "endpoint", ep, "err", err)
				continue
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 3*period)
		_, err := pb.NewMaintenanceClient(conn).Status(pctx, &pb.StatusRequest{})
		silent := err != nil && pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		othersAnswer := g.probed(ep, err == nil)
		switch st.observe(silent, othersAnswer) {
		case probeRecovered:
			log.Info("cluster: etcd endpoint answers again", "endpoint", ep)
		case probeLeave, probeLeaveAgain:
			// Closed at every silent probe: a connection dialled since
			// the last one may be the client's too.
			n := g.closeEndpoint(addr)
			if st.observed == probeLeave {
				log.Warn("cluster: etcd endpoint does not answer: closed the client's connections to it", "endpoint", ep,
					"connections", n, "probes", st.silent, "each within", 3*period)
			}
		}
	}
}

// probeRun is one endpoint's run of probes, as probe sees them.
type probeRun struct {
	silent   int         // probes in a row left unanswered
	left     bool        // its connections were closed in this run of silence
	observed probeAction // the last outcome's action
}

// probeAction is what a probe's outcome asks of probe.
type probeAction int

const (
	probeNothing    probeAction = iota
	probeRecovered              // answered after having been left
	probeLeave                  // silent silentProbes times in a row: close its connections
	probeLeaveAgain             // still silent after that: close any dialled since
)

// observe records a probe's outcome: whether the endpoint was silent and
// whether another endpoint answered its last probe.
func (r *probeRun) observe(silent, othersAnswer bool) probeAction {
	r.observed = r.decide(silent, othersAnswer)
	return r.observed
}

func (r *probeRun) decide(silent, othersAnswer bool) probeAction {
	if !silent {
		left := r.left
		r.silent, r.left = 0, false
		if left {
			return probeRecovered
		}
		return probeNothing
	}
	r.silent++
	switch {
	case r.silent < silentProbes || !othersAnswer:
		return probeNothing
	case !r.left:
		r.left = true
		return probeLeave
	default:
		return probeLeaveAgain
	}
}

// probed records whether ep answered its probe and reports whether
// another endpoint answered its last one.
func (g *EndpointGuard) probed(ep string, ok bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answered[ep] = ok
	for other, answered := range g.answered {
		if other != ep && answered {
			return true
		}
	}
	return false
}

// endpointAddr is the address the client dials for endpoint ep
// (http://host:port, https://host:port or host:port).
func endpointAddr(ep string) string {
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		return u.Host
	}
	return ep
}

// guardedConn is a connection the guard dialled; it leaves the guard's
// set when closed.
type guardedConn struct {
	net.Conn
	g    *EndpointGuard
	addr string
}

func (c *guardedConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns[c.addr], c)
	c.g.mu.Unlock()
	return c.Conn.Close()
}
