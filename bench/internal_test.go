package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		// Fields 14 and 15 are 150 and 25 ticks.
		{"1234 (bench.test) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 12 0 100", 1750 * time.Millisecond, true},
		// A name with spaces and parentheses.
		{"7 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0", 70 * time.Millisecond, true},
		{"7 (x) R 1 2 3", 0, false},
		{"no name at all", 0, false},
		{"7 (x) R 1 2 3 4 5 6 7 8 9 10 -3 4 0", 0, false},
	} {
		got, err := parseProcStatCPU(tc.stat)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseProcStatCPU(%q) = %v, %v; want %v, ok=%v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func TestLatencyRecorder(t *testing.T) {
	l := newLatencyRecorder(3 * maxLatencySamples)
	for i := range 3 * maxLatencySamples {
		l.record(time.Duration(i+1) * time.Microsecond)
	}
	s := l.summary()
	if s.Samples != maxLatencySamples {
		t.Errorf("samples = %d, want %d", s.Samples, maxLatencySamples)
	}
	if s.Max != 3*maxLatencySamples*time.Microsecond {
		t.Errorf("max = %v, want the exact maximum", s.Max)
	}
	// Every third value: the median is about 150 ms, p99 about 297 ms.
	if s.P50 < 149*time.Millisecond || s.P50 > 151*time.Millisecond || s.P99 < 296*time.Millisecond || s.P99 > 298*time.Millisecond {
		t.Errorf("p50 %v, p99 %v", s.P50, s.P99)
	}
	if (&latencyRecorder{}).summary() != (Latency{}) {
		t.Error("an empty recorder should summarise to zero")
	}
}

func TestValues(t *testing.T) {
	run := &produceRun{cfg: ProduceConfig{RecordSize: 100}, values: randomBytes(DefaultSeed, valuePoolBytes)}
	if !bytes.Equal(randomBytes(DefaultSeed, 64), run.values[:64]) {
		t.Error("values are not deterministic")
	}
	if bytes.Equal(randomBytes(2, 64), run.values[:64]) {
		t.Error("the seed does not change the values")
	}
	a, b := run.value(0), run.value(1)
	if len(a) != 100 || bytes.Equal(a, b) || bytes.Count(a, []byte{0}) > 10 {
		t.Errorf("values 0 and 1: %x, %x", a, b)
	}
	run.cfg.RecordSize = valuePoolBytes // the largest allowed: one window
	if v := run.value(12345); len(v) != valuePoolBytes {
		t.Errorf("len = %d", len(v))
	}
}

func TestConfigErrors(t *testing.T) {
	ok := ProduceConfig{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Records: 1, RecordSize: 1}
	for name, mut := range map[string]func(*ProduceConfig){
		"no brokers":          func(c *ProduceConfig) { c.Brokers = nil },
		"no records":          func(c *ProduceConfig) { c.Records = 0 },
		"huge record":         func(c *ProduceConfig) { c.RecordSize = valuePoolBytes + 1 },
		"inflight idempotent": func(c *ProduceConfig) { c.MaxInFlight = 3 },
		"bad acks":            func(c *ProduceConfig) { c.Acks = "2" },
		"bad compression":     func(c *ProduceConfig) { c.Compression = "brotli" },
	} {
		c := ok
		mut(&c)
		cfg, err := c.withDefaults()
		if err == nil {
			_, err = cfg.kgoOpts()
		}
		if err == nil || !strings.HasPrefix(err.Error(), "bench: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	cfg, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.kgoOpts(); err != nil {
		t.Fatal(err)
	}
	if cfg.Producers != 1 || cfg.MaxBufferedRecords != DefaultMaxBufferedRecords || cfg.Seed != DefaultSeed {
		t.Errorf("defaults: %+v", cfg)
	}
}
