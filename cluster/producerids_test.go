package cluster

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/stallwatch"
)

type pidBlock struct{ first, last int64 }

func TestProducerIDBlocksFromConcurrentBrokersNeverOverlap(t *testing.T) {
	_, stores := quorumStores(t)
	// The allocations are bounded by their progress, not by a total:
	// every block costs about five compare-and-swap rounds among the nine
	// allocators (each round a linearizable read and a transaction
	// through the quorum, most of them lost to another allocator), and
	// under -race at a load average of 40-60 the 135 blocks of 15 per
	// allocator took 90-170 s while a block was still taken every second
	// or so; any fixed total fails for the machine's load.
	ctx, progressed := stallwatch.Context(t, 20*time.Second)
	const (
		perStore = 3 // allocators on each broker's store
		blocks   = 6 // blocks each allocator takes, one after another
	)
	var (
		mu   sync.Mutex
		all  []pidBlock
		errs []error
		wg   sync.WaitGroup
	)
	for i, s := range stores {
		for g := range perStore {
			wg.Go(func() {
				var mine []pidBlock
				for n := range blocks {
					size := int64(1 + (i*7+g*3+n)%10) // sizes 1-10, mixed
					first, last, err := s.AllocateProducerIDBlock(ctx, size)
					if err == nil && last-first+1 != size {
						err = errors.New("block [" + strconv.FormatInt(first, 10) + ", " + strconv.FormatInt(last, 10) + "] is not of size " + strconv.FormatInt(size, 10))
					}
					if err == nil && len(mine) > 0 && first <= mine[len(mine)-1].last {
						err = errors.New("a block starts at or below the allocator's previous block")
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					mine = append(mine, pidBlock{first, last})
					progressed()
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d allocations failed, first: %v (%v)", len(errs), errs[0], context.Cause(ctx))
	}
	if len(all) != len(stores)*perStore*blocks {
		t.Fatalf("%d blocks, want %d", len(all), len(stores)*perStore*blocks)
	}
	// Sorted, the blocks tile [0, end) exactly: no overlap and, as no
	// allocation failed after committing, no gap.
	slices.SortFunc(all, func(a, b pidBlock) int { return int(a.first - b.first) })
	next := int64(0)
	for _, b := range all {
		if b.first != next {
			t.Fatalf("block [%d, %d] follows IDs up to %d: overlap or gap", b.first, b.last, next-1)
		}
		next = b.last + 1
	}
}

func TestProducerIDBlocksGrowAcrossBrokersInRealTimeOrder(t *testing.T) {
	_, stores := quorumStores(t)
	ctx := ctxT(t)
	prev := int64(-1)
	for n := range 9 {
		// Each broker in turn: a block taken after another one returned
		// starts above it, whichever broker took either.
		s := stores[n%len(stores)]
		first, last, err := s.AllocateProducerIDBlock(ctx, DefaultProducerIDBlockSize)
		if err != nil {
			t.Fatal(err)
		}
		if first <= prev || last != first+DefaultProducerIDBlockSize-1 {
			t.Fatalf("allocation %d on broker %d: block [%d, %d] after a block ending at %d", n, n%len(stores), first, last, prev)
		}
		prev = last
	}
	// The source a log.Manager is given hands out the same blocks.
	first, last, err := stores[1].ProducerIDBlocks(10)()
	if err != nil || first != prev+1 || last != prev+10 {
		t.Fatalf("ProducerIDBlocks(10)() = [%d, %d], %v; want [%d, %d]", first, last, err, prev+1, prev+10)
	}
}

func TestProducerIDBlockRefusesBadSizesAndUnreadableCounters(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	key := s.prefix + keyProducerIDs
	tests := []struct {
		name    string
		stored  string // "" leaves the key absent
		size    int64
		wantErr error  // sentinel, if any
		wantMsg string // part of the message
	}{
		{name: "zero size", size: 0, wantMsg: "size must be positive"},
		{name: "negative size", size: -5, wantMsg: "size must be positive"},
		{name: "not JSON", stored: "garbage", size: 10, wantMsg: "producer-ids"},
		{name: "next missing", stored: `{"v":1}`, size: 10, wantMsg: "no next producer id"},
		{name: "next negative", stored: `{"v":1,"next":-3}`, size: 10, wantMsg: "negative next producer id"},
		{name: "newer format", stored: `{"v":99,"next":3}`, size: 10, wantMsg: "format version 99"},
		{name: "last id reached", stored: `{"v":1,"next":` + strconv.FormatInt(math.MaxInt64-5, 10) + `}`, size: 10, wantErr: ErrProducerIDsExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before int64
			if tc.stored != "" {
				r, err := s.client.Put(ctx, key, tc.stored)
				if err != nil {
					t.Fatal(err)
				}
				before = r.Header.Revision
			}
			first, last, err := s.AllocateProducerIDBlock(ctx, tc.size)
			if err == nil {
				t.Fatalf("allocated [%d, %d], want an error", first, last)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "cluster: ") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q, want a cluster error naming %q", err, tc.wantMsg)
			}
			if tc.stored != "" {
				// The counter is left as it was: nothing restarts at 0.
				r, err := s.client.Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != tc.stored || r.Kvs[0].ModRevision != before {
					t.Fatalf("counter changed to %v", r.Kvs)
				}
			}
		})
	}
	// An allocation on a good counter continues from it.
	if _, err := s.client.Put(ctx, key, `{"v":1,"next":4000}`); err != nil {
		t.Fatal(err)
	}
	if first, last, err := s.AllocateProducerIDBlock(ctx, 5); err != nil || first != 4000 || last != 4004 {
		t.Fatalf("after next=4000: [%d, %d], %v; want [4000, 4004]", first, last, err)
	}
}

// TestRaiseProducerIDsOnlyMovesTheCounterUp: raising the counter makes
// the next block start there, raising it to a lower value changes
// nothing, and blocks keep coming after it.
func TestRaiseProducerIDsOnlyMovesTheCounterUp(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), testTTL)
	ctx := ctxT(t)
	if err := s.RaiseProducerIDs(ctx, 5000); err != nil {
		t.Fatal(err)
	}
	first, last, err := s.AllocateProducerIDBlock(ctx, 10)
	if err != nil || first != 5000 || last != 5009 {
		t.Fatalf("block after raising to 5000: [%d, %d], %v", first, last, err)
	}
	if err := s.RaiseProducerIDs(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if first, _, err = s.AllocateProducerIDBlock(ctx, 10); err != nil || first != 5010 {
		t.Fatalf("block after raising to 100 (below the counter) starts at %d, %v; want 5010", first, err)
	}
	if err := s.RaiseProducerIDs(ctx, -1); err == nil {
		t.Error("raising to a negative id succeeded")
	}
}
