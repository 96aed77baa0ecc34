package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A group member is a child process (the harness's own program re-run with
// EnvConsumerBroker set; its main calls ConsumerMain), so that the harness
// can kill it with SIGKILL: it then never leaves the group and never
// commits what it processed last, as a crashed consumer. It writes one
// line to stdout per event, in the order they happened:
//
//	assign <p> [<p> ...]   partitions assigned (OnPartitionsAssigned)
//	revoke <p> [<p> ...]   partitions revoked, after their last commit
//	lost <p> [<p> ...]     partitions lost (session expired, broker restarted)
//	rec <p> <offset> <id>  a record processed; id is its value's ID (p<producer>#<seq>)
//	try <p> <next>         a commit of <next> for p is about to be sent
//	commit <p> <next>      ... the broker acknowledged it
//	reject <p> <next> <c>  ... the broker refused it with error code c
//	cfail <p> <next>       ... no answer: it may or may not have been applied
//
// It commits what it processed every CommitEvery (and before partitions are
// revoked), so that a kill leaves processed, uncommitted records behind: the
// ones the group must process again.

// commitTimeout bounds one commit of a consumer child.
const commitTimeout = 10 * time.Second

// Environment of a consumer child.
const (
	EnvConsumerBroker   = "TRIBUTARY_CHAOS_CONSUMER_BROKER" // set: this process is a consumer child
	EnvConsumerGroup    = "TRIBUTARY_CHAOS_CONSUMER_GROUP"
	EnvConsumerTopic    = "TRIBUTARY_CHAOS_CONSUMER_TOPIC"
	EnvConsumerClientID = "TRIBUTARY_CHAOS_CONSUMER_CLIENT_ID"
	EnvConsumerDeadline = "TRIBUTARY_CHAOS_CONSUMER_DEADLINE" // unix ms: the child exits by itself then
	EnvConsumerSession  = "TRIBUTARY_CHAOS_CONSUMER_SESSION"  // session timeout, a Go duration
	EnvConsumerCommit   = "TRIBUTARY_CHAOS_CONSUMER_COMMIT"   // commit interval, a Go duration
)

// IsConsumerChild reports whether this process was started as a consumer
// child; its main must then call ConsumerMain and exit with its result.
func IsConsumerChild() bool { return os.Getenv(EnvConsumerBroker) != "" }

// ConsumerMain is the whole life of a consumer child: it consumes until its
// stdin closes (then it commits, leaves the group and exits 0) or its
// deadline passes. It returns the exit code.
func ConsumerMain() int {
	c := &consumerChild{
		broker:   os.Getenv(EnvConsumerBroker),
		group:    os.Getenv(EnvConsumerGroup),
		topic:    os.Getenv(EnvConsumerTopic),
		clientID: os.Getenv(EnvConsumerClientID),
		out:      os.Stdout,
	}
	var err error
	if c.session, err = time.ParseDuration(os.Getenv(EnvConsumerSession)); err != nil {
		fmt.Fprintf(os.Stderr, "chaos consumer: %s: %v\n", EnvConsumerSession, err)
		return 2
	}
	if c.commitEvery, err = time.ParseDuration(os.Getenv(EnvConsumerCommit)); err != nil {
		fmt.Fprintf(os.Stderr, "chaos consumer: %s: %v\n", EnvConsumerCommit, err)
		return 2
	}
	ms, err := strconv.ParseInt(os.Getenv(EnvConsumerDeadline), 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos consumer: %s: %v\n", EnvConsumerDeadline, err)
		return 2
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMilli(ms))
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // EOF: the harness is done, or gone
		cancel()
	}()
	if err := c.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "chaos consumer %s: %v\n", c.clientID, err)
		return 1
	}
	return 0
}

type consumerChild struct {
	broker, group, topic, clientID string
	session, commitEvery           time.Duration

	outMu sync.Mutex // one line at a time
	out   io.Writer

	mu      sync.Mutex
	pending map[int32]kgo.EpochOffset // guarded by mu: processed, not committed
	cl      *kgo.Client
}

func (c *consumerChild) line(format string, args ...any) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprintf(c.out, format+"\n", args...)
}

func partitionList(ps []int32) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	return b.String()
}

// commit commits offs and reports each partition's outcome.
func (c *consumerChild) commit(ctx context.Context, offs map[int32]kgo.EpochOffset) {
	if len(offs) == 0 {
		return
	}
	for p, o := range offs {
		c.line("try %d %d", p, o.Offset)
	}
	c.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			answered := map[int32]bool{}
			if err == nil {
				for _, t := range resp.Topics {
					if t.Topic != c.topic {
						continue
					}
					for _, p := range t.Partitions {
						o, ok := offs[p.Partition]
						if !ok {
							continue
						}
						answered[p.Partition] = true
						if p.ErrorCode == 0 {
							c.line("commit %d %d", p.Partition, o.Offset)
						} else {
							c.line("reject %d %d %d", p.Partition, o.Offset, p.ErrorCode)
						}
					}
				}
			}
			for p, o := range offs {
				if !answered[p] {
					c.line("cfail %d %d", p, o.Offset)
				}
			}
		})
}

// take removes and returns the pending offsets of ps (all if ps is nil).
func (c *consumerChild) take(ps []int32) map[int32]kgo.EpochOffset {
	c.mu.Lock()
	defer c.mu.Unlock()
	offs := map[int32]kgo.EpochOffset{}
	if ps == nil {
		offs, c.pending = c.pending, map[int32]kgo.EpochOffset{}
		return offs
	}
	for _, p := range ps {
		if o, ok := c.pending[p]; ok {
			offs[p] = o
			delete(c.pending, p)
		}
	}
	return offs
}

func (c *consumerChild) run(ctx context.Context) error {
	c.pending = map[int32]kgo.EpochOffset{}
	var err error
	c.cl, err = kgo.NewClient(
		kgo.SeedBrokers(c.broker),
		kgo.ClientID(c.clientID),
		kgo.ConsumerGroup(c.group),
		kgo.ConsumeTopics(c.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(c.session),
		kgo.HeartbeatInterval(c.session/6),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.DialTimeout(time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(fastBackoff),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if ps := m[c.topic]; len(ps) > 0 {
				c.line("assign %s", partitionList(ps))
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			ps := m[c.topic]
			if len(ps) == 0 {
				return
			}
			c.commit(ctx, c.take(ps))
			c.line("revoke %s", partitionList(ps))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			ps := m[c.topic]
			if len(ps) == 0 {
				return
			}
			c.take(ps) // not ours to commit any more
			c.line("lost %s", partitionList(ps))
		}),
	)
	if err != nil {
		return err
	}
	defer c.cl.Close() // revokes (committing what is pending) and leaves the group

	lastCommit := time.Now()
	for ctx.Err() == nil {
		fs := c.cl.PollRecords(ctx, 500)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fmt.Fprintf(os.Stderr, "chaos consumer %s: fetch %s/%d: %v\n", c.clientID, t, p, err)
			}
		})
		offs := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			id := "?"
			if v, ok := ParseValue(r.Value); ok {
				id = v.String()
			}
			c.line("rec %d %d %s", r.Partition, r.Offset, id)
			offs[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		c.mu.Lock()
		for p, o := range offs {
			c.pending[p] = o
		}
		c.mu.Unlock()
		if time.Since(lastCommit) >= c.commitEvery {
			// Not ctx: a commit must not be cut short by the stop
			// that ends the loop.
			lastCommit = time.Now()
			cctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			c.commit(cctx, c.take(nil))
			cancel()
		}
		c.cl.AllowRebalance()
	}
	return nil
}
