package peers

import (
	"fmt"
	"slices"
	"time"
)

// Spread is a median and the range of the values it is the median of.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// spreadOf summarises xs; the zero Spread if xs is empty.
func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Cell is one workload on one system over every repetition.
type Cell struct {
	Workload Workload
	System   SystemInfo
	// OK are the measurements that succeeded, in repetition order; Errors
	// the errors of the others.
	OK     []Measurement
	Errors []string

	RecordsPerSec, MBPerSec, ServerCPUPerGB, ClientCPUPerGB Spread
	// ServerCPUShare is the server's CPU over wall time (1 = a core).
	ServerCPUShare Spread
	// P50 to Max are end-to-end latencies in ms (Latency workloads).
	P50, P99, P999, Max Spread
}

// Summary is a Run's results as cells, and the targets checked on them.
type Summary struct {
	Results *Results
	// Cells are indexed by workload name, then system name.
	Cells  map[string]map[string]*Cell
	Checks []Check
}

// Cell returns the cell of workload on system, or nil.
func (s *Summary) Cell(workload, system string) *Cell {
	return s.Cells[workload][system]
}

// Summarise groups r's measurements into cells and checks the targets.
func Summarise(r *Results) *Summary {
	s := &Summary{Results: r, Cells: make(map[string]map[string]*Cell)}
	for _, w := range r.Workloads {
		s.Cells[w.Name] = make(map[string]*Cell)
		for _, sys := range r.Systems {
			s.Cells[w.Name][sys.Name] = &Cell{Workload: w, System: sys}
		}
	}
	for _, m := range r.Measurements {
		c := s.Cell(m.Workload, m.System)
		if c == nil {
			continue
		}
		if m.Err != "" {
			c.Errors = append(c.Errors, fmt.Sprintf("rep %d: %s", m.Rep, m.Err))
			continue
		}
		c.OK = append(c.OK, m)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, row := range s.Cells {
		for _, c := range row {
			c.RecordsPerSec = spreadBy(c.OK, Measurement.RecordsPerSec)
			c.MBPerSec = spreadBy(c.OK, Measurement.MBPerSec)
			c.ServerCPUPerGB = spreadBy(c.OK, Measurement.ServerCPUPerGB)
			c.ClientCPUPerGB = spreadBy(c.OK, Measurement.ClientCPUPerGB)
			c.ServerCPUShare = spreadBy(c.OK, Measurement.ServerCPUShare)
			c.P50 = spreadBy(c.OK, func(m Measurement) float64 { return ms(m.Latency.P50) })
			c.P99 = spreadBy(c.OK, func(m Measurement) float64 { return ms(m.Latency.P99) })
			c.P999 = spreadBy(c.OK, func(m Measurement) float64 { return ms(m.Latency.P999) })
			c.Max = spreadBy(c.OK, func(m Measurement) float64 { return ms(m.Latency.Max) })
		}
	}
	s.Checks = checkTargets(s)
	return s
}

func spreadBy(ms []Measurement, f func(Measurement) float64) Spread {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = f(m)
	}
	return spreadOf(xs)
}

// ratios are the per-repetition ratios of f between systems a and b on
// workload w, for the repetitions where both succeeded.
func (s *Summary) ratios(w, a, b string, f func(Measurement) float64) []float64 {
	ca, cb := s.Cell(w, a), s.Cell(w, b)
	if ca == nil || cb == nil {
		return nil
	}
	var out []float64
	for _, ma := range ca.OK {
		for _, mb := range cb.OK {
			if ma.Rep == mb.Rep && f(mb) > 0 {
				out = append(out, f(ma)/f(mb))
			}
		}
	}
	return out
}
