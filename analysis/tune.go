package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"speedrun/backend"
	"speedrun/model"
	"speedrun/stages"
)

// Point is one setting of the three hyperparameters E5.2 tunes, in the
// blog's units: peak lambda (per example), momentum rho and weight decay
// alpha.
type Point struct {
	LR       float64 `json:"lr"`
	Momentum float64 `json:"momentum"`
	WD       float64 `json:"wd"`
}

func (p Point) key() string { return fmt.Sprintf("%.9g|%.9g|%.9g", p.LR, p.Momentum, p.WD) }

// TuneStep is one training of the tuner's trajectory.
type TuneStep struct {
	Tune  string `json:"tune"` // identifies the trajectory (variant/profile/mode)
	Run   int    `json:"run"`  // 1-based training count
	Cycle int    `json:"cycle"`
	Axis  string `json:"axis"` // the parameter that moved ("start" for run 1)
	Point
	Acc      JSONFloat `json:"acc"` // NaN (null) when diverged
	Accepted bool      `json:"accepted"`
}

// Tuner is the E5.2 cyclical coordinate descent: from Start, move one
// parameter at a time by Factor (up, and if that is not better, down),
// retraining while the result improves, cycling through Order until a
// whole cycle improves nothing or MaxRuns trainings are spent. Momentum
// steps multiply or divide 1-rho ([?] in the source; our choice). With
// Invariant "lr*wd/(1-momentum)" the LR is re-adjusted to keep
// lambda*alpha/(1-rho) fixed while rho or alpha moves; with "lr*wd" it
// keeps lambda*alpha fixed.
type Tuner struct {
	Name      string
	Start     Point
	Factor    float64
	Order     []string
	Invariant string
	MaxRuns   int
}

// NewTuner reads a tuner from an E5.2 config.
func NewTuner(cfg stages.Config) (Tuner, error) {
	a := cfg.Analysis
	if a == nil {
		return Tuner{}, fmt.Errorf("%s: no analysis section", cfg.Variant)
	}
	t := Tuner{Name: cfg.Variant + "/" + cfg.Profile, Start: Point{LR: a.StartLR, Momentum: a.StartMomentum, WD: a.StartWD},
		Factor: a.Factor, Order: a.Order, Invariant: a.Invariant, MaxRuns: a.MaxRuns}
	if t.Factor == 0 {
		t.Factor = 2
	}
	if len(t.Order) == 0 {
		t.Order = []string{"lr", "momentum", "wd"}
	}
	return t, t.validate()
}

func (t Tuner) validate() error {
	if t.Start.LR <= 0 || t.Start.WD < 0 || t.Start.Momentum < 0 || t.Start.Momentum >= 1 {
		return fmt.Errorf("tune start %+v: want lr > 0, wd >= 0, 0 <= momentum < 1", t.Start)
	}
	if t.Factor <= 1 {
		return fmt.Errorf("analysis.factor %g: want > 1", t.Factor)
	}
	for _, a := range t.Order {
		if a != "lr" && a != "momentum" && a != "wd" {
			return fmt.Errorf("analysis.order: %q: want \"lr\", \"momentum\" or \"wd\"", a)
		}
	}
	switch t.Invariant {
	case "", "lr*wd", "lr*wd/(1-momentum)":
	default:
		return fmt.Errorf("analysis.invariant %q: want \"\", \"lr*wd\" or \"lr*wd/(1-momentum)\"", t.Invariant)
	}
	if t.MaxRuns <= 0 {
		return fmt.Errorf("analysis.max_runs %d: want > 0", t.MaxRuns)
	}
	return nil
}

// move returns p with axis multiplied (up) or divided by the factor, and
// false when that leaves the valid range.
func (t Tuner) move(p Point, axis string, up bool) (Point, bool) {
	f := t.Factor
	if !up {
		f = 1 / f
	}
	q := p
	switch axis {
	case "lr":
		q.LR *= f
	case "momentum":
		om := (1 - p.Momentum) * f
		if om > 1 || om <= 0 {
			return p, false
		}
		q.Momentum = 1 - om
		if t.Invariant == "lr*wd/(1-momentum)" {
			q.LR *= f
		}
	case "wd":
		if p.WD == 0 {
			return p, false
		}
		q.WD *= f
		if strings.HasPrefix(t.Invariant, "lr*wd") {
			q.LR /= f
		}
	}
	return q, true
}

// EvalFunc trains at p and returns the test accuracy (NaN when the run
// diverged). Implementations may return a stored result instead of
// training again.
type EvalFunc func(ctx context.Context, p Point) (float64, error)

