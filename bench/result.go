package bench

import (
	"fmt"
	"time"
)

// Result is what one Produce or Consume run did.
type Result struct {
	// Records is how many records were acknowledged (Produce) or read
	// (Consume).
	Records int64
	// Sent is how many records Produce handed to the client; on a run
	// without errors it equals Records. Zero for Consume.
	Sent int64
	// Bytes is the sum of those records' key and value lengths.
	Bytes int64
	// Elapsed is the wall time of the run, from creating the client to the
	// last acknowledgement or record.
	Elapsed time.Duration
	// RecordsPerSec and MBPerSec are Records and Bytes over Elapsed
	// (MB = 10^6 bytes).
	RecordsPerSec, MBPerSec float64
	// Latency is per-record produce latency, or end-to-end latency for a
	// Consume of stamped records (ConsumeConfig.Stamped); zero otherwise.
	Latency Latency
	// Histogram holds the latencies Latency summarises; nil when there are
	// none.
	Histogram *Histogram
	// Timeline is the run's throughput, one Sample per sample interval
	// (the last one may be shorter).
	Timeline []Sample
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

// Latency summarises per-record latencies: for Produce, from the Produce
// call (so including any wait for buffer space, as Kafka's
// producer-perf-test counts it) to the promise that reports the broker's
// acknowledgement; for an end-to-end run, from that Produce call to the
// consumer receiving the record.
//
// Every record is counted, in an HDR histogram (see [Histogram]):
// percentiles are exact to three significant digits, Max and Mean exactly.
type Latency struct {
	P50, P95, P99, P999, Max time.Duration
	// Mean is the average latency.
	Mean time.Duration
	// Samples is how many latencies were recorded (every record).
	Samples int
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %v p95 %v p99 %v p99.9 %v max %v", l.P50, l.P95, l.P99, l.P999, l.Max)
}
