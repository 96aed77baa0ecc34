package bench

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result is what one Produce or Consume run did.
type Result struct {
	// Records is how many records were acknowledged (Produce) or read
	// (Consume).
	Records int64
	// Bytes is the sum of those records' key and value lengths.
	Bytes int64
	// Elapsed is the wall time of the run, from creating the client to the
	// last acknowledgement or record.
	Elapsed time.Duration
	// RecordsPerSec and MBPerSec are Records and Bytes over Elapsed
	// (MB = 10^6 bytes).
	RecordsPerSec, MBPerSec float64
	// Latency is per-record produce latency; zero for Consume.
	Latency Latency
	// Idempotent reports whether the broker gave the producer an ID
	// (InitProducerID), i.e. whether the run was really idempotent. A broker
	// without InitProducerID gets a non-idempotent producer from kgo, with
	// the same five requests in flight.
	Idempotent bool
}

// String is a one-line summary.
func (r Result) String() string {
	s := fmt.Sprintf("%d records, %d bytes in %v: %.0f records/s, %.2f MB/s",
		r.Records, r.Bytes, r.Elapsed.Round(time.Millisecond), r.RecordsPerSec, r.MBPerSec)
	if r.Latency.Samples > 0 {
		s += ", latency " + r.Latency.String()
	}
	return s
}

func (r *Result) finish(elapsed time.Duration) {
	r.Elapsed = elapsed
	if sec := elapsed.Seconds(); sec > 0 {
		r.RecordsPerSec = float64(r.Records) / sec
		r.MBPerSec = float64(r.Bytes) / 1e6 / sec
	}
}

// Latency summarises per-record produce latencies: from the Produce call
// (so including any wait for buffer space, as Kafka's producer-perf-test
// counts it) to the promise that reports the broker's acknowledgement.
//
// P50 and P99 come from a sample of at most maxLatencySamples records taken
// at an even stride over the run; Max is exact over every record.
type Latency struct {
	P50, P99, Max time.Duration
	// Samples is how many latencies P50 and P99 were computed from.
	Samples int
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %v p99 %v max %v", l.P50, l.P99, l.Max)
}

// maxLatencySamples bounds the memory of a latency recorder: 8 bytes each,
// so 800 KB, and plenty for a p99.
const maxLatencySamples = 100_000

// latencyRecorder keeps every stride-th latency and the exact maximum. Its
// methods are safe for concurrent use: kgo calls promises serially per
// client, and several clients share one recorder.
type latencyRecorder struct {
	stride int64

	mu      sync.Mutex // guards the fields below
	n       int64      // latencies seen
	samples []time.Duration
	max     time.Duration
}

// newLatencyRecorder sizes the stride so that a run of records records keeps
// at most maxLatencySamples samples.
func newLatencyRecorder(records int64) *latencyRecorder {
	stride := max(1, (records+maxLatencySamples-1)/maxLatencySamples)
	return &latencyRecorder{
		stride:  stride,
		samples: make([]time.Duration, 0, min(records, maxLatencySamples)),
	}
}

func (l *latencyRecorder) record(d time.Duration) {
	l.mu.Lock()
	if l.n%l.stride == 0 && len(l.samples) < cap(l.samples) {
		l.samples = append(l.samples, d)
	}
	l.n++
	l.max = max(l.max, d)
	l.mu.Unlock()
}

// summary sorts the samples; call it once the recording is over.
func (l *latencyRecorder) summary() Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return Latency{}
	}
	slices.Sort(l.samples)
	return Latency{
		P50:     percentile(l.samples, 0.50),
		P99:     percentile(l.samples, 0.99),
		Max:     l.max,
		Samples: len(l.samples),
	}
}

// percentile is the nearest-rank percentile of sorted, which is not empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
