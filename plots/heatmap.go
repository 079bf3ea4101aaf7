package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
)

// Coords maps a point in data coordinates (an x and y value of the grid's
// axes, between or beyond grid values) to the heat map's drawing
// coordinates, so that an overlay (a ridge line lambda/N = const, say)
// lands where it belongs.
type Coords func(x, y float64) (float64, float64)

// Heatmap draws z over the grid xs × ys, z[j][i] being the value at
// (xs[i], ys[j]). Cells are drawn in grid order, one per value, with the
// grid values as tick labels, so log-spaced grids (powers of two) come out
// evenly spaced; NaN cells (diverged runs) are drawn in near-black, a colour outside the palette. A
// colour bar sits on the right. overlay, when not nil, may add plotters to
// the heat map's plot, placing them with the Coords it gets (piecewise
// linear in log space between grid values when an axis is all positive).
func Heatmap(title, xlabel, ylabel string, xs, ys []float64, z [][]float64, overlay func(p *plot.Plot, at Coords) error) (*Figure, error) {
	if len(xs) == 0 || len(ys) == 0 {
		return nil, fmt.Errorf("heatmap %q: empty grid (%d x %d): %w", title, len(xs), len(ys), ErrNoData)
	}
	if len(z) != len(ys) {
		return nil, fmt.Errorf("heatmap %q: z has %d rows, want len(ys) = %d", title, len(z), len(ys))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for j, row := range z {
		if len(row) != len(xs) {
			return nil, fmt.Errorf("heatmap %q: z[%d] has %d values, want len(xs) = %d", title, j, len(row), len(xs))
		}
		for _, v := range row {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if lo > hi { // all NaN: still draw the grid, all grey
		lo, hi = 0, 1
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	pal := moreland.SmoothBlueRed()
	pal.SetMin(lo)
	pal.SetMax(hi)
	p := newPlot(title, xlabel, ylabel)
	p.Title.Text = title
	hm := plotter.NewHeatMap(grid{xs: xs, ys: ys, z: z}, pal.Palette(64))
	hm.Min, hm.Max = lo, hi
	hm.NaN = color.Gray{Y: 50}
	p.Add(hm)
	p.X.Tick.Marker = indexTicks(xs)
	p.Y.Tick.Marker = indexTicks(ys)
	p.X.Min, p.X.Max = -0.5, float64(len(xs))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(ys))-0.5
	if overlay != nil {
		at := func(x, y float64) (float64, float64) { return gridIndex(xs, x), gridIndex(ys, y) }
		if err := overlay(p, at); err != nil {
			return nil, fmt.Errorf("heatmap %q: overlay: %w", title, err)
		}
		// An overlay must not move the axes off the grid.
		p.X.Min, p.X.Max = -0.5, float64(len(xs))-0.5
		p.Y.Min, p.Y.Max = -0.5, float64(len(ys))-0.5
	}
	bar := plot.New()
	bar.HideX()
	bar.Y.Padding = 0
	bar.Title.Text = " "
	bar.Add(&plotter.ColorBar{ColorMap: pal, Vertical: true})
	return &Figure{Width: Width, Height: Height, Panels: []Panel{
		{Plot: p, X0: 0, Y0: 0, X1: 0.88, Y1: 1},
		{Plot: bar, X0: 0.88, Y0: 0.085, X1: 1, Y1: 0.965},
	}}, nil
}

// grid is a GridXYZ in index coordinates.
type grid struct {
	xs, ys []float64
	z      [][]float64
}

func (g grid) Dims() (c, r int)   { return len(g.xs), len(g.ys) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// indexTicks labels index i with vals[i].
func indexTicks(vals []float64) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(vals))
	for i, v := range vals {
		ts[i] = plot.Tick{Value: float64(i), Label: strconv.FormatFloat(v, 'g', 4, 64)}
	}
	return ts
}

// gridIndex maps a value to a fractional index along a grid axis:
// piecewise linear between neighbouring grid values (in log space when
// every value and v are positive), extrapolated from the end segments.
func gridIndex(vals []float64, v float64) float64 {
	if len(vals) == 1 {
		return 0
	}
	tr := func(x float64) float64 { return x }
	logOK := v > 0
	for _, x := range vals {
		logOK = logOK && x > 0
	}
	if logOK {
		tr = math.Log
	}
	tv := tr(v)
	i := 1
	for i < len(vals)-1 && ((tr(vals[i]) < tv) == (tr(vals[1]) > tr(vals[0]))) {
		i++
	}
	a, b := tr(vals[i-1]), tr(vals[i])
	if a == b {
		return float64(i)
	}
	return float64(i-1) + (tv-a)/(b-a)
}
