package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Waterfall draws time per variant as a waterfall, ours (left panel)
// beside the blog's (right panel): each bar floats from the previous
// variant's time to this one's, green where time fell and red where it
// rose. The panels have their own time axes because a CPU smoke run and
// a V100 paper run differ by orders of magnitude. stats[i] belongs to
// sec.Groups[i].
func Waterfall(sec Section, stats []*Stats) (*Figure, error) {
	if len(stats) != len(sec.Groups) {
		return nil, fmt.Errorf("waterfall: %d stats for %d groups", len(stats), len(sec.Groups))
	}
	names := make([]string, len(sec.Groups))
	ours := make([]float64, len(sec.Groups))
	pub := make([]float64, len(sec.Groups))
	anyOurs, anyPub := false, false
	for i, g := range sec.Groups {
		names[i] = label(g.Variant.Name)
		ours[i] = stats[i].Time
		pub[i] = math.NaN()
		if t := g.Variant.Published.TimeSeconds; t > 0 {
			pub[i] = t
			anyPub = true
		}
		anyOurs = anyOurs || finite(ours[i])
	}
	if !anyOurs && !anyPub {
		return nil, fmt.Errorf("waterfall %s/%s: %w", sec.Stage.Name, sec.SeriesName(), ErrNoData)
	}
	timing := "train+eval"
	if len(stats) > 0 {
		timing = stats[len(stats)-1].Timing
	}
	left := waterfallPlot(fmt.Sprintf("%s: ours (%s), mean time", sec.Stage.Name, seriesLabel(sec.SeriesName())), timing, names, ours)
	right := waterfallPlot(fmt.Sprintf("%s: blog (published)", sec.Stage.Name), timing, names, pub)
	return &Figure{Width: 10 * vg.Inch, Height: Height, Panels: []Panel{
		{Plot: left, X0: 0, Y0: 0, X1: 0.5, Y1: 1},
		{Plot: right, X0: 0.5, Y0: 0, X1: 1, Y1: 1},
	}}, nil
}

func waterfallPlot(title, timing string, names []string, ts []float64) *plot.Plot {
	if !slices.ContainsFunc(ts, finite) {
		// Empty axes would look like a chart that failed to draw: a side
		// without times shows only its title, which says so.
		p := plot.New()
		p.Title.Text = title + " (no data)"
		p.HideAxes()
		return p
	}
	p := newPlot(title, "variant", fmt.Sprintf("time (s, %s)", timing))
	wb := &floatingBars{width: 0.6}
	prev := 0.0
	for i, t := range ts {
		if !finite(t) {
			continue
		}
		col := color.Color(Color(7))
		switch {
		case prev == 0:
		case t < prev:
			col = Color(2)
		case t > prev:
			col = Color(3)
		}
		wb.bars = append(wb.bars, floatingBar{x: float64(i), from: prev, to: t, color: col})
		prev = t
	}
	wb.n = len(ts)
	p.Add(wb)
	p.NominalX(names...)
	if len(names) > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	p.Y.Min = 0
	return p
}

type floatingBar struct {
	x, from, to float64
	color       color.Color
}

// floatingBars is a plot.Plotter drawing bars from one value to another.
type floatingBars struct {
	bars  []floatingBar
	width float64 // in x data units
	n     int     // number of x slots
}

func (f *floatingBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	outline := draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}
	link := draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(0.7), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	for i, b := range f.bars {
		x0, x1 := trX(b.x-f.width/2), trX(b.x+f.width/2)
		y0, y1 := trY(b.from), trY(b.to)
		if y1 < y0 {
			y0, y1 = y1, y0
		}
		if y1-y0 < vg.Points(1) { // an unchanged time still shows
			y1 = y0 + vg.Points(1)
		}
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(b.color, c.ClipPolygonXY(pts))
		c.StrokeLines(outline, c.ClipLinesXY(append(pts, pts[0]))...)
		if i+1 < len(f.bars) {
			nx := f.bars[i+1]
			c.StrokeLines(link, c.ClipLinesXY([]vg.Point{{X: x1, Y: trY(b.to)}, {X: trX(nx.x - f.width/2), Y: trY(b.to)}})...)
		}
	}
}

func (f *floatingBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = -0.5, float64(max(f.n, 1))-0.5
	ymin, ymax = 0, 0
	for _, b := range f.bars {
		ymax = math.Max(ymax, math.Max(b.from, b.to))
	}
	return xmin, xmax, ymin, ymax * 1.05
}
