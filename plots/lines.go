package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named line for Lines.
type Series struct {
	Name string
	X, Y []float64
	// Lo and Hi, when both have len(X) values, draw a shaded band.
	Lo, Hi []float64
	// Points draws a marker at every value.
	Points bool
}

// Axes selects log scales for Lines and Histogram.
type Axes struct {
	LogX, LogY bool
}

// Lines draws named series as lines in StyleOf(i) for series i,
// with optional bands and log axes: the generic helper for the post-6 and
// post-7 analysis plots (weight norms per layer and step, eigenvalues,
// accuracy against LR). NaN values break a line into segments' worth of
// missing points: they are skipped.
func Lines(title, xlabel, ylabel string, series []Series, axes Axes) (*Figure, error) {
	p := newPlot(title, xlabel, ylabel)
	if axes.LogX {
		setLog(&p.X)
	}
	if axes.LogY {
		setLog(&p.Y)
	}
	drawn := 0
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("lines %q: series %q has %d x and %d y values", title, s.Name, len(s.X), len(s.Y))
		}
		keep := func(x, y float64) bool {
			return finite(x) && finite(y) && (!axes.LogX || x > 0) && (!axes.LogY || y > 0)
		}
		var b band
		for j := range s.X {
			if !keep(s.X[j], s.Y[j]) {
				continue
			}
			lo, hi := s.Y[j], s.Y[j]
			if len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) && keep(s.X[j], s.Lo[j]) && keep(s.X[j], s.Hi[j]) {
				lo, hi = s.Lo[j], s.Hi[j]
			}
			xlo, xhi = math.Min(xlo, s.X[j]), math.Max(xhi, s.X[j])
			ylo, yhi = math.Min(ylo, lo), math.Max(yhi, hi)
			b.epochs, b.mean = append(b.epochs, s.X[j]), append(b.mean, s.Y[j])
			b.lo, b.hi = append(b.lo, lo), append(b.hi, hi)
		}
		if len(b.epochs) == 0 {
			continue
		}
		sty := StyleOf(i)
		if len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) {
			thumbs, err := addBand(p, b, sty)
			if err != nil {
				return nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
			}
			p.Legend.Add(label(s.Name), thumbs...)
		} else {
			pts := make(plotter.XYs, len(b.epochs))
			for j := range pts {
				pts[j] = plotter.XY{X: b.epochs[j], Y: b.mean[j]}
			}
			line, err := plotter.NewLine(pts)
			if err != nil {
				return nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
			}
			line.LineStyle = draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5), Dashes: sty.Dashes}
			p.Add(line)
			thumbs := []plot.Thumbnailer{line}
			if s.Points {
				sc, err := plotter.NewScatter(pts)
				if err != nil {
					return nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: lineMarkerRadius, Shape: sty.Marker}
				p.Add(sc)
				thumbs = append(thumbs, sc)
			}
			p.Legend.Add(label(s.Name), thumbs...)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("lines %q: %w", title, ErrNoData)
	}
	// gonum widens an empty range by ±1, which a log axis cannot take.
	if axes.LogX && xlo == xhi {
		p.X.Min, p.X.Max = xlo/2, xhi*2
	}
	if axes.LogY && ylo == yhi {
		p.Y.Min, p.Y.Max = ylo/2, yhi*2
	}
	return sideLegend(p, drawn, Width, Height), nil
}

// Histogram draws the distribution of values in bins equal-width bins
// (bins <= 0 picks the square root of the count), as counts or, with
// normalize, as a density: the helper for activation and output
// histograms. Non-finite values are dropped and counted in the title.
func Histogram(title, xlabel string, values []float64, bins int, normalize bool) (*Figure, error) {
	var vs plotter.Values
	dropped := 0
	for _, v := range values {
		if finite(v) {
			vs = append(vs, v)
		} else {
			dropped++
		}
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("histogram %q: %w", title, ErrNoData)
	}
	if bins <= 0 {
		bins = 1
		for bins*bins < len(vs) {
			bins++
		}
	}
	if dropped > 0 {
		title = fmt.Sprintf("%s (%d non-finite values left out)", title, dropped)
	}
	ylabel := "count"
	if normalize {
		ylabel = "density"
	}
	p := newPlot(title, xlabel, ylabel)
	h, err := plotter.NewHist(vs, bins)
	if err != nil {
		return nil, fmt.Errorf("histogram %q: %w", title, err)
	}
	if normalize {
		h.Normalize(1)
	}
	h.FillColor = withAlpha(Color(0), 180)
	h.LineStyle = draw.LineStyle{Color: Color(0), Width: vg.Points(0.5)}
	p.Add(h)
	return Single(p), nil
}
