package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tributary-io/tributary/bench"
)

// Defaults of the bench commands.
const (
	defaultBenchTopic = "tributary-bench"
	// defaultBenchDuration bounds a run given neither --records nor
	// --duration.
	defaultBenchDuration = 10 * time.Second
	// defaultConsumeTimeout is bench consume's --timeout, as
	// kafka-consumer-perf-test's: a run counting records ends once none
	// has arrived for this long.
	defaultConsumeTimeout = 10 * time.Second
	// defaultE2ERate is e2e's --throughput: end-to-end latency means
	// something at a rate the broker keeps up with, not at saturation.
	defaultE2ERate = 1000
	// A plotted run is sampled finely enough to draw a curve:
	// plotSamples samples over --duration (within plotMinInterval and
	// bench.DefaultSampleInterval), or every plotRecordsInterval when
	// --records bounds the run and its length is not known; a fast run
	// of the README's example takes well under a second.
	plotSamples         = 100
	plotMinInterval     = 10 * time.Millisecond
	plotRecordsInterval = 20 * time.Millisecond
	// plotFewSamples: a timeline shorter than this is said to be too
	// short in the plot's title.
	plotFewSamples = 5
)

// Values of the hidden --progress flag.
const (
	progressAuto   = "auto"   // a progress line when stderr is a terminal
	progressAlways = "always" // for tests: whatever stderr is
	progressNever  = "never"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

// benchFlags are the flags of the bench subcommands; each subcommand uses
// the ones that apply to it.
type benchFlags struct {
	topic       string
	records     int64
	duration    time.Duration
	recordSize  int
	throughput  float64
	producers   int
	partitions  int
	acks        string
	compression string
	linger      time.Duration
	group       string
	timeout     time.Duration
	jsonOut     bool
	plot        string
	progress    string
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a broker: produce, consume or end-to-end latency",
		Long: `bench drives a broker with load in the spirit of Kafka's producer-perf-test
and prints a summary: records/s, MB/s (10^6 bytes of record values) and
latency percentiles from an HDR histogram of every record. A run is bounded
by --records or --duration (10s if neither is given). On a terminal a
progress line shows records/s, MB/s and records in flight once a second.`,
		Example: `  tributary bench produce --records 1000000 --record-size 100 --partitions 4
  tributary bench produce --duration 30s --throughput 50000 --plot produce.png
  tributary bench consume --records 1000000 --json
  tributary bench e2e --duration 20s --throughput 2000 --plot e2e.png`,
	}
	cmd.AddCommand(newBenchProduceCmd(), newBenchConsumeCmd(), newBenchE2ECmd())
	return cmd
}

func (f *benchFlags) common(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.topic, "topic", defaultBenchTopic, "topic to use")
	fl.Int64Var(&f.records, "records", 0, "number of records (0: bounded by --duration)")
	fl.DurationVar(&f.duration, "duration", 0, "how long to run (0: bounded by --records; 10s if neither is set)")
	fl.BoolVar(&f.jsonOut, "json", false, "print the summary as JSON (and no progress line)")
	fl.StringVar(&f.plot, "plot", "", "write throughput over time and the latency distribution to this PNG file")
	fl.StringVar(&f.progress, "progress", progressAuto, "progress line: auto (on a terminal), always or never")
	_ = fl.MarkHidden("progress")
}

