package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/tributary-io/tributary/consumergroup"
	tlog "github.com/tributary-io/tributary/log"
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

	// recompressSlots holds one token per batch being re-encoded for
	// compression.type, one slot per core.
	recompressSlots chan struct{}

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	advHost   string
	advPort   int32
	closed    bool

	wg sync.WaitGroup // accept loops and connections

	createMu sync.Mutex // serialises auto-creation so racing requests create a topic once
	topicIDs sync.Map   // [16]byte topic ID -> topic name, see topicByID
}

// New returns a Server over mgr. It does no I/O until Serve.
func New(mgr *tlog.Manager, cfg Config, logger *slog.Logger) (*Server, error) {
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
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	gcfg := cfg.Groups
	if gcfg.Logger == nil {
		gcfg.Logger = logger
	}
	groups, err := consumergroup.New(mgr, gcfg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.groups = groups
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.budgetBytes = int64(max(cfg.QueuedMaxRequestBytes, cfg.SocketRequestMaxBytes))
	s.requestBudget = semaphore.NewWeighted(s.budgetBytes)
	s.recompressSlots = make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))
	s.metrics = newMetrics(s)
	mgr.SetFlushObserver(s.metrics.observeFlush)
	if cfg.Advertise != "" {
		host, port, err := splitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("server: advertise address: %w", err)
		}
		s.advHost, s.advPort = host, port
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

// Listen opens a TCP listener on addr and serves it in the background.
// It returns the listener's address (useful with port 0).
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", addr, err)
	}
	if err := s.track(ln); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop(ln)
	}()
	return ln.Addr(), nil
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		return err
	}
	s.wg.Add(1)
	defer s.wg.Done()
	return s.acceptLoop(ln)
}

func (s *Server) track(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return errors.New("server: closed")
	}
	s.listeners[ln] = struct{}{}
	s.groups.Start() // replays __consumer_offsets; group requests wait for it
	if s.advHost == "" {
		if host, port, err := splitHostPort(ln.Addr().String()); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				// Listening on every interface: 0.0.0.0 is no address a
				// client can dial. Like Kafka, advertise the host name.
				if name, herr := os.Hostname(); herr == nil && name != "" {
					host = name
				}
				s.logger.Warn("server: listening on all interfaces; advertising the host name (set --advertise if clients cannot resolve it)", "advertise", net.JoinHostPort(host, strconv.Itoa(int(port))))
			}
			s.advHost, s.advPort = host, port
		}
	}
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) error {
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
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
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
			s.metrics.connections.Dec()
		}()
	}
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

// advertised is the host and port clients are told to use.
func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advHost, s.advPort
}
