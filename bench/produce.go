package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer defaults, applied to the zero values of ProduceConfig.
const (
	// DefaultMaxBufferedRecords is kgo's own default, spelled out so that
	// the bound on unacknowledged records is visible here.
	DefaultMaxBufferedRecords = 50_000
	// DefaultSeed seeds the value stream when ProduceConfig.Seed is 0.
	DefaultSeed = 1
	// valuePoolBytes is the size of the random block that record values are
	// cut from: large enough that neighbouring records differ, small enough
	// to stay in cache.
	valuePoolBytes = 1 << 20
	// slotChunk is how many records are allocated at once.
	slotChunk = 1024
	// stampBytes is the size of the send time that StampValues writes at
	// the start of each value.
	stampBytes = 8
)

// ProduceConfig describes one Produce run. Zero values take the defaults
// named on each field.
type ProduceConfig struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is the topic to write.
	Topic string
	// Partitions, when positive, makes sure the topic exists with this many
	// partitions before the run starts (see EnsureTopic); the time it takes
	// is not part of the Result. Zero leaves the topic to the broker
	// (auto-creation or a topic that already exists).
	Partitions int
	// Records is how many records to produce. Zero means no count: the
	// run is bounded by Duration alone, which must then be set.
	Records int64
	// Duration, when positive, stops the run from sending records once it
	// has lasted this long (the records already sent are still awaited).
	Duration time.Duration
	// Rate, when positive, limits the run to this many records per second
	// over all producers; zero or negative means as fast as possible.
	Rate float64
	// RecordSize is each record's value size in bytes; records have no key.
	RecordSize int
	// StampValues writes the time each record is produced into the first
	// stampBytes bytes of its value (Unix nanoseconds, big-endian), so that
	// a consumer can measure end-to-end latency (ConsumeConfig.Stamped).
	// Each record then gets its own copy of its value. Needs RecordSize >=
	// 8.
	StampValues bool
	// Acks is "all" (or "-1"; the default), "1" (leader) or "0" (none).
	Acks string
	// DisableIdempotence turns off kgo's idempotent producer, which is on
	// by default and requires Acks "all"; acks other than "all" need it.
	DisableIdempotence bool
	// MaxInFlight is the number of produce requests in flight per broker
	// when idempotence is disabled (default 1, kgo's). An idempotent
	// producer always keeps up to 5 and must leave this 0.
	MaxInFlight int
	// Linger is how long a partition's batch waits for more records; 0
	// sends each batch as soon as the client can.
	Linger time.Duration
	// Compression is "none" (the default), "gzip", "snappy", "lz4" or
	// "zstd". kgo sends a batch compressed only if that makes it smaller.
	Compression string
	// Producers is how many clients produce concurrently, each its share of
	// Records from its own goroutine (default 1).
	Producers int
	// MaxBufferedRecords bounds the records each client holds that the
	// broker has not acknowledged; Produce blocks beyond it (default
	// DefaultMaxBufferedRecords).
	MaxBufferedRecords int
	// Seed selects the value stream (default DefaultSeed).
	Seed uint64
	// Progress, when not nil, receives a progress line per SampleInterval
	// (records/s, MB/s, in flight), each overwriting the last as on a
	// terminal, and the line is erased when the run ends.
	Progress io.Writer
	// SampleInterval is the interval of Result.Timeline and of progress
	// lines (default DefaultSampleInterval).
	SampleInterval time.Duration
	// ClientOpts are extra kgo options, applied after the ones above.
	ClientOpts []kgo.Opt
}

