package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"speedrun/backend"
	"speedrun/model"
	"speedrun/stages"
)

// GridPoint is the "grid/II/JJ" measurement of one E5.1 training: the peak
// LR LRGrid[II] crossed with AxisGrid[JJ].
type GridPoint struct {
	Axis          string    `json:"axis"`
	LR            float64   `json:"lr"`
	Value         float64   `json:"value"`
	Acc           JSONFloat `json:"acc"` // NaN (null) when diverged
	Diverged      bool      `json:"diverged"`
	DivergedEpoch int       `json:"diverged_epoch,omitempty"`
}

// gridAxis is the y axis of each E5.1 kind.
func gridAxis(kind stages.Kind, axis string) (string, error) {
	want := map[stages.Kind]string{stages.KindLRBatch: "batch", stages.KindLRMomentum: "one_minus_momentum", stages.KindLRWD: "weight_decay"}[kind]
	if axis == "" {
		axis = want
	}
	if axis != want {
		return "", fmt.Errorf("analysis.axis %q: kind %s needs %q", axis, kind, want)
	}
	return axis, nil
}

// withAxis returns cfg with the peak LR lr and the axis set to v.
func withAxis(cfg stages.Config, axis string, lr, v float64) (stages.Config, error) {
	knots, err := withPeakLR(cfg.Train.LR, lr)
	if err != nil {
		return cfg, err
	}
	cfg = trainConfig(cfg)
	cfg.Train.LR = knots
	switch axis {
	case "batch":
		if v < 1 || v != math.Trunc(v) {
			return cfg, fmt.Errorf("batch size %g: want a positive integer", v)
		}
		cfg.Train.BatchSize = int(v)
	case "one_minus_momentum":
		if v <= 0 || v > 1 {
			return cfg, fmt.Errorf("1-momentum %g: want in (0, 1]", v)
		}
		cfg.Train.Momentum = 1 - v
	case "weight_decay":
		cfg.Train.WeightDecay = v
	default:
		return cfg, fmt.Errorf("unknown axis %q", axis)
	}
	return cfg, nil
}

// runGrid is E5.1: final test accuracy over the peak LR crossed with the
// batch size, 1-momentum or weight decay. Each point is one plain training
// run through the backend; a resumed cell keeps the points already stored.
func runGrid(ctx context.Context, req Request) (Outcome, error) {
	a := req.Config.Analysis
	axis, err := gridAxis(req.Config.Kind, a.Axis)
	if err != nil {
		return none(), err
	}
	if len(a.LRGrid) == 0 || len(a.AxisGrid) == 0 {
		return none(), fmt.Errorf("analysis.lr_grid (%d values) and analysis.axis_grid (%d values) must not be empty", len(a.LRGrid), len(a.AxisGrid))
	}
	if req.Backend == nil {
		return none(), fmt.Errorf("the grid needs a backend")
	}
	done, err := req.DB.MeasurementsByName(ctx, req.RunID)
	if err != nil {
		return none(), err
	}
	best := math.NaN()
	for i, lr := range a.LRGrid {
		for j, v := range a.AxisGrid {
			name := fmt.Sprintf("grid/%02d/%02d", i, j)
			var pt GridPoint
			if s, ok := done[name]; ok && json.Unmarshal([]byte(s), &pt) == nil {
				best = MaxAcc(best, float64(pt.Acc))
				continue
			}
			cfg, err := withAxis(req.Config, axis, lr, v)
			if err != nil {
				return none(), fmt.Errorf("grid point (lr %g, %s %g): %w", lr, axis, v, err)
			}
			spec, err := model.Build(cfg.Net)
			if err != nil {
				return none(), err
			}
			res, err := req.Backend.Train(ctx, backend.Request{Config: cfg, Spec: spec, Data: req.Data, Seed: req.Seed, Observer: backend.NopObserver{}})
			if err != nil {
				return none(), fmt.Errorf("grid point (lr %g, %s %g): %w", lr, axis, v, err)
			}
			pt = GridPoint{Axis: axis, LR: lr, Value: v, Acc: JSONFloat(res.TestAcc), Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch}
			if res.Diverged {
				pt.Acc = JSONFloat(math.NaN())
			}
			if err := put(ctx, req, name, pt); err != nil {
				return none(), err
			}
			req.Log.Info("grid point", "variant", req.Config.Variant, "lr", lr, axis, v, "acc", float64(pt.Acc), "diverged", pt.Diverged)
			req.Observer.Step(i*len(a.AxisGrid)+j+1, len(a.LRGrid)*len(a.AxisGrid), math.NaN())
			best = MaxAcc(best, float64(pt.Acc))
		}
	}
	return Outcome{Accuracy: best}, nil
}

// MaxAcc is the larger of two accuracies, ignoring NaN.
func MaxAcc(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}
