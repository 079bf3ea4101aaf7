package analysis

import (
	"context"
	"fmt"
	"math"

	"speedrun/backend"
	"speedrun/model"
	"speedrun/results"
	"speedrun/stages"
)

// loggedRun is one training run of the post-6 experiments, trained by
// the request's backend with per-layer statistics (analysis.log_every)
// reported through its Observer.
type loggedRun struct {
	cfg stages.Config
	// prefix names the run inside its cell ("" for the cell's one run):
	// layer_stats rows are stored as prefix+"/"+param name.
	prefix    string
	initScale float64 // multiplies the initial conv and linear weights (0 = 1)
	logEvery  int     // steps between logged steps (0: about 4 per epoch)
}

// trainResult is how a logged run ended.
type trainResult struct {
	TestAcc       float64
	Diverged      bool
	DivergedEpoch int
	Run           backend.Result // the backend's result, for its times
}

// runLogged trains r with req.Backend and stores the per-layer statistics
// of every trainable conv and linear weight in layer_stats: |w| before a
// logged step, |g| (the gradient of the summed loss, before weight decay)
// and the angular update |w_after - w_before| / |w_before|.
func runLogged(ctx context.Context, req Request, r loggedRun) (trainResult, error) {
	cfg, tc := r.cfg, r.cfg.Train
	if tc.Epochs <= 0 || tc.BatchSize <= 0 {
		return trainResult{}, fmt.Errorf("train.epochs %v and train.batch_size %d must be > 0", tc.Epochs, tc.BatchSize)
	}
	spec, err := model.Build(cfg.Net)
	if err != nil {
		return trainResult{}, err
	}
	steps, err := stepsPerEpoch(cfg, req.Data)
	if err != nil {
		return trainResult{}, err
	}
	// At least four logged steps per epoch, so that short (smoke) runs
	// still show the dynamics.
	every := max(1, steps/4)
	if r.logEvery > 0 {
		every = min(r.logEvery, every)
	}
	tcfg := trainConfig(cfg)
	tcfg.Analysis = &stages.Analysis{LogEvery: every, InitScale: r.initScale}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	obs := &loggedObserver{ctx: runCtx, cancel: cancel, req: req, prefix: r.prefix}
	res, err := req.Backend.Train(runCtx, backend.Request{Config: tcfg, Spec: spec, Data: req.Data, Seed: req.Seed, Observer: obs})
	if obs.err != nil {
		return trainResult{}, obs.err
	}
	if err != nil {
		return trainResult{}, err
	}
	if res.Diverged {
		return trainResult{TestAcc: math.NaN(), Diverged: true, DivergedEpoch: res.DivergedEpoch, Run: res}, nil
	}
	return trainResult{TestAcc: res.TestAcc, Run: res}, nil
}

// loggedObserver stores a logged run's per-layer statistics (named with
// its prefix) at the end of each epoch and passes progress on to the
// cell's observer; a failed write cancels the run.
type loggedObserver struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	req    Request
	prefix string
	rows   []results.LayerStat
	stats  []backend.LayerStat
	err    error
}

func (o *loggedObserver) name(p string) string {
	if o.prefix == "" {
		return p
	}
	return o.prefix + "/" + p
}

func (o *loggedObserver) Step(k, total int, loss float64) { o.req.Observer.Step(k, total, loss) }

func (o *loggedObserver) Layers(stats []backend.LayerStat) {
	for _, s := range stats {
		s.Layer = o.name(s.Layer)
		o.rows = append(o.rows, results.LayerStat{RunID: o.req.RunID, Step: s.Step, Epoch: s.Epoch, Layer: s.Layer,
			WeightNorm: s.WeightNorm, GradNorm: s.GradNorm, UpdateRatio: s.Update})
		o.stats = append(o.stats, s)
	}
}

func (o *loggedObserver) Epoch(e backend.Epoch) {
	if o.err != nil {
		return
	}
	if err := o.req.DB.AddLayerStats(o.ctx, o.rows); err != nil {
		o.err = err
		o.cancel(err)
		return
	}
	o.req.Observer.Layers(o.stats)
	o.rows, o.stats = o.rows[:0], o.stats[:0]
	if o.prefix == "" {
		o.req.Observer.Epoch(e)
	}
}

