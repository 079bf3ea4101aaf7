package plots

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"speedrun/results"
	"speedrun/stages"
)

// cifar10Train is the training split a config with train_size 0 uses.
const cifar10Train = 50000

// maxLRPoints caps the LR line's points; a longer schedule is drawn from
// every k-th step (a piecewise-linear schedule loses nothing).
const maxLRPoints = 4000

// RunChart draws one run: train and test accuracy per epoch (top), train
// and test loss per epoch (middle), and the learning rate per optimizer
// step from the run's resolved config (bottom: the per-example lambda at
// the fractional epoch each step reads the schedule at, as the engines
// do, with the per-epoch LR the run recorded as markers and the BN
// biases' own rate when it differs). A diverged run's last epoch shows
// where it stopped. cfg may be nil (no LR panel); with neither epochs nor
// a schedule the error wraps ErrNoData.
func RunChart(r results.Run, epochs []results.Epoch, cfg *stages.Config) (*Figure, error) {
	acc := newPlot(fmt.Sprintf("run %d: %s repeat %d, accuracy per epoch", r.ID, label(r.Variant), r.Repeat), "epoch", "accuracy (%)")
	loss := newPlot("loss per epoch", "epoch", "loss")
	lr := newPlot("learning rate per step", "step", "lambda (per-example LR)")
	var panels []*plot.Plot
	count := map[*plot.Plot]int{}
	// One legend for every panel, in a column of its own: the curves
	// end at the top right (accuracy) or anywhere (a diverging loss).
	legend := newLegend()
	named := map[string]bool{}
	for _, m := range []struct {
		p      *plot.Plot
		name   string
		get    func(results.Epoch) float64
		style  int
		dashed bool
	}{
		{acc, "test", func(e results.Epoch) float64 { return 100 * e.TestAcc }, 0, false},
		{acc, "train", func(e results.Epoch) float64 { return 100 * e.TrainAcc }, 1, true},
		{loss, "test", func(e results.Epoch) float64 { return e.TestLoss }, 0, false},
		{loss, "train", func(e results.Epoch) float64 { return e.TrainLoss }, 1, true},
	} {
		var pts plotter.XYs
		for _, e := range epochs {
			if y := m.get(e); finite(y) {
				pts = append(pts, plotter.XY{X: float64(e.Epoch), Y: y})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("run chart %d: %s: %w", r.ID, m.name, err)
		}
		sty := StyleOf(m.style)
		line.LineStyle = draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)}
		if m.dashed {
			line.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: lineMarkerRadius, Shape: sty.Marker}
		m.p.Add(line, sc)
		if !named[m.name] {
			named[m.name] = true
			legend.Add(m.name, line, sc)
		}
		count[m.p]++
	}
	for _, p := range []*plot.Plot{acc, loss} {
		if count[p] > 0 {
			panels = append(panels, p)
		}
	}
	if cfg != nil && len(cfg.Train.LR) > 0 && cfg.Train.Epochs > 0 {
		if err := addLRSteps(lr, &legend, cfg, epochs); err != nil {
			return nil, fmt.Errorf("run chart %d: %w", r.ID, err)
		}
		panels = append(panels, lr)
	}
	if len(panels) == 0 {
		return nil, fmt.Errorf("run chart %d: %w", r.ID, ErrNoData)
	}
	if r.Status == results.StatusDiverged && r.DivergedEpoch > 0 {
		panels[0].Title.Text += fmt.Sprintf(" (diverged at epoch %d)", r.DivergedEpoch)
	}
	const panelH = 3 * vg.Inch
	var cells []Panel
	for i, p := range panels {
		padFlat(p)
		y1 := 1 - float64(i)/float64(len(panels))
		y0 := 1 - float64(i+1)/float64(len(panels))
		cells = append(cells, Panel{Plot: p, X0: 0, X1: 1, Y0: y0, Y1: y1})
	}
	return legendColumn(legend, Width, panelH*vg.Length(len(panels)), cells...), nil
}

// addLRSteps draws cfg's schedule per optimizer step, the per-epoch LR
// the run recorded, and the BN biases' rate when it differs.
func addLRSteps(p *plot.Plot, legend *plot.Legend, cfg *stages.Config, epochs []results.Epoch) error {
	n := cfg.Data.TrainSize
	if n <= 0 {
		n = cifar10Train
	}
	b := max(cfg.Train.BatchSize, 1)
	steps := (n + b - 1) / b
	if cfg.Train.DropLast {
		steps = max(n/b, 1)
	}
	total := stages.RunSteps(steps, cfg.Train.Epochs)
	every := max(1, (total+maxLRPoints-1)/maxLRPoints)
	var pts plotter.XYs
	for s := 0; s < total; s += every {
		// As train.Optimizer reads it: "run" knots are fractions of the run.
		y := stages.InterpRun(cfg.Train.LR, s, total)
		if cfg.Train.Schedule != "run" {
			e, i := s/steps+1, s%steps
			y = stages.InterpLR(cfg.Train.LR, stages.StepEpoch(cfg.Train.Schedule, e, i, steps))
		}
		pts = append(pts, plotter.XY{X: float64(s), Y: y})
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("lr: %w", err)
	}
	line.LineStyle = draw.LineStyle{Color: Color(0), Width: vg.Points(1.5)}
	p.Add(line)
	name := fmt.Sprintf("LR schedule, %d steps/epoch", steps)
	if m := cfg.Train.BNBiasLRMul; m > 0 && m != 1 {
		name += fmt.Sprintf("\n(BN biases at x%g)", m)
	}
	legend.Add(name, line)
	var rec plotter.XYs
	for _, e := range epochs {
		if finite(e.LR) {
			rec = append(rec, plotter.XY{X: float64(e.Epoch * steps), Y: e.LR})
		}
	}
	if len(rec) > 0 {
		sc, err := plotter.NewScatter(rec)
		if err != nil {
			return fmt.Errorf("lr: recorded: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: Color(1), Radius: vg.Points(3), Shape: Marker{Shape: 1, Edge: true}}
		p.Add(sc)
		legend.Add("LR recorded at each epoch's end", sc)
	}
	p.Y.Min = 0
	return nil
}

// padFlat widens an axis whose data are one value or nearly (a one-epoch
// run), which gonum would label with the same tick many times over.
func padFlat(p *plot.Plot) {
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min-1, p.X.Max+1
	}
	if mid := (p.Y.Min + p.Y.Max) / 2; p.Y.Max-p.Y.Min < 0.02*max(math.Abs(mid), 1) {
		d := max(0.05*math.Abs(mid), 0.5)
		p.Y.Min, p.Y.Max = mid-d, mid+d
	}
}
