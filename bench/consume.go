package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeConfig describes one Consume run. Zero values take kgo's defaults.
type ConsumeConfig struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is read from the start of every partition, without a group.
	Topic string
	// Records is how many records to read; required. Consume returns once
	// it has read that many (records past them are not counted).
	Records int64
	// FetchMaxBytes is fetch.max.bytes, the cap on one fetch response
	// (kgo's default: 50 MiB).
	FetchMaxBytes int32
	// FetchMaxPartitionBytes is max.partition.fetch.bytes (kgo's default:
	// 1 MiB).
	FetchMaxPartitionBytes int32
	// FetchMaxWait is fetch.max.wait.ms, how long the broker may hold a
	// fetch that has no data (kgo's default: 5 s).
	FetchMaxWait time.Duration
	// ClientOpts are extra kgo options, applied after the ones above.
	ClientOpts []kgo.Opt
}

// Consume reads cfg.Records records of cfg.Topic from the start of its
// partitions. It returns what it read, and an error if a fetch failed
// fatally or ctx ended before cfg.Records records arrived (so a topic with
// too few records ends with ctx's error); the Result is meaningful in both
// cases.
func Consume(ctx context.Context, cfg ConsumeConfig) (Result, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return Result{}, errors.New("bench: consume: no brokers")
	case cfg.Topic == "":
		return Result{}, errors.New("bench: consume: no topic")
	case cfg.Records <= 0:
		return Result{}, fmt.Errorf("bench: consume: records must be positive, got %d", cfg.Records)
	case cfg.FetchMaxBytes < 0 || cfg.FetchMaxPartitionBytes < 0 || cfg.FetchMaxWait < 0:
		return Result{}, errors.New("bench: consume: negative fetch limit")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
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
	opts = append(opts, cfg.ClientOpts...)

	start := time.Now()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Result{}, fmt.Errorf("bench: consume: client: %w", err)
	}
	defer cl.Close()

	var res Result
	// Every poll either returns records, which brings the loop closer to
	// its count, or returns because of an error or ctx.
	for res.Records < cfg.Records {
		left := cfg.Records - res.Records
		fetches := cl.PollRecords(ctx, int(min(left, 1<<30)))
		if err := ctx.Err(); err != nil {
			res.finish(time.Since(start))
			return res, fmt.Errorf("bench: consume: %d of %d records: %w", res.Records, cfg.Records, err)
		}
		var fatal error
		fetches.EachError(func(_ string, _ int32, err error) {
			if fatal == nil && !kerr.IsRetriable(err) {
				fatal = err
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			res.Records++
			res.Bytes += int64(len(r.Key) + len(r.Value))
		})
		if fatal != nil {
			res.finish(time.Since(start))
			return res, fmt.Errorf("bench: consume: fetch: %w", fatal)
		}
	}
	res.finish(time.Since(start))
	return res, nil
}
