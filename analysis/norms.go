package analysis

import (
	"context"
	"fmt"
	"math"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/data"
	"speedrun/model"
	"speedrun/results"
	"speedrun/stages"
)

// loggedRun is one training run of the post-6 experiments, driven step by
// step through the CPU engine so that per-layer statistics can be read
// between steps.
type loggedRun struct {
	cfg stages.Config
	// prefix names the run inside its cell ("" for the cell's one run):
	// layer_stats rows are stored as prefix+"/"+param name.
	prefix    string
	initScale float64 // multiplies the initial conv and linear weights (0 = 1)
	logEvery  int     // steps between logged steps (0: about 8 per epoch)
}

// trainResult is how a logged run ended.
type trainResult struct {
	TestAcc       float64
	Diverged      bool
	DivergedEpoch int
}

// layerStat is the per-layer measurement of one step: |w| before the
// step, |g| (the gradient of the summed loss, before weight decay) and
// the angular update |w_after - w_before| / |w_before|.
func layerStat(before, after, grad []float32) (wn, gn, ratio float64) {
	var dw float64
	for i, b := range before {
		wn += float64(b) * float64(b)
		d := float64(after[i]) - float64(b)
		dw += d * d
	}
	for _, g := range grad {
		gn += float64(g) * float64(g)
	}
	wn, gn = math.Sqrt(wn), math.Sqrt(gn)
	if wn == 0 {
		return wn, gn, math.NaN()
	}
	return wn, gn, math.Sqrt(dw) / wn
}

