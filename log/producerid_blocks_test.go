package log_test

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
)

// blockSource is a cluster's producer ID counter as the Managers of its
// brokers see it: each call takes the next size IDs.
type blockSource struct {
	mu   sync.Mutex
	next int64
	size int64
}

func (s *blockSource) take() (first, last int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first = s.next
	s.next += s.size
	return first, s.next - 1, nil
}

func blockOptions(src func() (int64, int64, error)) log.Options {
	o := quietOptions()
	o.ProducerIDBlocks = src
	return o
}

func TestProducerIDBlocksSharedByTwoManagersNeverRepeatAnID(t *testing.T) {
	// Small blocks: many fetches, prefetches and waits for one, raced
	// for by 8 goroutines on each broker.
	src := &blockSource{size: 7}
	dirs := []string{t.TempDir(), t.TempDir()}
	var managers []*log.Manager
	for _, dir := range dirs {
		managers = append(managers, openManager(t, dir, blockOptions(src.take)))
	}
	var (
		wg  sync.WaitGroup
		ids [2][]int64
	)
	for i, m := range managers {
		wg.Go(func() { ids[i] = allocateConcurrently(t, m, 8, 200) })
	}
	wg.Wait()
	src.mu.Lock()
	end := src.next
	src.mu.Unlock()
	seen := map[int64]int{}
	for i := range ids {
		if len(ids[i]) != 8*200 {
			t.Fatalf("broker %d: %d ids, want %d", i, len(ids[i]), 8*200)
		}
		for _, id := range ids[i] {
			if prev, dup := seen[id]; dup {
				t.Fatalf("producer id %d handed out by broker %d and by broker %d", id, prev, i)
			}
			if id < 0 || id >= end {
				t.Fatalf("producer id %d outside every block the source gave (below %d)", id, end)
			}
			seen[id] = i
		}
	}
	// The data dirs keep no producer ID state of their own.
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "meta", "producer-ids")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: meta/producer-ids written with a block source (stat: %v)", dir, err)
		}
	}
}

func TestProducerIDBlockPrefetchedBeforeTheBlockRunsOut(t *testing.T) {
	release, prefetching := make(chan struct{}), make(chan struct{})
	n := 0
	var mu sync.Mutex
	src := func() (int64, int64, error) {
		mu.Lock()
		n++
		call := n
		mu.Unlock()
		if call == 2 {
			close(prefetching)
			<-release // the prefetch is slow
		}
		return int64(call-1) * 10, int64(call-1)*10 + 9, nil
	}
	m := openManager(t, t.TempDir(), blockOptions(src))
	for want := range int64(9) {
		if id, err := m.AllocateProducerID(); err != nil || id != want {
			t.Fatalf("AllocateProducerID = %d, %v; want %d", id, err, want)
		}
	}
	// 9 of 10 handed out: the next block is on its way, and the last ID
	// of this one does not wait for it.
	select {
	case <-prefetching:
	case <-time.After(10 * time.Second):
		t.Fatal("no fetch of the next block with 9 of 10 ids handed out")
	}
	if id, err := m.AllocateProducerID(); err != nil || id != 9 {
		t.Fatalf("last id of the block: %d, %v; want 9", id, err)
	}
	got := make(chan int64, 1)
	go func() {
		id, err := m.AllocateProducerID()
		if err != nil {
			t.Error(err)
		}
		got <- id
	}()
	select {
	case id := <-got:
		t.Fatalf("id %d handed out from a block not yet fetched", id)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if id := <-got; id != 10 {
		t.Fatalf("first id once the prefetched block arrived: %d, want 10", id)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 {
		t.Fatalf("%d fetches for 11 ids in blocks of 10, want 2", n)
	}
}

func TestProducerIDBlockUnavailableIsARetriableError(t *testing.T) {
	down := errors.New("metadata quorum unreachable")
	tests := []struct {
		name    string
		block   [2]int64 // what the source answers after a first block [100, 101]
		err     error
		wantMsg string
	}{
		{name: "source fails", err: down, wantMsg: down.Error()},
		{name: "overlaps the block before", block: [2]int64{101, 110}, wantMsg: "starts below 102"},
		{name: "repeats the block before", block: [2]int64{100, 101}, wantMsg: "starts below 102"},
		{name: "empty", block: [2]int64{200, 199}, wantMsg: "not a valid range"},
		{name: "negative", block: [2]int64{-10, 5}, wantMsg: "not a valid range"},
		{name: "ends at the largest id", block: [2]int64{200, math.MaxInt64}, wantMsg: "not a valid range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				calls  int
				healed bool
			)
			src := func() (int64, int64, error) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				switch {
				case calls == 1:
					return 100, 101, nil
				case !healed:
					return tc.block[0], tc.block[1], tc.err
				}
				return 500, 599, nil
			}
			m := openManager(t, t.TempDir(), blockOptions(src))
			for want := range int64(2) {
				if id, err := m.AllocateProducerID(); err != nil || id != 100+want {
					t.Fatalf("AllocateProducerID = %d, %v; want %d", id, err, 100+want)
				}
			}
			// The prefetch started by the last ID failed or was refused,
			// and so is the fetch this allocation waits for.
			id, err := m.AllocateProducerID()
			if !errors.Is(err, log.ErrProducerIDBlockUnavailable) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("AllocateProducerID = %d, %v; want ErrProducerIDBlockUnavailable naming %q", id, err, tc.wantMsg)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("error %v does not wrap the source's %v", err, tc.err)
			}
			// The client retries; the source answers again.
			mu.Lock()
			healed = true
			mu.Unlock()
			if id, err := m.AllocateProducerID(); err != nil || id != 500 {
				t.Fatalf("retry: %d, %v; want 500", id, err)
			}
		})
	}
}

func TestProducerIDBlockCloseWaitsForAFetchAndFailsItsWaiters(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	returned := make(chan struct{})
	src := func() (int64, int64, error) {
		close(entered)
		<-release
		defer close(returned)
		return 0, 999, nil
	}
	m, err := log.OpenManager(t.TempDir(), blockOptions(src))
	if err != nil {
		t.Fatal(err)
	}
	waiter := make(chan error, 1)
	go func() {
		_, err := m.AllocateProducerID()
		waiter <- err
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	if err := <-waiter; !errors.Is(err, log.ErrClosed) {
		t.Fatalf("allocation waiting for a block when the Manager closed: %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a block fetch was under way", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-returned:
	default:
		t.Fatal("Close returned before the fetch did")
	}
	if _, err := m.AllocateProducerID(); !errors.Is(err, log.ErrClosed) {
		t.Fatalf("AllocateProducerID after Close: %v, want ErrClosed", err)
	}
}