func (c *ProduceConfig) withDefaults() (ProduceConfig, error) {
	cfg := *c
	switch {
	case len(cfg.Brokers) == 0:
		return cfg, errors.New("bench: produce: no brokers")
	case cfg.Topic == "":
		return cfg, errors.New("bench: produce: no topic")
	case cfg.Records < 0 || cfg.Records == 0 && cfg.Duration <= 0:
		return cfg, fmt.Errorf("bench: produce: records must be positive (or a duration set), got %d", cfg.Records)
	case cfg.RecordSize < 0 || cfg.RecordSize > valuePoolBytes:
		return cfg, fmt.Errorf("bench: produce: record size must be in [0, %d], got %d", valuePoolBytes, cfg.RecordSize)
	case cfg.StampValues && cfg.RecordSize < stampBytes:
		return cfg, fmt.Errorf("bench: produce: stamped records need a record size of at least %d bytes, got %d", stampBytes, cfg.RecordSize)
	case cfg.Partitions < 0 || cfg.Producers < 0 || cfg.MaxBufferedRecords < 0 || cfg.MaxInFlight < 0 || cfg.Linger < 0 || cfg.Duration < 0 || cfg.SampleInterval < 0:
		return cfg, errors.New("bench: produce: negative partitions, producers, max buffered records, max in flight, linger, duration or sample interval")
	case cfg.MaxInFlight > 0 && !cfg.DisableIdempotence:
		return cfg, errors.New("bench: produce: MaxInFlight needs DisableIdempotence (an idempotent producer keeps 5 in flight)")
	}
	cfg.Producers = max(cfg.Producers, 1)
	if cfg.Records > 0 && int64(cfg.Producers) > cfg.Records {
		cfg.Producers = int(cfg.Records)
	}
	if cfg.MaxBufferedRecords == 0 {
		cfg.MaxBufferedRecords = DefaultMaxBufferedRecords
	}
	if cfg.Seed == 0 {
		cfg.Seed = DefaultSeed
	}
	return cfg, nil
}

// kgoOpts translates the configuration into kgo producer options.
func (c *ProduceConfig) kgoOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.DefaultProduceTopic(c.Topic),
		// A missing topic is the broker's to create (auto.create.topics.enable
		// and num.partitions), as Kafka's Java producer lets it.
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(c.Linger),
		kgo.MaxBufferedRecords(c.MaxBufferedRecords),
	}
	switch c.Acks {
	case "", "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1", "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0", "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("bench: produce: unknown acks %q (want all, 1 or 0)", c.Acks)
	}
	if c.DisableIdempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
		if c.MaxInFlight > 0 {
			opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(c.MaxInFlight))
		}
	}
	codec, err := CompressionCodec(c.Compression)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	return append(opts, c.ClientOpts...), nil
}

// CompressionCodec maps a codec name as Kafka's tools spell it (none,
// gzip, snappy, lz4, zstd; "" is none) to franz-go's codec.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", name)
}

// timedCtx is a record's context that also carries the time it was handed to
// kgo, so the promise can compute its latency without a side table.
type timedCtx struct {
	context.Context
	start time.Time
}

// slot is one record and its context, allocated slotChunk at a time.
type slot struct {
	rec kgo.Record
	tc  timedCtx
}

// produceRun is the state shared by one run's producers and promises.
type produceRun struct {
	cfg     ProduceConfig
	values  []byte
	lat     *Histogram
	c       counters
	sent    atomic.Int64
	start   time.Time // when the first record may be sent
	failed  atomic.Bool
	errOnce sync.Once
	err     error // the first produce error; written once under errOnce
}

func (r *produceRun) fail(err error) {
	r.errOnce.Do(func() { r.err = err })
	r.failed.Store(true)
}

// promise is called by kgo, serially per client, once per record.
func (r *produceRun) promise(rec *kgo.Record, err error) {
	r.c.inFlight.Add(-1)
	if err != nil {
		r.fail(fmt.Errorf("bench: produce: %w", err))
		return
	}
	if tc, ok := rec.Context.(*timedCtx); ok {
		r.lat.Record(time.Since(tc.start))
	}
	// bytes before records, so that a reader that sees a record sees its
	// bytes.
	r.c.bytes.Add(int64(len(rec.Key) + len(rec.Value)))
	r.c.records.Add(1)
}

// value returns record i's value: a window of the random pool that moves by
// a prime stride, so consecutive records differ.
func (r *produceRun) value(i int64) []byte {
	return valueAt(r.values, r.cfg.RecordSize, i)
}

