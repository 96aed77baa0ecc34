package peers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-io/tributary/bench"
)

// NATS client settings (see the package comment).
const (
	// natsMaxPending is the most unacknowledged asynchronous publishes:
	// the jetstream package's default, spelled out (20,000 measured no
	// faster here).
	natsMaxPending = 4000
	// natsPullBatch is the ordered consumer's pull batch: ten times the
	// jetstream package's default of 500, which read 100 B records 20-40%
	// slower here.
	natsPullBatch = 5000
	// natsDrain bounds the wait for outstanding acknowledgements, and for
	// a latency consumer to read what was acknowledged.
	natsDrain = 30 * time.Second
)

func natsSystem() System {
	return System{
		Name:    "nats",
		Label:   "NATS JetStream",
		Missing: func() string { return binaryMissing("nats-server", "nats-server") },
		Version: func() string {
			// It prints "nats-server: v2.9.10".
			v := strings.Replace(versionOf("nats-server", "--version"), ": ", " ", 1)
			return v + ", file storage (nats.go " + moduleVersion("github.com/nats-io/nats.go") + ")"
		},
		Start: startNATS,
	}
}

// natsInstance is a nats-server with JetStream on file storage.
type natsInstance struct {
	proc *serverProc
	url  string
}

func startNATS(ctx context.Context, dir string) (Instance, error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return nil, fmt.Errorf("peers: %s", binaryMissing("nats-server", "nats-server"))
	}
	store := filepath.Join(dir, "jetstream")
	p, err := startProcess(ctx, "nats-server", bin, dir, syscall.SIGINT, func(port int) []string {
		return []string{"-js", "-sd", store, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	})
	if err != nil {
		return nil, err
	}
	return &natsInstance{proc: p, url: "nats://" + p.addr}, nil
}

func (n *natsInstance) PID() int    { return n.proc.PID() }
func (n *natsInstance) Stop() error { return n.proc.Stop() }

// connect opens a connection and its JetStream context.
func (n *natsInstance) connect(opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(n.url, nats.Name("tributary-bench"))
	if err != nil {
		return nil, nil, fmt.Errorf("peers: nats: connect: %w", err)
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("peers: nats: %w", err)
	}
	return nc, js, nil
}

// subjects are a stream's subjects, one per partition.
func subjects(topic string) []string {
	s := make([]string, Partitions)
	for i := range s {
		s[i] = topic + "." + strconv.Itoa(i)
	}
	return s
}

func (n *natsInstance) Prepare(ctx context.Context, w Workload) error {
	if w.Kind == Consume {
		return nil
	}
	nc, js, err := n.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     w.Topic,
		Subjects: []string{w.Topic + ".*"},
		Storage:  jetstream.FileStorage,
		Replicas: 1,
	})
	if err != nil {
		return fmt.Errorf("peers: nats: create stream %s: %w", w.Topic, err)
	}
	return nil
}

func (n *natsInstance) Run(ctx context.Context, w Workload) (bench.Result, error) {
	switch w.Kind {
	case Produce:
		return n.produce(ctx, w)
	case Consume:
		return n.consume(ctx, w)
	case Latency:
		return n.latency(ctx, w)
	}
	return bench.Result{}, fmt.Errorf("peers: unknown workload kind %v", w.Kind)
}

// firstErr keeps the first error reported from any goroutine.
type firstErr struct {
	once sync.Once
	err  error
	set  atomic.Bool
}

func (f *firstErr) put(err error) {
	f.once.Do(func() { f.err = err; f.set.Store(true) })
}

func (f *firstErr) get() error {
	if f.set.Load() {
		return f.err
	}
	return nil
}

// publisher is an asynchronous JetStream publisher that counts what the
// server acknowledged.
type publisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	acked tally
	err   firstErr
}

func (n *natsInstance) newPublisher() (*publisher, error) {
	p := &publisher{}
	var err error
	p.nc, p.js, err = n.connect(
		jetstream.WithPublishAsyncMaxPending(natsMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			p.acked.add(1, int64(len(m.Data)))
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			p.err.put(fmt.Errorf("peers: nats: publish: %w", err))
		}),
	)
	return p, err
}

