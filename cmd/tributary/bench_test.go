package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/bench"
	"github.com/tributary-io/tributary/server"
)

// benchBroker is an in-process broker whose groups start without
// group.initial.rebalance.delay.ms, so short group runs read at once.
func benchBroker(t *testing.T) *cliBroker {
	return startCLIBroker(t, func(c *server.Config) { c.Groups.InitialRebalanceDelay = 0 })
}

// execBench runs `tributary --brokers addr bench args...` in-process.
func execBench(addr string, args ...string) cliResult {
	root := newRootCmd(new(string))
	root.AddCommand(newBenchCmd())
	var out, errb bytes.Buffer
	code := execute(root, append([]string{"--brokers", addr, "bench"}, args...), strings.NewReader(""), &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

// runBench is execBench that must succeed.
func runBench(t *testing.T, addr string, args ...string) cliResult {
	t.Helper()
	r := execBench(addr, args...)
	if code := r.code; code != 0 {
		t.Fatalf("tributary bench %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, r.stdout, r.stderr)
	}
	return r
}

// benchJSON runs a bench command with --json and decodes its report.
func benchJSON(t *testing.T, addr string, args ...string) (bench.Report, cliResult) {
	t.Helper()
	r := runBench(t, addr, append(args, "--json")...)
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	return rep, r
}

// checkConsistent checks the numbers of a report against each other.
func checkConsistent(t *testing.T, rep bench.Report, recordSize int64) {
	t.Helper()
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if rep.Bytes != rep.Records*recordSize {
		t.Errorf("%d bytes for %d records of %d bytes", rep.Bytes, rep.Records, recordSize)
	}
	if rep.ElapsedSeconds <= 0 || !near(rep.RecordsPerSec, float64(rep.Records)/rep.ElapsedSeconds) || !near(rep.MBPerSec, float64(rep.Bytes)/1e6/rep.ElapsedSeconds) {
		t.Errorf("rates %.3f records/s, %.6f MB/s for %d records, %d bytes in %.6fs", rep.RecordsPerSec, rep.MBPerSec, rep.Records, rep.Bytes, rep.ElapsedSeconds)
	}
	var inTimeline int64
	for _, s := range rep.Timeline {
		inTimeline += s.Records
	}
	if inTimeline != rep.Records {
		t.Errorf("timeline holds %d records, the run %d", inTimeline, rep.Records)
	}
	for _, l := range []*bench.LatencyReport{rep.Latency, rep.EndToEndLatency} {
		if l == nil {
			continue
		}
		if l.P50Ms <= 0 || l.P50Ms > l.P95Ms || l.P95Ms > l.P99Ms || l.P99Ms > l.P999Ms || l.P999Ms > l.MaxMs {
			t.Errorf("latency percentiles out of order: %+v", *l)
		}
	}
}

// TestBenchProduceAndConsume: counts agree between producer, report and
// consumer; MB/s is bytes over elapsed; no progress line when stderr is not
// a terminal; --plot writes a PNG.
func TestBenchProduceAndConsume(t *testing.T) {
	b := benchBroker(t)
	plot := filepath.Join(t.TempDir(), "produce.png")
	rep, r := benchJSON(t, b.addr, "produce", "--topic", "bp", "--records", "5000", "--record-size", "100",
		"--partitions", "2", "--producers", "2", "--linger", "1ms", "--plot", plot)
	if rep.Mode != "produce" || rep.Records != 5000 || rep.Sent != rep.Records || rep.Latency == nil || rep.Latency.Count != 5000 {
		t.Fatalf("report: %+v", rep)
	}
	checkConsistent(t, rep, 100)
	if r.stderr != "" {
		t.Errorf("stderr is not a terminal, yet: %q", r.stderr)
	}
	checkPNG(t, plot, 2)

	// Read them back: from the earliest offset, then as a group.
	for _, args := range [][]string{
		{"consume", "--topic", "bp", "--records", "5000"},
		{"consume", "--topic", "bp", "--records", "5000", "--group", "bench"},
	} {
		crep, _ := benchJSON(t, b.addr, args...)
		if crep.Records != rep.Records || crep.Latency != nil {
			t.Errorf("%v: %+v", args, crep)
		}
		checkConsistent(t, crep, 100)
	}

	// The text summary.
	r = runBench(t, b.addr, "produce", "--topic", "bp", "--records", "100", "--record-size", "100")
	if !strings.Contains(r.stdout, "100 records acknowledged of 100 sent") || !strings.Contains(r.stdout, "P99.9") || r.stderr != "" {
		t.Errorf("summary:\n%s\nstderr: %q", r.stdout, r.stderr)
	}
}

// TestBenchProgress: the progress line appears when forced (as on a
// terminal) and not otherwise.
func TestBenchProgress(t *testing.T) {
	b := benchBroker(t)
	r := runBench(t, b.addr, "produce", "--topic", "prog", "--records", "1300", "--throughput", "1000", "--progress", "always")
	if !strings.Contains(r.stderr, "records/s") || !strings.Contains(r.stderr, "MB/s") || !strings.Contains(r.stderr, "in flight") {
		t.Errorf("forced progress: stderr %q", r.stderr)
	}
	if strings.Contains(r.stdout, "in flight") {
		t.Errorf("progress on stdout: %q", r.stdout)
	}
	r = runBench(t, b.addr, "produce", "--topic", "prog", "--records", "1300", "--throughput", "1000")
	if r.stderr != "" {
		t.Errorf("progress when stderr is not a terminal: %q", r.stderr)
	}
}

// TestBenchE2E: a rate-limited end-to-end run sends about rate × duration
// records, and the consumer gets every one of them with a latency.
func TestBenchE2E(t *testing.T) {
	b := benchBroker(t)
	plot := filepath.Join(t.TempDir(), "e2e.png")
	rep, _ := benchJSON(t, b.addr, "e2e", "--topic", "e2e", "--duration", "2s", "--throughput", "1000",
		"--record-size", "64", "--partitions", "2", "--plot", plot)
	if rep.Records < 1000 || rep.Records > 3000 {
		t.Errorf("%d records at 1,000/s for 2s, want 1,000..3,000", rep.Records)
	}
	if rep.Consumed == nil || *rep.Consumed != rep.Records || rep.EndToEndLatency == nil || int64(rep.EndToEndLatency.Count) != rep.Records {
		t.Fatalf("report: %+v", rep)
	}
	checkConsistent(t, rep, 64)
	checkPNG(t, plot, 2)
}

func TestBenchErrors(t *testing.T) {
	b := benchBroker(t)
	for _, tc := range []struct {
		code int
		want string
		args []string
	}{
		{1, "unknown acks", []string{"produce", "--records", "1", "--acks", "2"}},
		{1, "at least 8 bytes", []string{"e2e", "--records", "1", "--record-size", "4"}},
		{2, "must not be negative", []string{"produce", "--records", "-1"}},
		{2, "unknown flag", []string{"produce", "--frobnicate"}},
	} {
		r := execBench(b.addr, tc.args...)
		if r.code != tc.code {
			t.Errorf("bench %v: exit %d, want %d; stderr %q", tc.args, r.code, tc.code, r.stderr)
			continue
		}
		checkOneLineError(t, r.stderr, tc.want)
	}
}

// checkPNG decodes a plot and checks it has panels rows of a sensible size.
func checkPNG(t *testing.T, path string, panels int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bd := img.Bounds(); bd.Dx() < 500 || bd.Dy() < 250*panels {
		t.Errorf("%s: %v", path, bd)
	}
}

// TestBenchPlotSamplesShortRuns: a plotted run bounded by --records, like
// the README's example, is sampled every plotRecordsInterval rather than
// once a second, so a run shorter than a second still draws a curve; a
// run too short for one says so in the plot's title.
func TestBenchPlotSamplesShortRuns(t *testing.T) {
	b := benchBroker(t)
	plot := filepath.Join(t.TempDir(), "produce.png")
	rep, _ := benchJSON(t, b.addr, "produce", "--topic", "short", "--records", "20000", "--record-size", "100", "--plot", plot)
	if len(rep.Timeline) == 0 || rep.Timeline[0].AtSeconds > 2*plotRecordsInterval.Seconds() {
		t.Errorf("first sample at %v s, want one every %v", rep.Timeline, plotRecordsInterval)
	}
	checkPNG(t, plot, 2)

	f := &benchFlags{topic: "t", plot: "x.png"}
	for _, tt := range []struct {
		f    benchFlags
		want time.Duration
	}{
		{benchFlags{}, 0},
		{benchFlags{plot: "p", records: 1000}, plotRecordsInterval},
		{benchFlags{plot: "p", duration: 30 * time.Second}, 300 * time.Millisecond},
		{benchFlags{plot: "p", duration: time.Hour}, time.Second},
		{benchFlags{plot: "p", duration: 100 * time.Millisecond}, plotMinInterval},
		{benchFlags{plot: "p"}, defaultBenchDuration / plotSamples},
	} {
		if got := tt.f.sampleInterval(); got != tt.want {
			t.Errorf("%+v: sample interval %v, want %v", tt.f, got, tt.want)
		}
	}
	few := []bench.Sample{{At: 40 * time.Millisecond}}
	if title := plotTitle("produce", f, few); !strings.Contains(title, "run too short for a throughput curve: 1 samples in 40ms") {
		t.Errorf("title of a short run: %q", title)
	}
	many := make([]bench.Sample, plotFewSamples)
	if title := plotTitle("produce", f, many); strings.Contains(title, "too short") {
		t.Errorf("title of a long enough run: %q", title)
	}
}

// TestBenchConsumeEndsWhenRecordsRunOut: bench consume --records N
// on a topic holding fewer records ends once nothing more arrives (as
// kafka-consumer-perf-test's --timeout), with an error naming the count,
// instead of waiting forever.
func TestBenchConsumeEndsWhenRecordsRunOut(t *testing.T) {
	b := benchBroker(t)
	b.must(t, "", "topic", "create", "few", "--partitions", "1")
	b.must(t, "a\nb\nc\n", "produce", "-t", "few")
	done := make(chan cliResult, 1)
	go func() { done <- execBench(b.addr, "consume", "--topic", "few", "--records", "100", "--timeout", "2s") }()
	var r cliResult
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bench consume --records 100 on a topic of 3 records did not end")
	}
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	checkOneLineError(t, r.stderr, "3 of 100 records")
	if !strings.Contains(r.stdout, "3 records read") {
		t.Errorf("summary does not count the 3 records read: %q", r.stdout)
	}
}
