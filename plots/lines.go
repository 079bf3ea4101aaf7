package plots

import (
	"errors"
	"fmt"
	"math"
	"slices"

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
	p, entries, err := linesPlot(title, xlabel, ylabel, series, axes, func(i int, _ string) SeriesStyle { return StyleOf(i) })
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		p.Legend.Add(label(e.name), e.thumbs...)
	}
	return sideLegend(p, len(entries), Width, Height), nil
}

// LinesPanel is one panel of LinesGrid.
type LinesPanel struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// LinesGrid draws panels as Lines plots in a grid, at most cols per row,
// each in a cellW by cellH cell, with one legend for the whole figure in
// a column on the right: panels of the same quantities (a histogram per
// layer) need not each give up room to a legend that, in a small cell,
// would hide their data. A series keeps its style in every panel by its
// name, so one legend serves all; the legend lists the names of the panel
// with the most series, then those only other panels have. Panels with
// nothing to draw are left out; with none left the error wraps ErrNoData.
func LinesGrid(panels []LinesPanel, cols int, cellW, cellH vg.Length, axes Axes) (*Figure, error) {
	if cols < 1 {
		return nil, fmt.Errorf("lines grid: %d columns, want at least 1", cols)
	}
	names := gridNames(panels)
	style := func(_ int, name string) SeriesStyle { return StyleOf(slices.Index(names, name)) }
	var plots []*plot.Plot
	thumbs := map[string][]plot.Thumbnailer{}
	for _, pn := range panels {
		p, entries, err := linesPlot(pn.Title, pn.XLabel, pn.YLabel, pn.Series, axes, style)
		if errors.Is(err, ErrNoData) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lines grid: %w", err)
		}
		for _, e := range entries {
			if _, ok := thumbs[e.name]; !ok {
				thumbs[e.name] = e.thumbs
			}
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, fmt.Errorf("lines grid: %w", ErrNoData)
	}
	l := newLegend()
	for _, n := range names {
		if t, ok := thumbs[n]; ok {
			l.Add(label(n), t...)
		}
	}
	cols = min(cols, len(plots))
	rows := (len(plots) + cols - 1) / cols
	cells := make([]Panel, len(plots))
	for i, p := range plots {
		r, c := i/cols, i%cols
		cells[i] = Panel{Plot: p,
			X0: float64(c) / float64(cols), X1: float64(c+1) / float64(cols),
			Y0: 1 - float64(r+1)/float64(rows), Y1: 1 - float64(r)/float64(rows)}
	}
	return legendColumn(l, vg.Length(cols)*cellW, vg.Length(rows)*cellH, cells...), nil
}

// gridNames returns the distinct series names of panels: those of the
// panel with the most series in its order, then the others as they come.
func gridNames(panels []LinesPanel) []string {
	if len(panels) == 0 {
		return nil
	}
	most := 0
	for i, pn := range panels {
		if len(pn.Series) > len(panels[most].Series) {
			most = i
		}
	}
	var names []string
	for _, pn := range append([]LinesPanel{panels[most]}, panels...) {
		for _, s := range pn.Series {
			if !slices.Contains(names, s.Name) {
				names = append(names, s.Name)
			}
		}
	}
	return names
}

// legendEntry is one series' legend text and thumbnails.
type legendEntry struct {
	name   string
	thumbs []plot.Thumbnailer
}

// linesPlot draws series into a new plot, series i named name in
// style(i, name), and returns the legend entries of those it drew, in
// order, for the caller to place.
func linesPlot(title, xlabel, ylabel string, series []Series, axes Axes, style func(i int, name string) SeriesStyle) (*plot.Plot, []legendEntry, error) {
	p := newPlot(title, xlabel, ylabel)
	if axes.LogX {
		setLog(&p.X)
	}
	if axes.LogY {
		setLog(&p.Y)
	}
	var entries []legendEntry
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, nil, fmt.Errorf("lines %q: series %q has %d x and %d y values", title, s.Name, len(s.X), len(s.Y))
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
		sty := style(i, s.Name)
		if len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) {
			thumbs, err := addBand(p, b, sty)
			if err != nil {
				return nil, nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
			}
			entries = append(entries, legendEntry{s.Name, thumbs})
			continue
		}
		pts := make(plotter.XYs, len(b.epochs))
		for j := range pts {
			pts[j] = plotter.XY{X: b.epochs[j], Y: b.mean[j]}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
		}
		line.LineStyle = draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5), Dashes: sty.Dashes}
		p.Add(line)
		thumbs := []plot.Thumbnailer{line}
		if s.Points {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, nil, fmt.Errorf("lines %q: %s: %w", title, s.Name, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: lineMarkerRadius, Shape: sty.Marker}
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		entries = append(entries, legendEntry{s.Name, thumbs})
	}
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("lines %q: %w", title, ErrNoData)
	}
	// gonum widens an empty range by ±1, which a log axis cannot take.
	if axes.LogX && xlo == xhi {
		p.X.Min, p.X.Max = xlo/2, xhi*2
	}
	if axes.LogY && ylo == yhi {
		p.Y.Min, p.Y.Max = ylo/2, yhi*2
	}
	return p, entries, nil
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
