package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// LeaderSource tells which member leads the metadata quorum's raft. An
// Embedded member knows as soon as its raft does.
type LeaderSource interface {
	// LeaderClientURLs returns the leader's client URLs, nil while the
	// source knows of no leader.
	LeaderClientURLs() []string
	// LeaderChanged returns a channel closed when the source next learns
	// of a new leader.
	LeaderChanged() <-chan struct{}
}

var _ LeaderSource = (*Embedded)(nil)

// LeaderClient is an etcd client of the raft leader's client URLs,
// replaced on every change of leader. The etcd client spreads requests
// over every member it is given, and a write sent to a follower costs
// the follower's gRPC, its forward to the leader and the leader's own
// work: during a failover's storm of controller transactions etcd's CPU
// is the bottleneck (EtcdStoreConfig.Leader).
//
// It keeps one clientv3.Client per leader it has followed, and never
// moves a client's endpoints: clientv3's SetEndpoints writes its
// resolver's state unsynchronised while gRPC may be building that
// resolver on another goroutine (at the first request, and again each
// time the connection leaves idle), a data race the race detector sees.
// A handful of voters makes a handful of clients; past maxLeaderClients
// the ones not in use are closed.
type LeaderClient struct {
	cfg clientv3.Config
	src LeaderSource
	// cur is the leader the source last named; replaced by run.
	cur atomic.Pointer[leaderTerm]
	// clients are the clients made so far, by their endpoints; owned by
	// run (and by Close once run has returned).
	clients map[string]*clientv3.Client
	done    chan struct{}
	wg      sync.WaitGroup
}

// leaderTerm is one leader the source named: its client, and a context
// that ends, with errQuorumLeaderMoved, when the source names the next
// (EtcdStore.partitionTxn).
type leaderTerm struct {
	cli    *clientv3.Client // nil while the source knows of no leader
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newLeaderTerm(cli *clientv3.Client) *leaderTerm {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &leaderTerm{cli: cli, ctx: ctx, cancel: cancel}
}

// maxLeaderClients bounds the clients a LeaderClient keeps: more than
// the voters of any quorum, so that only members replaced under new
// URLs cost a client's close.
const maxLeaderClients = 8

// NewLeaderClient dials the leader src knows of with cfg (the TLS,
// credentials and dial options of the store's client; its Endpoints are
// not used): cfg.Endpoints are replaced by the leader's client URLs.
// Until src knows of a leader the client is not used for writes. Close
// stops it.
func NewLeaderClient(cfg clientv3.Config, src LeaderSource) (*LeaderClient, error) {
	l := &LeaderClient{cfg: cfg, src: src, clients: map[string]*clientv3.Client{}, done: make(chan struct{})}
	var cli *clientv3.Client
	if urls := src.LeaderClientURLs(); len(urls) > 0 {
		var err error
		if cli, err = l.clientOf(urls, nil); err != nil {
			return nil, err
		}
	}
	l.cur.Store(newLeaderTerm(cli))
	l.wg.Go(l.run)
	return l, nil
}

// run follows the source's leader changes.
func (l *LeaderClient) run() {
	for moved := false; ; moved = true {
		// Subscribed before reading the leader: a change between the two
		// is not missed.
		changed := l.src.LeaderChanged()
		cur := l.cur.Load()
		cli := cur.cli
		if urls := l.src.LeaderClientURLs(); len(urls) > 0 {
			// clientv3.New only fails on a config that New already took.
			if c, err := l.clientOf(urls, cur.cli); err == nil {
				cli = c
			}
		}
		if moved || cli != cur.cli {
			// The new term's client is in place before the old term
			// ends: a write sent again goes to the new leader.
			l.cur.Store(newLeaderTerm(cli))
			cur.cancel(errQuorumLeaderMoved)
		}
		select {
		case <-changed:
		case <-l.done:
			return
		}
	}
}

// term returns the current leader's term (nil for a nil l).
func (l *LeaderClient) term() *leaderTerm {
	if l == nil {
		return nil
	}
	return l.cur.Load()
}

// clientOf returns the client of urls, dialling it if it is new. A
// client is lazy: it connects at its first request (ready wakes it), so
// dialling a leader that has just died blocks nothing. Past
// maxLeaderClients, the clients other than inUse are closed first.
func (l *LeaderClient) clientOf(urls []string, inUse *clientv3.Client) (*clientv3.Client, error) {
	key := strings.Join(urls, ",")
	if cli, ok := l.clients[key]; ok {
		return cli, nil
	}
	cfg := l.cfg
	cfg.Endpoints = slices.Clone(urls)
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client for the quorum leader %v: %w", urls, err)
	}
	if len(l.clients) >= maxLeaderClients {
		// A write in flight on a closed client fails as any write to an
		// unreachable member does, and is written again.
		for k, c := range l.clients {
			if c != inUse {
				_ = c.Close()
				delete(l.clients, k)
			}
		}
	}
	l.clients[key] = cli
	return cli, nil
}

// Endpoints returns the endpoints of the current leader's client, nil
// while there is none.
func (l *LeaderClient) Endpoints() []string {
	if cli := l.cur.Load().cli; cli != nil {
		return cli.Endpoints()
	}
	return nil
}

// ready returns the client while its endpoint is the leader's and its
// connection is up, nil otherwise (the caller writes through its other
// client). A connection gone idle is woken for the next write.
func (l *LeaderClient) ready() *clientv3.Client {
	return l.term().ready()
}

// ready is LeaderClient.ready for this term's client (nil for a nil t).
func (t *leaderTerm) ready() *clientv3.Client {
	if t == nil || t.cli == nil {
		return nil
	}
	conn := t.cli.ActiveConnection()
	switch conn.GetState() {
	case connectivity.Ready:
		return t.cli
	case connectivity.Idle:
		conn.Connect()
	}
	return nil
}

// Close stops following the leader and closes its clients.
func (l *LeaderClient) Close() error {
	close(l.done)
	l.wg.Wait()
	l.cur.Store(newLeaderTerm(nil))
	var errs []error
	for _, c := range l.clients {
		errs = append(errs, c.Close())
	}
	clear(l.clients)
	return errors.Join(errs...)
}

// unreachable is whether err says the member could not be reached or
// has no leader: the same request may go to another member. A
// compare-and-swap sent again after one that did commit unseen fails
// its compares (ErrConflict): the writer reads again, as after any lost
// compare.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if status.Code(err) == codes.Unavailable {
		return true
	}
	var ee rpctypes.EtcdError
	return errors.As(err, &ee) && ee.Code() == codes.Unavailable
}
