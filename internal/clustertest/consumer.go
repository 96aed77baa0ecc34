package clustertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Consumer defaults.
const (
	// DefaultCommitEvery is how often a group consumer commits what it
	// polled.
	DefaultCommitEvery = 500 * time.Millisecond
	// pollWait bounds one poll, so that a consumer notices Stop.
	pollWait = 250 * time.Millisecond
	// commitTimeout bounds one commit.
	commitTimeout = 5 * time.Second
)

// ConsumerConfig is one consumer.
type ConsumerConfig struct {
	// ID names the consumer in the history; unique among consumers.
	ID    int
	Seeds []string
	Topic string
	// Group, when set, makes the consumer a member of that group: it
	// starts each partition at the group's committed offset (the log
	// start without one) and commits what it polled every CommitEvery
	// and when a partition is revoked. Without a group it reads every
	// one of Partitions from offset 0.
	Group       string
	Partitions  int32
	CommitEvery time.Duration
	// Duration stops the consumer after this long; it must be positive:
	// a consumer always stops by itself.
	Duration time.Duration
	// Count stops the consumer once it polled this many records, repeats
	// included (0: no bound but Duration).
	Count int64
	// Opts are extra client options, applied last.
	Opts []kgo.Opt
}

// Consumer polls a topic and records every assignment, poll and commit
// in a History. It runs in its own goroutine from StartConsumer until its
// Duration passes, Stop is called or its context ends.
type Consumer struct {
	cfg  ConsumerConfig
	h    *History
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}

	stopOnce  sync.Once
	polled    atomic.Int64
	fetchErrs atomic.Int64

	mu   sync.Mutex
	next map[int32]int64 // guarded by mu: the offset after the last polled, by partition
}

// StartConsumer starts a consumer that records into h.
func StartConsumer(ctx context.Context, cfg ConsumerConfig, h *History) (*Consumer, error) {
	switch {
	case cfg.Duration <= 0:
		return nil, errors.New("clustertest: a consumer needs a positive Duration")
	case cfg.Topic == "" || len(cfg.Seeds) == 0:
		return nil, fmt.Errorf("clustertest: consumer %d needs seeds and a topic", cfg.ID)
	case cfg.Group == "" && cfg.Partitions < 1:
		return nil, fmt.Errorf("clustertest: direct consumer %d needs partitions", cfg.ID)
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = DefaultCommitEvery
	}
	c := &Consumer{cfg: cfg, h: h, stop: make(chan struct{}), done: make(chan struct{}), next: map[int32]int64{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Seeds...),
		kgo.ClientID("clustertest-consumer-" + strconv.Itoa(cfg.ID)),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.DialTimeout(time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(FastBackoff),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if cfg.Group != "" {
		opts = append(opts,
			kgo.ConsumerGroup(cfg.Group),
			kgo.ConsumeTopics(cfg.Topic),
			kgo.DisableAutoCommit(),
			// Assignment callbacks run only between polls, so the
			// history's assign and revoke events bracket the polls of
			// an assignment exactly.
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				for _, p := range m[cfg.Topic] {
					c.h.Add(Event{Kind: EvAssign, Client: cfg.ID, TP: TopicPartition{cfg.Topic, p}, Offset: -1})
				}
			}),
			kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
				c.commit(ctx, cl, m[cfg.Topic])
				c.revoked(m[cfg.Topic])
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				c.revoked(m[cfg.Topic])
			}),
		)
	} else {
		parts := map[int32]kgo.Offset{}
		for p := range cfg.Partitions {
			parts[p] = kgo.NewOffset().At(0)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: parts}))
	}
	cl, err := kgo.NewClient(append(opts, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("clustertest: consumer %d: %w", cfg.ID, err)
	}
	c.cl = cl
	if cfg.Group == "" {
		for p := range cfg.Partitions {
			h.Add(Event{Kind: EvAssign, Client: cfg.ID, TP: TopicPartition{cfg.Topic, p}, Offset: 0})
		}
	}
	go c.run(ctx)
	return c, nil
}

func (c *Consumer) revoked(parts []int32) {
	for _, p := range parts {
		c.h.Add(Event{Kind: EvRevoke, Client: c.cfg.ID, TP: TopicPartition{c.cfg.Topic, p}, Offset: -1})
	}
}

