// Package analysisplot draws the charts of the analysis experiments of
// posts 5-7 (heat maps, tuning trajectories, per-layer norms, LR stress,
// per-channel histograms, singular values) from the measurements that
// package analysis stored in the results database. cmd/runner hands
// WriteCharts to the report as its extra charts.
package analysisplot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"speedrun/analysis"
	"speedrun/plots"
	"speedrun/results"
	"speedrun/stages"
)

// runData is one run with what the charts read.
type runData struct {
	run  results.Run
	cfg  stages.Config
	meas map[string]string
}

// WriteCharts draws every analysis chart of stage from the stored
// measurements only and writes them as PNGs (temp file + rename) into
// dir. plots.Chart.File is the file name relative to dir. A stage without
// analysis measurements gives no charts and no error.
func WriteCharts(ctx context.Context, db *results.DB, stage int, dir string) ([]plots.Chart, error) {
	runs, err := db.Runs(ctx, results.Filter{Stages: []int{stage}})
	if err != nil {
		return nil, fmt.Errorf("analysis: charts of stage %d: %w", stage, err)
	}
	var rds []runData
	for _, r := range runs {
		rd := runData{run: r}
		if r.ConfigJSON != "" {
			if err := json.Unmarshal([]byte(r.ConfigJSON), &rd.cfg); err != nil {
				return nil, fmt.Errorf("analysis: charts: run %d config: %w", r.ID, err)
			}
		}
		if rd.meas, err = db.MeasurementsByName(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("analysis: charts: run %d: %w", r.ID, err)
		}
		rds = append(rds, rd)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("analysis: charts: %w", err)
	}
	w := &chartWriter{dir: dir}
	for _, rd := range rds {
		if err := ctx.Err(); err != nil {
			return w.charts, err
		}
		tag := fmt.Sprintf("%s %s run %d", rd.run.Variant, rd.run.Profile, rd.run.ID)
		switch rd.cfg.Kind {
		case stages.KindLRBatch, stages.KindLRMomentum, stages.KindLRWD:
			w.add(gridChart(rd, tag))
		case stages.KindBNHistograms, stages.KindConvHistograms, stages.KindDeepFC, stages.KindLogitGrads, stages.KindEigenPerturb:
			for _, f := range histCharts(rd, tag) {
				w.add(f.title, f.fig, f.err)
			}
			if rd.cfg.Kind == stages.KindDeepFC {
				w.add(spectrumChart(rd, tag))
			}
		case stages.KindHessian:
			w.add(eigenChart(rd, tag))
		case stages.KindOverlap:
			for _, f := range overlapCharts(rd, tag) {
				w.add(f.title, f.fig, f.err)
			}
		case stages.KindNorms, stages.KindLARS:
			ls, err := db.LayerStats(ctx, rd.run.ID)
			if err != nil {
				return nil, err
			}
			w.add(normsChart(rd, ls, tag))
			w.add(weightNormChart(rd, ls, tag))
		case stages.KindEquilibrium:
			ls, err := db.LayerStats(ctx, rd.run.ID)
			if err != nil {
				return nil, err
			}
			w.add(equilibriumRatioChart(rd, ls, tag))
			w.add(equilibriumNormChart(rd, ls, tag))
		}
	}
	w.add(tuneChart(rds, stage))
	w.add(stressChart(rds, stage))
	w.add(partialChart(rds, stage))
	for _, f := range gradNormCharts(rds, stage) {
		w.add(f.title, f.fig, f.err)
	}
	return w.charts, w.err
}

type chartWriter struct {
	dir    string
	charts []plots.Chart
	err    error
}

// add saves fig; a chart with nothing to draw is left out silently.
func (w *chartWriter) add(title string, fig *plots.Figure, err error) {
	if errors.Is(err, plots.ErrNoData) || (err == nil && fig == nil) {
		return
	}
	if err != nil {
		w.err = errors.Join(w.err, fmt.Errorf("analysis: chart %q: %w", title, err))
		return
	}
	file := plots.Slug(title) + ".png"
	if err := fig.Save(filepath.Join(w.dir, file)); err != nil {
		w.err = errors.Join(w.err, fmt.Errorf("analysis: chart %q: %w", title, err))
		return
	}
	w.charts = append(w.charts, plots.Chart{Title: title, File: file})
}

