package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// OverviewPoint is one stage's final variant: our mean time and the
// blog's published time (0 or NaN when unknown).
type OverviewPoint struct {
	Stage     string // label on the x axis
	Variant   string
	Ours      float64
	Published float64
}

// Overview draws the time of each stage's final variant, ours (one
// series, named by series: "demo · synthetic · CPU") against the blog's,
// on a log time axis: the blog's 341 s to 26 s story at a glance. The
// legend has a column of its own, so that it is never cut off.
func Overview(series string, pts []OverviewPoint) (*Figure, error) {
	p := newPlot("Time of each stage's final variant: ours ("+seriesLabel(series)+") and the blog's", "stage (final variant)", "time (s, log scale)")
	setLog(&p.Y)
	var ours, pub plotter.XYs
	names := make([]string, len(pts))
	for i, pt := range pts {
		names[i] = label(pt.Stage)
		if finite(pt.Ours) && pt.Ours > 0 {
			ours = append(ours, plotter.XY{X: float64(i), Y: pt.Ours})
		}
		if finite(pt.Published) && pt.Published > 0 {
			pub = append(pub, plotter.XY{X: float64(i), Y: pt.Published})
		}
	}
	if len(ours)+len(pub) == 0 {
		return nil, fmt.Errorf("overview: %w", ErrNoData)
	}
	for _, s := range []struct {
		xys   plotter.XYs
		name  string
		col   int
		shape draw.GlyphDrawer
	}{{ours, "ours, " + seriesLabel(series) + " (mean)", 0, draw.CircleGlyph{}}, {pub, "blog (published, its hardware)", 1, draw.RingGlyph{}}} {
		if len(s.xys) == 0 {
			continue
		}
		line, sc, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, fmt.Errorf("overview: %s: %w", s.name, err)
		}
		line.LineStyle = draw.LineStyle{Color: Color(s.col), Width: vg.Points(1.5)}
		sc.GlyphStyle = draw.GlyphStyle{Color: Color(s.col), Radius: vg.Points(5), Shape: s.shape}
		p.Add(line, sc)
		p.Legend.Add(s.name, line, sc)
	}
	// Pad the log axis by a factor of 2 both ways so that a single point
	// still has a valid range.
	all := append(append(plotter.XYs(nil), ours...), pub...)
	lo, hi := all[0].Y, all[0].Y
	for _, xy := range all {
		lo, hi = min(lo, xy.Y), max(hi, xy.Y)
	}
	p.Y.Min, p.Y.Max = lo/2, hi*2
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(pts))-0.5
	if len(pts) > 4 {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	l := p.Legend
	p.Legend = plot.NewLegend()
	return legendColumn(l, Width, Height, Panel{Plot: p, X1: 1, Y1: 1}), nil
}
