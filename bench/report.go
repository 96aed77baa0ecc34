package bench

import "time"

// Report is a run's summary for machines: what `tributary bench --json`
// prints. Durations are in milliseconds as floats, rates per second, MB
// is 10^6 bytes.
type Report struct {
	// Mode is "produce", "consume" or "e2e".
	Mode  string `json:"mode"`
	Topic string `json:"topic"`
	// Records is how many records were acknowledged (produce, e2e) or read
	// (consume); Sent how many the producer sent (produce, e2e).
	Records        int64   `json:"records"`
	Sent           int64   `json:"sent,omitempty"`
	Bytes          int64   `json:"bytes"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	RecordsPerSec  float64 `json:"records_per_sec"`
	MBPerSec       float64 `json:"mb_per_sec"`
	// Latency is the produce acknowledgement latency (produce, e2e).
	Latency *LatencyReport `json:"latency,omitempty"`
	// Consumed and EndToEndLatency are the consumer's side of an e2e run.
	Consumed        *int64         `json:"consumed,omitempty"`
	EndToEndLatency *LatencyReport `json:"e2e_latency,omitempty"`
	// Idempotent reports whether the producer got a producer ID.
	Idempotent *bool `json:"idempotent,omitempty"`
	// Timeline is the per-interval throughput.
	Timeline []SampleReport `json:"timeline"`
}

// LatencyReport is Latency in milliseconds.
type LatencyReport struct {
	Count  int     `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// SampleReport is one Sample.
type SampleReport struct {
	AtSeconds     float64 `json:"at_seconds"`
	Records       int64   `json:"records"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	InFlight      int64   `json:"in_flight"`
}

// NewReport summarises a produce or consume run.
func NewReport(mode, topic string, r Result) Report {
	rep := Report{
		Mode:           mode,
		Topic:          topic,
		Records:        r.Records,
		Sent:           r.Sent,
		Bytes:          r.Bytes,
		ElapsedSeconds: r.Elapsed.Seconds(),
		RecordsPerSec:  r.RecordsPerSec,
		MBPerSec:       r.MBPerSec,
		Latency:        latencyReport(r.Latency),
		Timeline:       make([]SampleReport, 0, len(r.Timeline)),
	}
	if mode != "consume" {
		rep.Idempotent = &r.Idempotent
	}
	for _, s := range r.Timeline {
		rep.Timeline = append(rep.Timeline, SampleReport{
			AtSeconds:     s.At.Seconds(),
			Records:       s.Records,
			RecordsPerSec: s.RecordsPerSec,
			MBPerSec:      s.MBPerSec,
			InFlight:      s.InFlight,
		})
	}
	return rep
}

// NewEndToEndReport summarises an e2e run: the producer's throughput and
// latency, and the consumer's count and end-to-end latency.
func NewEndToEndReport(topic string, r EndToEndResult) Report {
	rep := NewReport("e2e", topic, r.Produce)
	consumed := r.Consume.Records
	rep.Consumed = &consumed
	rep.EndToEndLatency = latencyReport(r.Consume.Latency)
	return rep
}

func latencyReport(l Latency) *LatencyReport {
	if l.Samples == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &LatencyReport{
		Count:  l.Samples,
		MeanMs: ms(l.Mean),
		P50Ms:  ms(l.P50),
		P95Ms:  ms(l.P95),
		P99Ms:  ms(l.P99),
		P999Ms: ms(l.P999),
		MaxMs:  ms(l.Max),
	}
}
