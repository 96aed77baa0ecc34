package bench

import (
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: latencies are recorded in microseconds with three
// significant digits (an error of at most 0.1%), from 1 µs to an hour; a
// longer latency counts as an hour in the percentiles (Max stays exact).
// That is ~190 KB of counters whatever the number of records.
const (
	histLowest  = 1                                   // µs
	histHighest = int64(time.Hour / time.Microsecond) // µs
	histDigits  = 3
)

// Histogram records latencies into an HDR histogram: every record counts,
// in constant memory, and percentiles are exact to three significant
// digits. It also keeps the exact maximum. Its methods are safe for
// concurrent use (kgo calls promises serially per client, and several
// clients share one Histogram).
type Histogram struct {
	mu  sync.Mutex // guards the fields below
	h   *hdrhistogram.Histogram
	max time.Duration
	sum time.Duration
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Record adds one latency. Negative latencies (a clock that stepped back,
// or a stamp from another machine's clock) count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	us := min(max(int64(d/time.Microsecond), histLowest), histHighest)
	h.mu.Lock()
	_ = h.h.RecordValue(us) // in range by construction
	h.max = max(h.max, d)
	h.sum += d
	h.mu.Unlock()
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Summary is the percentiles of what was recorded so far; zero if nothing
// was. Percentiles are capped at Max, so p50 <= p95 <= ... <= Max holds
// even though the histogram rounds values up within their bucket.
func (h *Histogram) Summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	at := func(p float64) time.Duration {
		return min(time.Duration(h.h.ValueAtPercentile(p))*time.Microsecond, h.max)
	}
	return Latency{
		P50:     at(50),
		P95:     at(95),
		P99:     at(99),
		P999:    at(99.9),
		Max:     h.max,
		Mean:    h.sum / time.Duration(n),
		Samples: int(min(n, math.MaxInt)),
	}
}

// Percentile is one point of a latency distribution: Fraction of the
// records (0 < Fraction <= 1) took at most Latency.
type Percentile struct {
	Fraction float64
	Latency  time.Duration
}

// percentileSteps is how many points Percentiles gives per tenfold
// smaller tail (90%, 99%, 99.9%...).
const percentileSteps = 20

// Percentiles is the cumulative distribution of what was recorded, from the
// minimum (Fraction 0) to the maximum (Fraction 1), with percentileSteps
// points per tenfold smaller tail down to the last record's; nil if
// nothing was recorded.
func (h *Histogram) Percentiles() []Percentile {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.h.TotalCount()
	if n == 0 {
		return nil
	}
	at := func(f float64) Percentile {
		return Percentile{
			Fraction: f,
			Latency:  min(time.Duration(h.h.ValueAtPercentile(100*f))*time.Microsecond, h.max),
		}
	}
	out := []Percentile{at(0)}
	last := 1 - 1/float64(n) // the fraction below the last record
	for j := 1; ; j++ {
		f := 1 - math.Pow(10, -float64(j)/percentileSteps)
		if f >= last {
			break
		}
		out = append(out, at(f))
	}
	return append(out, Percentile{Fraction: 1, Latency: h.max})
}
