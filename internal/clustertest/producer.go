package clustertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer defaults.
const (
	// DefaultDeliveryTimeout is how long the client retries one record
	// (across leader changes and broker deaths) before failing it.
	DefaultDeliveryTimeout = 30 * time.Second
	// DefaultMaxInFlight bounds the records handed to the client and not
	// yet acknowledged or failed; at the bound the producer waits.
	DefaultMaxInFlight = 256
	// produceTick is how often a rate-limited producer hands its next
	// records to the client.
	produceTick = 10 * time.Millisecond
)

// ProducerConfig is one load producer.
type ProducerConfig struct {
	// ID names the producer in every value it writes; unique in a run.
	ID int
	// Seeds are the brokers to bootstrap from.
	Seeds []string
	// Topic receives every record; record n goes to partition n mod
	// Partitions, so every partition gets load at the same pace.
	Topic      string
	Partitions int32
	// Rate is records per second handed to the client; 0 is as fast as
	// MaxInFlight allows.
	Rate int
	// Count stops the producer after this many records (0: no bound but
	// Duration).
	Count int64
	// Duration stops the producer after this long; it must be positive:
	// a producer always stops by itself.
	Duration time.Duration
	// DeliveryTimeout bounds the client's retries of one record
	// (default DefaultDeliveryTimeout); Drain bounds the wait for the
	// records in flight once sending stops (default DeliveryTimeout +
	// 5s).
	DeliveryTimeout, Drain time.Duration
	// MaxInFlight defaults to DefaultMaxInFlight; ValueSize to
	// DefaultValueSize.
	MaxInFlight, ValueSize int
	// Opts are extra client options, applied last.
	Opts []kgo.Opt
}

// Producer writes self-describing records with an idempotent acks=all
// franz-go client and records every send, acknowledgement and failure in
// a History. It runs in its own goroutine from StartProducer until its
// Count or Duration is reached, Stop is called or its context ends.
type Producer struct {
	cfg  ProducerConfig
	h    *History
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}

	stopOnce sync.Once
	sent     atomic.Int64
	acked    atomic.Int64
	failed   atomic.Int64

	mu       sync.Mutex
	failErrs map[string]int // guarded by mu: failures by error text
}

