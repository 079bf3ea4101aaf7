package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"speedrun/stages"
)

// LRAt evaluates a schedule like the engines do (stages.InterpLR), but is
// NaN when there are no knots, so that a chart draws nothing rather than 0.
func LRAt(knots []stages.Knot, e float64) float64 {
	if len(knots) == 0 {
		return math.NaN()
	}
	return stages.InterpLR(knots, e)
}

// schedulePoints returns the polyline of a schedule over [0, epochs]: the
// knots inside the range plus both ends.
func schedulePoints(knots []stages.Knot, epochs float64) plotter.XYs {
	end := epochs
	if end <= 0 && len(knots) > 0 {
		end = knots[len(knots)-1].Epoch
	}
	pts := plotter.XYs{{X: 0, Y: LRAt(knots, 0)}}
	for _, k := range knots {
		if k.Epoch > 0 && k.Epoch < end {
			pts = append(pts, plotter.XY{X: k.Epoch, Y: LRAt(knots, k.Epoch)})
		}
	}
	return append(pts, plotter.XY{X: end, Y: LRAt(knots, end)})
}

// Schedule draws each variant's learning-rate schedule (the per-example
// lambda of blog-stages.md §0) from its resolved config's knots over its
// epochs. Variants whose runs carry no config are left out.
//
// A stage's schedules are often identical and hide each other, so each
// line carries one marker in its variant's style (StyleOf), on the line
// at its own share of the way along: variant i of n at (i+1)/(n+1) of its
// epochs. Overlapping lines then still show every variant's marker.
func Schedule(sec Section) (*Figure, error) {
	p := newPlot(fmt.Sprintf("%s (%s): learning-rate schedule", sec.Stage.Name, seriesLabel(sec.SeriesName())), "epoch", "lambda (per-example LR)")
	drawn := 0
	var markers []plot.Plotter // drawn last, over every line
	for i, g := range sec.Groups {
		if g.Config == nil || len(g.Config.Train.LR) == 0 {
			continue
		}
		kn := g.Config.Train.LR
		if g.Config.Train.Schedule == "run" { // fractions of the run, drawn in epochs
			kn = make([]stages.Knot, len(g.Config.Train.LR))
			for j, k := range g.Config.Train.LR {
				kn[j] = stages.Knot{Epoch: k.Epoch * g.Config.Train.Epochs, LR: k.LR}
			}
		}
		if u := g.Config.Train.Units; u != "" {
			p.Y.Label.Text = "lr (" + u + " units: stages.Train.Units)"
		}
		pts := schedulePoints(kn, g.Config.Train.Epochs)
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %s: %w", sec.Stage.Name, g.Variant.Name, err)
		}
		end := pts[len(pts)-1].X
		at := end * float64(i+1) / float64(len(sec.Groups)+1)
		sc, err := plotter.NewScatter(plotter.XYs{{X: at, Y: LRAt(kn, at)}})
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %s: %w", sec.Stage.Name, g.Variant.Name, err)
		}
		// Offset dashes a little per variant so identical schedules stay
		// visible as overlapping dashed lines.
		sty := StyleOf(i)
		line.LineStyle = draw.LineStyle{Color: sty.Color, Width: vg.Points(1.8)}
		if i > 0 {
			line.LineStyle.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			line.LineStyle.DashOffs = vg.Points(float64(3 * i))
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: vg.Points(3.5), Shape: Marker{Shape: sty.Marker.Shape, Edge: true}}
		p.Add(line)
		markers = append(markers, sc)
		p.Legend.Add(label(g.Variant.Name), line, sc)
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("schedule %s/%s: %w", sec.Stage.Name, sec.SeriesName(), ErrNoData)
	}
	p.Add(markers...)
	p.Y.Min = 0
	return sideLegend(p, drawn, Width, Height), nil
}