func (f *benchFlags) producer(cmd *cobra.Command, rate float64) {
	fl := cmd.Flags()
	fl.IntVar(&f.recordSize, "record-size", 100, "record value size in bytes")
	fl.Float64Var(&f.throughput, "throughput", rate, "records/s to produce over all producers (-1: unlimited)")
	fl.IntVar(&f.producers, "producers", 1, "concurrent producer clients")
	fl.IntVar(&f.partitions, "partitions", 0, "create the topic with this many partitions if missing (0: the broker's default)")
	fl.StringVar(&f.acks, "acks", "all", "acks: all, 1 or 0 (not all turns idempotence off)")
	fl.StringVar(&f.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fl.DurationVar(&f.linger, "linger", 5*time.Millisecond, "how long a batch waits for more records")
}

func newBenchProduceCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as allowed and measure acknowledgement latency",
		Example: `  tributary bench produce --records 1000000 --record-size 100 --partitions 4
  tributary bench produce --duration 30s --throughput 50000 --producers 2 --acks 1 --compression zstd --plot out.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkBrokers(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := f.produceConfig(cmd)
			if err != nil {
				return err
			}
			res, runErr := benchProduce(ctx, cfg)
			rep := bench.NewReport("produce", f.topic, res)
			err = f.output(cmd, rep, bench.PlotData{
				Title:     plotTitle("produce", &f, res.Timeline),
				Timeline:  res.Timeline,
				Latencies: []bench.PlotLatency{{Name: "produce (ack)", Histogram: res.Histogram}},
			})
			return errors.Join(runErr, err)
		},
	}
	f.common(cmd)
	f.producer(cmd, -1)
	return cmd
}

func newBenchConsumeCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read records as fast as the broker serves them",
		Example: `  tributary bench consume --records 1000000
  tributary bench consume --group bench --duration 30s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkBrokers(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sec, err := clientSecurityOpts(cmd, os.Environ())
			if err != nil {
				return err
			}
			cfg := bench.ConsumeConfig{
				ClientOpts:     sec,
				Brokers:        brokerList(cmd),
				Topic:          f.topic,
				Group:          f.group,
				Records:        f.records,
				Duration:       f.runDuration(),
				IdleTimeout:    f.timeout,
				Progress:       f.progressWriter(cmd),
				SampleInterval: f.sampleInterval(),
			}
			res, runErr := bench.Consume(ctx, cfg)
			if res.Timeline == nil && runErr != nil {
				return runErr // nothing ran
			}
			rep := bench.NewReport("consume", f.topic, res)
			err = f.output(cmd, rep, bench.PlotData{
				Title:    plotTitle("consume", &f, res.Timeline),
				Timeline: res.Timeline,
			})
			return errors.Join(runErr, err)
		},
	}
	f.common(cmd)
	cmd.Flags().StringVar(&f.group, "group", "", "consume as this consumer group (default: no group, from the earliest offset)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", defaultConsumeTimeout, "with --records, end the run (an error) once no record has arrived for this long")
	return cmd
}