// gridChart is the E5.1 heat map of final accuracy with the predicted
// flat ridge through the best point: lambda/N, lambda/(1-rho) or
// lambda*alpha constant.
func gridChart(rd runData, tag string) (string, *plots.Figure, error) {
	var pts []analysis.GridPoint
	for name, s := range rd.meas {
		if !strings.HasPrefix(name, "grid/") {
			continue
		}
		var p analysis.GridPoint
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return tag, nil, fmt.Errorf("measurement %s: %w", name, err)
		}
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return tag, nil, plots.ErrNoData
	}
	slices.SortFunc(pts, func(a, b analysis.GridPoint) int {
		return cmp.Or(cmp.Compare(a.LR, b.LR), cmp.Compare(a.Value, b.Value))
	})
	var xs, ys []float64
	for _, p := range pts {
		if !slices.Contains(xs, p.LR) {
			xs = append(xs, p.LR)
		}
		if !slices.Contains(ys, p.Value) {
			ys = append(ys, p.Value)
		}
	}
	slices.Sort(xs)
	slices.Sort(ys)
	z := make([][]float64, len(ys))
	for j := range z {
		z[j] = make([]float64, len(xs))
		for i := range z[j] {
			z[j][i] = math.NaN()
		}
	}
	best := -1
	for k, p := range pts {
		z[slices.Index(ys, p.Value)][slices.Index(xs, p.LR)] = float64(p.Acc)
		if !math.IsNaN(float64(p.Acc)) && (best < 0 || p.Acc > pts[best].Acc) {
			best = k
		}
	}
	axis := pts[0].Axis
	ylabel := map[string]string{"batch": "batch size N", "one_minus_momentum": "1 - momentum", "weight_decay": "weight decay alpha"}[axis]
	ridge := map[string]string{"batch": "lambda/N", "one_minus_momentum": "lambda/(1-rho)", "weight_decay": "lambda*alpha"}[axis]
	title := fmt.Sprintf("E5.1 accuracy, %s (ridge: %s const) — %s", ylabel, ridge, tag)
	// The ridge goes through the best point; when it would only touch the
	// grid's corner (fewer than two points inside), through the grid's
	// centre instead, so the predicted direction is always visible.
	ridgeLine := func(lr, v float64) plotter.XYs {
		var line plotter.XYs
		lo, hi := math.Log(xs[0]), math.Log(xs[len(xs)-1])
		for s := range 41 {
			x := math.Exp(lo + (hi-lo)*float64(s)/40)
			y := v * lr / x // lambda*alpha const
			if axis == "batch" || axis == "one_minus_momentum" {
				y = v * x / lr // lambda/N or lambda/(1-rho) const
			}
			if y >= ys[0] && y <= ys[len(ys)-1] {
				line = append(line, plotter.XY{X: x, Y: y})
			}
		}
		return line
	}
	overlay := func(p *plot.Plot, at plots.Coords) error {
		var line plotter.XYs
		if best >= 0 {
			line = ridgeLine(pts[best].LR, pts[best].Value)
		}
		if len(line) < 2 {
			line = ridgeLine(math.Sqrt(xs[0]*xs[len(xs)-1]), math.Sqrt(ys[0]*ys[len(ys)-1]))
		}
		if len(line) < 2 {
			return nil
		}
		for i := range line {
			line[i].X, line[i].Y = at(line[i].X, line[i].Y)
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.LineStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(2), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}
		p.Add(l)
		p.Legend.Add("predicted ridge "+ridge+" = const", l)
		return nil
	}
	fig, err := plots.Heatmap(title, "peak lambda", ylabel, xs, ys, z, overlay)
	return title, fig, err
}

