package bench_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/bench"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// startInProcess serves a Tributary broker over a temp data dir inside the
// test process, on a free loopback port, until the test ends.
func startInProcess(t *testing.T) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mgr, err := tlog.OpenManager(t.TempDir(), tlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Groups.InitialRebalanceDelay = 0 // a group's first member starts at once
	srv, err := server.New(mgr, cfg, logger)
	if err != nil {
		mgr.Close()
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(errors.Join(err, srv.Close(), mgr.Close()))
	}
	t.Cleanup(func() {
		if err := errors.Join(srv.Close(), mgr.Close()); err != nil {
			t.Error(err)
		}
	})
	return addr.String()
}

// timeline sums a run's samples.
func timelineRecords(tl []bench.Sample) (n int64) {
	for _, s := range tl {
		n += s.Records
	}
	return n
}

// TestProduceRateAndDuration: a run bounded by its duration at a rate sends
// about rate × duration records, every one acknowledged and in the
// timeline, and a consumer bounded by its duration reads them all and then
// stops without an error.
func TestProduceRateAndDuration(t *testing.T) {
	addr := startInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.Produce(ctx, bench.ProduceConfig{
		Brokers:        []string{addr},
		Topic:          "rate",
		Partitions:     2,
		Duration:       2 * time.Second,
		Rate:           1000,
		RecordSize:     50,
		Producers:      2,
		Linger:         time.Millisecond,
		SampleInterval: 250 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v; %d samples", res, len(res.Timeline))
	if res.Records < 1000 || res.Records > 3000 {
		t.Errorf("%d records at 1,000/s for 2 s, want 1,000..3,000", res.Records)
	}
	if res.Sent != res.Records || res.Bytes != res.Records*50 || res.Latency.Samples != int(res.Records) {
		t.Errorf("sent %d, acknowledged %d, %d bytes, %d latencies", res.Sent, res.Records, res.Bytes, res.Latency.Samples)
	}
	if n := timelineRecords(res.Timeline); n != res.Records || len(res.Timeline) < 6 {
		t.Errorf("timeline: %d samples, %d records; want >= 6, %d", len(res.Timeline), n, res.Records)
	}

	cres, err := bench.Consume(ctx, bench.ConsumeConfig{
		Brokers:      []string{addr},
		Topic:        "rate",
		Group:        "bench",
		Duration:     2 * time.Second,
		FetchMaxWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cres.Records != res.Records || cres.Bytes != res.Bytes || cres.Elapsed < 2*time.Second {
		t.Errorf("consume: %v; want %d records in >= 2s", cres, res.Records)
	}
}

// TestProgress: progress lines go to the writer given, during the run.
func TestProgress(t *testing.T) {
	addr := startInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var buf bytes.Buffer // written by the run's sampler, read after the run
	_, err := bench.Produce(ctx, bench.ProduceConfig{
		Brokers:        []string{addr},
		Topic:          "progress",
		Records:        3000,
		Rate:           10_000,
		RecordSize:     10,
		Progress:       &buf,
		SampleInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "records/s") || !strings.Contains(out, "in flight") {
		t.Errorf("progress output %q", out)
	}
}

// TestEndToEnd: the consumer reads exactly the run's records and measures
// the latency of each, which is at least the acknowledgement's order of
// magnitude and below the run's length.
func TestEndToEnd(t *testing.T) {
	addr := startInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pcfg := bench.ProduceConfig{
		Brokers:    []string{addr},
		Topic:      "e2e",
		Partitions: 3,
		Records:    500,
		Rate:       1000,
		RecordSize: 64,
		Linger:     time.Millisecond,
	}
	// Records already in the topic are not part of the run.
	if _, err := bench.Produce(ctx, pcfg); err != nil {
		t.Fatal(err)
	}
	res, err := bench.EndToEnd(ctx, pcfg, bench.ConsumeConfig{FetchMaxWait: 100 * time.Millisecond}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("produce %v\nconsume %v", res.Produce, res.Consume)
	l := res.Consume.Latency
	if res.Produce.Records != 500 || res.Consume.Records != 500 || l.Samples != 500 {
		t.Fatalf("produced %d, consumed %d, %d latencies; want 500", res.Produce.Records, res.Consume.Records, l.Samples)
	}
	if l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max > 10*time.Second {
		t.Errorf("e2e latency %v", l)
	}
	if _, err := bench.EndToEnd(ctx, bench.ProduceConfig{Brokers: []string{addr}, Topic: "e2e", Records: 1, RecordSize: 4}, bench.ConsumeConfig{}, 0); err == nil {
		t.Error("e2e with records too small for a timestamp: no error")
	}
}

// TestWritePlot draws a real run and decodes the PNG.
func TestWritePlot(t *testing.T) {
	h := bench.NewHistogram()
	for i := range 10_000 {
		h.Record(time.Duration(1+i%977) * 10 * time.Microsecond)
	}
	var tl []bench.Sample
	for i := range 5 {
		tl = append(tl, bench.Sample{At: time.Duration(i+1) * time.Second, Interval: time.Second, Records: 2000, Bytes: 200_000, RecordsPerSec: 2000, MBPerSec: 0.2})
	}
	for _, tc := range []struct {
		name string
		lats []bench.PlotLatency
		h    int
	}{
		{"latency", []bench.PlotLatency{{Name: "produce", Histogram: h}, {Name: "empty", Histogram: bench.NewHistogram()}}, 2},
		{"throughput-only", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.png")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			err = bench.WritePlot(f, bench.PlotData{Title: "test", Timeline: tl, Latencies: tc.lats})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err = os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 250*tc.h {
				t.Errorf("image %v", b)
			}
		})
	}
	if err := bench.WritePlot(&bytes.Buffer{}, bench.PlotData{}); err == nil {
		t.Error("a plot without samples: no error")
	}
}
