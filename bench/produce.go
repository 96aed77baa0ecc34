package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	// Records is how many records to produce; required.
	Records int64
	// RecordSize is each record's value size in bytes; records have no key.
	RecordSize int
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
	case cfg.Records <= 0:
		return cfg, fmt.Errorf("bench: produce: records must be positive, got %d", cfg.Records)
	case cfg.RecordSize < 0 || cfg.RecordSize > valuePoolBytes:
		return cfg, fmt.Errorf("bench: produce: record size must be in [0, %d], got %d", valuePoolBytes, cfg.RecordSize)
	case cfg.Partitions < 0 || cfg.Producers < 0 || cfg.MaxBufferedRecords < 0 || cfg.MaxInFlight < 0 || cfg.Linger < 0:
		return cfg, errors.New("bench: produce: negative partitions, producers, max buffered records, max in flight or linger")
	case cfg.MaxInFlight > 0 && !cfg.DisableIdempotence:
		return cfg, errors.New("bench: produce: MaxInFlight needs DisableIdempotence (an idempotent producer keeps 5 in flight)")
	}
	cfg.Producers = max(cfg.Producers, 1)
	if int64(cfg.Producers) > cfg.Records {
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
	codec, err := compressionCodec(c.Compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	return append(opts, c.ClientOpts...), nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
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
	return kgo.CompressionCodec{}, fmt.Errorf("bench: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", name)
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
	lat     *latencyRecorder
	acked   atomic.Int64
	bytes   atomic.Int64
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
	if err != nil {
		r.fail(fmt.Errorf("bench: produce: %w", err))
		return
	}
	if tc, ok := rec.Context.(*timedCtx); ok {
		r.lat.record(time.Since(tc.start))
	}
	r.acked.Add(1)
	r.bytes.Add(int64(len(rec.Key) + len(rec.Value)))
}

// value returns record i's value: a window of the random pool that moves by
// a prime stride, so consecutive records differ.
func (r *produceRun) value(i int64) []byte {
	size := r.cfg.RecordSize
	span := int64(len(r.values) - size + 1)
	off := (i * 7919) % span
	return r.values[off : off+int64(size) : off+int64(size)]
}

// Produce writes cfg.Records records of cfg.RecordSize bytes to cfg.Topic and
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
		if err := EnsureTopic(ctx, cfg.Brokers, cfg.Topic, cfg.Partitions); err != nil {
			return Result{}, err
		}
	}
	run := &produceRun{
		cfg:    cfg,
		values: randomBytes(cfg.Seed, valuePoolBytes),
		lat:    newLatencyRecorder(cfg.Records),
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
	per := cfg.Records / int64(cfg.Producers)
	for i, cl := range clients {
		lo, hi := int64(i)*per, int64(i+1)*per
		if i == len(clients)-1 {
			hi = cfg.Records
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run.produceRange(ctx, cl, lo, hi); err != nil {
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

	res := Result{
		Records:    run.acked.Load(),
		Bytes:      run.bytes.Load(),
		Latency:    run.lat.summary(),
		Idempotent: int(idempotent.Load()) == len(clients),
	}
	res.finish(time.Since(start))
	if run.failed.Load() {
		return res, run.err
	}
	return res, nil
}

// produceRange produces records [lo, hi) through cl and waits for their
// promises. It stops early when ctx ends or another record failed.
func (r *produceRun) produceRange(ctx context.Context, cl *kgo.Client, lo, hi int64) error {
	var chunk []slot
	for i := lo; i < hi; i++ {
		if ctx.Err() != nil || r.failed.Load() {
			break
		}
		if len(chunk) == 0 {
			chunk = make([]slot, min(slotChunk, hi-i))
		}
		s := &chunk[0]
		chunk = chunk[1:]
		now := time.Now()
		s.tc = timedCtx{Context: ctx, start: now}
		s.rec = kgo.Record{Value: r.value(i), Timestamp: now, Context: &s.tc}
		cl.Produce(ctx, &s.rec, r.promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("bench: produce: flush: %w", err)
	}
	return ctx.Err()
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
