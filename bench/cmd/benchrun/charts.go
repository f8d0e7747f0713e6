package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

var palette = map[string]color.Color{
	"floor":   color.RGBA{R: 0x9a, G: 0xa0, B: 0xa6, A: 0xff},
	"rtgate":  color.RGBA{R: 0x1a, G: 0x73, B: 0xe8, A: 0xff},
	"express": color.RGBA{R: 0xe3, G: 0x74, B: 0x00, A: 0xff},
}

var shortLabels = map[string]string{
	"floor":   "floor: bare Go forwarder, no checks",
	"rtgate":  "rtgate",
	"express": "Express 5 + helmet + cors + express-rate-limit",
}

func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

func (r *Results) charts(dir string) error {
	if err := r.throughputChart(filepath.Join(dir, "throughput.svg")); err != nil {
		return err
	}
	if err := r.cpuChart(filepath.Join(dir, "cpu.svg")); err != nil {
		return err
	}
	if len(r.Sweep) > 0 {
		if err := r.sweepChart(filepath.Join(dir, "concurrency.svg")); err != nil {
			return err
		}
	}
	if len(r.Scale) > 0 {
		if err := r.scaleChart(filepath.Join(dir, "scale.svg")); err != nil {
			return err
		}
	}
	return nil
}

// groupedBars draws one bar per target in each scenario group, value(s)
// giving the height and label(s) the text above the bar.
func (r *Results) groupedBars(title, ylabel string, value func(Summary) float64, label func(Summary) string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Y.Label.Text = ylabel
	p.Y.Tick.Marker = commaTicks{}
	p.X.Label.Text = fmt.Sprintf("wrk -t2 -c%d on loopback, the same 0 ms fake upstream for all, %d cores, median of %d alternating rounds",
		r.Meta.Connections, r.Meta.Cores, r.Meta.Rounds)
	p.X.Label.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(12)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	var groups []string
	for _, sc := range r.Scenarios {
		groups = append(groups, sc.Title)
	}
	targets := []string{"floor", "rtgate", "express"}
	present := targets[:0]
	for _, t := range targets {
		if _, ok := r.find(r.Scenarios[0].Name, t); ok {
			present = append(present, t)
		}
	}
	w := vg.Points(38)
	ymax := 0.0
	for i, t := range present {
		vals := make(plotter.Values, len(r.Scenarios))
		var labels []string
		var xys plotter.XYs
		for j, sc := range r.Scenarios {
			s, _ := r.find(sc.Name, t)
			vals[j] = value(s)
			ymax = max(ymax, vals[j])
			labels = append(labels, label(s))
			xys = append(xys, plotter.XY{X: float64(j), Y: vals[j]})
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = palette[t]
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-float64(len(present)-1)/2)
		p.Add(bars)
		p.Legend.Add(shortLabels[t], bars)
		lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return nil, err
		}
		for k := range lbl.TextStyle {
			lbl.TextStyle[k].XAlign = draw.XCenter
			lbl.TextStyle[k].Font.Size = vg.Points(8)
		}
		lbl.Offset = vg.Point{X: bars.Offset, Y: vg.Points(3)}
		p.Add(lbl)
	}
	p.NominalX(groups...)
	p.Y.Min = 0
	p.Y.Max = ymax * 1.45 // room for the labels and the legend
	return p, nil
}

func (r *Results) throughputChart(path string) error {
	p, err := r.groupedBars(
		"Requests per second (higher is better)",
		"requests per second (median)",
		func(s Summary) float64 { return s.RPS },
		func(s Summary) string {
			if s.Target == "floor" {
				return fmtInt(s.RPS)
			}
			return fmtInt(s.RPS) + "\n" + ratio(s.RPSRatio)
		})
	if err != nil {
		return err
	}
	return save(p, 9*vg.Inch, 4.6*vg.Inch, path)
}

func (r *Results) cpuChart(path string) error {
	p, err := r.groupedBars("CPU time per request of the target process (lower is better)", "µs of CPU per request (median)",
		func(s Summary) float64 { return s.CPUPerReqUS },
		func(s Summary) string { return fmt.Sprintf("%.0f", s.CPUPerReqUS) })
	if err != nil {
		return err
	}
	return save(p, 9*vg.Inch, 4.6*vg.Inch, path)
}

