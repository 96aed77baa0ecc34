package server

// TestHelperGroupConsumer is not a test: it is the consumer process that
// the crash tests (group_crash_test.go) start, and kill, as children. It
// consumes the group's topic with the client named by its environment
// and writes to stdout one line per processed record and one per
// acknowledged commit:
//
//	rec <partition> <offset> <key>
//	commit <partition> <next offset>
//
// It commits after processing, so a crash loses at most the work since
// its last commit. It leaves the group and exits when its stdin closes
// (the parent is done, or died) or at its deadline.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestHelperGroupConsumer(t *testing.T) {
	client := os.Getenv(helperEnvClient)
	if client == "" {
		t.Skip("helper process of the group crash tests; runs only as their child")
	}
	h := &groupHelper{
		broker:   os.Getenv(helperEnvBroker),
		group:    os.Getenv(helperEnvGroup),
		topic:    os.Getenv(helperEnvTopic),
		clientID: os.Getenv(helperEnvClientID),
	}
	if d := os.Getenv(helperEnvCommitEvery); d != "" {
		every, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("bad %s: %v", helperEnvCommitEvery, err)
		}
		h.commitEvery = every
	}
	ms, err := strconv.ParseInt(os.Getenv(helperEnvDeadline), 10, 64)
	if err != nil {
		t.Fatalf("bad %s: %v", helperEnvDeadline, err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMilli(ms))
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // EOF: the parent is done or gone
		cancel()
	}()
	switch client {
	case "franzgo":
		err = h.franzgo(ctx)
	case "sarama":
		err = h.sarama(ctx)
	case "kafkago":
		err = h.kafkago(ctx)
	default:
		err = fmt.Errorf("unknown client %q", client)
	}
	if err != nil && ctx.Err() == nil {
		t.Fatalf("%s consumer: %v", client, err)
	}
}

type groupHelper struct {
	broker, group, topic, clientID string
	// commitEvery: commit processed records at most this often (0: after
	// every batch), so that a crash leaves processed, uncommitted work.
	commitEvery time.Duration
	mu          sync.Mutex // one line at a time on stdout
}

// commitDue reports whether a commit is due since last, and if so resets it.
func (h *groupHelper) commitDue(last *time.Time) bool {
	if time.Since(*last) < h.commitEvery {
		return false
	}
	*last = time.Now()
	return true
}

func (h *groupHelper) rec(p int32, o int64, key []byte) {
	h.mu.Lock()
	fmt.Fprintf(os.Stdout, "rec %d %d %s\n", p, o, key)
	h.mu.Unlock()
}

func (h *groupHelper) commit(p int32, next int64) {
	h.mu.Lock()
	fmt.Fprintf(os.Stdout, "commit %d %d\n", p, next)
	h.mu.Unlock()
}

// franzgo consumes with rebalances blocked while a polled batch is
// processed and committed; partitions revoked by a rebalance have their
// last processed offsets committed before they go.
func (h *groupHelper) franzgo(ctx context.Context) error {
	var mu sync.Mutex
	pending := map[int32]kgo.EpochOffset{} // processed, not yet committed
	var cl *kgo.Client
	commit := func(ctx context.Context, offs map[int32]kgo.EpochOffset) {
		if len(offs) == 0 {
			return
		}
		cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{h.topic: offs},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					return
				}
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if p.ErrorCode == 0 {
							h.commit(p.Partition, offs[p.Partition].Offset)
						}
					}
				}
			})
	}
	var err error
	cl, err = kgo.NewClient(
		kgo.SeedBrokers(h.broker),
		kgo.ClientID(h.clientID),
		kgo.ConsumerGroup(h.group),
		kgo.ConsumeTopics(h.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(groupSessionTimeout),
		kgo.HeartbeatInterval(groupHeartbeat),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
			mu.Lock()
			offs := map[int32]kgo.EpochOffset{}
			for _, p := range revoked[h.topic] {
				if o, ok := pending[p]; ok {
					offs[p] = o
					delete(pending, p)
				}
			}
			mu.Unlock()
			commit(ctx, offs)
		}),
	)
	if err != nil {
		return err
	}
	defer cl.Close() // leaves the group
	var lastCommit time.Time
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 200)
		if err := fs.Err0(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(os.Stderr, "poll: %v\n", err)
		}
		offs := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			h.rec(r.Partition, r.Offset, r.Key)
			offs[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		mu.Lock()
		for p, o := range offs {
			pending[p] = o
		}
		if !h.commitDue(&lastCommit) {
			mu.Unlock()
			cl.AllowRebalance()
			continue
		}
		offs = pending
		pending = map[int32]kgo.EpochOffset{}
		mu.Unlock()
		commit(ctx, offs)
		cl.AllowRebalance()
	}
	return nil
}

