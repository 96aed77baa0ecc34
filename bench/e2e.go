package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultDrainTimeout bounds how long EndToEnd waits, after the last
// record was acknowledged, for the consumer to receive the rest.
const DefaultDrainTimeout = 30 * time.Second

// EndToEndResult is what one EndToEnd run did.
type EndToEndResult struct {
	// Produce is the producer's run: throughput and acknowledgement
	// latency.
	Produce Result
	// Consume is the consumer's run; its Latency is the end-to-end latency
	// of every record, from the Produce call to its arrival at the
	// consumer.
	Consume Result
}

// EndToEnd produces to pcfg.Topic as Produce does (usually at a given
// pcfg.Rate) while one consumer reads the same records as they arrive, and
// measures each record's end-to-end latency: the producer stamps its send
// time into the value (pcfg.StampValues is forced on) and the consumer
// subtracts it from its arrival time, so both clocks are this process's.
//
// The consumer reads every partition from the end offsets the topic had
// before the producer started, without a group, so it sees exactly the
// records of this run. The run ends once the consumer has read as many
// records as the producer got acknowledged, or drain after the producer
// finished (an error; DefaultDrainTimeout if 0). The progress line, if
// any, is the producer's (pcfg.Progress). ccfg supplies the fetch settings
// and SampleInterval; its other fields are set here.
func EndToEnd(ctx context.Context, pcfg ProduceConfig, ccfg ConsumeConfig, drain time.Duration) (EndToEndResult, error) {
	pcfg.StampValues = true
	cfg, err := pcfg.withDefaults()
	if err != nil {
		return EndToEndResult{}, err
	}
	if _, err := cfg.kgoOpts(); err != nil {
		return EndToEndResult{}, err
	}
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	if cfg.Partitions > 0 {
		if err := EnsureTopic(ctx, cfg.Brokers, cfg.Topic, cfg.Partitions, cfg.ClientOpts...); err != nil {
			return EndToEndResult{}, err
		}
		pcfg.Partitions = 0 // done
	}
	offsets, err := endOffsets(ctx, cfg.Brokers, cfg.Topic, cfg.ClientOpts...)
	if err != nil {
		return EndToEndResult{}, err
	}

	ccfg.Brokers, ccfg.Topic, ccfg.Group = cfg.Brokers, cfg.Topic, ""
	ccfg.StartOffsets, ccfg.Stamped = offsets, true
	ccfg.Records, ccfg.Duration, ccfg.Progress = 1, 0, nil
	if err := ccfg.check(); err != nil {
		return EndToEndResult{}, err
	}
	var want atomic.Int64
	want.Store(math.MaxInt64) // until the producer knows its count

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type consumed struct {
		res Result
		err error
	}
	consDone := make(chan consumed, 1)
	go func() {
		res, err := consume(cctx, ccfg, &want)
		consDone <- consumed{res, err}
	}()

	var out EndToEndResult
	out.Produce, err = Produce(ctx, pcfg)
	if err != nil {
		cancel()
		out.Consume = (<-consDone).res
		return out, err
	}
	want.Store(out.Produce.Records)

	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case c := <-consDone:
		out.Consume = c.res
		return out, c.err
	case <-timer.C:
		cancel()
		c := <-consDone
		out.Consume = c.res
		return out, fmt.Errorf("bench: e2e: consumer read %d of %d records within %v of the last acknowledgement", c.res.Records, out.Produce.Records, drain)
	}
}

// endOffsets waits until topic exists with a leader for every partition
// (asking the broker to auto-create it) and returns each partition's end
// offset.
func endOffsets(ctx context.Context, brokers []string, topic string, opts ...kgo.Opt) (map[int32]int64, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bench: topic %s: client: %w", topic, err)
	}
	defer cl.Close()
	ready := false
	for range topicReadyPolls {
		_, ok, err := topicPartitions(ctx, cl, topic)
		if err != nil {
			return nil, fmt.Errorf("bench: topic %s: metadata: %w", topic, err)
		}
		if ready = ok; ready {
			break
		}
		if !sleepCtx(ctx, topicReadyInterval) {
			return nil, ctx.Err()
		}
	}
	if !ready {
		return nil, fmt.Errorf("bench: topic %s: partitions without a leader after %v", topic, topicReadyPolls*topicReadyInterval)
	}
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: topic %s: end offsets: %w", topic, err)
	}
	offsets := make(map[int32]int64)
	listed.Each(func(o kadm.ListedOffset) { offsets[o.Partition] = o.Offset })
	if len(offsets) == 0 {
		return nil, errors.New("bench: topic " + topic + ": no partitions")
	}
	return offsets, nil
}
