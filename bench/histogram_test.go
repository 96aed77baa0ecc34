package bench

import (
	"testing"
	"time"
)

// TestHistogram replaces the sampled latency recorder's test: every
// latency counts, the maximum is exact and the percentiles are within the
// histogram's 0.1%.
func TestHistogram(t *testing.T) {
	const n = 300_000
	h := NewHistogram()
	for i := range n {
		h.Record(time.Duration(i+1) * time.Microsecond)
	}
	s := h.Summary()
	if s.Samples != n || h.Count() != n {
		t.Errorf("samples = %d, count = %d, want %d", s.Samples, h.Count(), n)
	}
	if s.Max != n*time.Microsecond {
		t.Errorf("max = %v, want the exact maximum", s.Max)
	}
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50, 150 * time.Millisecond},
		{"p95", s.P95, 285 * time.Millisecond},
		{"p99", s.P99, 297 * time.Millisecond},
		{"p99.9", s.P999, 299700 * time.Microsecond},
		{"mean", s.Mean, 150 * time.Millisecond},
	} {
		if d := tc.got - tc.want; d < -tc.want/1000 || d > tc.want/1000 {
			t.Errorf("%s = %v, want %v ± 0.1%%", tc.name, tc.got, tc.want)
		}
	}
	if !(s.P50 <= s.P95 && s.P95 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("percentiles out of order: %+v", s)
	}
	ps := h.Percentiles()
	if len(ps) < 10 || ps[len(ps)-1].Fraction != 1 || ps[len(ps)-1].Latency != s.Max {
		t.Fatalf("percentiles: %d points, last %+v", len(ps), ps[len(ps)-1])
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Fraction < ps[i-1].Fraction || ps[i].Latency < ps[i-1].Latency {
			t.Fatalf("percentiles not monotonic at %d: %+v, %+v", i, ps[i-1], ps[i])
		}
	}

	// Out of range values are clamped, not dropped.
	h = NewHistogram()
	h.Record(-time.Second)
	h.Record(2 * time.Hour)
	if s := h.Summary(); s.Samples != 2 || s.Max != 2*time.Hour || s.P50 > time.Microsecond {
		t.Errorf("clamped: %+v", s)
	}
	if NewHistogram().Summary() != (Latency{}) || NewHistogram().Percentiles() != nil {
		t.Error("an empty histogram should summarise to zero")
	}
}

func TestSampler(t *testing.T) {
	var c counters
	start := time.Now()
	s := startSampler(&c, start, time.Hour, nil, "")
	c.bytes.Add(1000)
	c.records.Add(10)
	tl := s.stop(2 * time.Second)
	if len(tl) != 1 || tl[0].Records != 10 || tl[0].RecordsPerSec != 5 || tl[0].MBPerSec != 0.0005 || tl[0].Interval != 2*time.Second {
		t.Errorf("timeline %+v", tl)
	}
}

func TestSamplerFoldsShortTail(t *testing.T) {
	var c counters
	s := startSampler(&c, time.Now(), time.Hour, nil, "")
	s.mu.Lock()
	s.timeline = []Sample{{At: time.Hour, Interval: time.Hour, Records: 3600, Bytes: 3600, RecordsPerSec: 1}}
	s.last, s.lastRec, s.lastByte = time.Hour, 3600, 3600
	s.mu.Unlock()
	c.records.Add(3610)
	c.bytes.Add(3610)
	tl := s.stop(time.Hour + time.Second)
	if len(tl) != 1 || tl[0].Records != 3610 || tl[0].Interval != time.Hour+time.Second || tl[0].At != time.Hour+time.Second {
		t.Errorf("timeline %+v", tl)
	}
}
