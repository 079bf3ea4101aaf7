package analysisplot

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"speedrun/analysis"
	"speedrun/plots"
	"speedrun/stages"
)

// The charts of post 7's second half (E7.5-E7.10), from the partly
// trained models' measurements.

// measured decodes every measurement of rd whose name starts with prefix,
// in name order.
func measured[T any](rd runData, prefix string) ([]T, error) {
	var out []T
	for _, name := range sortedKeys(rd.meas) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(rd.meas[name]), &v); err != nil {
			return nil, fmt.Errorf("run %d measurement %s: %w", rd.run.ID, name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// partialChart is E7.5: each partly trained model's training accuracy by
// epoch, one line per run, the frozen model's accuracy on the fixed
// batches in the legend.
func partialChart(rds []runData, stage int) (string, *plots.Figure, error) {
	title := fmt.Sprintf("E7.5 partly trained models (stage %d): train accuracy by epoch", stage)
	var series []plots.Series
	for _, rd := range rds {
		if rd.cfg.Kind != stages.KindPartialTrain {
			continue
		}
		ms, err := measured[analysis.ModelRecord](rd, "model")
		if err != nil {
			return title, nil, err
		}
		for _, m := range ms {
			ser := plots.Series{Name: fmt.Sprintf("%s %s run %d, frozen %.0f%%", rd.run.Variant, rd.run.Profile, rd.run.ID, 100*float64(m.FrozenAcc)), Points: true}
			for _, e := range m.Epochs {
				ser.X, ser.Y = append(ser.X, float64(e.Epoch)), append(ser.Y, float64(e.TrainAcc))
			}
			if len(ser.X) > 0 {
				series = append(series, ser)
			}
		}
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "epoch", "train accuracy", series, plots.Axes{})
	return title, fig, err
}

// gradNormCharts are E7.6 and E7.7's bars: ‖d mean logit_0 / dW‖² per
// weight tensor, one bar per model, the models of every logit_grads run
// of the stage compared, a chart per profile (a later run's model
// replaces an earlier one's).
func gradNormCharts(rds []runData, stage int) []titledFig {
	byProfile := map[string]map[string]analysis.GradNorms{}
	for _, rd := range rds {
		if rd.cfg.Kind != stages.KindLogitGrads {
			continue
		}
		gs, err := measured[analysis.GradNorms](rd, "gradnorm/")
		if err != nil {
			return []titledFig{{title: "E7.6/E7.7 gradient norms", err: err}}
		}
		for _, g := range gs {
			if byProfile[rd.run.Profile] == nil {
				byProfile[rd.run.Profile] = map[string]analysis.GradNorms{}
			}
			byProfile[rd.run.Profile][g.Model] = g
		}
	}
	var out []titledFig
	for _, prof := range sortedKeys(byProfile) {
		title := fmt.Sprintf("E7.6/E7.7 |d mean logit of class 0 / dW|^2 per layer (stage %d, %s)", stage, prof)
		var cats []string
		var series []plots.BarSeries
		for _, name := range sortedKeys(byProfile[prof]) {
			g := byProfile[prof][name]
			if cats == nil {
				for _, l := range g.Layers {
					cats = append(cats, strings.TrimSuffix(l, ".weight"))
				}
			}
			if len(g.Layers) != len(cats) {
				continue // a different network: not comparable bar by bar
			}
			s := plots.BarSeries{Name: fmt.Sprintf("%s (%s)", name, modelKind(g.BN, g.Order))}
			for _, v := range g.Class0 {
				s.Values = append(s.Values, float64(v))
			}
			series = append(series, s)
		}
		fig, err := plots.Bars(title, "layer", "squared gradient norm", cats, series, plots.Axes{LogY: true})
		out = append(out, titledFig{title: title, fig: fig, err: err})
	}
	return out
}

// modelKind names a model by its BN placement.
func modelKind(bn, order string) string {
	switch {
	case bn == "none":
		return "no BN"
	case order == "conv-act-bn-pool":
		return "BN after act"
	}
	return "BN"
}

// spectrumSeries is a line of |eigenvalue| against rank.
func spectrumSeries(name string, values []analysis.JSONFloat) plots.Series {
	s := plots.Series{Name: name, Points: true}
	for i, v := range values {
		s.X, s.Y = append(s.X, float64(i+1)), append(s.Y, math.Abs(float64(v)))
	}
	return s
}

// eigenChart is E7.8: each model's top Hessian eigenvalues by rank, on a
// log axis (magnitudes: Lanczos finds those of largest |lambda|, and a
// negative one is marked in its legend entry).
func eigenChart(rd runData, tag string) (string, *plots.Figure, error) {
	title := "E7.8 top Hessian eigenvalues |lambda| by rank — " + tag
	sps, err := measured[analysis.HessianSpectrum](rd, "eigen/")
	if err != nil {
		return title, nil, err
	}
	var series []plots.Series
	for _, sp := range sps {
		name := fmt.Sprintf("%s (%s)", sp.Model, modelKind(sp.BN, sp.Order))
		if slices.ContainsFunc(sp.Values, func(v analysis.JSONFloat) bool { return v < 0 }) {
			name += ", some < 0"
		}
		series = append(series, spectrumSeries(name, sp.Values))
	}
	if len(series) == 0 {
		return title, nil, plots.ErrNoData
	}
	fig, err := plots.Lines(title, "rank", "|eigenvalue|", series, plots.Axes{LogY: true})
	return title, fig, err
}

// overlapCharts are E7.10's bars, a chart per model: each eigenvector's
// eigenvalue, and the eigenvalue weighted by its overlap with the span of
// the class means' gradients and with the 30-dimensional span of the
// means', variances' and skews' gradients; and the eigenvalues again
// with the Hessian projected orthogonal to that span.
func overlapCharts(rd runData, tag string) []titledFig {
	ovs, err := measured[analysis.Overlap](rd, "overlap/")
	if err != nil {
		return []titledFig{{title: tag, err: err}}
	}
	var out []titledFig
	for _, ov := range ovs {
		title := fmt.Sprintf("E7.10 eigenvalues weighted by overlap, %s — %s", ov.Model, tag)
		var cats []string
		all := plots.BarSeries{Name: "eigenvalue"}
		means := plots.BarSeries{Name: fmt.Sprintf("x overlap, means (%d-d)", ov.MeansDim)}
		stats := plots.BarSeries{Name: fmt.Sprintf("x overlap, stats (%d-d)", ov.StatsDim)}
		for i, v := range ov.Values {
			cats = append(cats, fmt.Sprintf("v%d", i+1))
			lam := math.Abs(float64(v))
			all.Values = append(all.Values, lam)
			means.Values = append(means.Values, lam*float64(ov.Means[i]))
			stats.Values = append(stats.Values, lam*float64(ov.Stats[i]))
		}
		fig, err := plots.Bars(title, "eigenvector", "|eigenvalue| x overlap", cats, []plots.BarSeries{all, means, stats}, plots.Axes{LogY: true})
		out = append(out, titledFig{title: title, fig: fig, err: err})
	}
	title := "E7.10 top eigenvalues, Hessian and Hessian projected off the 30-d span — " + tag
	sps, err := measured[analysis.HessianSpectrum](rd, "projected/")
	if err != nil {
		return append(out, titledFig{title: title, err: err})
	}
	var series []plots.Series
	for _, ov := range ovs {
		series = append(series, spectrumSeries(ov.Model, ov.Values))
	}
	for _, sp := range sps {
		series = append(series, spectrumSeries(sp.Model+" projected", sp.Values))
	}
	if len(sps) == 0 {
		return out
	}
	fig, err := plots.Lines(title, "rank", "|eigenvalue|", series, plots.Axes{LogY: true})
	return append(out, titledFig{title: title, fig: fig, err: err})
}