// tuneChart draws every E5.2 trajectory of the stage: accuracy per
// training and the best so far.
func tuneChart(rds []runData, stage int) (string, *plots.Figure, error) {
	byTune := map[string][]analysis.TuneStep{}
	for _, rd := range rds {
		for name, s := range rd.meas {
			if !strings.HasPrefix(name, "tune/step") {
				continue
			}
			var st analysis.TuneStep
			if err := json.Unmarshal([]byte(s), &st); err != nil {
				return "", nil, fmt.Errorf("run %d measurement %s: %w", rd.run.ID, name, err)
			}
			byTune[st.Tune] = append(byTune[st.Tune], st)
		}
	}
	title := fmt.Sprintf("E5.2 cyclical coordinate descent (stage %d): accuracy per tuning run", stage)
	var series []plots.Series
	for _, name := range sortedKeys(byTune) {
		steps := byTune[name]
		slices.SortFunc(steps, func(a, b analysis.TuneStep) int { return cmp.Compare(a.Run, b.Run) })
		acc, bestSoFar := plots.Series{Name: name, Points: true}, plots.Series{Name: name + " best so far"}
		top := math.NaN()
		for _, s := range steps {
			acc.X, acc.Y = append(acc.X, float64(s.Run)), append(acc.Y, float64(s.Acc))
			top = analysis.MaxAcc(top, float64(s.Acc))
			bestSoFar.X, bestSoFar.Y = append(bestSoFar.X, float64(s.Run)), append(bestSoFar.Y, top)
		}
		series = append(series, acc, bestSoFar)
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "tuning run", "test accuracy", series, plots.Axes{})
	return title, fig, err
}

// stressChart is E7.1: training accuracy against lambda (log axis), one
// line per run; a run that diverged gets a vertical line at the lambda of
// the epoch it diverged in (that epoch never finished, so it has no
// accuracy; for a net that died, the first of its dead epochs), and a
// run that died is marked "(dead)".
func stressChart(rds []runData, stage int) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E7.1 LR stress test (stage %d): train accuracy against lambda", stage)
	var series []plots.Series
	for _, rd := range rds {
		s, ok := rd.meas["stress"]
		if !ok {
			continue
		}
		var m analysis.StressResult
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return title, nil, fmt.Errorf("run %d stress: %w", rd.run.ID, err)
		}
		// Legend entries are cut at about 26 characters.
		name := fmt.Sprintf("%s run %d", rd.run.Variant, rd.run.ID)
		if m.Cause == analysis.CauseDied {
			name += " (dead)"
		}
		ser := plots.Series{Name: name, Points: true}
		for _, e := range m.Epochs {
			ser.X, ser.Y = append(ser.X, float64(e.LR)), append(ser.Y, float64(e.TrainAcc))
		}
		if len(ser.X) > 0 {
			series = append(series, ser)
		}
		if x := float64(m.DivergedLR); m.Diverged && x > 0 {
			what := "diverged"
			if m.Cause == analysis.CauseDied {
				what = "died"
			}
			series = append(series, plots.Series{Name: fmt.Sprintf("run %d %s, epoch %d", rd.run.ID, what, m.DivergedEpoch),
				X: []float64{x, x}, Y: []float64{0, 1}})
		}
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "lambda (end of epoch)", "train accuracy", series, plots.Axes{LogX: true})
	return title, fig, err
}

type titledFig struct {
	title string
	fig   *plots.Figure
	err   error
}

// histCharts draws one figure per group of a histogram run: a panel per
// layer (or depth) titled with it, a line per channel and the pooled
// histogram scaled to one channel, and one legend beside them all (a
// channel keeps its colour in every panel).
func histCharts(rd runData, tag string) []titledFig {
	groups := map[string][]analysis.Histogram{}
	for name, s := range rd.meas {
		if !strings.HasPrefix(name, "hist/") {
			continue
		}
		var h analysis.Histogram
		if err := json.Unmarshal([]byte(s), &h); err != nil {
			return []titledFig{{title: tag, err: fmt.Errorf("measurement %s: %w", name, err)}}
		}
		groups[h.Group] = append(groups[h.Group], h)
	}
	var out []titledFig
	for _, g := range sortedKeys(groups) {
		hs := groups[g]
		slices.SortFunc(hs, func(a, b analysis.Histogram) int { return cmp.Compare(a.Order, b.Order) })
		title := fmt.Sprintf("per-channel histograms, %s — %s", g, tag)
		xlabel, line := "activation", "ch %d"
		if strings.HasPrefix(g, "model=") {
			// Post 7's E7.6-E7.9: a panel per direction, a line per class.
			title, xlabel, line = fmt.Sprintf("per-class logit histograms, %s — %s", g, tag), "logit", "class %d"
		}
		panels := make([]plots.LinesPanel, len(hs))
		for k, h := range hs {
			xs := h.Centres()
			var series []plots.Series
			for _, c := range h.Channels {
				ys := make([]float64, len(c.Counts))
				for i, n := range c.Counts {
					ys[i] = float64(n)
				}
				series = append(series, plots.Series{Name: fmt.Sprintf(line, c.Channel), X: xs, Y: ys})
			}
			if nc := len(h.Means); nc > 0 {
				ys := make([]float64, len(h.Pooled))
				for i, n := range h.Pooled {
					ys[i] = float64(n) / float64(nc)
				}
				series = append(series, plots.Series{Name: "all channels / C", X: xs, Y: ys})
			}
			panels[k] = plots.LinesPanel{Title: h.Layer, XLabel: xlabel, YLabel: "count", Series: series}
		}
		fig, err := plots.LinesGrid(panels, 3, 4*vg.Inch, 3*vg.Inch, plots.Axes{})
		out = append(out, titledFig{title: title, fig: fig, err: err})
	}
	return out
}

