package bench

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot size: one panel per row.
const (
	plotWidth       = 9 * vg.Inch
	plotPanelHeight = 4 * vg.Inch
)

// PlotLatency is one latency distribution to draw.
type PlotLatency struct {
	// Name labels its curve ("produce", "end-to-end").
	Name string
	// Histogram holds the latencies; an empty one is left out.
	Histogram *Histogram
}

// PlotData is what WritePlot draws.
type PlotData struct {
	// Title heads the image (the command line, say).
	Title string
	// Timeline is drawn as throughput over time, in records/s.
	Timeline []Sample
	// Latencies are drawn as percentile curves in one panel, below the
	// throughput; no panel if none has records.
	Latencies []PlotLatency
}

// curveColors tell the latency curves apart.
var curveColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// WritePlot draws d as a PNG to w: throughput over time on top and, if
// there are latencies, their percentile distributions below, with the
// percentile axis stretched toward the tail (each tick is a tenfold
// smaller tail: 90%, 99%, 99.9%...) as HdrHistogram's plots draw it.
func WritePlot(w io.Writer, d PlotData) error {
	if len(d.Timeline) == 0 {
		return errors.New("bench: plot: no samples")
	}
	panels := []*plot.Plot{throughputPlot(d)}
	if p, err := latencyPlot(d.Latencies); err != nil {
		return err
	} else if p != nil {
		panels = append(panels, p)
	}

	img := vgimg.New(plotWidth, plotPanelHeight*vg.Length(len(panels)))
	dc := draw.New(img)
	rows := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		rows[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 6}
	for i, cs := range plot.Align(rows, tiles, dc) {
		panels[i].Draw(cs[0])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

func throughputPlot(d PlotData) *plot.Plot {
	p := plot.New()
	var recs, byts int64
	var secs float64
	xys := make(plotter.XYs, 0, len(d.Timeline)+1)
	xys = append(xys, plotter.XY{X: 0, Y: d.Timeline[0].RecordsPerSec})
	for _, s := range d.Timeline {
		// A step per interval: its rate held from its start to its end.
		xys = append(xys,
			plotter.XY{X: (s.At - s.Interval).Seconds(), Y: s.RecordsPerSec},
			plotter.XY{X: s.At.Seconds(), Y: s.RecordsPerSec})
		recs, byts, secs = recs+s.Records, byts+s.Bytes, s.At.Seconds()
	}
	title := "Throughput"
	if d.Title != "" {
		title = d.Title + "\n" + title
	}
	if secs > 0 {
		title += fmt.Sprintf(" (mean %.0f records/s, %.2f MB/s)", float64(recs)/secs, float64(byts)/1e6/secs)
	}
	p.Title.Text = title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "records/s"
	p.Y.Min = 0
	p.Y.Tick.Marker = siTicks{}
	p.Add(plotter.NewGrid())
	if l, err := plotter.NewLine(xys[1:]); err == nil {
		l.Color = curveColors[0]
		l.Width = vg.Points(1.5)
		p.Add(l)
	}
	return p
}

func latencyPlot(lats []PlotLatency) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	var names []string
	maxX := 1.0
	for _, l := range lats {
		if l.Histogram == nil || l.Histogram.Count() == 0 {
			continue
		}
		n := float64(l.Histogram.Count())
		// The last record's tail is 1/n; x of a fraction f is -log10(1-f),
		// capped there (f = 1 would be infinitely far).
		last := math.Log10(n)
		maxX = max(maxX, math.Ceil(last))
		var xys plotter.XYs
		for _, pt := range l.Histogram.Percentiles() {
			x := last
			if pt.Fraction < 1 {
				x = min(-math.Log10(1-pt.Fraction), last)
			}
			xys = append(xys, plotter.XY{X: x, Y: float64(pt.Latency) / 1e6})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("bench: plot: %w", err)
		}
		line.Color = curveColors[len(names)%len(curveColors)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.Name, line)
		names = append(names, l.Name)
	}
	if len(names) == 0 {
		return nil, nil
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max = 0, maxX
	p.X.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		var ticks []plot.Tick
		for k := math.Ceil(lo); k <= hi; k++ {
			ticks = append(ticks, plot.Tick{Value: k, Label: percentileLabel(k)})
		}
		return ticks
	})
	return p, nil
}

// percentileLabel names the percentile whose tail is 10^-k: 0%, 90%, 99%,
// 99.9%...
func percentileLabel(k float64) string {
	if k <= 0 {
		return "0%"
	}
	s := strconv.FormatFloat(100*(1-math.Pow(10, -k)), 'f', max(int(k)-2, 0), 64)
	return strings.TrimSuffix(s, ".") + "%"
}

// siTicks are gonum's default ticks labelled with SI prefixes (1.2M, not
// 1200000), so a throughput axis reads at a glance.
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = SILabel(ticks[i].Value)
		}
	}
	return ticks
}

// SILabel writes v with an SI prefix and at most three significant
// digits: 950, 1.2k, 45k, 1.25M, 3G.
func SILabel(v float64) string {
	// Round to three significant digits first, so that 999,999 is 1M,
	// not 1000k.
	v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	scale, suffix := 1.0, ""
	switch a := math.Abs(v); {
	case a >= 1e9:
		scale, suffix = 1e9, "G"
	case a >= 1e6:
		scale, suffix = 1e6, "M"
	case a >= 1e3:
		scale, suffix = 1e3, "k"
	}
	return strconv.FormatFloat(v/scale, 'g', 3, 64) + suffix
}
