package peers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tributary-io/tributary/bench"
)

// Redis client settings (see the package comment).
const (
	// redisPipeline is how many XADDs one pipeline carries.
	redisPipeline = 1000
	// redisPipelines is how many pipelines are in flight at once, each on
	// its own connection.
	redisPipelines = 4
	// redisReadCount is XREAD's COUNT: entries per stream per read.
	redisReadCount = 1000
	// redisBlock is how long the latency consumer's XREAD blocks waiting
	// for entries before it checks whether the run is over.
	redisBlock = 100 * time.Millisecond
	// redisDrain bounds the wait, after the last reply of a latency run,
	// for the consumer to read the rest.
	redisDrain = 30 * time.Second
	// redisField is the field that holds a record's value in its entry.
	redisField = "v"
)

func redisSystem() System {
	return System{
		Name:    "redis",
		Label:   "Redis Streams",
		Missing: func() string { return binaryMissing("redis-server", "redis-server") },
		Version: func() string {
			return redisVersion(versionOf("redis-server", "--version")) + ", AOF everysec (go-redis " + moduleVersion("github.com/redis/go-redis/v9") + ")"
		},
		Start: startRedis,
	}
}

// redisInstance is a redis-server with an append-only file, fsynced every
// second.
type redisInstance struct {
	proc *serverProc
	rdb  *redis.Client
}

func startRedis(ctx context.Context, dir string) (Instance, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("peers: %s", binaryMissing("redis-server", "redis-server"))
	}
	p, err := startProcess(ctx, "redis-server", bin, dir, syscall.SIGTERM, func(port int) []string {
		return []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
			// A rewrite runs in a forked child, whose CPU the server's
			// clock would not count; it is off so that the figure is the
			// whole cost of what the benchmark asks (in Redis's favour).
			"--auto-aof-rewrite-percentage", "0",
			"--daemonize", "no", "--logfile", "",
		}
	})
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:     p.addr,
		PoolSize: redisPipelines + 2, // the pipelines, the readers, the blocked latency consumer
		// CLIENT SETINFO arrived in Redis 7.2; Debian bookworm has 7.0.
		DisableIdentity: true,
	})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, errors.Join(fmt.Errorf("peers: redis: ping: %w", err), p.Stop())
	}
	return &redisInstance{proc: p, rdb: rdb}, nil
}

func (r *redisInstance) PID() int { return r.proc.PID() }

func (r *redisInstance) Stop() error {
	return errors.Join(r.rdb.Close(), r.proc.Stop())
}

// streamKeys are a topic's stream keys, one per partition.
func streamKeys(topic string) []string {
	k := make([]string, Partitions)
	for i := range k {
		k[i] = topic + ":" + strconv.Itoa(i)
	}
	return k
}

// Prepare has nothing to do: XADD creates a stream.
func (r *redisInstance) Prepare(context.Context, Workload) error { return nil }

func (r *redisInstance) Run(ctx context.Context, w Workload) (bench.Result, error) {
	switch w.Kind {
	case Produce:
		return r.produce(ctx, w)
	case Consume:
		return r.consume(ctx, w)
	case Latency:
		return r.latency(ctx, w)
	}
	return bench.Result{}, fmt.Errorf("peers: unknown workload kind %v", w.Kind)
}

// xadd queues record value to key on pipe.
func xadd(ctx context.Context, pipe redis.Pipeliner, key string, value []byte) {
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: "*", Values: []any{redisField, value}})
}

func (r *redisInstance) produce(ctx context.Context, w Workload) (bench.Result, error) {
	values, err := bench.NewValues(0, w.RecordSize)
	if err != nil {
		return bench.Result{}, err
	}
	keys := streamKeys(w.Topic)
	var (
		acked tally
		next  atomic.Int64 // the first record of the next pipeline
		fail  firstErr
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range redisPipelines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipe := r.rdb.Pipeline()
			for {
				lo := next.Add(redisPipeline) - redisPipeline
				if lo >= w.Records || fail.get() != nil || ctx.Err() != nil {
					return
				}
				hi := min(lo+redisPipeline, w.Records)
				for i := lo; i < hi; i++ {
					xadd(ctx, pipe, keys[i%Partitions], values.Value(i))
				}
				// Exec waits for every reply and returns the first error.
				if _, err := pipe.Exec(ctx); err != nil {
					fail.put(fmt.Errorf("peers: redis: XADD: %w", err))
					return
				}
				acked.add(hi-lo, (hi-lo)*int64(w.RecordSize))
			}
		}()
	}
	wg.Wait()
	err = fail.get()
	if err == nil {
		err = ctx.Err()
	}
	return acked.result(time.Since(start), nil), err
}

// entryValue is the value of an entry as a record (the redisField field).
func entryValue(m redis.XMessage) string {
	s, _ := m.Values[redisField].(string)
	return s
}

