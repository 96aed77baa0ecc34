package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	tlog "github.com/tributary-io/tributary/log"
)

// sharedBlocks is a cluster's producer ID counter as its brokers' Managers
// see it (cluster.EtcdStore.ProducerIDBlocks in a real cluster), with a
// switch that makes it unreachable.
type sharedBlocks struct {
	mu   sync.Mutex
	next int64
	down bool
}

func (s *sharedBlocks) take() (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, 0, errors.New("metadata quorum unreachable")
	}
	first := s.next
	s.next += 10
	return first, first + 9, nil
}

func (s *sharedBlocks) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// startBlocksBroker starts a broker whose producer IDs come from src.
func startBlocksBroker(t *testing.T, src func() (int64, int64, error)) *testBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger, ProducerIDBlocks: src})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(mgr, DefaultConfig(), logger)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	b := &testBroker{t: t, dir: dir, addr: addr.String(), mgr: mgr, srv: srv}
	t.Cleanup(b.stop)
	return b
}

// TestInitProducerIDFromClusterBlocks: brokers that share a cluster's
// producer ID blocks never give two producers one ID; while the blocks
// are out of reach InitProducerId is answered COORDINATOR_LOAD_IN_PROGRESS,
// and an idempotent producer rides it out and gets its record in.
func TestInitProducerIDFromClusterBlocks(t *testing.T) {
	src := &sharedBlocks{}
	brokers := []*testBroker{startBlocksBroker(t, src.take), startBlocksBroker(t, src.take)}

	seen := map[int64]int{}
	for round := range 15 {
		for i, b := range brokers {
			resp := initProducerID(t, b.client())
			if resp.ErrorCode != 0 {
				t.Fatalf("broker %d: %v", i, kerr.ErrorForCode(resp.ErrorCode))
			}
			if prev, dup := seen[resp.ProducerID]; dup {
				t.Fatalf("round %d: producer id %d given by broker %d and broker %d", round, resp.ProducerID, prev, i)
			}
			seen[resp.ProducerID] = i
		}
	}

	// Use up what broker 0 holds (a block and its prefetched spare at
	// most), then cut the blocks off.
	// (A raw connection: franz-go would retry the error for us.)
	src.setDown(true)
	raw := brokers[0].raw()
	var resp *kmsg.InitProducerIDResponse
	for range 25 {
		resp = raw.do(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 {
			break
		}
	}
	if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("InitProducerId with the blocks out of reach: %v, want COORDINATOR_LOAD_IN_PROGRESS", kerr.ErrorForCode(resp.ErrorCode))
	}

	// A new idempotent producer (franz-go's default) retries until the
	// blocks are back.
	if _, err := brokers[0].admin().CreateTopic(testContext(t), 1, 1, nil, "pids"); err != nil {
		t.Fatal(err)
	}
	prod := brokers[0].client(kgo.DefaultProduceTopic("pids"))
	done := make(chan error, 1)
	go func() {
		done <- prod.ProduceSync(testContext(t), kgo.StringRecord("kept")).FirstErr()
	}()
	select {
	case err := <-done:
		t.Fatalf("produced (%v) with no producer id to be had", err)
	case <-time.After(300 * time.Millisecond):
	}
	src.setDown(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("produce once the blocks are back: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("producer still waiting 20 s after the blocks came back")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fetched := brokers[0].client(kgo.ConsumeTopics("pids"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())).PollFetches(ctx)
	if recs := fetched.Records(); len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("read back %d records (%v), want the one produced", len(recs), fetched.Errors())
	}
}