// StartProducer starts a producer that records into h.
func StartProducer(ctx context.Context, cfg ProducerConfig, h *History) (*Producer, error) {
	switch {
	case cfg.Duration <= 0:
		return nil, errors.New("clustertest: a producer needs a positive Duration")
	case cfg.Partitions < 1 || cfg.Topic == "" || len(cfg.Seeds) == 0:
		return nil, fmt.Errorf("clustertest: producer %d needs seeds, a topic and partitions", cfg.ID)
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if cfg.Drain <= 0 {
		cfg.Drain = cfg.DeliveryTimeout + 5*time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.ValueSize <= 0 {
		cfg.ValueSize = DefaultValueSize
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Seeds...),
		kgo.ClientID("clustertest-producer-" + strconv.Itoa(cfg.ID)),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Idempotence is franz-go's default and needs acks=all; retries
		// are unlimited by default, bounded in time here.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.MaxBufferedRecords(2 * cfg.MaxInFlight),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProduceRequestTimeout(5 * time.Second),
		kgo.DialTimeout(time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(FastBackoff),
	}
	cl, err := kgo.NewClient(append(opts, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("clustertest: producer %d: %w", cfg.ID, err)
	}
	p := &Producer{cfg: cfg, h: h, cl: cl, stop: make(chan struct{}), done: make(chan struct{}), failErrs: map[string]int{}}
	go p.run(ctx)
	return p, nil
}

// FastBackoff retries quickly, so that clients find a restarted broker or
// a new leader within tens of milliseconds: 10 ms doubling up to 200 ms.
func FastBackoff(fails int) time.Duration {
	d := 10 * time.Millisecond
	for i := 1; i < fails && d < 200*time.Millisecond; i++ {
		d *= 2
	}
	return min(d, 200*time.Millisecond)
}

func (p *Producer) run(ctx context.Context) {
	defer close(p.done)
	deadline := time.NewTimer(p.cfg.Duration)
	defer deadline.Stop()
	slots := make(chan struct{}, p.cfg.MaxInFlight)
	perTick := int64(1)
	var tick <-chan time.Time
	if p.cfg.Rate > 0 {
		perTick = max(1, int64(p.cfg.Rate)*int64(produceTick)/int64(time.Second))
		t := time.NewTicker(produceTick)
		defer t.Stop()
		tick = t.C
	}
	var seq int64
loop:
	for p.cfg.Count <= 0 || seq < p.cfg.Count {
		for range perTick {
			if p.cfg.Count > 0 && seq >= p.cfg.Count {
				break loop
			}
			select {
			case slots <- struct{}{}:
			case <-p.stop:
				break loop
			case <-deadline.C:
				break loop
			case <-ctx.Done():
				break loop
			}
			p.produce(ctx, seq, slots)
			seq++
		}
		if tick != nil {
			select {
			case <-tick:
			case <-p.stop:
				break loop
			case <-deadline.C:
				break loop
			case <-ctx.Done():
				break loop
			}
		}
	}
	drain := p.cfg.Drain
	if ctx.Err() != nil {
		drain = min(drain, time.Second) // the run is over
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	_ = p.cl.Flush(dctx)
	cancel()
	// Close fails what is still buffered: each gets its EvFail.
	p.cl.Close()
}

// produce hands record seq to the client. Sequence numbers go to the
// client in order, one goroutine, so a producer's records of a partition
// must be in the log in sequence order.
func (p *Producer) produce(ctx context.Context, seq int64, slots chan struct{}) {
	id := ID{Producer: p.cfg.ID, Seq: seq}
	part := int32(seq % int64(p.cfg.Partitions))
	tp := TopicPartition{Topic: p.cfg.Topic, Partition: part}
	p.h.Add(Event{Kind: EvSend, Client: p.cfg.ID, TP: tp, Offset: -1, ID: id})
	p.sent.Add(1)
	r := &kgo.Record{Partition: part, Value: EncodeValue(id, p.cfg.ValueSize)}
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			p.failed.Add(1)
			p.mu.Lock()
			p.failErrs[err.Error()]++
			p.mu.Unlock()
			p.h.Add(Event{Kind: EvFail, Client: p.cfg.ID, TP: tp, Offset: -1, ID: id, Err: err.Error()})
		} else {
			p.acked.Add(1)
			p.h.Add(Event{Kind: EvAck, Client: p.cfg.ID, TP: tp, Offset: r.Offset, ID: id})
		}
		<-slots
	})
}

// Stop ends sending early and waits for the producer to drain and close.
func (p *Producer) Stop() ProducerStats {
	p.stopOnce.Do(func() { close(p.stop) })
	return p.Wait()
}

// Wait waits for the producer to stop by itself (Count, Duration or its
// context) and returns its counts.
func (p *Producer) Wait() ProducerStats {
	<-p.done
	return p.Stats()
}

// Done is closed once the producer has stopped and closed its client.
func (p *Producer) Done() <-chan struct{} { return p.done }

// ProducerStats counts what a producer did.
type ProducerStats struct {
	ID                  int
	Sent, Acked, Failed int64
	FailErrors          map[string]int // failures by error text
}

func (s ProducerStats) String() string {
	return fmt.Sprintf("producer %d: sent=%d acked=%d failed=%d %v", s.ID, s.Sent, s.Acked, s.Failed, s.FailErrors)
}

// Stats returns the counts so far.
func (p *Producer) Stats() ProducerStats {
	p.mu.Lock()
	errs := make(map[string]int, len(p.failErrs))
	for k, v := range p.failErrs {
		errs[k] = v
	}
	p.mu.Unlock()
	return ProducerStats{ID: p.cfg.ID, Sent: p.sent.Load(), Acked: p.acked.Load(), Failed: p.failed.Load(), FailErrors: errs}
}

// Acked is how many records were acknowledged so far.
func (p *Producer) Acked() int64 { return p.acked.Load() }

// WaitAcked waits until at least n records were acknowledged since the
// producer started, or ctx ends, or the producer stops.
func (p *Producer) WaitAcked(ctx context.Context, n int64) error {
	for p.acked.Load() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("clustertest: producer %d: %d of %d acknowledged: %w", p.cfg.ID, p.acked.Load(), n, ctx.Err())
		case <-p.done:
			if p.acked.Load() < n {
				return fmt.Errorf("clustertest: producer %d stopped with %d of %d acknowledged", p.cfg.ID, p.acked.Load(), n)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
