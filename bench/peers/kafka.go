package peers

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/tributary-io/tributary/bench"
)

// Broker kinds that ServeBroker runs in a child process.
const (
	KindTributary = "tributary"
	KindKfake     = "kfake"
)

// EnvCPUProfile names a directory: when set, each Kafka broker child writes
// a CPU profile of each timed workload there, as
// <broker>-<workload>-<random>.pprof (the convention of make bench-e2e).
const EnvCPUProfile = "TRIBUTARY_BENCH_CPUPROFILE"

// Kafka producer settings (see the package comment).
const (
	kafkaLinger        = 5 * time.Millisecond
	kafkaLatencyLinger = 0
	// kafkaDrain bounds the wait, after the last acknowledgement of a
	// latency run, for the consumer to read the rest.
	kafkaDrain = 30 * time.Second
)

func tributarySystem() System {
	return System{
		Name:    KindTributary,
		Label:   "Tributary",
		Missing: func() string { return "" },
		Version: func() string { return "this tree, through franz-go " + moduleVersion("github.com/twmb/franz-go") },
		Start:   func(ctx context.Context, dir string) (Instance, error) { return startKafka(ctx, KindTributary, dir) },
	}
}

func kfakeSystem() System {
	return System{
		Name:  KindKfake,
		Label: "kfake",
		Missing: func() string {
			if serveKfake == nil {
				return errKfakeTestOnly.Error()
			}
			return ""
		},
		Version: func() string { return "kfake " + moduleVersion("github.com/twmb/franz-go/pkg/kfake") + ", in memory" },
		Start:   func(ctx context.Context, dir string) (Instance, error) { return startKafka(ctx, KindKfake, dir) },
	}
}

// moduleVersion is the version of module path this program was built
// with, or "unknown".
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "unknown"
}

// kafkaInstance is a Kafka-protocol broker in a child process (see
// bench.StartBroker), driven by the bench engine.
type kafkaInstance struct {
	proc    *bench.BrokerProc
	profDir string // EnvCPUProfile, or ""
}

func startKafka(ctx context.Context, kind, dir string) (Instance, error) {
	p, err := bench.StartBroker(ctx, kind, dir, bench.WithPartitions(Partitions))
	if err != nil {
		return nil, err
	}
	k := &kafkaInstance{proc: p, profDir: os.Getenv(EnvCPUProfile)}
	if k.profDir != "" {
		if err := os.MkdirAll(k.profDir, 0o755); err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
	}
	return k, nil
}

func (k *kafkaInstance) PID() int    { return k.proc.PID() }
func (k *kafkaInstance) Stop() error { return k.proc.Stop() }

func (k *kafkaInstance) Prepare(ctx context.Context, w Workload) error {
	if w.Kind == Consume {
		return nil
	}
	return bench.EnsureTopic(ctx, []string{k.proc.Addr}, w.Topic, Partitions)
}

func (k *kafkaInstance) Run(ctx context.Context, w Workload) (res bench.Result, err error) {
	if k.profDir != "" {
		// A name no other run, in this process or another, has taken.
		f, err := os.CreateTemp(k.profDir, k.proc.Kind+"-"+w.Name+"-*.pprof")
		if err != nil {
			return bench.Result{}, fmt.Errorf("peers: %w", err)
		}
		f.Close()
		if err := k.proc.StartCPUProfile(f.Name()); err != nil {
			return bench.Result{}, err
		}
		defer func() {
			if perr := k.proc.StopCPUProfile(); perr != nil && err == nil {
				err = perr
			}
		}()
	}
	brokers := []string{k.proc.Addr}
	switch w.Kind {
	case Produce:
		return bench.Produce(ctx, bench.ProduceConfig{
			Brokers:    brokers,
			Topic:      w.Topic,
			Records:    w.Records,
			RecordSize: w.RecordSize,
			Acks:       "all",
			Linger:     kafkaLinger,
		})
	case Consume:
		return bench.Consume(ctx, bench.ConsumeConfig{Brokers: brokers, Topic: w.Topic, Records: w.Records})
	case Latency:
		out, err := bench.EndToEnd(ctx, bench.ProduceConfig{
			Brokers:    brokers,
			Topic:      w.Topic,
			Rate:       w.Rate,
			Duration:   w.Duration,
			RecordSize: w.RecordSize,
			Acks:       "all",
			Linger:     kafkaLatencyLinger,
		}, bench.ConsumeConfig{}, kafkaDrain)
		return out.Consume, err
	}
	return bench.Result{}, fmt.Errorf("peers: unknown workload kind %v", w.Kind)
}
