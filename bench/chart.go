package main

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	blue  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	green = color.RGBA{R: 44, G: 160, B: 44, A: 255}
	red   = color.RGBA{R: 214, G: 39, B: 40, A: 255}
)

// errPoints are points with vertical error bars (the range of the runs).
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// writeChart draws throughput against concurrency: jobd's medians (with the
// range of the runs) at 8, 32 and 128, two jobd at 32 in all, the
// original's figures, and the raw spawn rate as the ceiling.
func (r *results) writeChart(path string) error {
	p := plot.New()
	p.Title.Text = "jobd end-to-end throughput, /bin/true {id}"
	p.X.Label.Text = "concurrency (jobs running at once)"
	p.Y.Label.Text = "jobs per second"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 8, Label: "8"}, {Value: 32, Label: "32"}, {Value: 128, Label: "128"}})
	p.X.Min, p.X.Max = 6, 170
	p.Y.Min = 0
	p.Y.Tick.Marker = rateTicks{}
	p.Legend.Top, p.Legend.Left = false, false // the bottom right stays empty
	p.Legend.YOffs = vg.Points(8)
	p.Add(plotter.NewGrid())

	var ours errPoints
	for _, s := range r.specs {
		// A drain in the shell's locale (env set) is not a point of the curve.
		if rates := r.rates(s.key); s.instances == 1 && s.env == nil && len(rates) > 0 {
			m := rates.median()
			ours.XYs = append(ours.XYs, plotter.XY{X: float64(s.totalConcurrency()), Y: m})
			ours.YErrors = append(ours.YErrors, struct{ Low, High float64 }{m - rates.lo(), rates.hi() - m})
		}
	}
	if err := addSeries(p, ours, blue, draw.CircleGlyph{}, nil, "jobd, one instance (median, range of runs)"); err != nil {
		return err
	}
	for _, s := range r.specs {
		if rates := r.rates(s.key); s.instances > 1 && len(rates) > 0 {
			// A little to the right of its concurrency, clear of the
			// one-instance point's range.
			sc, err := plotter.NewScatter(plotter.XYs{{X: float64(s.totalConcurrency()) * 1.08, Y: rates.median()}})
			if err != nil {
				return err
			}
			sc.Shape, sc.Color, sc.Radius = draw.BoxGlyph{}, green, vg.Points(4)
			p.Add(sc)
			p.Legend.Add("jobd, 2 instances × 4 targets (32 in all)", sc)
		}
	}
	half := (original.c8Hi - original.c8Lo) / 2
	orig := errPoints{
		XYs:     plotter.XYs{{X: 8, Y: original.c8Lo + half}, {X: 32, Y: original.c32}},
		YErrors: plotter.YErrors{{Low: half, High: half}, {}},
	}
	if err := addSeries(p, orig, red, draw.TriangleGlyph{}, []vg.Length{vg.Points(4), vg.Points(3)}, "original Node.js jobd 1.12"); err != nil {
		return err
	}
	if spawn := r.spawn.median(); spawn > 0 {
		if err := addLevel(p, spawn, color.Gray{Y: 90}, 1.5, []vg.Length{vg.Points(6), vg.Points(4)},
			"raw spawn rate from Go, the ceiling (median of the runs)"); err != nil {
			return err
		}
		if err := addLevel(p, 0.75*spawn, color.Gray{Y: 150}, 1, []vg.Length{vg.Points(1), vg.Points(3)},
			"the goal at concurrency 32: 0.75 × the ceiling"); err != nil {
			return err
		}
		p.Y.Max = spawn * 1.25
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// addSeries draws points joined by a line, with error bars, and names them
// in the legend; nothing when there are no points.
func addSeries(p *plot.Plot, pts errPoints, c color.Color, shape draw.GlyphDrawer, dashes []vg.Length, label string) error {
	if len(pts.XYs) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(pts.XYs)
	if err != nil {
		return err
	}
	line.Color, line.Width, line.Dashes = c, vg.Points(2), dashes
	points.Color, points.Shape = c, shape
	bars, err := plotter.NewYErrorBars(pts)
	if err != nil {
		return err
	}
	bars.Color = c
	p.Add(line, points, bars)
	p.Legend.Add(label, line, points)
	return nil
}

// addLevel draws a horizontal line across the plot at y.
func addLevel(p *plot.Plot, y float64, c color.Color, width float64, dashes []vg.Length, label string) error {
	l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: y}, {X: p.X.Max, Y: y}})
	if err != nil {
		return err
	}
	l.Color, l.Width, l.Dashes = c, vg.Points(width), dashes
	p.Add(l)
	p.Legend.Add(label, l)
	return nil
}

// rateTicks marks jobs/s every 250 (every 500 above 3,000), as integers.
type rateTicks struct{}

// Ticks implements plot.Ticker.
func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 250.0
	if hi > 3000 {
		step = 500
	}
	var ts []plot.Tick
	for v := 0.0; v <= hi; v += step / 5 {
		t := plot.Tick{Value: v}
		if math.Mod(v, step) == 0 {
			t.Label = num(v)
		}
		if v >= lo {
			ts = append(ts, t)
		}
	}
	return ts
}
