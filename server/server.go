package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/replica"
)

// Server is one Tributary broker speaking the Kafka protocol over the topics
// of a log.Manager. The caller owns the Manager: Close stops the network
// side and leaves the Manager open.
type Server struct {
	mgr     *tlog.Manager
	groups  *consumergroup.Coordinator // started by the first Listen or Serve, closed by Close
	cfg     Config
	logger  *slog.Logger
	metrics *metrics

	closing chan struct{}   // closed by Close: long polls answer, readers stop
	ctx     context.Context // cancelled by Close, for waits on the request budget
	cancel  context.CancelFunc

	// requestBudget holds queued.max.request.bytes: a connection acquires
	// its frame's size before reading it and releases it once handled.
	requestBudget *semaphore.Weighted
	budgetBytes   int64

	// pidQuota is producer.id.quota.rate, nil when off.
	pidQuota *producerIDQuota
	// recompressSlots holds one token per compressed batch being read
	// (checked on produce, or re-encoded for compression.type), one slot
	// per core.
	recompressSlots chan struct{}

	// connSlots holds max.connections: a connection takes a slot once
	// accepted and gives it back when it closes.
	connSlots *semaphore.Weighted
	// blockedLogged is the unix ns of the last "max.connections reached"
	// warning, and rejectLogged of the last per-ip rejection logged: one
	// line per interval, however many connections a flood brings.
	blockedLogged, rejectLogged atomic.Int64

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]*listener
	conns     map[*conn]struct{}
	perIP     map[string]int // open connections by client address (connAddr)
	closed    bool

	wg sync.WaitGroup // accept loops and connections

	// authz checks every request against the ACLs; nil without
	// authorizer.class.name, and then nothing is checked (acl.go).
	authz *auth.Authorizer
	// creds is the SCRAM credential store (meta/scram-credentials) that
	// SASL listeners authenticate against and AlterUserScramCredentials
	// changes.
	creds *auth.CredentialStore
	// scramMu serialises AlterUserScramCredentials, so that its checks
	// (does the credential to delete exist) hold when it writes.
	scramMu sync.Mutex

	// replicas replicates the partitions of a broker in a cluster, and
	// hooks say where the leaders of the others are (replication.go);
	// nil and empty on a single broker. node is the cluster side
	// (cluster_node.go), nil on a single broker. All are set by
	// StartCluster (attachReplicas) before serving.
	replicas *replica.Manager
	hooks    clusterHooks
	node     *brokerNode

	// fetchSessions are the incremental fetch sessions (fetch_sessions.go).
	fetchSessions *fetchSessionCache

	createMu sync.Mutex // serialises auto-creation so racing requests create a topic once
	topicIDs sync.Map   // [16]byte topic ID -> topic name, see topicByID

	// quorum answers DescribeQuorum in a cluster; nil on a single broker
	// (55_describe_quorum.go).
	quorum atomic.Pointer[quorumDescriber]
}

// New returns a Server over mgr. It does no I/O until Serve.
func New(mgr *tlog.Manager, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		mgr:       mgr,
		cfg:       cfg,
		logger:    logger,
		closing:   make(chan struct{}),
		listeners: make(map[net.Listener]*listener),
		conns:     make(map[*conn]struct{}),
		perIP:     make(map[string]int),
	}
	if cfg.Authorizer != "" {
		authz, err := auth.NewAuthorizer(auth.Config{
			Path:                      filepath.Join(mgr.Dir(), aclFile),
			SuperUsers:                cfg.SuperUsers,
			AllowEveryoneIfNoACLFound: cfg.AllowEveryoneIfNoACLFound,
		})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.authz = authz
	}
	gcfg := cfg.Groups
	if gcfg.Logger == nil {
		gcfg.Logger = logger
	}
	if cfg.Cluster != nil {
		if err := s.prepareCluster(*cfg.Cluster, &gcfg); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				s.node.close()
			}
		}()
	} else if err := refuseClusterDataDir(mgr.Dir()); err != nil {
		return nil, err
	}
	groups, err := consumergroup.New(mgr, gcfg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.groups = groups
	if s.creds, err = auth.OpenCredentialStore(auth.CredentialsPath(mgr.Dir())); err != nil {
		groups.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.budgetBytes = int64(max(cfg.QueuedMaxRequestBytes, cfg.SocketRequestMaxBytes))
	s.requestBudget = semaphore.NewWeighted(s.budgetBytes)
	s.recompressSlots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))
	s.connSlots = semaphore.NewWeighted(int64(cfg.MaxConnections))
	s.pidQuota = newProducerIDQuota(cfg)
	s.metrics = newMetrics(s)
	s.fetchSessions = newFetchSessionCache(cfg.FetchSessionCacheSlots, s.metrics.reg)
	mgr.SetFlushObserver(s.metrics.observeFlush)
	if cfg.Advertise != "" {
		if _, _, err := splitHostPort(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("server: advertise address: %w", err)
		}
	}
	return s, nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q: %w", addr, err)
	}
	return host, int32(port), nil
}

// Listen opens one PLAINTEXT listener on addr, advertised as
// Config.Advertise, and serves it in the background: the listener of
// --listen. It returns the listener's address (useful with port 0).
func (s *Server) Listen(addr string) (net.Addr, error) {
	return s.ListenOn(Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: addr, Advertise: s.cfg.Advertise})
}

