package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// produceTick is how often a producer hands its next records to the
	// client: Rate/ (1s/produceTick) records each time.
	produceTick = 10 * time.Millisecond
	// maxInFlight bounds a producer's records handed to the client and not
	// yet acknowledged or failed; at the bound (the broker is down) it waits.
	maxInFlight = 400
	// deliveryTimeout is how long the client keeps retrying one record
	// across broker deaths before failing it.
	deliveryTimeout = 60 * time.Second
	// keySpace is how many distinct keys the records use.
	keySpace = 1000
)

// Ack is a record the broker acknowledged.
type Ack struct {
	Seq       int64
	Partition int32
	Offset    int64 // -1 if the acknowledgement carried none
}

// Producer writes keyed records to one topic with an idempotent franz-go
// client (acks=all), and keeps what the broker acknowledged, in the order
// of the acknowledgements, and what it failed.
type Producer struct {
	ID    int
	Topic string
	// Rate is the records per second it hands to the client.
	Rate int

	cl *kgo.Client

	// produceMu serialises produce calls; never held by a promise, so a
	// call blocked on a full buffer cannot block the promises that free it.
	produceMu sync.Mutex

	mu       sync.Mutex
	nextSeq  int64          // guarded by mu: the next sequence number
	acks     []Ack          // guarded by mu: in the order the client reported them
	failed   []int64        // guarded by mu: sequence numbers whose produce failed
	failErrs map[string]int // guarded by mu: failures by error text
	rng      *rand.Rand     // guarded by mu: picks keys
}

// NewProducer returns a producer of records for topic on the broker at addr;
// seed picks its keys.
func NewProducer(id int, addr, topic string, rate int, seed uint64) (*Producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ClientID("chaos-producer-"+strconv.Itoa(id)),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, and what idempotence needs
		kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(2*maxInFlight),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.DialTimeout(time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(fastBackoff),
	)
	if err != nil {
		return nil, fmt.Errorf("chaos: producer %d: %w", id, err)
	}
	return &Producer{ID: id, Topic: topic, Rate: rate, cl: cl, failErrs: map[string]int{},
		rng: rand.New(rand.NewPCG(seed, uint64(id)))}, nil
}

// fastBackoff retries quickly, so that clients find a restarted broker
// within tens of milliseconds: 10 ms doubling up to 200 ms.
func fastBackoff(fails int) time.Duration {
	d := 10 * time.Millisecond
	for i := 1; i < fails && d < 200*time.Millisecond; i++ {
		d *= 2
	}
	return min(d, 200*time.Millisecond)
}

// Run produces until stop is closed or ctx ends, then waits up to drain for
// the records in flight to be acknowledged or failed, and closes the
// client (which fails whatever is still buffered).
func (p *Producer) Run(ctx context.Context, stop <-chan struct{}, drain time.Duration) {
	slots := make(chan struct{}, maxInFlight)
	perTick := max(1, p.Rate*int(produceTick)/int(time.Second))
	tick := time.NewTicker(produceTick)
	defer tick.Stop()
loop:
	for {
		for range perTick {
			select {
			case slots <- struct{}{}:
			case <-stop:
				break loop
			case <-ctx.Done():
				break loop
			}
			p.produceOne(ctx, slots)
		}
		select {
		case <-tick.C:
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	if ctx.Err() != nil {
		drain = min(drain, time.Second) // the run is over
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	_ = p.cl.Flush(dctx)
	cancel()
	p.cl.Close()
}

// Burst hands n records to the client at once, beyond the rate, and
// returns without waiting for them: the caller kills the broker while
// they are being appended.
func (p *Producer) Burst(ctx context.Context, n int) {
	for range n {
		p.produceOne(ctx, nil)
	}
}

// produceOne produces the next record; its acknowledgement frees a slot of
// slots, if not nil.
func (p *Producer) produceOne(ctx context.Context, slots chan struct{}) {
	// Sequence numbers are handed to the client in order, whichever
	// goroutine produces (Run or Burst): the checks take a smaller
	// sequence later in a partition for a reordering.
	p.produceMu.Lock()
	defer p.produceMu.Unlock()
	p.mu.Lock()
	seq := p.nextSeq
	p.nextSeq++
	key := "k" + strconv.Itoa(p.rng.IntN(keySpace))
	p.mu.Unlock()
	r := &kgo.Record{Key: []byte(key), Value: EncodeValue(ID{Producer: p.ID, Seq: seq})}
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		p.mu.Lock()
		if err != nil {
			p.failed = append(p.failed, seq)
			p.failErrs[err.Error()]++
		} else {
			p.acks = append(p.acks, Ack{Seq: seq, Partition: r.Partition, Offset: r.Offset})
		}
		p.mu.Unlock()
		if slots != nil {
			<-slots
		}
	})
}

// ProducerReport is what a producer saw.
type ProducerReport struct {
	ID       int
	Topic    string
	Produced int64   // sequence numbers used: [0, Produced)
	Acks     []Ack   // in acknowledgement order
	Failed   []int64 // sequence numbers whose produce failed
	FailErrs map[string]int
}

// Report returns what the producer saw so far.
func (p *Producer) Report() ProducerReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make(map[string]int, len(p.failErrs))
	for k, v := range p.failErrs {
		errs[k] = v
	}
	return ProducerReport{ID: p.ID, Topic: p.Topic, Produced: p.nextSeq, Acks: append([]Ack(nil), p.acks...), Failed: append([]int64(nil), p.failed...), FailErrs: errs}
}

// Acked returns how many records were acknowledged so far.
func (p *Producer) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// topErrors formats the most frequent errors of errs, for a log line.
func topErrors(errs map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range errs {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	s := ""
	for i, e := range all {
		if i == n {
			s += fmt.Sprintf("; %d more kinds", len(all)-n)
			break
		}
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%dx %s", e.v, e.k)
	}
	return s
}
