package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/auth"
)

// TestClusterProducersKeepProducingThroughABrokerRestartSlowToJoin: a
// restarted broker listens (on its old address) for seconds before it
// has joined the cluster. A kgo producer that keeps producing through
// the restart, and a new one that knows only that broker and starts
// while it has not joined, fail no record: the broker never answers
// Metadata for an existing topic with UNKNOWN_TOPIC_OR_PARTITION, which
// kgo gives up on after UnknownTopicRetries.
func TestClusterProducersKeepProducingThroughABrokerRestartSlowToJoin(t *testing.T) {
	tc := startTestCluster(t)
	ctx := testContext(t)
	const topic = "through-restart"
	if _, err := kadm.NewClient(mustClient(t, tc.node(1).addr)).CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Quick metadata refreshes and retries, so that the producers ask
	// the restarting broker often while it has not joined.
	fast := []kgo.Opt{kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.DefaultProduceTopic(topic)}
	seeds := []string{tc.node(1).addr, tc.node(2).addr, tc.node(3).addr}
	p := mustClient(t, seeds[0], append(fast, kgo.SeedBrokers(seeds...))...)

	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 20000; i++ { // bounded: every 5 ms for at most 100 s
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			sent.Add(1)
			p.Produce(ctx, &kgo.Record{Value: []byte("r")}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			})
		}
	})

	n2 := tc.node(2)
	n2.listener = &Listener{Name: DefaultListenerName, Protocol: auth.Plaintext, Addr: n2.addr}
	n2.stop(false)
	n2.joinDelay = 3 * time.Second
	fresh := make(chan error, 1)
	n2.joinStarted = func(addr string) {
		go func() {
			cl, err := kgo.NewClient(append(fast, kgo.SeedBrokers(addr))...)
			if err != nil {
				fresh <- err
				return
			}
			defer cl.Close()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			fresh <- cl.ProduceSync(pctx, &kgo.Record{Value: []byte("fresh")}).FirstErr()
		}()
	}
	if err := tc.start(n2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-fresh:
		if err != nil {
			t.Errorf("a producer seeded at the broker that had not joined: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the fresh producer never finished")
	}
	time.Sleep(2 * time.Second) // the long-running producer goes on against the rejoined broker
	close(stop)
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 {
		err, _ := firstErr.Load().(error)
		t.Fatalf("%d of %d records failed through the restart; first: %v (unknown topic: %v)", failed.Load(), sent.Load(), err, errors.Is(err, kerr.UnknownTopicOrPartition))
	}
	t.Logf("%d records produced through the restart", sent.Load())
}
