package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// LeaderClient is an etcd client whose one endpoint is the raft
// leader's, moved on every change of leader. The etcd client spreads
// requests over every member it is given, and a write sent to a follower
// costs the follower's gRPC, its forward to the leader and the leader's
// own work: during a failover's storm of controller transactions etcd's
// CPU is the bottleneck (EtcdStoreConfig.Leader).
type LeaderClient struct {
	cli *clientv3.Client
	src LeaderSource
	// pinned is whether cli's endpoint is the leader's (false while the
	// source knows of none, or before it first did); written by run.
	pinned atomic.Bool
	// current is cli's endpoint list; owned by run.
	current []string
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewLeaderClient dials the leader src knows of with cfg (the TLS,
// credentials and dial options of the store's client); cfg.Endpoints
// are dialled instead while src knows of no leader, and the client is
// not used for writes until it does. Close stops it.
func NewLeaderClient(cfg clientv3.Config, src LeaderSource) (*LeaderClient, error) {
	urls := src.LeaderClientURLs()
	if len(urls) > 0 {
		cfg.Endpoints = urls
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client for the quorum leader %v: %w", cfg.Endpoints, err)
	}
	l := &LeaderClient{cli: cli, src: src, current: slices.Clone(cfg.Endpoints), done: make(chan struct{})}
	l.pinned.Store(len(urls) > 0)
	l.wg.Go(l.run)
	return l, nil
}

// run follows the source's leader changes.
func (l *LeaderClient) run() {
	for {
		// Subscribed before reading the leader: a change between the two
		// is not missed.
		changed := l.src.LeaderChanged()
		if urls := l.src.LeaderClientURLs(); len(urls) > 0 {
			if !slices.Equal(urls, l.current) {
				l.cli.SetEndpoints(urls...)
				l.current = urls
			}
			l.pinned.Store(true)
		}
		select {
		case <-changed:
		case <-l.done:
			return
		}
	}
}

// Endpoints returns the endpoints the client dials now.
func (l *LeaderClient) Endpoints() []string { return l.cli.Endpoints() }

// ready returns the client while its endpoint is the leader's and its
// connection is up, nil otherwise (the caller writes through its other
// client). A connection gone idle is woken for the next write.
func (l *LeaderClient) ready() *clientv3.Client {
	if l == nil || !l.pinned.Load() {
		return nil
	}
	conn := l.cli.ActiveConnection()
	switch conn.GetState() {
	case connectivity.Ready:
		return l.cli
	case connectivity.Idle:
		conn.Connect()
	}
	return nil
}

// Close stops following the leader and closes the client.
func (l *LeaderClient) Close() error {
	close(l.done)
	l.wg.Wait()
	return l.cli.Close()
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
