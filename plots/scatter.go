package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"speedrun/results"
)

// Scatter plots time against accuracy for one section: each variant a
// colour and marker shape (StyleOf), each done run a small marker, the
// variant's mean a large outlined one with ±1 std bars on both axes, the
// blog's published point a ring around the variant's marker (PublishedMark),
// and a line at 94%. The title and the key name the series (profile,
// dataset, device) beside the blog's numbers; the time axis is
// logarithmic when the times span more than 5x (our CPU runs beside the
// blog's V100 times). stats[i] belongs to sec.Groups[i].
func Scatter(sec Section, stats []*Stats) (*Figure, error) {
	if len(stats) != len(sec.Groups) {
		return nil, fmt.Errorf("scatter: %d stats for %d groups", len(stats), len(sec.Groups))
	}
	p := newPlot(fmt.Sprintf("%s, ours (%s) and the blog's: time against accuracy", sec.Stage.Name, seriesLabel(sec.SeriesName())),
		"time (s)", "test accuracy (%)")
	var allX, allY []float64
	type series struct {
		runs  plotter.XYs
		mean  plotter.XYs
		xerr  plotter.XErrors
		yerr  plotter.YErrors
		pub   plotter.XYs
		name  string
		style SeriesStyle
	}
	var ss []series
	for i, g := range sec.Groups {
		st := stats[i]
		s := series{name: label(g.Variant.Name), style: StyleOf(i)}
		for _, r := range g.Runs {
			if r.Status != results.StatusDone {
				continue
			}
			x, y := TimeIn(r, st.Timing), 100*Accuracy(r)
			if !finite(x) || !finite(y) {
				continue
			}
			s.runs = append(s.runs, plotter.XY{X: x, Y: y})
			allX, allY = append(allX, x), append(allY, y)
		}
		if finite(st.Time) && finite(st.AccMean) {
			s.mean = plotter.XYs{{X: st.Time, Y: 100 * st.AccMean}}
			xe, ye := orZero(st.TimeStd), 100*orZero(st.AccStd)
			s.xerr = plotter.XErrors{{Low: -xe, High: xe}}
			s.yerr = plotter.YErrors{{Low: -ye, High: ye}}
		}
		pub := g.Variant.Published
		if pub.TimeSeconds > 0 && pub.Accuracy > 0 {
			s.pub = plotter.XYs{{X: pub.TimeSeconds, Y: 100 * pub.Accuracy}}
			allX, allY = append(allX, pub.TimeSeconds), append(allY, 100*pub.Accuracy)
		}
		ss = append(ss, s)
	}
	if len(allX) == 0 {
		return nil, fmt.Errorf("scatter %s/%s: %w", sec.Stage.Name, sec.SeriesName(), ErrNoData)
	}
	logX := useLog(&p.X, allX, 5)
	if logX {
		p.X.Label.Text = "time (s, log scale)"
		// A log axis has no place for a time of zero (a fake backend's
		// run can take less than the clock's step), and gonum refuses to
		// render one: such points are left off.
		allX = positive(allX)
		for i := range ss {
			ss[i].runs = positiveX(ss[i].runs)
			if len(ss[i].mean) > 0 && !(ss[i].mean[0].X > 0) {
				ss[i].mean = nil
			}
		}
	}
	for _, s := range ss {
		col, mk := s.style.Color, s.style.Marker
		if len(s.runs)+len(s.mean)+len(s.pub) > 0 {
			// The legend shows the mean's marker: colour and shape together
			// name the variant.
			p.Legend.Add(s.name, glyphThumb{draw.GlyphStyle{Color: col, Radius: vg.Points(3.5), Shape: Marker{Shape: mk.Shape, Edge: true}}})
		}
		if len(s.runs) > 0 {
			sc, err := plotter.NewScatter(s.runs)
			if err != nil {
				return nil, fmt.Errorf("scatter %s: runs of %s: %w", sec.Stage.Name, s.name, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: withAlpha(col, 150), Radius: runRadius, Shape: mk}
			p.Add(sc)
		}
		if len(s.mean) > 0 {
			m, err := plotter.NewScatter(s.mean)
			if err != nil {
				return nil, fmt.Errorf("scatter %s: mean of %s: %w", sec.Stage.Name, s.name, err)
			}
			m.GlyphStyle = draw.GlyphStyle{Color: col, Radius: meanRadius, Shape: Marker{Shape: mk.Shape, Edge: true}}
			if s.yerr[0].High > 0 {
				ye := &plotter.YErrorBars{XYs: s.mean, YErrors: s.yerr, LineStyle: draw.LineStyle{Color: col, Width: vg.Points(1.2)}, CapWidth: vg.Points(6)}
				p.Add(ye)
			}
			if s.xerr[0].High > 0 && (!logX || s.mean[0].X+s.xerr[0].Low > 0) {
				xe := &plotter.XErrorBars{XYs: s.mean, XErrors: s.xerr, LineStyle: draw.LineStyle{Color: col, Width: vg.Points(1.2)}, CapWidth: vg.Points(6)}
				p.Add(xe)
			}
			p.Add(m)
		}
		if len(s.pub) > 0 {
			pb, err := plotter.NewScatter(s.pub)
			if err != nil {
				return nil, fmt.Errorf("scatter %s: published %s: %w", sec.Stage.Name, s.name, err)
			}
			pb.GlyphStyle = draw.GlyphStyle{Color: col, Radius: pubRadius, Shape: PublishedMark{Inner: mk}}
			p.Add(pb)
		}
	}
	// The 94% line spans the data's time range.
	xmin, xmax := minMax(allX)
	if xmin == xmax {
		xmin, xmax = xmin*0.9, xmax*1.1+1e-9
	}
	target, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: 100 * Target}, {X: xmax, Y: 100 * Target}})
	if err != nil {
		return nil, fmt.Errorf("scatter %s: target line: %w", sec.Stage.Name, err)
	}
	target.LineStyle = draw.LineStyle{Color: Color(3), Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	p.Add(target)
	p.Legend.Add("94%", target)
	legendGlyph(p, "one run (ours)", runRadius, Marker{})
	legendGlyph(p, "mean ± 1 std (ours)", meanRadius, Marker{Edge: true})
	legendGlyph(p, "published (blog)", pubRadius, PublishedMark{})
	// Keep the extreme points off the frame.
	if logX {
		p.X.Min, p.X.Max = xmin/1.15, xmax*1.15
	} else {
		pad := 0.05 * (xmax - xmin)
		p.X.Min, p.X.Max = xmin-pad, xmax+pad
	}
	ylo, yhi := minMax(allY)
	p.Y.Min = math.Min(ylo, 100*Target) - 0.5
	p.Y.Max = math.Max(yhi, 100*Target) + 0.5
	// The legend always gets its own column: the key alone has four
	// entries, and the blog's points sit at the top where an inset legend
	// would cover them.
	l := p.Legend
	p.Legend = plot.NewLegend()
	return legendColumn(l, Width, Height, Panel{Plot: p, X1: 1, Y1: 1}), nil
}

// Marker sizes in the scatter: runs small and translucent under their
// variant's mean.
const (
	runRadius  = vg.Length(2.6)
	meanRadius = vg.Length(4.5)
	pubRadius  = vg.Length(6.5)
)

// legendGlyph adds a grey legend entry explaining a marker, at most as
// large as a legend row.
func legendGlyph(p *plot.Plot, text string, r vg.Length, shape draw.GlyphDrawer) {
	p.Legend.Add(text, glyphThumb{draw.GlyphStyle{Color: Color(7), Radius: min(r, vg.Points(5)), Shape: shape}})
}

type glyphThumb struct{ style draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.style, c.Center())
}

func orZero(x float64) float64 {
	if finite(x) {
		return x
	}
	return 0
}

// positive returns the values of xs above zero.
func positive(xs []float64) []float64 {
	var out []float64
	for _, x := range xs {
		if x > 0 {
			out = append(out, x)
		}
	}
	return out
}

// positiveX returns the points of xy with X above zero.
func positiveX(xy plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for _, p := range xy {
		if p.X > 0 {
			out = append(out, p)
		}
	}
	return out
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if finite(x) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	return lo, hi
}