// ListenOn opens listener l and serves it in the background. It returns
// the address it is bound to (useful with port 0).
func (s *Server) ListenOn(l Listener) (net.Addr, error) {
	if err := checkListener(l); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s (%s): %w", l.Addr, l.Name, err)
	}
	sl, err := s.newListener(l, ln.Addr())
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.track(ln, sl); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop(ln, sl)
	}()
	return ln.Addr(), nil
}

// Serve accepts connections on ln, as a PLAINTEXT listener advertised as
// Config.Advertise, until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	sl, err := s.newListener(Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Advertise: s.cfg.Advertise}, ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	if err := s.track(ln, sl); err != nil {
		return err
	}
	s.wg.Add(1)
	defer s.wg.Done()
	return s.acceptLoop(ln, sl)
}

func (s *Server) track(ln net.Listener, sl *listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return errors.New("server: closed")
	}
	s.listeners[ln] = sl
	s.groups.Start() // replays __consumer_offsets; group requests wait for it
	return nil
}

func (s *Server) acceptLoop(ln net.Listener, sl *listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// Out of file descriptors or similar: back off rather
				// than spin, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("server: accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.closing:
					return nil
				}
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		ip, ok := s.admit(nc)
		if !ok {
			if s.isClosing() {
				return nil
			}
			continue
		}
		c := newConn(s, nc, sl)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.release(nc, ip, true)
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.metrics.connections.Inc()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.release(nil, ip, true)
			s.metrics.connections.Dec()
		}()
	}
}

// Connection limits, as Kafka's acceptor applies them: a connection is
// accepted, then waits for a max.connections slot, then is checked
// against max.connections.per.ip. So at max.connections one accepted
// connection per listener waits in the broker and later ones wait in the
// kernel's listen backlog (their connect succeeds; their first request is
// answered once a connection closes). A connection over its address's
// limit is closed at once and counted.
const (
	// limitLogInterval spaces out the log lines of connection limits.
	limitLogInterval = 10 * time.Second
	// Reasons of tributary_connections_rejected_total.
	rejectedPerIP = "max_connections_per_ip"
)

// admit takes a max.connections slot for nc (waiting for one) and counts
// nc against the limit of its address, which it returns; false when nc
// was closed instead, over its address's limit or because the broker is
// closing.
func (s *Server) admit(nc net.Conn) (ip string, ok bool) {
	if !s.connSlots.TryAcquire(1) {
		start := time.Now()
		s.metrics.acceptBlocked.Inc()
		s.logLimited(&s.blockedLogged, "server: max.connections reached; new connections wait until one closes",
			"max.connections", s.cfg.MaxConnections)
		err := s.connSlots.Acquire(s.ctx, 1)
		s.metrics.acceptBlockedSeconds.Add(time.Since(start).Seconds())
		if err != nil { // closing
			nc.Close()
			return "", false
		}
	}
	ip = connAddr(nc)
	limit := s.cfg.maxConnectionsFrom(ip)
	s.mu.Lock()
	if s.perIP[ip] >= limit {
		s.mu.Unlock()
		// Counted before the close a client can observe, so a scrape
		// after the refusal always shows it.
		s.metrics.rejected.WithLabelValues(rejectedPerIP).Inc()
		s.release(nc, ip, false)
		s.logLimited(&s.rejectLogged, "server: connection refused: its address has max.connections.per.ip connections",
			"remote", nc.RemoteAddr().String(), "limit", limit)
		return "", false
	}
	s.perIP[ip]++
	s.mu.Unlock()
	return ip, true
}

// release closes nc (if not nil), forgets one connection from ip if it
// was counted, and gives back its max.connections slot.
func (s *Server) release(nc net.Conn, ip string, counted bool) {
	if nc != nil {
		nc.Close()
	}
	if counted {
		s.mu.Lock()
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}
	s.connSlots.Release(1)
}

// logLimited logs msg at warn level unless it was logged (by last) within
// limitLogInterval.
func (s *Server) logLimited(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	if prev := last.Load(); now-prev < int64(limitLogInterval) || !last.CompareAndSwap(prev, now) {
		return
	}
	s.logger.Warn(msg, args...)
}

// connAddr is the client address of nc that max.connections.per.ip counts
// by: the IP in canonical form (IPv4-mapped IPv6 addresses as IPv4), or
// for a listener that is not TCP the host part of the remote address.
func connAddr(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap().String()
		}
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Close stops accepting, lets every connection finish the request it is
// handling and send its queued responses (long polls answer at once), then
// closes the connections. Connections still busy after ShutdownTimeout are
// cut. The Manager stays open: the caller flushes and closes it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.node != nil {
		// Leadership moves away while the listeners still answer, so
		// clients find the new leaders through this broker too.
		s.node.controlledShutdown()
		defer s.node.close()
	}
	s.mu.Lock()
	close(s.closing)
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return s.groups.Close()
	case <-time.After(s.cfg.ShutdownTimeout):
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	s.groups.Close()
	return fmt.Errorf("server: connections still busy after %v were cut", s.cfg.ShutdownTimeout)
}

// Groups is the broker's group coordinator.
func (s *Server) Groups() *consumergroup.Coordinator { return s.groups }