// sweepChart: throughput and p50/p99 of the GET mint by connections.
func (r *Results) sweepChart(path string) error {
	thr := plot.New()
	thr.Title.Text = "GET mint: requests per second"
	thr.X.Label.Text = "connections"
	thr.X.Scale = plot.LogScale{}
	thr.X.Tick.Marker = connTicks(r.Meta.SweepConns)
	thr.Y.Tick.Marker = commaTicks{}
	thr.Y.Min = 0
	lat := plot.New()
	lat.Title.Text = "GET mint: latency (ms, log scale)"
	lat.X.Label.Text = "connections"
	lat.X.Scale = plot.LogScale{}
	lat.X.Tick.Marker = connTicks(r.Meta.SweepConns)
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lat.Legend.Top, lat.Legend.Left = true, true
	thr.Legend.Top, thr.Legend.Left = true, true
	lat.Legend.XOffs, thr.Legend.XOffs = vg.Points(10), vg.Points(10)
	maxRPS, maxLat := 0.0, 0.0
	for _, pt := range r.Sweep {
		maxRPS, maxLat = max(maxRPS, pt.RPS), max(maxLat, pt.P99ms)
	}
	thr.Y.Max = maxRPS * 1.35 // headroom for the legend
	lat.Y.Max = maxLat * 8    // one log step of headroom
	for _, t := range []string{"floor", "rtgate"} {
		var rps, p50, p99 plotter.XYs
		for _, n := range r.Meta.SweepConns {
			for _, pt := range r.Sweep {
				if pt.Conns == n && pt.Target == t {
					rps = append(rps, plotter.XY{X: float64(n), Y: pt.RPS})
					p50 = append(p50, plotter.XY{X: float64(n), Y: max(pt.P50ms, 0.01)})
					p99 = append(p99, plotter.XY{X: float64(n), Y: max(pt.P99ms, 0.01)})
				}
			}
		}
		if err := addLine(thr, rps, palette[t], false, shortLabels[t]); err != nil {
			return err
		}
		if err := addLine(lat, p99, palette[t], false, t+" p99"); err != nil {
			return err
		}
		if err := addLine(lat, p50, palette[t], true, t+" p50"); err != nil {
			return err
		}
	}
	return saveTiles(path, 10*vg.Inch, 4*vg.Inch, thr, lat)
}

// scaleChart: ns per decision and bytes per client by tracked clients.
func (r *Results) scaleChart(path string) error {
	ns := plot.New()
	ns.Title.Text = "Rate-limit decision (memory store)"
	ns.X.Label.Text = "tracked clients"
	ns.Y.Label.Text = "ns per decision"
	mem := plot.New()
	mem.Title.Text = "Memory per tracked client"
	mem.X.Label.Text = "tracked clients"
	mem.Y.Label.Text = "heap bytes per client"
	var a, b plotter.XYs
	var ticks []int
	for _, p := range r.Scale {
		a = append(a, plotter.XY{X: float64(p.Clients), Y: p.NsPerDecision})
		b = append(b, plotter.XY{X: float64(p.Clients), Y: p.BytesPerClient})
		ticks = append(ticks, p.Clients)
	}
	for _, pl := range []*plot.Plot{ns, mem} {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = connTicks(ticks)
		pl.Y.Min = 0
	}
	if err := addLine(ns, a, palette["rtgate"], false, ""); err != nil {
		return err
	}
	if err := addLine(mem, b, palette["rtgate"], false, ""); err != nil {
		return err
	}
	if err := addValueLabels(ns, a, "%.0f ns"); err != nil {
		return err
	}
	if err := addValueLabels(mem, b, "%.0f B"); err != nil {
		return err
	}
	ns.Y.Max = maxY(a) * 1.2
	mem.Y.Max = maxY(b) * 1.2
	return saveTiles(path, 10*vg.Inch, 3.6*vg.Inch, ns, mem)
}

func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, dashed bool, legend string) error {
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = c, c
	l.Width = vg.Points(2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		pts.Shape = draw.CircleGlyph{}
	}
	p.Add(l, pts)
	if legend != "" {
		p.Legend.Add(legend, l, pts)
	}
	return nil
}

func maxY(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		m = max(m, p.Y)
	}
	return m
}

// addValueLabels writes each point's value above it.
func addValueLabels(p *plot.Plot, xys plotter.XYs, format string) error {
	var labels []string
	for _, pt := range xys {
		labels = append(labels, fmt.Sprintf(format, pt.Y))
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].Font.Size = vg.Points(9)
	}
	l.Offset = vg.Point{Y: vg.Points(5)}
	p.Add(l)
	return nil
}

// commaTicks is plot.DefaultTicks with thousands separators.
type commaTicks struct{}

func (commaTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtInt(ts[i].Value)
		}
	}
	return ts
}

// connTicks labels exactly the measured x values.
type connTicks []int

func (c connTicks) Ticks(_, _ float64) []plot.Tick {
	var ts []plot.Tick
	for _, n := range c {
		l := fmtInt(float64(n))
		if n >= 1000 && n%1000 == 0 {
			l = fmtInt(float64(n/1000)) + "k"
		}
		if n >= 1_000_000 && n%1_000_000 == 0 {
			l = fmtInt(float64(n/1_000_000)) + "M"
		}
		ts = append(ts, plot.Tick{Value: float64(n), Label: l})
	}
	return ts
}

func save(p *plot.Plot, w, h vg.Length, path string) error {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	return writeSVG(c, path)
}

func saveTiles(path string, w, h vg.Length, plots ...*plot.Plot) error {
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	t := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(20), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	canvases := plot.Align([][]*plot.Plot{plots}, t, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	return writeSVG(c, path)
}

// writeSVG writes the canvas with a font fallback browsers can use when
// Liberation Sans is not installed (Arial and Helvetica share its metrics).
func writeSVG(c *vgsvg.Canvas, path string) error {
	var sb strings.Builder
	if _, err := c.WriteTo(&sb); err != nil {
		return err
	}
	s := strings.ReplaceAll(sb.String(), "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	return os.WriteFile(path, []byte(s), 0o644)
}
