package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pollWait bounds one poll of the consumer, so that a run without new
// records still notices its deadline, or that its record count was
// lowered, this often.
const pollWait = 100 * time.Millisecond

// ConsumeConfig describes one Consume run. Zero values take kgo's defaults.
type ConsumeConfig struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is read from the start of every partition, or as Group.
	Topic string
	// Group, if not empty, makes the run a member of this consumer group:
	// it reads the partitions the group assigns it, from the group's
	// committed offsets (from the start where there are none), and
	// commits as it goes (kgo's autocommit).
	Group string
	// StartOffsets, if not nil, reads exactly these partitions from these
	// offsets instead (no group).
	StartOffsets map[int32]int64
	// Records is how many records to read. Consume returns once it has
	// read that many (records past them are not counted). Zero means no
	// count: the run is bounded by Duration alone, which must then be set.
	Records int64
	// Duration, when positive, ends the run after this long, without an
	// error however many records it read.
	Duration time.Duration
	// IdleTimeout, when positive, ends a run counting Records once no
	// record has arrived for this long, with an error naming how many
	// were read: a topic holding fewer records than asked for ends the
	// run instead of stalling it (kafka-consumer-perf-test's --timeout).
	IdleTimeout time.Duration
	// Stamped says the records' values start with the time they were
	// produced (ProduceConfig.StampValues): the run then measures each
	// record's end-to-end latency into Result.Latency.
	Stamped bool
	// FetchMaxBytes is fetch.max.bytes, the cap on one fetch response
	// (kgo's default: 50 MiB).
	FetchMaxBytes int32
	// FetchMaxPartitionBytes is max.partition.fetch.bytes (kgo's default:
	// 1 MiB).
	FetchMaxPartitionBytes int32
	// FetchMaxWait is fetch.max.wait.ms, how long the broker may hold a
	// fetch that has no data (kgo's default: 5 s).
	FetchMaxWait time.Duration
	// Progress, when not nil, receives a progress line per SampleInterval,
	// as for ProduceConfig.Progress.
	Progress io.Writer
	// SampleInterval is the interval of Result.Timeline and of progress
	// lines (default DefaultSampleInterval).
	SampleInterval time.Duration
	// ClientOpts are extra kgo options, applied after the ones above.
	ClientOpts []kgo.Opt
}

func (cfg *ConsumeConfig) check() error {
	switch {
	case len(cfg.Brokers) == 0:
		return errors.New("bench: consume: no brokers")
	case cfg.Topic == "":
		return errors.New("bench: consume: no topic")
	case cfg.Records < 0 || cfg.Records == 0 && cfg.Duration <= 0:
		return fmt.Errorf("bench: consume: records must be positive (or a duration set), got %d", cfg.Records)
	case cfg.FetchMaxBytes < 0 || cfg.FetchMaxPartitionBytes < 0 || cfg.FetchMaxWait < 0:
		return errors.New("bench: consume: negative fetch limit")
	case cfg.Duration < 0 || cfg.SampleInterval < 0 || cfg.IdleTimeout < 0:
		return errors.New("bench: consume: negative duration, sample interval or idle timeout")
	case cfg.Group != "" && cfg.StartOffsets != nil:
		return errors.New("bench: consume: a group reads from its own offsets, not StartOffsets")
	}
	return nil
}

func (cfg *ConsumeConfig) kgoOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}
	switch {
	case cfg.StartOffsets != nil:
		offsets := make(map[int32]kgo.Offset, len(cfg.StartOffsets))
		for p, o := range cfg.StartOffsets {
			offsets[p] = kgo.NewOffset().At(o)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}))
	default:
		opts = append(opts,
			kgo.ConsumeTopics(cfg.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		)
		if cfg.Group != "" {
			opts = append(opts, kgo.ConsumerGroup(cfg.Group))
		}
	}
	if cfg.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(cfg.FetchMaxBytes))
	}
	if cfg.FetchMaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(cfg.FetchMaxPartitionBytes))
	}
	if cfg.FetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(cfg.FetchMaxWait))
	}
	return append(opts, cfg.ClientOpts...)
}

// Consume reads cfg.Records records of cfg.Topic (or for cfg.Duration). It
// returns what it read, and an error if a fetch failed fatally or ctx ended
// before cfg.Records records arrived (so a topic with too few records ends
// with ctx's error, unless Duration ends the run first); the Result is
// meaningful in both cases.
func Consume(ctx context.Context, cfg ConsumeConfig) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	var want atomic.Int64
	want.Store(cfg.Records)
	if cfg.Records == 0 {
		want.Store(math.MaxInt64)
	}
	return consume(ctx, cfg, &want)
}

// consume is Consume with a record count that another goroutine may change
// during the run (EndToEnd lowers it once it knows how many records were
// produced).
func consume(ctx context.Context, cfg ConsumeConfig, want *atomic.Int64) (Result, error) {
	start := time.Now()
	cl, err := kgo.NewClient(cfg.kgoOpts()...)
	if err != nil {
		return Result{}, fmt.Errorf("bench: consume: client: %w", err)
	}
	// A group member leaves its group and commits what it read on Close.
	defer cl.Close()

	var (
		c        counters
		lat      *Histogram
		deadline time.Time
		res      Result
	)
	if cfg.Stamped {
		lat = NewHistogram()
	}
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	smp := startSampler(&c, start, cfg.SampleInterval, cfg.Progress, "")
	done := func(err error) (Result, error) {
		elapsed := time.Since(start)
		res.Records, res.Bytes = c.records.Load(), c.bytes.Load()
		res.Timeline = smp.stop(elapsed)
		if lat != nil {
			res.Latency, res.Histogram = lat.Summary(), lat
		}
		res.finish(elapsed)
		return res, err
	}
	// Every poll returns records, which brings the loop closer to its
	// count, or returns after at most pollWait, so the loop checks ctx,
	// the deadline and the count at least that often.
	lastRecord := start
	for n := int64(0); n < want.Load(); {
		if cfg.IdleTimeout > 0 && cfg.Records > 0 && time.Since(lastRecord) >= cfg.IdleTimeout {
			return done(fmt.Errorf("bench: consume: %d of %d records: none arrived for %v", n, want.Load(), cfg.IdleTimeout))
		}
		wait := pollWait
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return done(nil)
			}
			wait = min(wait, left)
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := cl.PollRecords(pctx, int(min(want.Load()-n, 1<<30)))
		cancel()
		if err := ctx.Err(); err != nil {
			return done(fmt.Errorf("bench: consume: %d of %d records: %w", n, want.Load(), err))
		}
		var fatal error
		fetches.EachError(func(_ string, _ int32, err error) {
			if fatal == nil && !kerr.IsRetriable(err) && !errors.Is(err, context.DeadlineExceeded) {
				fatal = err
			}
		})
		now := time.Now()
		if fetches.NumRecords() > 0 {
			lastRecord = now
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if n >= want.Load() {
				return
			}
			n++
			if lat != nil && len(r.Value) >= stampBytes {
				sent := int64(binary.BigEndian.Uint64(r.Value))
				lat.Record(now.Sub(time.Unix(0, sent)))
			}
			c.bytes.Add(int64(len(r.Key) + len(r.Value)))
			c.records.Add(1)
		})
		if fatal != nil {
			return done(fmt.Errorf("bench: consume: fetch: %w", fatal))
		}
	}
	return done(nil)
}