// publish sends one record, waiting while natsMaxPending are unacknowledged.
func (p *publisher) publish(ctx context.Context, subject string, value []byte) error {
	for {
		_, err := p.js.PublishAsync(subject, value)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			if err != nil {
				return fmt.Errorf("peers: nats: publish: %w", err)
			}
			return p.err.get()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// wait waits until every publish is acknowledged (or failed).
func (p *publisher) wait(ctx context.Context) error {
	t := time.NewTimer(natsDrain)
	defer t.Stop()
	select {
	case <-p.js.PublishAsyncComplete():
		return p.err.get()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("peers: nats: %d publishes unacknowledged after %v", p.js.PublishAsyncPending(), natsDrain)
	}
}

func (n *natsInstance) produce(ctx context.Context, w Workload) (bench.Result, error) {
	values, err := bench.NewValues(0, w.RecordSize)
	if err != nil {
		return bench.Result{}, err
	}
	subj := subjects(w.Topic)
	start := time.Now()
	p, err := n.newPublisher()
	if err != nil {
		return bench.Result{}, err
	}
	defer p.nc.Close()
	for i := range w.Records {
		if err = p.publish(ctx, subj[i%Partitions], values.Value(i)); err != nil {
			break
		}
	}
	if werr := p.wait(ctx); err == nil {
		err = werr
	}
	return p.acked.result(time.Since(start), nil), err
}

// subscriber is an ordered consumer of a stream, from its start, that
// counts what it reads and, if it has a histogram, measures each record's
// end-to-end latency from the stamp in its value.
type subscriber struct {
	nc   *nats.Conn
	cc   jetstream.ConsumeContext
	read tally
	lat  *bench.Histogram
	last atomic.Int64 // Unix ns of the last arrival
	want int64        // close done at this many records; 0: never
	done chan struct{}
}

func (n *natsInstance) subscribe(ctx context.Context, stream string, want int64, lat *bench.Histogram) (*subscriber, error) {
	s := &subscriber{lat: lat, want: want, done: make(chan struct{})}
	var (
		js  jetstream.JetStream
		err error
	)
	s.nc, js, err = n.connect()
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err == nil {
		s.cc, err = cons.Consume(s.handle, jetstream.PullMaxMessages(natsPullBatch))
	}
	if err != nil {
		s.nc.Close()
		return nil, fmt.Errorf("peers: nats: consume %s: %w", stream, err)
	}
	return s, nil
}

// handle is called by the client, one message at a time.
func (s *subscriber) handle(m jetstream.Msg) {
	now := time.Now()
	data := m.Data()
	if s.lat != nil {
		if sent, ok := bench.StampedAt(data); ok {
			s.lat.Record(now.Sub(sent))
		}
	}
	s.last.Store(now.UnixNano())
	s.read.add(1, int64(len(data)))
	if s.read.records.Load() == s.want {
		close(s.done)
	}
}

func (s *subscriber) close() {
	s.cc.Stop()
	s.nc.Close()
}

func (n *natsInstance) consume(ctx context.Context, w Workload) (bench.Result, error) {
	start := time.Now()
	s, err := n.subscribe(ctx, w.Topic, w.Records, nil)
	if err != nil {
		return bench.Result{}, err
	}
	defer s.close()
	select {
	case <-s.done:
	case <-ctx.Done():
		err = fmt.Errorf("peers: nats: consume: %d of %d records: %w", s.read.records.Load(), w.Records, ctx.Err())
	}
	return s.read.result(time.Since(start), nil), err
}

func (n *natsInstance) latency(ctx context.Context, w Workload) (bench.Result, error) {
	values, err := bench.NewValues(0, w.RecordSize)
	if err != nil {
		return bench.Result{}, err
	}
	subj := subjects(w.Topic)
	s, err := n.subscribe(ctx, w.Topic, 0, bench.NewHistogram())
	if err != nil {
		return bench.Result{}, err
	}
	defer s.close()
	p, err := n.newPublisher()
	if err != nil {
		return bench.Result{}, err
	}
	defer p.nc.Close()

	start := time.Now()
	_, err = pace(ctx, start, w.Rate, w.Duration, func(i int64, now time.Time) error {
		return p.publish(ctx, subj[i%Partitions], values.Stamped(i, now))
	})
	if werr := p.wait(ctx); err == nil {
		err = werr
	}
	acked := p.acked.records.Load()
	if err == nil && !waitCount(ctx, s.read.records.Load, acked, natsDrain) {
		err = fmt.Errorf("peers: nats: latency: consumer read %d of %d records", s.read.records.Load(), acked)
	}
	return s.read.result(sinceLast(start, s.last.Load()), s.lat), err
}
