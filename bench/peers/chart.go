package peers

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart geometry.
const (
	chartWidth       = 10 * vg.Inch
	chartPanelHeight = 4.5 * vg.Inch
	// groupWidth is the share of a workload's slot (1 on the x axis) that
	// its bars take.
	groupWidth = 0.8
	// chartHeadroom is the throughput axis's top over the highest whisker,
	// which leaves the legend room.
	chartHeadroom = 1.25
	// latencyFloorMs is the lowest bottom of the latency panel's log axis;
	// the axis starts a decade below the power of ten below the lowest
	// value.
	latencyFloorMs = 0.001
)

// systemColors tell the systems apart, in Systems order.
var systemColors = map[string]color.Color{
	KindTributary: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"nats":        color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"redis":       color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	KindKfake:     color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// WriteChart draws the summary as a PNG: grouped bars of records/s per
// throughput workload and system (median, with a whisker from the lowest
// to the highest repetition) and, below, the end-to-end latency
// percentiles per system on a log axis.
func WriteChart(w io.Writer, s *Summary) error {
	var panels []*plot.Plot
	if p := throughputPanel(s); p != nil {
		panels = append(panels, p)
	}
	if p := latencyPanel(s); p != nil {
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return fmt.Errorf("peers: chart: nothing measured")
	}
	img := vgimg.New(chartWidth, chartPanelHeight*vg.Length(len(panels)))
	dc := draw.New(img)
	rows := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Centimeter, PadTop: 3 * vg.Millimeter,
		PadBottom: 3 * vg.Millimeter, PadLeft: 3 * vg.Millimeter, PadRight: 6 * vg.Millimeter}
	for i, cs := range plot.Align(rows, tiles, dc) {
		panels[i].Draw(cs[0])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("peers: chart: %w", err)
	}
	return nil
}

// bars is one system's bars: values at x = XMin + i, with whiskers.
type bars struct {
	label string
	color color.Color
	xs    []float64
	ys    []float64
	lo    []float64 // whisker bottoms, as distances below ys
	hi    []float64 // whisker tops, as distances above ys
}

// whiskers adapts bars to plotter.YErrorBars.
type whiskers struct{ b *bars }

func (w whiskers) Len() int                      { return len(w.b.xs) }
func (w whiskers) XY(i int) (x, y float64)       { return w.b.xs[i], w.b.ys[i] }
func (w whiskers) YError(i int) (lo, hi float64) { return w.b.lo[i], w.b.hi[i] }

// addGroupedBars adds one bar chart per system, offset within each group
// so that a group's bars sit side by side around its x.
func addGroupedBars(p *plot.Plot, series []*bars, barWidth vg.Length) error {
	n := float64(len(series))
	for j, b := range series {
		off := (float64(j) - (n-1)/2) * groupWidth / n
		vals := make(plotter.Values, len(b.ys))
		copy(vals, b.ys)
		for i := range b.xs {
			b.xs[i] += off
		}
		bc, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return fmt.Errorf("peers: chart: %w", err)
		}
		bc.XMin = b.xs[0]
		bc.Color = b.color
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(b.label, bc)
		eb, err := plotter.NewYErrorBars(whiskers{b})
		if err != nil {
			return fmt.Errorf("peers: chart: %w", err)
		}
		eb.LineStyle.Width = vg.Points(1)
		p.Add(eb)
	}
	p.Legend.Top = true
	return nil
}

// barWidth fits n bars per group across groups groups.
func barWidth(groups, n int) vg.Length {
	return chartWidth * 0.8 / vg.Length(groups) * groupWidth / vg.Length(max(n, 1)) * 0.9
}

func throughputPanel(s *Summary) *plot.Plot {
	r := s.Results
	var names []string
	var workloads []Workload
	for _, w := range r.Workloads {
		if w.Kind != Latency {
			workloads = append(workloads, w)
			names = append(names, w.Title())
		}
	}
	if len(workloads) == 0 || len(r.Systems) == 0 {
		return nil
	}
	var series []*bars
	top := 0.0
	for _, sys := range r.Systems {
		b := &bars{label: sys.Label, color: systemColors[sys.Name]}
		for i, w := range workloads {
			c := s.Cell(w.Name, sys.Name)
			m := c.RecordsPerSec
			b.xs = append(b.xs, float64(i))
			b.ys = append(b.ys, m.Median/1e6)
			b.lo = append(b.lo, (m.Median-m.Min)/1e6)
			b.hi = append(b.hi, (m.Max-m.Median)/1e6)
			top = math.Max(top, m.Max/1e6)
		}
		series = append(series, b)
	}
	p := plot.New()
	p.Title.Text = "Throughput (median of the repetitions; whiskers: min–max)"
	p.Y.Label.Text = "million records/s"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	if err := addGroupedBars(p, series, barWidth(len(workloads), len(series))); err != nil {
		return nil
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(workloads))-0.5
	p.Y.Max = top * chartHeadroom // room for the legend
	return p
}

// clampLog is a log scale whose values at or below Floor sit at the
// bottom, so that bars (which start at 0) can be drawn on it.
type clampLog struct{ Floor float64 }

func (l clampLog) Normalize(min, max, x float64) float64 {
	min, max, x = math.Max(min, l.Floor), math.Max(max, l.Floor), math.Max(x, l.Floor)
	if max <= min {
		return 0
	}
	return math.Log(x/min) / math.Log(max/min)
}

func latencyPanel(s *Summary) *plot.Plot {
	r := s.Results
	var lat *Workload
	for i, w := range r.Workloads {
		if w.Kind == Latency {
			lat = &r.Workloads[i]
		}
	}
	if lat == nil || len(r.Systems) == 0 {
		return nil
	}
	names := []string{"p50", "p99", "p99.9", "max"}
	bottom, top := math.Inf(1), latencyFloorMs
	for _, sys := range r.Systems {
		c := s.Cell(lat.Name, sys.Name)
		for _, m := range []Spread{c.P50, c.P99, c.P999, c.Max} {
			if m.N > 0 {
				bottom, top = math.Min(bottom, m.Min), math.Max(top, m.Max)
			}
		}
	}
	// A decade below the lowest value, so that the shortest bar shows.
	floor := math.Max(latencyFloorMs, math.Pow(10, math.Floor(math.Log10(math.Min(bottom, top)))-1))
	var series []*bars
	for _, sys := range r.Systems {
		c := s.Cell(lat.Name, sys.Name)
		b := &bars{label: sys.Label, color: systemColors[sys.Name]}
		for i, m := range []Spread{c.P50, c.P99, c.P999, c.Max} {
			b.xs = append(b.xs, float64(i))
			b.ys = append(b.ys, m.Median)
			b.lo = append(b.lo, math.Max(m.Median-math.Max(m.Min, floor), 0))
			b.hi = append(b.hi, m.Max-m.Median)
		}
		series = append(series, b)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("End-to-end latency at %s records/s (median of the repetitions; whiskers: min–max)", thousands(lat.Rate))
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = clampLog{Floor: floor}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	if err := addGroupedBars(p, series, barWidth(len(names), len(series))); err != nil {
		return nil
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	// A decade above the top leaves the legend room.
	p.Y.Min, p.Y.Max = floor, math.Pow(10, math.Ceil(math.Log10(top)+0.01)+1)
	return p
}
