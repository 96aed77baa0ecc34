package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tributary-io/tributary/bench"
)

// Default bounds of one workload on one system.
const (
	// DefaultWorkloadTimeout bounds a produce or consume workload.
	DefaultWorkloadTimeout = 10 * time.Minute
	// latencyTimeoutSlack is added to a latency workload's duration.
	latencyTimeoutSlack = 2 * time.Minute
)

// Config describes a Run.
type Config struct {
	// Systems run in this order within each workload of each repetition.
	Systems []System
	// Workloads run in this order within each repetition.
	Workloads []Workload
	// Reps is the number of repetitions (default 1).
	Reps int
	// Dir is where each server's temporary directory is made ("" is the
	// system's temporary directory).
	Dir string
	// Log, if not nil, gets a line per measurement and per event.
	Log io.Writer
	// WorkloadTimeout bounds a produce or consume workload on one system
	// (default DefaultWorkloadTimeout).
	WorkloadTimeout time.Duration
}

// Measurement is one workload on one system in one repetition.
type Measurement struct {
	System, Workload string
	Rep              int // from 1
	Records, Bytes   int64
	Elapsed          time.Duration
	// ServerCPU and ClientCPU are the server's and this process's CPU time
	// over the workload (their CPU-time clocks).
	ServerCPU, ClientCPU time.Duration
	// Latency is the end-to-end latency of a Latency workload.
	Latency bench.Latency
	// Err is why the measurement failed; "" if it did not.
	Err string
}

// RecordsPerSec and MBPerSec are the measurement's throughput.
func (m Measurement) RecordsPerSec() float64 { return perSec(float64(m.Records), m.Elapsed) }

// MBPerSec is value bytes per second, MB = 10^6 bytes.
func (m Measurement) MBPerSec() float64 { return perSec(float64(m.Bytes)/1e6, m.Elapsed) }

// ServerCPUPerGB is the server's CPU seconds per 10^9 value bytes.
func (m Measurement) ServerCPUPerGB() float64 { return perGB(m.ServerCPU, m.Bytes) }

// ClientCPUPerGB is the client's CPU seconds per 10^9 value bytes.
func (m Measurement) ClientCPUPerGB() float64 { return perGB(m.ClientCPU, m.Bytes) }

// ServerCPUShare is the server's CPU time over the wall time, 1 = one core.
func (m Measurement) ServerCPUShare() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return m.ServerCPU.Seconds() / m.Elapsed.Seconds()
}

func perSec(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

func perGB(cpu time.Duration, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	return cpu.Seconds() / (float64(bytes) / 1e9)
}

// SystemInfo is a system that ran.
type SystemInfo struct {
	Name, Label, Version string
}

// Skip is a system that could not run here.
type Skip struct {
	Name, Label, Reason string
}

// Results is everything a Run measured.
type Results struct {
	Started, Finished time.Time
	Reps              int
	Systems           []SystemInfo
	Skipped           []Skip
	Workloads         []Workload
	Measurements      []Measurement
	// DiskBytes is, per system, the size of its data directory at the end
	// of each repetition (before the server stopped).
	DiskBytes map[string][]int64
	// SegmentLogBytes is, per repetition, the size of Tributary's segment
	// logs (the .log files of its partition directories) at the same
	// moment: where every acknowledged record's bytes are.
	SegmentLogBytes []int64
	// Env describes the machine; the caller fills it in.
	Env Env
}

// Run runs every workload on every system cfg.Reps times. Within a
// repetition every system's server runs at once, each over a fresh
// directory, and each workload runs on every system in turn (A B C D),
// so the systems share the machine's noisy stretches; servers are
// stopped by PID at the end of the repetition. A system whose binary is
// missing is skipped (Results.Skipped says how to install it); a failed
// measurement is recorded with its error and the run goes on. Run returns
// an error only if no system can run or ctx ends.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Reps < 1 {
		cfg.Reps = 1
	}
	if cfg.WorkloadTimeout <= 0 {
		cfg.WorkloadTimeout = DefaultWorkloadTimeout
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	res := &Results{
		Started:   time.Now(),
		Reps:      cfg.Reps,
		Workloads: cfg.Workloads,
		DiskBytes: make(map[string][]int64),
	}
	var systems []System
	for _, s := range cfg.Systems {
		if why := s.Missing(); why != "" {
			res.Skipped = append(res.Skipped, Skip{Name: s.Name, Label: s.Label, Reason: why})
			logf("skipping %s: %s", s.Label, why)
			continue
		}
		systems = append(systems, s)
		res.Systems = append(res.Systems, SystemInfo{Name: s.Name, Label: s.Label, Version: s.Version()})
	}
	if len(systems) == 0 {
		return res, errors.New("peers: no system can run here")
	}

	for rep := 1; rep <= cfg.Reps; rep++ {
		if err := runRep(ctx, cfg, rep, systems, res, logf); err != nil {
			res.Finished = time.Now()
			return res, err
		}
	}
	res.Finished = time.Now()
	return res, nil
}

// running is one system's server during a repetition.
type running struct {
	sys  System
	inst Instance // nil if it failed to start or died
	dir  string
	why  string // why inst is nil
}