// Produce writes cfg.Records records of cfg.RecordSize bytes to cfg.Topic (or
// as many as it can send in cfg.Duration, at most cfg.Rate per second) and
// waits until every one is acknowledged (or failed). It returns what was
// acknowledged, and the first error if any record failed or ctx ended; the
// Result is meaningful in both cases. With Acks "0" nothing is acknowledged
// by the broker and records count once sent.
func Produce(ctx context.Context, cfg ProduceConfig) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	opts, err := cfg.kgoOpts()
	if err != nil {
		return Result{}, err
	}
	if cfg.Partitions > 0 {
		if err := EnsureTopic(ctx, cfg.Brokers, cfg.Topic, cfg.Partitions, cfg.ClientOpts...); err != nil {
			return Result{}, err
		}
	}
	run := &produceRun{
		cfg:    cfg,
		values: randomBytes(cfg.Seed, valuePoolBytes),
		lat:    NewHistogram(),
	}

	clients := make([]*kgo.Client, cfg.Producers)
	for i := range clients {
		if clients[i], err = kgo.NewClient(opts...); err != nil {
			for _, cl := range clients[:i] {
				cl.Close()
			}
			return Result{}, fmt.Errorf("bench: produce: client: %w", err)
		}
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()

	var (
		wg         sync.WaitGroup
		idempotent atomic.Int32
	)
	start := time.Now()
	run.start = start
	smp := startSampler(&run.c, start, cfg.SampleInterval, cfg.Progress, "")
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	// Without a count, each producer's range is as large as the value
	// stream's indexes allow; the deadline ends it.
	records := cfg.Records
	if records == 0 {
		records = math.MaxInt64 / 2
	}
	per := records / int64(cfg.Producers)
	for i, cl := range clients {
		lo, hi := int64(i)*per, int64(i+1)*per
		if i == len(clients)-1 {
			hi = records
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run.produceRange(ctx, cl, lo, hi, deadline); err != nil {
				run.fail(err)
			}
			if !cfg.DisableIdempotence {
				if id, _, err := cl.ProducerID(ctx); err == nil && id >= 0 {
					idempotent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{
		Records:    run.c.records.Load(),
		Sent:       run.sent.Load(),
		Bytes:      run.c.bytes.Load(),
		Latency:    run.lat.Summary(),
		Histogram:  run.lat,
		Timeline:   smp.stop(elapsed),
		Idempotent: int(idempotent.Load()) == len(clients),
	}
	res.finish(elapsed)
	if run.failed.Load() {
		return res, run.err
	}
	return res, nil
}

// produceRange produces records [lo, hi) through cl and waits for their
// promises. It stops early when ctx ends, another record failed or the
// deadline (if not zero) passed.
func (r *produceRun) produceRange(ctx context.Context, cl *kgo.Client, lo, hi int64, deadline time.Time) error {
	// With a rate limit, this producer's k-th record is due at
	// start + k*gap: a producer that falls behind catches up in a burst,
	// as Kafka's producer-perf-test throttle does, so the average holds.
	var gap time.Duration
	if r.cfg.Rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(r.cfg.Producers) / r.cfg.Rate)
	}
	var chunk []slot
	for i := lo; i < hi; i++ {
		if ctx.Err() != nil || r.failed.Load() {
			break
		}
		if gap > 0 {
			due := r.start.Add(time.Duration(i-lo) * gap)
			if !deadline.IsZero() && due.After(deadline) {
				break
			}
			if wait := time.Until(due); wait > 0 && !sleepCtx(ctx, wait) {
				break
			}
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		if len(chunk) == 0 {
			chunk = make([]slot, min(slotChunk, hi-i))
		}
		s := &chunk[0]
		chunk = chunk[1:]
		s.tc = timedCtx{Context: ctx, start: now}
		s.rec = kgo.Record{Value: r.value(i), Timestamp: now, Context: &s.tc}
		if r.cfg.StampValues {
			v := make([]byte, len(s.rec.Value))
			copy(v, s.rec.Value)
			binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
			s.rec.Value = v
		}
		r.sent.Add(1)
		r.c.inFlight.Add(1)
		cl.Produce(ctx, &s.rec, r.promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("bench: produce: flush: %w", err)
	}
	return ctx.Err()
}

// sleepCtx sleeps for d, or less if ctx ends first; it reports whether it
// slept the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// randomBytes is n bytes of the ChaCha8 stream of seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rng := rand.NewChaCha8(key)
	_, _ = rng.Read(b)
	return b
}
