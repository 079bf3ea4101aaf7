// Package analysis runs the analysis experiments of posts 5-7 (blog-stages.md
// §3): hyperparameter slices and the cyclical tuner (post 5), per-layer
// weight-norm dynamics and LARS (post 6) and the batch-norm experiments
// (post 7). Each experiment kind lives in its own file; Run dispatches on the
// config's Kind and stores what it measures in the results database, from
// which WriteCharts draws every chart.
//
// What is stored, all under the analysis cell's run id (JSON measurements
// unless noted):
//
//	grid/II/JJ        E5.1: one grid point (peak LR II x axis value JJ)
//	tune/step-NNN     E5.2: one training of the tuner's trajectory (`runner
//	                  tune` puts it on that training's own run instead)
//	layer_stats rows  E6.x: |w|, |g|, |dw|/|w| per weight and logged step;
//	                  E6.3 prefixes the layer with its sub-run ("wd=..."/...)
//	equilibrium/P     E6.3: sub-run P's settings and test accuracy
//	stress            E7.1: per-epoch lambda and train accuracy, divergence
//	hist/GROUP/LAYER  E7.2-E7.4: per-channel histograms of one layer;
//	                  E7.6, E7.7, E7.9: per-class histograms of a model's
//	                  logits (GROUP "model=VARIANT"), unperturbed or moved
//	                  along one direction (LAYER)
//	model             E7.5: where the partly trained model is kept (a file
//	                  in the folder beside the database, e.g.
//	                  results/speedrun.files/) and its frozen score
//	gradnorm/MODEL    E7.6, E7.7: per-layer |d mean logit_0 / dW|^2
//	eigen/MODEL       E7.8: top Hessian eigenvalues; eigenvectors kept
//	                  beside the database
//	overlap/MODEL     E7.10: each eigenvector's overlap with the spans of
//	                  the logits' statistics' gradients
//	projected/MODEL   E7.10: top eigenvalues of the projected Hessian
package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/results"
	"speedrun/stages"
)

// Request is one analysis cell.
type Request struct {
	// Config is the resolved config; Kind and Analysis select the
	// experiment.
	Config stages.Config
	// Data is the dataset (already subset to the config's sizes or not:
	// every experiment subsets again, which is a no-op when it already is).
	Data *data.Set
	Seed uint64
	// Backend trains the runs (E5.1 grid points, E5.2 steps, E6.x with
	// per-layer statistics, E7.1, E7.5). The measurements at given weights
	// (E7.2-E7.10) reach an engine through its backend.Prober.
	Backend backend.Backend
	// DB and RunID say where measurements go; RunID is the analysis
	// cell's own run.
	DB       *results.DB
	RunID    int64
	Observer backend.Observer
	Log      *slog.Logger
}

// Outcome is how an analysis cell ended.
type Outcome struct {
	// Accuracy is the headline test accuracy (the best grid point, the
	// tuner's best, the trained run's); NaN when the experiment has none.
	Accuracy      float64
	Diverged      bool
	DivergedEpoch int
	DivergedWhy   string // as backend.Result.DivergedWhy
	// Train is the plain training result for kinds that are one training
	// run (lr_stress, norms, lars), so the caller can record its times;
	// nil otherwise.
	Train *backend.Result
}

// Run runs the analysis experiment req.Config.Kind.
func Run(ctx context.Context, req Request) (Outcome, error) {
	if req.Data == nil {
		return none(), fmt.Errorf("analysis: %s %s: no dataset", req.Config.Variant, req.Config.Kind)
	}
	if req.DB == nil {
		return none(), fmt.Errorf("analysis: %s %s: no results database", req.Config.Variant, req.Config.Kind)
	}
	if req.Observer == nil {
		req.Observer = backend.NopObserver{}
	}
	if req.Log == nil {
		req.Log = slog.New(slog.DiscardHandler)
	}
	a := req.Config.Analysis
	if a == nil {
		a = &stages.Analysis{}
		req.Config.Analysis = a
	}
	run, ok := experiments[req.Config.Kind]
	if !ok {
		return none(), fmt.Errorf("analysis: %s: kind %q is not an analysis", req.Config.Variant, req.Config.Kind)
	}
	out, err := run(ctx, req)
	if err != nil {
		return out, fmt.Errorf("analysis: %s (%s): %w", req.Config.Variant, req.Config.Kind, err)
	}
	return out, nil
}

// experiments runs each analysis kind of stages.Kinds.
var experiments = map[stages.Kind]func(context.Context, Request) (Outcome, error){
	stages.KindLRBatch:        runGrid,
	stages.KindLRMomentum:     runGrid,
	stages.KindLRWD:           runGrid,
	stages.KindTune:           runTuneCell,
	stages.KindNorms:          runNorms,
	stages.KindLARS:           runNorms,
	stages.KindEquilibrium:    runEquilibrium,
	stages.KindLRStress:       runStress,
	stages.KindBNHistograms:   runConvHistograms,
	stages.KindConvHistograms: runConvHistograms,
	stages.KindDeepFC:         runDeepFC,
	stages.KindPartialTrain:   runPartialTrain,
	stages.KindLogitGrads:     runLogitGrads,
	stages.KindHessian:        runHessian,
	stages.KindEigenPerturb:   runEigenPerturb,
	stages.KindOverlap:        runOverlap,
}

func none() Outcome { return Outcome{Accuracy: math.NaN()} }

// put stores v as the JSON measurement name of the request's run.
func put(ctx context.Context, req Request, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("measurement %s: %w", name, err)
	}
	return req.DB.PutMeasurement(ctx, results.Measurement{RunID: req.RunID, Name: name, JSON: string(b)})
}

// JSONFloat is a float64 that stores NaN and ±Inf as null.
type JSONFloat float64

func (f JSONFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = JSONFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = JSONFloat(v)
	return nil
}

var errNoKnots = errors.New("train.lr has no knots")

// withPeakLR returns knots scaled so that their largest value is peak.
func withPeakLR(knots []stages.Knot, peak float64) ([]stages.Knot, error) {
	top := 0.0
	for _, k := range knots {
		top = math.Max(top, k.LR)
	}
	if len(knots) == 0 {
		return nil, errNoKnots
	}
	if top <= 0 {
		return nil, fmt.Errorf("train.lr %v: peak is %g, want > 0 to rescale", knots, top)
	}
	out := make([]stages.Knot, len(knots))
	for i, k := range knots {
		out[i] = stages.Knot{Epoch: k.Epoch, LR: k.LR / top * peak}
	}
	return out, nil
}

// peakLR is the largest knot value.
func peakLR(knots []stages.Knot) float64 {
	top := 0.0
	for _, k := range knots {
		top = math.Max(top, k.LR)
	}
	return top
}

// trainConfig is cfg as a plain training run.
func trainConfig(cfg stages.Config) stages.Config {
	cfg.Kind = "train"
	cfg.Analysis = nil
	return cfg
}
