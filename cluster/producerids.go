package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Producer ID blocks (KIP-730): every broker of a cluster hands out
// idempotent producer IDs from blocks it takes from one cluster-wide
// counter, so no two brokers ever hand out the same ID. A per-broker
// counter would not do: a new leader would give a new producer an ID an
// old leader gave another, and the new producer's first batch, matching
// the replicated batches of the old one, would be taken for a retry and
// acknowledged without being appended.
const (
	// DefaultProducerIDBlockSize is how many IDs a broker takes at once
	// (Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
	DefaultProducerIDBlockSize = 1000
	// ProducerIDBlockTimeout bounds one allocation through
	// ProducerIDBlocks, retries included: well within a client's request
	// timeout (30 s), so InitProducerId answers rather than time out.
	ProducerIDBlockTimeout = 5 * time.Second
	// maxProducerIDAttempts bounds the compare-and-swap rounds of one
	// allocation (and so does its ctx). Each lost round is another
	// allocation's won one, so only a broker that loses this many in a
	// row gives up: brokers take a block once per 1000 new producers,
	// and even nine allocators in a loop on three members (the test)
	// stay well below it.
	maxProducerIDAttempts = 100
	// A lost round waits a random pause below producerIDRetryPause,
	// doubled every round up to maxProducerIDRetryPause, before the next,
	// so that brokers that collided spread out instead of colliding
	// again in step (full jitter exponential backoff).
	producerIDRetryPause    = time.Millisecond
	maxProducerIDRetryPause = 50 * time.Millisecond
)

// ErrProducerIDsExhausted is an allocation past the largest producer ID
// (math.MaxInt64).
var ErrProducerIDsExhausted = errors.New("cluster: producer ids exhausted")

// ProducerIDAllocator hands out cluster-wide blocks of producer IDs. The
// etcd store implements it; it is not part of Store because the
// controller and the replication code never use it.
type ProducerIDAllocator interface {
	// AllocateProducerIDBlock returns the next size IDs, first to last
	// inclusive. Blocks never overlap and each starts above every block
	// returned before it, whichever broker asked.
	AllocateProducerIDBlock(ctx context.Context, size int64) (first, last int64, err error)
}

var _ ProducerIDAllocator = (*EtcdStore)(nil)

// AllocateProducerIDBlock implements ProducerIDAllocator: a
// compare-and-swap that moves producer-ids' next ID past the block,
// retried (a bounded number of times) while other brokers move it first.
// The block is the caller's once the transaction commits, whether or not
// it hands out any of it: a broker that crashes or loses the reply only
// leaves a gap.
func (s *EtcdStore) AllocateProducerIDBlock(ctx context.Context, size int64) (first, last int64, err error) {
	if size < 1 {
		return 0, 0, fmt.Errorf("cluster: allocate a producer id block of %d ids: size must be positive", size)
	}
	key := s.prefix + keyProducerIDs
	for attempt := 1; ; attempt++ {
		// Read afresh every round: a value read before the pause would
		// be stale after it whenever another broker won meanwhile.
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return 0, 0, fmt.Errorf("cluster: allocate a producer id block: read %s: %w", keyProducerIDs, err)
		}
		next, cmp := int64(0), clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			if next, err = decodeProducerIDs(keyProducerIDs, resp.Kvs[0].Value); err != nil {
				return 0, 0, err
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		if next > math.MaxInt64-size {
			return 0, 0, fmt.Errorf("cluster: allocate %d producer ids from %d: %w", size, next, ErrProducerIDsExhausted)
		}
		tr, err := s.client.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, encodeProducerIDs(next+size))).Commit()
		if err != nil {
			return 0, 0, fmt.Errorf("cluster: allocate a producer id block: %w", err)
		}
		if tr.Succeeded {
			return next, next + size - 1, nil
		}
		if attempt == maxProducerIDAttempts {
			return 0, 0, fmt.Errorf("cluster: allocate a producer id block: lost %d compare-and-swaps in a row: %w", attempt, ErrConflict)
		}
		pause := time.Duration(rand.Int64N(int64(min(producerIDRetryPause<<min(attempt, 16), maxProducerIDRetryPause))))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("cluster: allocate a producer id block: %w", ctx.Err())
		}
	}
}

// ProducerIDBlocks returns a source of size-ID blocks for a log.Manager's
// Options.ProducerIDBlocks, each allocation bounded by
// ProducerIDBlockTimeout.
func (s *EtcdStore) ProducerIDBlocks(size int64) func() (first, last int64, err error) {
	return func() (int64, int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), ProducerIDBlockTimeout)
		defer cancel()
		return s.AllocateProducerIDBlock(ctx, size)
	}
}

// RaiseProducerIDs moves the cluster's producer ID counter up to next if
// it is below (a compare-and-swap, retried as allocations are), so that
// no block handed out from now on holds an ID below next; a counter
// already at or past next is left alone. A single broker's data dir
// that joins a cluster (server's migration) raises it past every
// producer ID the single broker handed out.
func (s *EtcdStore) RaiseProducerIDs(ctx context.Context, next int64) error {
	if next < 0 {
		return fmt.Errorf("cluster: raise the producer id counter to %d: negative", next)
	}
	key := s.prefix + keyProducerIDs
	for attempt := 1; ; attempt++ {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("cluster: raise the producer id counter: read %s: %w", keyProducerIDs, err)
		}
		cur, cmp := int64(0), clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			if cur, err = decodeProducerIDs(keyProducerIDs, resp.Kvs[0].Value); err != nil {
				return err
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		if cur >= next {
			return nil
		}
		tr, err := s.client.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, encodeProducerIDs(next))).Commit()
		if err != nil {
			return fmt.Errorf("cluster: raise the producer id counter to %d: %w", next, err)
		}
		if tr.Succeeded {
			return nil
		}
		if attempt == maxProducerIDAttempts {
			return fmt.Errorf("cluster: raise the producer id counter to %d: lost %d compare-and-swaps in a row: %w", next, attempt, ErrConflict)
		}
		pause := time.Duration(rand.Int64N(int64(min(producerIDRetryPause<<min(attempt, 16), maxProducerIDRetryPause))))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("cluster: raise the producer id counter: %w", ctx.Err())
		}
	}
}