// runNorms is E6.1 (SGD with weight decay) and E6.2 (per-filter LARS,
// train.optimizer = "lars"): one logged training run.
func runNorms(ctx context.Context, req Request) (Outcome, error) {
	res, err := runLogged(ctx, req, loggedRun{cfg: req.Config, logEvery: req.Config.Analysis.LogEvery})
	if err != nil {
		return none(), err
	}
	return Outcome{Accuracy: res.TestAcc, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch, Train: &res.Run}, nil
}

// subRun is the "equilibrium/..." measurement of one E6.3 run.
type subRun struct {
	Prefix        string    `json:"prefix"`
	PeakLR        JSONFloat `json:"peak_lr"`
	WeightDecay   JSONFloat `json:"weight_decay"`
	Momentum      JSONFloat `json:"momentum"`
	InitScale     JSONFloat `json:"init_scale"`
	TestAcc       JSONFloat `json:"test_acc"`
	Diverged      bool      `json:"diverged"`
	DivergedEpoch int       `json:"diverged_epoch,omitempty"`
}

// runEquilibrium is E6.3: alpha varied at fixed lambda*alpha (the angular
// step sqrt(2 lambda alpha/(1-rho)) is then the same), and the initial
// weight scale varied at the config's lambda and alpha (the norms then
// relax to the same |w|). Finished sub-runs of a resumed cell are kept.
func runEquilibrium(ctx context.Context, req Request) (Outcome, error) {
	a, base := req.Config.Analysis, req.Config
	if a.Invariant != "" && a.Invariant != "lr*wd" {
		return none(), fmt.Errorf("analysis.invariant %q: E6.3 keeps \"lr*wd\" fixed", a.Invariant)
	}
	done, err := req.DB.MeasurementsByName(ctx, req.RunID)
	if err != nil {
		return none(), err
	}
	var runs []loggedRun
	for _, wd := range a.AxisGrid {
		cfg := base
		cfg.Train.WeightDecay = wd
		if base.Train.WeightDecay <= 0 {
			return none(), fmt.Errorf("train.weight_decay %g: want > 0 to keep lr*wd fixed", base.Train.WeightDecay)
		}
		knots, err := withPeakLR(base.Train.LR, peakLR(base.Train.LR)*base.Train.WeightDecay/wd)
		if err != nil {
			return none(), err
		}
		cfg.Train.LR = knots
		runs = append(runs, loggedRun{cfg: cfg, prefix: fmt.Sprintf("wd=%g", wd), logEvery: a.LogEvery})
	}
	for _, s := range a.InitScales {
		runs = append(runs, loggedRun{cfg: base, prefix: fmt.Sprintf("init=%g", s), initScale: s, logEvery: a.LogEvery})
	}
	if len(runs) == 0 {
		return none(), fmt.Errorf("analysis.axis_grid and analysis.init_scales are both empty")
	}
	best := math.NaN()
	for _, r := range runs {
		key := "equilibrium/" + r.prefix
		if _, ok := done[key]; ok {
			continue
		}
		res, err := runLogged(ctx, req, r)
		if err != nil {
			return none(), fmt.Errorf("%s: %w", r.prefix, err)
		}
		m := subRun{Prefix: r.prefix, PeakLR: JSONFloat(peakLR(r.cfg.Train.LR)), WeightDecay: JSONFloat(r.cfg.Train.WeightDecay),
			Momentum: JSONFloat(r.cfg.Train.Momentum), InitScale: JSONFloat(orOne(r.initScale)), TestAcc: JSONFloat(res.TestAcc),
			Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch}
		if err := put(ctx, req, key, m); err != nil {
			return none(), err
		}
		if !(res.TestAcc <= best) {
			best = res.TestAcc
		}
	}
	return Outcome{Accuracy: best}, nil
}

func orOne(s float64) float64 {
	if s <= 0 {
		return 1
	}
	return s
}
