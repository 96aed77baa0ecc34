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
