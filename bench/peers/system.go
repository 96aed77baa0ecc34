package peers

import (
	"context"
	"fmt"
	"time"

	"github.com/tributary-io/tributary/bench"
)

// Partitions is the parallelism every system gets: a topic's partitions,
// a stream's subjects, the number of Redis stream keys.
const Partitions = 4

// Kind is what a workload does.
type Kind int

const (
	// Produce writes Workload.Records records and waits for every
	// acknowledgement.
	Produce Kind = iota
	// Consume reads the Workload.Records records a Produce workload wrote
	// to the same Workload.Topic.
	Consume
	// Latency produces at Workload.Rate for Workload.Duration while a
	// consumer reads, and measures each record's end-to-end latency.
	Latency
)

func (k Kind) String() string {
	switch k {
	case Produce:
		return "produce"
	case Consume:
		return "consume"
	case Latency:
		return "latency"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Workload is one column of the grid.
type Workload struct {
	// Name names the workload in reports ("produce-100B").
	Name string
	Kind Kind
	// Topic is the topic, stream or key prefix the workload writes or
	// reads; a Consume workload reads its Produce workload's topic.
	Topic string
	// Records is how many records to produce or consume (Produce,
	// Consume).
	Records int64
	// RecordSize is each record's value size in bytes.
	RecordSize int
	// Rate (records/s) and Duration bound a Latency workload.
	Rate     float64
	Duration time.Duration
}

// Bytes is the value bytes a Produce or Consume workload moves.
func (w Workload) Bytes() int64 { return w.Records * int64(w.RecordSize) }

// Title is how reports name the workload ("produce 1,000,000 × 100 B").
func (w Workload) Title() string {
	switch w.Kind {
	case Latency:
		return fmt.Sprintf("latency %s records/s × %s, %s", thousands(w.Rate), durationName(w.Duration), sizeName(w.RecordSize))
	default:
		return fmt.Sprintf("%s %s × %s", w.Kind, thousands(float64(w.Records)), sizeName(w.RecordSize))
	}
}

// Scale sizes a workload set. The zero value is not useful: start from
// DefaultScale.
type Scale struct {
	// Small and Large are the record counts of the 100 B and 1 KiB
	// workloads.
	Small, Large int64
	// Rate and Duration are the latency workload's.
	Rate     float64
	Duration time.Duration
}

// DefaultScale is the benchmark's scale: 1,000,000 × 100 B, 200,000 ×
// 1 KiB, 10,000 records/s for 10 s.
var DefaultScale = Scale{Small: 1_000_000, Large: 200_000, Rate: 10_000, Duration: 10 * time.Second}

// Record sizes of the workloads.
const (
	smallRecord   = 100
	largeRecord   = 1024
	latencyRecord = 100
)

// Workloads is the grid's columns at scale s, in the order they run: each
// consume right after the produce that filled its topic.
func Workloads(s Scale) []Workload {
	return []Workload{
		{Name: "produce-100B", Kind: Produce, Topic: "bench-100B", Records: s.Small, RecordSize: smallRecord},
		{Name: "consume-100B", Kind: Consume, Topic: "bench-100B", Records: s.Small, RecordSize: smallRecord},
		{Name: "produce-1KiB", Kind: Produce, Topic: "bench-1KiB", Records: s.Large, RecordSize: largeRecord},
		{Name: "consume-1KiB", Kind: Consume, Topic: "bench-1KiB", Records: s.Large, RecordSize: largeRecord},
		{Name: "latency", Kind: Latency, Topic: "bench-latency", Rate: s.Rate, Duration: s.Duration, RecordSize: latencyRecord},
	}
}

// System is one system under test.
type System struct {
	// Name is its short name ("tributary", "nats").
	Name string
	// Label is its name in reports ("NATS JetStream").
	Label string
	// Missing says why the system cannot run here and how to install what
	// it lacks, or "" if it can run.
	Missing func() string
	// Version describes the server's version, once it is known to run.
	Version func() string
	// Start starts a fresh server over dir, an empty directory it may
	// fill, and connects a client to it.
	Start func(ctx context.Context, dir string) (Instance, error)
}

// Instance is a running server of a System and the client that drives it.
type Instance interface {
	// PID is the server process's ID: its CPU clock is the server's CPU.
	PID() int
	// Prepare creates what w needs (a topic, a stream) before w is timed.
	Prepare(ctx context.Context, w Workload) error
	// Run runs w. For Produce and Consume the Result counts records and
	// value bytes; for Latency it is the consumer's side, with every
	// record's end-to-end latency in Latency and Histogram.
	Run(ctx context.Context, w Workload) (bench.Result, error)
	// Stop closes the client and stops the server: a signal to its PID
	// that asks for a clean shutdown, SIGKILL if it has not exited after a
	// grace period.
	Stop() error
}

// Systems are the systems the benchmark knows, in the order they run.
func Systems() []System {
	return []System{tributarySystem(), natsSystem(), redisSystem(), kfakeSystem()}
}

// Lookup returns the named systems in the order given.
func Lookup(names []string) ([]System, error) {
	all := Systems()
	out := make([]System, 0, len(names))
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.Name == n {
				out = append(out, s)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("peers: unknown system %q (have tributary, nats, redis, kfake)", n)
		}
	}
	return out, nil
}