func newBenchE2ECmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce and consume at once and measure end-to-end latency",
		Long: `e2e produces at --throughput while one consumer reads the same records as
they arrive. Each record's value starts with the time it was produced, so
its end-to-end latency (produce call to consumer) is measured on one clock.`,
		Example: `  tributary bench e2e --duration 20s --throughput 2000 --partitions 4 --plot e2e.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkBrokers(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			pcfg, err := f.produceConfig(cmd)
			if err != nil {
				return err
			}
			res, runErr := bench.EndToEnd(ctx, pcfg, bench.ConsumeConfig{ClientOpts: pcfg.ClientOpts}, 0)
			if res.Produce.Timeline == nil && runErr != nil {
				return runErr // nothing ran
			}
			rep := bench.NewEndToEndReport(f.topic, res)
			err = f.output(cmd, rep, bench.PlotData{
				Title:    plotTitle("e2e", &f, res.Produce.Timeline),
				Timeline: res.Produce.Timeline,
				Latencies: []bench.PlotLatency{
					{Name: "end-to-end", Histogram: res.Consume.Histogram},
					{Name: "produce (ack)", Histogram: res.Produce.Histogram},
				},
			})
			return errors.Join(runErr, err)
		},
	}
	f.common(cmd)
	f.producer(cmd, defaultE2ERate)
	return cmd
}

// brokerList is cmd's --brokers as a list.
func brokerList(cmd *cobra.Command) []string {
	seeds, _ := seedBrokers(cmd)
	return seeds
}

// checkBrokers fails a bench run at once, naming the address, when none of
// --brokers answers (the bench package's clients would retry for the
// whole run).
func checkBrokers(cmd *cobra.Command) error {
	cl, err := newClient(cmd)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	cl.Close()
	return nil
}

// runDuration is --duration, or the default bound when neither it nor
// --records is set.
func (f *benchFlags) runDuration() time.Duration {
	if f.records == 0 && f.duration == 0 {
		return defaultBenchDuration
	}
	return f.duration
}

func (f *benchFlags) produceConfig(cmd *cobra.Command) (bench.ProduceConfig, error) {
	if f.records < 0 || f.duration < 0 {
		return bench.ProduceConfig{}, usageError{errors.New("bench: --records and --duration must not be negative")}
	}
	sec, err := clientSecurityOpts(cmd, os.Environ())
	if err != nil {
		return bench.ProduceConfig{}, err
	}
	acks := f.acks
	return bench.ProduceConfig{
		ClientOpts:         sec,
		Brokers:            brokerList(cmd),
		Topic:              f.topic,
		Partitions:         f.partitions,
		Records:            f.records,
		Duration:           f.runDuration(),
		Rate:               f.throughput,
		RecordSize:         f.recordSize,
		Acks:               acks,
		DisableIdempotence: acks != "all" && acks != "-1",
		Linger:             f.linger,
		Compression:        f.compression,
		Producers:          f.producers,
		Progress:           f.progressWriter(cmd),
		SampleInterval:     f.sampleInterval(),
	}, nil
}

// progressWriter is where progress lines go: stderr when it is a terminal
// (or --progress always), never with --json.
func (f *benchFlags) progressWriter(cmd *cobra.Command) io.Writer {
	w := cmd.ErrOrStderr()
	switch f.progress {
	case progressAlways:
		return w
	case progressNever:
		return nil
	}
	if f.jsonOut {
		return nil
	}
	if file, ok := w.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		return w
	}
	return nil
}

// sampleInterval is the run's bench SampleInterval: the default (a second)
// without --plot, finer with it (see plotSamples).
func (f *benchFlags) sampleInterval() time.Duration {
	switch {
	case f.plot == "":
		return 0
	case f.records == 0 || f.duration > 0:
		return min(max(f.runDuration()/plotSamples, plotMinInterval), bench.DefaultSampleInterval)
	}
	return plotRecordsInterval
}

// plotTitle heads a plot: the command and its settings, and a warning
// when the run was too short to draw much of a throughput curve.
func plotTitle(what string, f *benchFlags, timeline []bench.Sample) string {
	title := "tributary bench " + what + ": " + f.describe()
	if len(timeline) < plotFewSamples {
		var d time.Duration
		if len(timeline) > 0 {
			d = timeline[len(timeline)-1].At
		}
		title += fmt.Sprintf("\n(run too short for a throughput curve: %d samples in %v; give more --records or a --duration)", len(timeline), d.Round(time.Millisecond))
	}
	return title
}

// describe is the run's settings in a plot title.
func (f *benchFlags) describe() string {
	parts := []string{"topic " + f.topic}
	if f.recordSize > 0 {
		parts = append(parts, fmt.Sprintf("%d B records", f.recordSize))
		if f.throughput > 0 {
			parts = append(parts, fmt.Sprintf("at most %.0f records/s", f.throughput))
		}
		parts = append(parts, fmt.Sprintf("%d producer(s)", f.producers), "acks "+f.acks, "compression "+f.compression)
	}
	if f.group != "" {
		parts = append(parts, "group "+f.group)
	}
	return strings.Join(parts, ", ")
}

// output prints the summary (text or JSON) and writes the plot.
func (f *benchFlags) output(cmd *cobra.Command, rep bench.Report, pd bench.PlotData) error {
	var err error
	if f.plot != "" {
		err = writePlot(f.plot, pd)
	}
	out := cmd.OutOrStdout()
	if f.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(rep), err)
	}
	return errors.Join(printBenchSummary(out, rep), err)
}

// benchProduce and writePlot are what bench produce runs and how a plot
// is written; tests replace them to see the run's config and the plot's
// data without depending on how fast the run went.
var (
	benchProduce = bench.Produce
	writePlot    = writePlotFile
)

func writePlotFile(path string, pd bench.PlotData) error {
	if len(pd.Timeline) == 0 {
		return errors.New("bench: --plot: the run has no samples")
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --plot: %w", err)
	}
	err = bench.WritePlot(file, pd)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("bench: --plot %s: %w", path, err)
	}
	return nil
}

// printBenchSummary writes the text summary: a line of totals, as Kafka's
// producer-perf-test prints, and a latency table.
func printBenchSummary(w io.Writer, rep bench.Report) error {
	what := "read"
	if rep.Mode != "consume" {
		what = fmt.Sprintf("acknowledged of %d sent", rep.Sent)
	}
	fmt.Fprintf(w, "%d records %s in %.3fs: %.1f records/s, %.2f MB/s\n",
		rep.Records, what, rep.ElapsedSeconds, rep.RecordsPerSec, rep.MBPerSec)
	if rep.Consumed != nil {
		fmt.Fprintf(w, "%d records consumed\n", *rep.Consumed)
	}
	var rows [][]string
	add := func(name string, l *bench.LatencyReport) {
		if l == nil {
			return
		}
		ms := func(v float64) string { return fmt.Sprintf("%.2f", v) }
		rows = append(rows, []string{name, fmt.Sprint(l.Count), ms(l.MeanMs), ms(l.P50Ms), ms(l.P95Ms), ms(l.P99Ms), ms(l.P999Ms), ms(l.MaxMs)})
	}
	add("produce", rep.Latency)
	add("end-to-end", rep.EndToEndLatency)
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return printTable(w, []string{"LATENCY (ms)", "RECORDS", "MEAN", "P50", "P95", "P99", "P99.9", "MAX"}, rows)
}