func runRep(ctx context.Context, cfg Config, rep int, systems []System, res *Results, logf func(string, ...any)) error {
	runs := make([]*running, len(systems))
	defer func() {
		for _, r := range runs {
			if r == nil {
				continue
			}
			if r.inst != nil {
				if err := r.inst.Stop(); err != nil {
					logf("rep %d: stop %s: %v", rep, r.sys.Label, err)
				}
			}
			if r.dir != "" {
				os.RemoveAll(r.dir)
			}
		}
	}()
	for i, s := range systems {
		r := &running{sys: s}
		runs[i] = r
		dir, err := os.MkdirTemp(cfg.Dir, "peers-"+s.Name+"-")
		if err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		r.dir = dir
		if r.inst, err = s.Start(ctx, dir); err != nil {
			r.why = "start: " + err.Error()
			logf("rep %d: %s did not start: %v", rep, s.Label, err)
		}
	}
	for _, w := range cfg.Workloads {
		for _, r := range runs {
			if err := ctx.Err(); err != nil {
				return err
			}
			m := Measurement{System: r.sys.Name, Workload: w.Name, Rep: rep}
			if r.inst == nil {
				m.Err = r.why
			} else {
				measure(ctx, cfg, r.inst, w, &m)
				if m.Err != "" {
					if _, err := bench.ProcessCPUClock(r.inst.PID()); err != nil {
						r.why = fmt.Sprintf("server exited during %s", w.Name)
						_ = r.inst.Stop()
						r.inst = nil
					}
				}
			}
			res.Measurements = append(res.Measurements, m)
			logf("rep %d/%d %-13s %-15s %s", rep, cfg.Reps, w.Name, r.sys.Label, m.line(w))
		}
	}
	for _, r := range runs {
		res.DiskBytes[r.sys.Name] = append(res.DiskBytes[r.sys.Name], dirSize(r.dir, nil))
		if r.sys.Name == KindTributary {
			res.SegmentLogBytes = append(res.SegmentLogBytes, dirSize(r.dir, isSegmentLog))
		}
	}
	return nil
}

// measure runs w on inst into m, with the server's and this process's CPU
// time around the run (after Prepare).
func measure(ctx context.Context, cfg Config, inst Instance, w Workload, m *Measurement) {
	timeout := cfg.WorkloadTimeout
	if w.Kind == Latency {
		timeout = w.Duration + latencyTimeoutSlack
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := inst.Prepare(ctx, w); err != nil {
		m.Err = "prepare: " + err.Error()
		return
	}
	self := os.Getpid()
	s0, err0 := bench.ProcessCPUClock(inst.PID())
	c0, _ := bench.ProcessCPUClock(self)
	r, err := inst.Run(ctx, w)
	s1, err1 := bench.ProcessCPUClock(inst.PID())
	c1, _ := bench.ProcessCPUClock(self)
	m.Records, m.Bytes, m.Elapsed = r.Records, r.Bytes, r.Elapsed
	m.Latency = r.Latency
	m.ClientCPU = c1 - c0
	if err0 == nil && err1 == nil {
		m.ServerCPU = s1 - s0
	}
	switch {
	case err != nil:
		m.Err = err.Error()
	case err0 != nil || err1 != nil:
		m.Err = "server CPU: " + errors.Join(err0, err1).Error()
	case w.Kind != Latency && (r.Records != w.Records || r.Bytes != w.Bytes()):
		m.Err = fmt.Sprintf("%d records, %d bytes; want %d, %d", r.Records, r.Bytes, w.Records, w.Bytes())
	case w.Kind == Latency && r.Latency.Samples == 0:
		m.Err = "no record arrived"
	}
}

// line is the measurement as a progress line.
func (m Measurement) line(w Workload) string {
	if m.Err != "" {
		return "FAILED: " + m.Err
	}
	if w.Kind == Latency {
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		return fmt.Sprintf("%d records, %.0f/s; e2e ms p50 %.3f p99 %.3f p99.9 %.3f max %.3f; server %.0f%% of a core",
			m.Records, m.RecordsPerSec(), ms(m.Latency.P50), ms(m.Latency.P99), ms(m.Latency.P999), ms(m.Latency.Max), 100*m.ServerCPUShare())
	}
	return fmt.Sprintf("%11.0f records/s %8.1f MB/s  server %.2f CPU-s/GB  client %.2f CPU-s/GB",
		m.RecordsPerSec(), m.MBPerSec(), m.ServerCPUPerGB(), m.ClientCPUPerGB())
}

// dirSize is the bytes of the regular files under dir for which keep
// (if not nil) is true, 0 if none.
func dirSize(dir string, keep func(rel string) bool) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, path)
		if err == nil && d.Type().IsRegular() && (keep == nil || keep(rel)) {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// isSegmentLog reports whether rel, a path in a Tributary data directory,
// is a segment log: <topic>-<partition>/<base offset>.log.
func isSegmentLog(rel string) bool {
	d, f := filepath.Split(rel)
	return d != "" && filepath.Ext(f) == ".log"
}
