package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one named set of bars: a value per category (NaN: none).
type BarSeries struct {
	Name   string
	Values []float64
}

// Bars draws grouped bars: a group per category, a bar per series in
// StyleOf(i)'s colour, with one legend. On a log Y axis (axes.LogY) a
// bar rises from a tenth of the smallest positive value instead of 0,
// which a log axis cannot show, and values <= 0 are left out: the post-7
// charts compare gradient norms and eigenvalues across models that differ
// by orders of magnitude. The error wraps ErrNoData when nothing is left.
func Bars(title, xlabel, ylabel string, categories []string, series []BarSeries, axes Axes) (*Figure, error) {
	floor := math.Inf(1)
	any := false
	for _, s := range series {
		if len(s.Values) != len(categories) {
			return nil, fmt.Errorf("bars %q: series %q has %d values for %d categories", title, s.Name, len(s.Values), len(categories))
		}
		for _, v := range s.Values {
			if !finite(v) || (axes.LogY && v <= 0) {
				continue
			}
			any = true
			floor = math.Min(floor, math.Abs(v))
		}
	}
	if !any {
		return nil, fmt.Errorf("bars %q: %w", title, ErrNoData)
	}
	base := 0.0
	if axes.LogY {
		base = floor / 10
	}
	p := newPlot(title, xlabel, ylabel)
	if axes.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	width := 0.8 / float64(max(len(series), 1))
	for i, s := range series {
		gb := &groupBars{base: base, n: len(categories), width: width, color: Color(i)}
		for j, v := range s.Values {
			if !finite(v) || (axes.LogY && v <= 0) {
				continue
			}
			x := float64(j) + (float64(i)-float64(len(series)-1)/2)*width
			gb.bars = append(gb.bars, floatingBar{x: x, from: base, to: v, color: Color(i)})
		}
		p.Add(gb)
		p.Legend.Add(label(s.Name), gb)
	}
	p.NominalX(categories...)
	if len(categories) > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	p.Legend.Top = true
	return sideLegend(p, len(series), Width, Height), nil
}

// groupBars is one series of Bars: bars from base to each value.
type groupBars struct {
	bars  []floatingBar
	base  float64
	width float64 // in x data units
	n     int     // number of categories
	color color.Color
}

func (g *groupBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	outline := draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}
	for _, b := range g.bars {
		x0, x1 := trX(b.x-g.width/2), trX(b.x+g.width/2)
		y0, y1 := trY(b.from), trY(b.to)
		if y1 < y0 {
			y0, y1 = y1, y0
		}
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.color, c.ClipPolygonXY(pts))
		c.StrokeLines(outline, c.ClipLinesXY(append(pts, pts[0]))...)
	}
}

func (g *groupBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = -0.5, float64(max(g.n, 1))-0.5
	ymin, ymax = g.base, g.base
	for _, b := range g.bars {
		ymin, ymax = math.Min(ymin, b.to), math.Max(ymax, b.to)
	}
	// Headroom above the tallest bar for the legend in the top corner.
	switch {
	case ymax > 0 && g.base == 0:
		ymax *= 1.3
	case ymax > 0:
		ymax *= 5
	}
	return xmin, xmax, ymin, ymax
}

// Thumbnail draws the legend's swatch.
func (g *groupBars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(g.color, c.ClipPolygonY(pts))
}
