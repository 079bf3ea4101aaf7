package plots

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"speedrun/results"
)

// band is a per-epoch mean with its min-max range over runs.
type band struct {
	epochs, mean, lo, hi []float64
}

// epochBand aggregates one metric of the done runs of g per epoch,
// skipping NaN entries (epochs that were not evaluated).
func epochBand(g *Group, epochs map[int64][]results.Epoch, metric func(results.Epoch) float64) band {
	vals := map[int][]float64{}
	for _, r := range g.Runs {
		if r.Status != results.StatusDone {
			continue
		}
		for _, e := range epochs[r.ID] {
			v := metric(e)
			if finite(v) {
				vals[e.Epoch] = append(vals[e.Epoch], v)
			}
		}
	}
	keys := make([]int, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b band
	for _, k := range keys {
		m, _ := meanStd(vals[k])
		lo, hi := minMax(vals[k])
		b.epochs = append(b.epochs, float64(k))
		b.mean, b.lo, b.hi = append(b.mean, m), append(b.lo, lo), append(b.hi, hi)
	}
	return b
}

// Curves draws learning curves for one section: test accuracy (top) and
// training loss (bottom) per epoch, for each variant the mean over its
// done runs as a line with markers (StyleOf: colour, marker shape and
// dashes tell up to 25 variants apart) and the min-max range over runs as
// a shaded band.
func Curves(sec Section, epochs map[int64][]results.Epoch) (*Figure, error) {
	acc := newPlot(fmt.Sprintf("%s (%s): test accuracy per epoch (mean, min-max band)", sec.Stage.Name, seriesLabel(sec.SeriesName())), "epoch", "test accuracy (%)")
	loss := newPlot("training loss per epoch (mean, min-max band)", "epoch", "train loss")
	drawn := 0
	for i, g := range sec.Groups {
		sty := StyleOf(i)
		a := epochBand(g, epochs, func(e results.Epoch) float64 { return 100 * e.TestAcc })
		l := epochBand(g, epochs, func(e results.Epoch) float64 { return e.TrainLoss })
		for _, pb := range []struct {
			p *plot.Plot
			b band
		}{{acc, a}, {loss, l}} {
			if len(pb.b.epochs) == 0 {
				continue
			}
			thumbs, err := addBand(pb.p, pb.b, sty)
			if err != nil {
				return nil, fmt.Errorf("curves %s: %s: %w", sec.Stage.Name, g.Variant.Name, err)
			}
			if pb.p == acc || len(a.epochs) == 0 {
				pb.p.Legend.Add(label(g.Variant.Name), thumbs...)
			}
			drawn++
		}
	}
	if drawn == 0 {
		return nil, fmt.Errorf("curves %s/%s: %w", sec.Stage.Name, sec.SeriesName(), ErrNoData)
	}
	acc.Legend.Top, acc.Legend.Left = false, false
	loss.Legend.Top = true
	if len(sec.Groups) <= 6 {
		return &Figure{Width: Width, Height: 8 * vg.Inch, Panels: []Panel{
			{Plot: acc, X0: 0, Y0: 0.5, X1: 1, Y1: 1},
			{Plot: loss, X0: 0, Y0: 0, X1: 1, Y1: 0.5},
		}}, nil
	}
	// Many variants: one legend in its own column, off the data.
	l := acc.Legend
	acc.Legend, loss.Legend = plot.NewLegend(), plot.NewLegend()
	return legendColumn(l, Width, 8*vg.Inch,
		Panel{Plot: acc, X0: 0, Y0: 0.5, X1: 1, Y1: 1},
		Panel{Plot: loss, X0: 0, Y0: 0, X1: 1, Y1: 0.5}), nil
}

// addBand adds a shaded min-max band and a mean line with markers in
// style sty; it returns the legend thumbnails.
func addBand(p *plot.Plot, b band, sty SeriesStyle) ([]plot.Thumbnailer, error) {
	col := sty.Color
	if len(b.epochs) > 1 {
		poly := make(plotter.XYs, 0, 2*len(b.epochs))
		for i := range b.epochs {
			poly = append(poly, plotter.XY{X: b.epochs[i], Y: b.hi[i]})
		}
		for i := len(b.epochs) - 1; i >= 0; i-- {
			poly = append(poly, plotter.XY{X: b.epochs[i], Y: b.lo[i]})
		}
		pg, err := plotter.NewPolygon(poly)
		if err != nil {
			return nil, fmt.Errorf("band: %w", err)
		}
		pg.Color = withAlpha(col, 60)
		pg.LineStyle.Width = 0
		p.Add(pg)
	}
	pts := make(plotter.XYs, len(b.epochs))
	for i := range b.epochs {
		pts[i] = plotter.XY{X: b.epochs[i], Y: b.mean[i]}
	}
	line, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, fmt.Errorf("mean line: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.5), Dashes: sty.Dashes}
	sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: lineMarkerRadius, Shape: sty.Marker}
	p.Add(line, sc)
	return []plot.Thumbnailer{line, sc}, nil
}
