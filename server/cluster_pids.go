package server

// Producer IDs in a cluster are unique across brokers: each broker takes
// blocks of producerIDBlockSize IDs from one counter in the metadata store
// (Kafka's KIP-730 blocks, from etcd instead of the controller), claimed by
// a compare-and-swap, and hands them out from memory. A block a broker
// took and did not finish (it restarted) is never handed out again. A
// single broker keeps its local allocator (log.Manager.AllocateProducerID).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// producerIDBlockSize is how many producer IDs one claim takes.
const producerIDBlockSize = 1000

// errProducerIDsExhausted is the counter at the end of int64.
var errProducerIDsExhausted = errors.New("server: producer ids exhausted")

// allocateProducerID returns a producer ID no broker of the cluster has
// handed out, or of this broker when it is single.
func (s *Server) allocateProducerID() (int64, error) {
	if s.node != nil {
		return s.node.allocateProducerID()
	}
	return s.mgr.AllocateProducerID()
}

func (n *brokerNode) allocateProducerID() (int64, error) {
	if !n.started.Load() {
		return 0, errClusterNotReady
	}
	n.pidMu.Lock()
	defer n.pidMu.Unlock()
	if n.pidNext >= n.pidLimit {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		defer cancel()
		first, err := n.claimProducerIDs(ctx)
		if err != nil {
			return 0, err
		}
		n.pidNext, n.pidLimit = first, first+producerIDBlockSize
	}
	id := n.pidNext
	n.pidNext++
	return id, nil
}

// claimProducerIDs takes the next block from the store's counter.
func (n *brokerNode) claimProducerIDs(ctx context.Context) (int64, error) {
	key := strings.TrimSuffix(n.root, "/") + "/" + n.clusterID + "/producer-ids"
	for {
		resp, err := n.client.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("server: claim producer ids: %w", err)
		}
		var next, rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if next, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err != nil || next < 0 {
				return 0, fmt.Errorf("server: claim producer ids: bad counter %q", resp.Kvs[0].Value)
			}
		}
		if next > math.MaxInt64-producerIDBlockSize {
			return 0, errProducerIDsExhausted
		}
		cmp := clientv3.Compare(clientv3.ModRevision(key), "=", rev)
		tr, err := n.client.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, strconv.FormatInt(next+producerIDBlockSize, 10))).Commit()
		if err != nil {
			return 0, fmt.Errorf("server: claim producer ids: %w", err)
		}
		if tr.Succeeded {
			n.log.Info("server: claimed producer ids", "first", next, "count", producerIDBlockSize)
			return next, nil
		}
	}
}