func (r *redisInstance) consume(ctx context.Context, w Workload) (bench.Result, error) {
	keys := streamKeys(w.Topic)
	var (
		read tally
		fail firstErr
		wg   sync.WaitGroup
	)
	start := time.Now()
	for p, key := range keys {
		// Records go to the keys round-robin.
		want := (w.Records - int64(p) + Partitions - 1) / Partitions
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := "0"
			for n := int64(0); n < want; {
				streams, err := r.rdb.XRead(ctx, &redis.XReadArgs{
					Streams: []string{key, last},
					Count:   redisReadCount,
					Block:   -1, // do not block: the records are there
				}).Result()
				if errors.Is(err, redis.Nil) {
					fail.put(fmt.Errorf("peers: redis: %s holds %d entries, want %d", key, n, want))
					return
				}
				if err != nil {
					fail.put(fmt.Errorf("peers: redis: XREAD %s: %w", key, err))
					return
				}
				var bytes int64
				msgs := streams[0].Messages
				for _, m := range msgs {
					bytes += int64(len(entryValue(m)))
				}
				if len(msgs) > 0 {
					last = msgs[len(msgs)-1].ID
				}
				n += int64(len(msgs))
				read.add(int64(len(msgs)), bytes)
			}
		}()
	}
	wg.Wait()
	return read.result(time.Since(start), nil), fail.get()
}

func (r *redisInstance) latency(ctx context.Context, w Workload) (bench.Result, error) {
	values, err := bench.NewValues(0, w.RecordSize)
	if err != nil {
		return bench.Result{}, err
	}
	keys := streamKeys(w.Topic)
	var (
		read, acked tally
		last        atomic.Int64 // Unix ns of the last arrival
		fail        firstErr
		lat         = bench.NewHistogram()
	)

	// The consumer blocks in XREAD on every key, from the start of each
	// (they are new), until the run cancels it.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		ids := make([]string, 2*Partitions)
		copy(ids, keys)
		for i := range Partitions {
			ids[Partitions+i] = "0"
		}
		for cctx.Err() == nil {
			streams, err := r.rdb.XRead(cctx, &redis.XReadArgs{Streams: ids, Count: redisReadCount, Block: redisBlock}).Result()
			now := time.Now()
			if errors.Is(err, redis.Nil) || cctx.Err() != nil {
				continue
			}
			if err != nil {
				fail.put(fmt.Errorf("peers: redis: XREAD: %w", err))
				return
			}
			for _, s := range streams {
				var bytes int64
				for _, m := range s.Messages {
					v := entryValue(m)
					if len(v) >= bench.StampBytes {
						if sent, ok := bench.StampedAt([]byte(v[:bench.StampBytes])); ok {
							lat.Record(now.Sub(sent))
						}
					}
					bytes += int64(len(v))
				}
				for i, k := range keys {
					if k == s.Stream && len(s.Messages) > 0 {
						ids[Partitions+i] = s.Messages[len(s.Messages)-1].ID
					}
				}
				read.add(int64(len(s.Messages)), bytes)
			}
			last.Store(now.UnixNano())
		}
	}()

	// The producer hands each record to a sender that pipelines whatever
	// has queued up since its last pipeline came back: a latency-minded
	// pipelining client.
	type rec struct {
		key   string
		value []byte
	}
	queue := make(chan rec, int(w.Rate)+1) // a second's worth: pace never blocks on it
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		pipe := r.rdb.Pipeline()
		for first := range queue {
			n := int64(1)
			xadd(ctx, pipe, first.key, first.value)
		more:
			for n < redisPipeline {
				select {
				case x, ok := <-queue:
					if !ok {
						break more
					}
					xadd(ctx, pipe, x.key, x.value)
					n++
				default:
					break more
				}
			}
			if _, err := pipe.Exec(ctx); err != nil {
				fail.put(fmt.Errorf("peers: redis: XADD: %w", err))
				for range queue { // let pace finish
				}
				return
			}
			acked.add(n, n*int64(w.RecordSize))
		}
	}()

	start := time.Now()
	_, err = pace(ctx, start, w.Rate, w.Duration, func(i int64, now time.Time) error {
		if err := fail.get(); err != nil {
			return err
		}
		queue <- rec{keys[i%Partitions], values.Stamped(i, now)}
		return nil
	})
	close(queue)
	<-sendDone
	if err == nil {
		err = fail.get()
	}
	want := acked.records.Load()
	if err == nil && !waitCount(ctx, read.records.Load, want, redisDrain) {
		err = fmt.Errorf("peers: redis: latency: consumer read %d of %d records", read.records.Load(), want)
	}
	cancel()
	<-consDone
	if err == nil {
		err = fail.get()
	}
	return read.result(sinceLast(start, last.Load()), lat), err
}

// redisVersion shortens redis-server --version ("Redis server v=7.0.15
// sha=... malloc=... bits=64 build=...") to "redis-server 7.0.15".
func redisVersion(line string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "redis-server " + v
		}
	}
	return line
}