// spectrumChart is E7.3's singular values of the linear net's map, one
// line per depth against the singular value's rank as a fraction of the
// width, on a log axis: the spread widens with depth.
func spectrumChart(rd runData, tag string) (string, *plots.Figure, error) {
	title := "E7.3 singular values of the linear net's map by depth — " + tag
	var specs []analysis.Spectrum
	for _, name := range sortedKeys(rd.meas) {
		if !strings.HasPrefix(name, "svd/") {
			continue
		}
		var sp analysis.Spectrum
		if err := json.Unmarshal([]byte(rd.meas[name]), &sp); err != nil {
			return title, nil, fmt.Errorf("measurement %s: %w", name, err)
		}
		specs = append(specs, sp)
	}
	slices.SortFunc(specs, func(a, b analysis.Spectrum) int { return cmp.Compare(a.Depth, b.Depth) })
	var series []plots.Series
	for _, sp := range specs {
		n := len(sp.Values)
		if n == 0 {
			continue
		}
		ser := plots.Series{Name: fmt.Sprintf("depth %d", sp.Depth), X: make([]float64, n), Y: make([]float64, n)}
		for i, v := range sp.Values {
			ser.X[i] = float64(i+1) / float64(n)
			// A log axis cannot show 0; a map that lost rank in float32
			// has such values, and they are left out.
			ser.Y[i] = float64(v)
			if !(ser.Y[i] > 0) {
				ser.Y[i] = math.NaN()
			}
		}
		series = append(series, ser)
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "rank / width", "singular value", series, plots.Axes{LogY: true})
	return title, fig, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// prediction is the post-6 equilibrium angular step sqrt(2 lambda alpha /
// (1 - rho)) at fractional epoch ep of cfg's schedule.
func prediction(cfg stages.Config, ep float64) float64 {
	return math.Sqrt(2 * stages.InterpLR(cfg.Train.LR, ep) * cfg.Train.WeightDecay / (1 - cfg.Train.Momentum))
}

// effective is lambda|g|/((1-rho)|w|) in the engine's units: the step
// lambda/N applied to the gradient of the summed loss.
func effective(cfg stages.Config, s results.LayerStat) float64 {
	n := float64(max(cfg.Train.BatchSize, 1))
	return stages.InterpLR(cfg.Train.LR, s.Epoch) / n * s.GradNorm / ((1 - cfg.Train.Momentum) * s.WeightNorm)
}

// normsChart is E6.1/E6.2: a panel per layer with |dw|/|w|, the
// effective step lambda|g|/((1-rho)|w|) and the equilibrium prediction.
func normsChart(rd runData, ls []results.LayerStat, tag string) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E6 per-layer angular update against the equilibrium prediction — %s", tag)
	byLayer := map[string][]results.LayerStat{}
	var order []string
	for _, s := range ls {
		if _, ok := byLayer[s.Layer]; !ok {
			order = append(order, s.Layer)
		}
		byLayer[s.Layer] = append(byLayer[s.Layer], s)
	}
	if len(order) == 0 {
		return title, nil, plots.ErrNoData
	}
	panels := make([]plots.LinesPanel, len(order))
	for i, l := range order {
		upd, eff, pred := plots.Series{Name: "|dw|/|w|"}, plots.Series{Name: "lambda|g|/((1-rho)|w|)"}, plots.Series{Name: "sqrt(2 lambda alpha/(1-rho))"}
		for _, s := range byLayer[l] {
			upd.X, upd.Y = append(upd.X, s.Epoch), append(upd.Y, s.UpdateRatio)
			eff.X, eff.Y = append(eff.X, s.Epoch), append(eff.Y, effective(rd.cfg, s))
			pred.X, pred.Y = append(pred.X, s.Epoch), append(pred.Y, prediction(rd.cfg, s.Epoch))
		}
		panels[i] = plots.LinesPanel{Title: l, XLabel: "epoch", YLabel: "ratio", Series: []plots.Series{upd, eff, pred}}
	}
	fig, err := plots.LinesGrid(panels, 4, 4*vg.Inch, 3*vg.Inch, plots.Axes{LogY: true})
	return title, fig, err
}