// runLogged trains r on the request's data and stores per-layer
// statistics of every trainable conv and linear weight in layer_stats.
func runLogged(ctx context.Context, req Request, r loggedRun) (trainResult, error) {
	cfg, tc := r.cfg, r.cfg.Train
	if tc.Epochs <= 0 || tc.BatchSize <= 0 {
		return trainResult{}, fmt.Errorf("train.epochs %d and train.batch_size %d must be > 0", tc.Epochs, tc.BatchSize)
	}
	set := req.Data
	if n, m := cfg.Data.TrainSize, cfg.Data.TestSize; (n > 0 && set.Train.Len() > n) || (m > 0 && set.Test.Len() > m) {
		var err error
		if set, err = set.Subset(n, m, req.Seed); err != nil {
			return trainResult{}, err
		}
	}
	pad := 0
	if cfg.Data.Crop {
		pad = 4
	}
	prep, err := data.Prepare(set, pad)
	if err != nil {
		return trainResult{}, err
	}
	spec, err := model.Build(cfg.Net)
	if err != nil {
		return trainResult{}, err
	}
	for _, p := range spec.Params {
		if p.Init == model.InitWhiten {
			return trainResult{}, fmt.Errorf("net %s: whitening nets are not supported by the logged training loop", cfg.Net.Name)
		}
	}
	tr, err := cpu.NewTrainer(spec, trainConfig(cfg), req.Seed, tc.BatchSize)
	if err != nil {
		return trainResult{}, err
	}
	defer tr.Close()
	params := tr.Params()
	var logged []int
	for i, p := range spec.Params {
		if p.Role == model.RoleWeight && !p.Frozen {
			logged = append(logged, i)
			if r.initScale > 0 && r.initScale != 1 {
				for j := range params[i].Data {
					params[i].Data[j] *= float32(r.initScale)
				}
			}
		}
	}
	before := make([][]float32, len(spec.Params))
	for _, i := range logged {
		before[i] = make([]float32, len(params[i].Data))
	}
	aug := data.Augment{Crop: cfg.Data.Crop, Flip: cfg.Data.Flip, Cutout: cfg.Data.Cutout, Grouped: cfg.Data.Grouped, MaxGroups: cfg.Data.MaxGroups}
	loader, err := data.NewLoader(prep, aug, tc.BatchSize, tc.DropLast, req.Seed)
	if err != nil {
		return trainResult{}, err
	}
	steps := loader.Steps()
	// At least four logged steps per epoch, so that short (smoke) runs
	// still show the dynamics.
	every := max(1, steps/4)
	if r.logEvery > 0 {
		every = min(r.logEvery, every)
	}
	total := steps * tc.Epochs
	il := numel(spec.Input)
	name := func(p string) string {
		if r.prefix == "" {
			return p
		}
		return r.prefix + "/" + p
	}
	k := 0
	var rows []results.LayerStat
	var stats []backend.LayerStat
	for e := 1; e <= tc.Epochs; e++ {
		var lossSum float64
		var seen int
		var lr float64
		for batch, err := range loader.Epoch(ctx, e) {
			if err != nil {
				return trainResult{}, fmt.Errorf("epoch %d: %w", e, err)
			}
			ep := stages.StepEpoch(tc.Schedule, e, batch.Index, steps)
			lr = stages.InterpLR(tc.LR, ep)
			log := k%every == 0
			if log {
				for _, i := range logged {
					copy(before[i], params[i].Data)
				}
			}
			loss, err := tr.Step(batch.X[:batch.N*il], batch.Y[:batch.N], lr)
			if err != nil {
				return trainResult{}, fmt.Errorf("epoch %d step %d: %w", e, batch.Index+1, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return trainResult{TestAcc: math.NaN(), Diverged: true, DivergedEpoch: e}, nil
			}
			if log {
				grads := tr.Grads()
				for _, i := range logged {
					wn, gn, ratio := layerStat(before[i], params[i].Data, grads[i].Data)
					rows = append(rows, results.LayerStat{RunID: req.RunID, Step: k, Epoch: ep, Layer: name(spec.Params[i].Name), WeightNorm: wn, GradNorm: gn, UpdateRatio: ratio})
					stats = append(stats, backend.LayerStat{Step: k, Epoch: ep, Layer: name(spec.Params[i].Name), WeightNorm: wn, GradNorm: gn, Update: ratio})
				}
			}
			k++
			lossSum += loss
			seen += batch.N
			req.Observer.Step(k, total, loss/float64(batch.N))
		}
		if err := req.DB.AddLayerStats(ctx, rows); err != nil {
			return trainResult{}, err
		}
		req.Observer.Layers(stats)
		rows, stats = rows[:0], stats[:0]
		if r.prefix == "" {
			req.Observer.Epoch(backend.Epoch{Epoch: e, LR: lr, TrainLoss: lossSum / float64(max(seen, 1)),
				TrainAcc: math.NaN(), TestLoss: math.NaN(), TestAcc: math.NaN()})
		}
	}
	acc, err := testAccuracy(tr, prep, tc.BatchSize)
	if err != nil {
		return trainResult{}, err
	}
	return trainResult{TestAcc: acc}, nil
}

// testAccuracy evaluates tr on the prepared test set.
func testAccuracy(tr *cpu.Trainer, prep *data.Prepared, bs int) (float64, error) {
	correct, n := 0, 0
	il := data.ImageLen
	for b := range prep.TestBatches(bs, false) {
		logits, err := tr.Eval(b.X[:b.N*il], b.N)
		if err != nil {
			return 0, err
		}
		k := len(logits) / b.N
		for i := range b.N {
			row := logits[i*k : (i+1)*k]
			if int32(argmax(row)) == b.Y[i] {
				correct++
			}
		}
		n += b.N
	}
	if n == 0 {
		return 0, fmt.Errorf("empty test set")
	}
	return float64(correct) / float64(n), nil
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// runNorms is E6.1 (SGD with weight decay) and E6.2 (per-filter LARS,
// train.optimizer = "lars"): one logged training run.
func runNorms(ctx context.Context, req Request) (Outcome, error) {
	res, err := runLogged(ctx, req, loggedRun{cfg: req.Config, logEvery: req.Config.Analysis.LogEvery})
	if err != nil {
		return none(), err
	}
	return Outcome{Accuracy: res.TestAcc, Diverged: res.Diverged, DivergedEpoch: res.DivergedEpoch}, nil
}

// subRun is the "equilibrium/..." measurement of one E6.3 run.
type subRun struct {
	Prefix        string    `json:"prefix"`
	PeakLR        jsonFloat `json:"peak_lr"`
	WeightDecay   jsonFloat `json:"weight_decay"`
	Momentum      jsonFloat `json:"momentum"`
	InitScale     jsonFloat `json:"init_scale"`
	TestAcc       jsonFloat `json:"test_acc"`
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
	done, err := stored(ctx, req.DB, req.RunID)
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
		m := subRun{Prefix: r.prefix, PeakLR: jsonFloat(peakLR(r.cfg.Train.LR)), WeightDecay: jsonFloat(r.cfg.Train.WeightDecay),
			Momentum: jsonFloat(r.cfg.Train.Momentum), InitScale: jsonFloat(orOne(r.initScale)), TestAcc: jsonFloat(res.TestAcc),
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