// sarama consumes with its ConsumerGroup: each claim marks and commits
// what it processed (auto-commit off). Commits are confirmed with an
// OffsetFetch, since sarama reports commit errors only asynchronously.
func (h *groupHelper) sarama(ctx context.Context) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.ClientID = h.clientID
	cfg.Consumer.Group.Session.Timeout = groupSessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = groupHeartbeat
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup([]string{h.broker}, h.group, cfg)
	if err != nil {
		return err
	}
	defer cg.Close() // leaves the group
	go func() {
		for err := range cg.Errors() {
			fmt.Fprintf(os.Stderr, "sarama: %v\n", err)
		}
	}()
	check, err := kgo.NewClient(kgo.SeedBrokers(h.broker))
	if err != nil {
		return err
	}
	defer check.Close()
	handler := &saramaHandler{h: h, adm: kadm.NewClient(check)}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{h.topic}, handler); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "consume: %v\n", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

type saramaHandler struct {
	h   *groupHelper
	adm *kadm.Client
}

func (*saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (s *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	var lastCommit time.Time
	next := int64(-1) // processed, not committed
	for {
		var batch []*sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				s.commit(sess, claim.Partition(), next)
				return nil
			}
			batch = append(batch, m)
		case <-sess.Context().Done():
			s.commit(sess, claim.Partition(), next)
			return nil
		}
	more:
		for len(batch) < 200 {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		for _, m := range batch {
			s.h.rec(m.Partition, m.Offset, m.Key)
		}
		last := batch[len(batch)-1]
		sess.MarkMessage(last, "")
		next = last.Offset + 1
		if s.h.commitDue(&lastCommit) {
			s.commit(sess, claim.Partition(), next)
			next = -1
		}
	}
}

// commit commits what the session marked and reports partition p's
// commit of next once an OffsetFetch shows it stored.
func (s *saramaHandler) commit(sess sarama.ConsumerGroupSession, p int32, next int64) {
	if next < 0 {
		return
	}
	sess.Commit()
	got, err := s.adm.FetchOffsets(context.Background(), s.h.group)
	if err != nil {
		return
	}
	if o, ok := got.Lookup(s.h.topic, p); ok && o.Err == nil && o.At == next {
		s.h.commit(p, next)
	}
}

// kafkago consumes with a kafka-go Reader in the group, committing each
// message synchronously after processing it.
func (h *groupHelper) kafkago(ctx context.Context) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{h.broker},
		GroupID:           h.group,
		Topic:             h.topic,
		Dialer:            &kafka.Dialer{ClientID: h.clientID, Timeout: 10 * time.Second},
		SessionTimeout:    groupSessionTimeout,
		HeartbeatInterval: groupHeartbeat,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // CommitMessages is synchronous
		MaxWait:           100 * time.Millisecond,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    100 * time.Millisecond,
	})
	defer r.Close() // leaves the group
	var lastCommit time.Time
	pending := map[int]kafka.Message{} // processed, not committed, by partition
	for ctx.Err() == nil {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "fetch: %v\n", err)
			}
			continue
		}
		h.rec(int32(m.Partition), m.Offset, m.Key)
		pending[m.Partition] = m
		if !h.commitDue(&lastCommit) {
			continue
		}
		msgs := make([]kafka.Message, 0, len(pending))
		for _, m := range pending {
			msgs = append(msgs, m)
		}
		clear(pending)
		if err := r.CommitMessages(ctx, msgs...); err != nil {
			fmt.Fprintf(os.Stderr, "commit %v: %v\n", msgs, err)
			continue
		}
		for _, m := range msgs {
			h.commit(int32(m.Partition), m.Offset+1)
		}
	}
	return nil
}