// weightNormChart draws |w| per layer over training.
func weightNormChart(rd runData, ls []results.LayerStat, tag string) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E6 per-layer weight norm |w| — %s", tag)
	idx := map[string]int{}
	var series []plots.Series
	for _, s := range ls {
		i, ok := idx[s.Layer]
		if !ok {
			i = len(series)
			idx[s.Layer] = i
			series = append(series, plots.Series{Name: s.Layer})
		}
		series[i].X, series[i].Y = append(series[i].X, s.Epoch), append(series[i].Y, s.WeightNorm)
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "epoch", "|w|", series, plots.Axes{LogY: true})
	return title, fig, err
}

// prefixed groups E6.3 layer stats by sub-run prefix ("wd=..." or
// "init=...") and step, reducing over layers with f.
func prefixed(ls []results.LayerStat, kind string, f func([]results.LayerStat) float64) []plots.Series {
	type key struct {
		prefix string
		step   int
	}
	groups := map[key][]results.LayerStat{}
	var prefixes []string
	for _, s := range ls {
		p, _, ok := strings.Cut(s.Layer, "/")
		if !ok || !strings.HasPrefix(p, kind+"=") {
			continue
		}
		if !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
		groups[key{p, s.Step}] = append(groups[key{p, s.Step}], s)
	}
	var out []plots.Series
	for _, p := range prefixes {
		ser := plots.Series{Name: p}
		var steps []int
		for k := range groups {
			if k.prefix == p {
				steps = append(steps, k.step)
			}
		}
		slices.Sort(steps)
		for _, st := range steps {
			g := groups[key{p, st}]
			ser.X, ser.Y = append(ser.X, g[0].Epoch), append(ser.Y, f(g))
		}
		out = append(out, ser)
	}
	return out
}

// equilibriumRatioChart is E6.3 (a): with lambda*alpha fixed, the mean
// angular update over layers relaxes to the same sqrt(2 lambda alpha /
// (1-rho)) for every alpha.
func equilibriumRatioChart(rd runData, ls []results.LayerStat, tag string) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E6.3 mean |dw|/|w| over layers, alpha varied at fixed lambda*alpha — %s", tag)
	series := prefixed(ls, "wd", func(g []results.LayerStat) float64 {
		s := 0.0
		for _, x := range g {
			s += x.UpdateRatio
		}
		return s / float64(len(g))
	})
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	if len(series[0].X) > 0 {
		pred := plots.Series{Name: "sqrt(2 lambda alpha/(1-rho))"}
		for _, x := range series[0].X {
			pred.X, pred.Y = append(pred.X, x), append(pred.Y, prediction(rd.cfg, x))
		}
		series = append(series, pred)
	}
	fig, err := plots.Lines(title, "epoch", "|dw|/|w|", series, plots.Axes{LogY: true})
	return title, fig, err
}

// equilibriumNormChart is E6.3 (b): the total weight norm over layers for
// each initial scale relaxes to the same value.
func equilibriumNormChart(rd runData, ls []results.LayerStat, tag string) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E6.3 total weight norm, initial scale varied — %s", tag)
	series := prefixed(ls, "init", func(g []results.LayerStat) float64 {
		s := 0.0
		for _, x := range g {
			s += x.WeightNorm * x.WeightNorm
		}
		return math.Sqrt(s)
	})
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "epoch", "sqrt(sum |w|^2)", series, plots.Axes{LogY: true})
	return title, fig, err
}
