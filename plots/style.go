package plots

import (
	"errors"
	"image/color"
	"math"
	"strconv"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ErrNoData is returned by a chart constructor with nothing to draw; the
// report leaves such a chart out and says so.
var ErrNoData = errors.New("nothing to plot")

// palette10 is a ten-colour qualitative palette (Tableau 10); series i
// takes colour i mod 10, and a marker shape and dashes from StyleOf.
var palette10 = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

// Color returns the i-th series colour.
func Color(i int) color.RGBA { return palette10[((i%len(palette10))+len(palette10))%len(palette10)] }

// lineMarkerRadius sizes the markers on lines: big enough to tell the
// shapes apart.
const lineMarkerRadius = vg.Length(2.4)

func withAlpha(c color.RGBA, a uint8) color.NRGBA {
	return color.NRGBA{R: c.R, G: c.G, B: c.B, A: a}
}

// newPlot returns a plot with the report's common styling.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend = newLegend()
	p.Add(plotter.NewGrid())
	return p
}

// newLegend returns a legend with the report's common styling.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.Top = true
	l.TextStyle.Font.Size = vg.Points(9)
	return l
}

// label shortens a user-supplied name for a legend or tick: charts are
// images, so hostile text is harmless there but a long one wrecks the
// layout.
func label(s string) string { return truncate(s, 28) }

// truncate cuts s to n runes, the last an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// useLog switches an axis to a log scale when its positive values span
// more than factor (our CPU smoke runs beside the blog's V100 times, say).
func useLog(a *plot.Axis, xs []float64, factor float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if !finite(x) || x <= 0 {
			continue
		}
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if !(hi/lo > factor) {
		return false
	}
	setLog(a)
	return true
}

// seriesLabel shortens a series label for a chart: longer than a
// variant's name may be, but bounded (overrides can be long).
func seriesLabel(s string) string { return truncate(s, 60) }

// setLog gives an axis a log scale with 1-2-5 ticks.
func setLog(a *plot.Axis) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = ticks125{}
}

// ticks125 labels 1, 2 and 5 times each power of ten: plot.LogTicks
// labels only the powers, which leaves a range within one decade bare.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var ts []plot.Tick
	// Over more than three decades only the powers of ten get labels.
	dense := math.Log10(hi/lo) <= 3
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || dense && (m == 2 || m == 5) {
				t.Label = strconv.FormatFloat(v, 'g', 4, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// sideLegend moves p's legend into a column of its own on the right when
// it has more than a few entries, so that it never hides data.
func sideLegend(p *plot.Plot, entries int, w, h vg.Length) *Figure {
	if entries <= 6 {
		return &Figure{Width: w, Height: h, Panels: []Panel{{Plot: p, X1: 1, Y1: 1}}}
	}
	l := p.Legend
	p.Legend = plot.NewLegend()
	return legendColumn(l, w, h, Panel{Plot: p, X1: 1, Y1: 1})
}

// legendColumn sets panels, placed as fractions of a w by h figure, beside
// a column holding l. The figure widens by the legend's width and grows
// taller when the legend needs it (25 variants and the key, say), so
// neither the data nor the legend is squeezed; the panels must no longer
// draw l themselves.
func legendColumn(l plot.Legend, w, h vg.Length, panels ...Panel) *Figure {
	// The legend starts level with the first plot's data area, below the
	// title, and keeps a margin at the right edge and the bottom.
	const top, margin = vg.Length(22), vg.Length(8)
	lp := plot.New()
	lp.HideAxes()
	lp.Legend = l
	lp.Legend.Top, lp.Legend.Left = true, true
	// A little air between rows keeps neighbouring markers apart.
	lp.Legend.Padding = vg.Points(2)
	r := lp.Legend.Rectangle(draw.Canvas{})
	lw := r.Max.X - r.Min.X + 2*margin
	h = max(h, r.Max.Y-r.Min.Y+top+margin)
	fw := w + lw
	frac := float64(w / fw)
	f := &Figure{Width: fw, Height: h}
	for _, p := range panels {
		p.X0, p.X1 = p.X0*frac, p.X1*frac
		f.Panels = append(f.Panels, p)
	}
	f.Panels = append(f.Panels, Panel{Plot: lp, X0: frac, X1: 1, Y0: 0, Y1: 1 - float64(top/h)})
	return f
}