// Run runs the descent. Every training is passed to step (in order) as
// soon as it is known; a point already evaluated is not trained again.
// Since the descent is deterministic given the accuracies, an eval that
// returns stored results replays a crashed tuning exactly up to where it
// stopped.
func (t Tuner) Run(ctx context.Context, eval EvalFunc, step func(TuneStep) error) (TuneStep, error) {
	if err := t.validate(); err != nil {
		return TuneStep{}, err
	}
	seen := map[string]float64{}
	runs := 0
	var best TuneStep
	better := func(a float64) bool {
		return !math.IsNaN(a) && (math.IsNaN(float64(best.Acc)) || a > float64(best.Acc))
	}
	try := func(p Point, cycle int, axis string) (float64, bool, error) {
		if acc, ok := seen[p.key()]; ok {
			return acc, true, nil
		}
		if runs >= t.MaxRuns {
			return 0, false, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, false, err
		}
		acc, err := eval(ctx, p)
		if err != nil {
			return 0, false, fmt.Errorf("tune run %d at lr %g momentum %g wd %g: %w", runs+1, p.LR, p.Momentum, p.WD, err)
		}
		runs++
		seen[p.key()] = acc
		s := TuneStep{Tune: t.Name, Run: runs, Cycle: cycle, Axis: axis, Point: p, Acc: JSONFloat(acc), Accepted: runs == 1 || better(acc)}
		if s.Accepted {
			best = s
		}
		return acc, true, step(s)
	}
	best.Acc = JSONFloat(math.NaN())
	if _, _, err := try(t.Start, 0, "start"); err != nil {
		return best, err
	}
	for cycle := 1; ; cycle++ {
		improved := false
		for _, axis := range t.Order {
			for _, up := range []bool{true, false} {
				moved := false
				for {
					q, ok := t.move(best.Point, axis, up)
					if !ok {
						break
					}
					before := best.Run
					_, ok, err := try(q, cycle, axis)
					if err != nil {
						return best, err
					}
					if !ok { // out of budget
						return best, nil
					}
					if best.Run == before {
						break
					}
					moved, improved = true, true
				}
				if moved {
					break
				}
			}
		}
		if !improved {
			return best, nil
		}
	}
}

// WithPoint returns cfg as a plain training run at p: the LR knots scaled
// to peak p.LR, momentum p.Momentum and weight decay p.WD.
func WithPoint(cfg stages.Config, p Point) (stages.Config, error) {
	knots, err := withPeakLR(cfg.Train.LR, p.LR)
	if err != nil {
		return cfg, err
	}
	cfg = trainConfig(cfg)
	cfg.Train.LR = knots
	cfg.Train.Momentum = p.Momentum
	cfg.Train.WeightDecay = p.WD
	return cfg, nil
}

// runTuneCell is E5.2 run as one analysis cell: every training goes
// through the backend and is stored as a "tune/step-NNN" measurement of
// the cell's run, so a resumed cell with the same run replays them.
// (`runner tune` instead stores each training as its own results cell.)
func runTuneCell(ctx context.Context, req Request) (Outcome, error) {
	t, err := NewTuner(req.Config)
	if err != nil {
		return none(), err
	}
	t.Name += "/cell"
	done, err := req.DB.MeasurementsByName(ctx, req.RunID)
	if err != nil {
		return none(), err
	}
	prior := map[string]float64{}
	for name, s := range done {
		var st TuneStep
		if strings.HasPrefix(name, "tune/step-") && json.Unmarshal([]byte(s), &st) == nil {
			prior[st.Point.key()] = float64(st.Acc)
		}
	}
	eval := func(ctx context.Context, p Point) (float64, error) {
		if acc, ok := prior[p.key()]; ok {
			return acc, nil
		}
		cfg, err := WithPoint(req.Config, p)
		if err != nil {
			return 0, err
		}
		spec, err := model.Build(cfg.Net)
		if err != nil {
			return 0, err
		}
		res, err := req.Backend.Train(ctx, backend.Request{Config: cfg, Spec: spec, Data: req.Data, Seed: req.Seed, Observer: backend.NopObserver{}})
		if err != nil {
			return 0, err
		}
		if res.Diverged {
			return math.NaN(), nil
		}
		return res.TestAcc, nil
	}
	if req.Backend == nil {
		return none(), fmt.Errorf("tune needs a backend")
	}
	best, err := t.Run(ctx, eval, func(s TuneStep) error {
		req.Log.Info("tune", "run", s.Run, "axis", s.Axis, "lr", s.LR, "momentum", s.Momentum, "wd", s.WD, "acc", float64(s.Acc), "accepted", s.Accepted)
		req.Observer.Step(s.Run, t.MaxRuns, math.NaN())
		return put(ctx, req, fmt.Sprintf("tune/step-%03d", s.Run), s)
	})
	if err != nil {
		return none(), err
	}
	return Outcome{Accuracy: float64(best.Acc)}, nil
}