func (c *Consumer) run(ctx context.Context) {
	defer close(c.done)
	deadline := time.Now().Add(c.cfg.Duration)
	lastCommit := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil && (c.cfg.Count <= 0 || c.polled.Load() < c.cfg.Count) {
		select {
		case <-c.stop:
			deadline = time.Time{}
			continue
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		fs := c.cl.PollFetches(pctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				c.fetchErrs.Add(1)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			id, ok := ParseValue(r.Value)
			c.h.Add(Event{Kind: EvPoll, Client: c.cfg.ID, TP: TopicPartition{r.Topic, r.Partition}, Offset: r.Offset, ID: id, OK: ok})
			c.polled.Add(1)
			c.mu.Lock()
			c.next[r.Partition] = max(c.next[r.Partition], r.Offset+1)
			c.mu.Unlock()
		})
		if c.cfg.Group != "" {
			if time.Since(lastCommit) >= c.cfg.CommitEvery {
				c.commit(ctx, c.cl, nil)
				lastCommit = time.Now()
			}
			c.cl.AllowRebalance()
		}
	}
	if c.cfg.Group != "" {
		c.commit(context.Background(), c.cl, nil)
	}
	c.cl.Close()
}

// commit commits the offsets polled and not yet committed, of parts only
// if parts is not nil, recording the try and its outcome per partition.
func (c *Consumer) commit(ctx context.Context, cl *kgo.Client, parts []int32) {
	offs := cl.UncommittedOffsets()[c.cfg.Topic]
	if parts != nil {
		keep := map[int32]kgo.EpochOffset{}
		for _, p := range parts {
			if eo, ok := offs[p]; ok {
				keep[p] = eo
			}
		}
		offs = keep
	}
	if len(offs) == 0 {
		return
	}
	for p, eo := range offs {
		c.h.Add(Event{Kind: EvCommitTry, Client: c.cfg.ID, TP: TopicPartition{c.cfg.Topic, p}, Offset: eo.Offset})
	}
	cctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	answered := map[int32]bool{}
	cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{c.cfg.Topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil || resp == nil {
				return
			}
			for _, t := range resp.Topics {
				if t.Topic != c.cfg.Topic {
					continue
				}
				for _, rp := range t.Partitions {
					eo, ok := offs[rp.Partition]
					if !ok || answered[rp.Partition] {
						continue
					}
					answered[rp.Partition] = true
					tp := TopicPartition{c.cfg.Topic, rp.Partition}
					if rp.ErrorCode == 0 {
						c.h.Add(Event{Kind: EvCommitAck, Client: c.cfg.ID, TP: tp, Offset: eo.Offset})
					} else {
						c.h.Add(Event{Kind: EvCommitRefused, Client: c.cfg.ID, TP: tp, Offset: eo.Offset, Err: kerr.ErrorForCode(rp.ErrorCode).Error()})
					}
				}
			}
		})
	for p, eo := range offs {
		if !answered[p] {
			c.h.Add(Event{Kind: EvCommitUnknown, Client: c.cfg.ID, TP: TopicPartition{c.cfg.Topic, p}, Offset: eo.Offset, Err: "no answer"})
		}
	}
}

// Stop ends the consumer early and waits for it (a group member commits
// and leaves).
func (c *Consumer) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}

// Done is closed once the consumer has stopped and closed its client.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Polled is how many records the consumer polled so far, repeats included.
func (c *Consumer) Polled() int64 { return c.polled.Load() }

// FetchErrors is how many fetch errors the client reported (it retries
// them).
func (c *Consumer) FetchErrors() int64 { return c.fetchErrs.Load() }

// WaitCaughtUp waits until the consumer has polled up to ends[p] (a log
// end offset: the last record is at ends[p]-1) in every partition p, or
// ctx ends, or the consumer stops.
func (c *Consumer) WaitCaughtUp(ctx context.Context, ends map[int32]int64) error {
	for {
		behind := ""
		c.mu.Lock()
		for p, e := range ends {
			if c.next[p] < e {
				behind += fmt.Sprintf(" p%d at %d of %d", p, c.next[p], e)
			}
		}
		c.mu.Unlock()
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: consumer %d behind:%s: %w", c.cfg.ID, behind, ctx.Err())
		case <-c.done:
			return fmt.Errorf("clustertest: consumer %d stopped behind:%s", c.cfg.ID, behind)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
