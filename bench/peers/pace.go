package peers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/bench"
)

// tally is a run's live count of records and value bytes, updated from
// any goroutine.
type tally struct {
	records atomic.Int64
	bytes   atomic.Int64
}

func (t *tally) add(records, bytes int64) {
	t.bytes.Add(bytes)
	t.records.Add(records)
}

// result is what a run that took elapsed did, with the latencies in h
// (nil if none).
func (t *tally) result(elapsed time.Duration, h *bench.Histogram) bench.Result {
	r := bench.Result{Records: t.records.Load(), Bytes: t.bytes.Load(), Elapsed: elapsed}
	if sec := elapsed.Seconds(); sec > 0 {
		r.RecordsPerSec = float64(r.Records) / sec
		r.MBPerSec = float64(r.Bytes) / 1e6 / sec
	}
	if h != nil && h.Count() > 0 {
		r.Latency, r.Histogram = h.Summary(), h
	}
	return r
}

// pace calls send for records 0, 1, 2, ... at rate records/s until d has
// passed since start: record i is due at start + i/rate, and a sender that
// fell behind catches up in a burst, so the average rate holds (the
// throttle of Kafka's producer-perf-test, and of bench.Produce). It stops
// early when ctx ends or send fails, and returns how many records it sent.
func pace(ctx context.Context, start time.Time, rate float64, d time.Duration, send func(i int64, now time.Time) error) (int64, error) {
	gap := time.Duration(float64(time.Second) / rate)
	end := start.Add(d)
	var i int64
	for ; ; i++ {
		due := start.Add(time.Duration(i) * gap)
		if !due.Before(end) {
			return i, nil
		}
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return i, ctx.Err()
			case <-t.C:
			}
		} else if err := ctx.Err(); err != nil {
			return i, err
		}
		if err := send(i, time.Now()); err != nil {
			return i, err
		}
	}
}

// waitCount waits until count() reaches want, polling, or ctx ends or
// timeout passes; it reports whether the count was reached.
func waitCount(ctx context.Context, count func() int64, want int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for count() < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// sinceLast is the time from start to the last arrival (Unix ns), or to
// now if nothing arrived.
func sinceLast(start time.Time, lastNanos int64) time.Duration {
	if lastNanos == 0 {
		return time.Since(start)
	}
	return time.Unix(0, lastNanos).Sub(start)
}
