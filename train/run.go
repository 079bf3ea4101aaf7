// Package train owns a training run above the engines: the data subset,
// preprocessing and whitening, each epoch's augmentation plan, the LR of
// every step and the optimizer groups' rates, the EMA cadence, evaluation
// and test-time augmentation, divergence, the epoch records and every
// Observer call. An engine (cpu, cuda) implements Engine: the kernels
// that prepare data, step, average and evaluate on its device.
package train

import (
	"context"
	"fmt"
	"math"
	"syscall"
	"time"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// Run trains req on the engine that open builds and returns the run's
// result. Engine set-up (open, Start) is not timed, like cuDNN's warm-up
// in the blog; preprocessing is the subset, Load and the whitening
// filters. A run whose loss becomes NaN or Inf returns with Diverged set
// and a nil error.
func Run(ctx context.Context, req backend.Request, open Open) (res backend.Result, err error) {
	res.TTAAcc = math.NaN()
	defer func() { res.PeakRSSBytes = PeakRSS() }()
	if err := req.Validate(); err != nil {
		return res, err
	}
	cfg, spec := req.Config, req.Spec
	obs := req.Observer
	if obs == nil {
		obs = backend.NopObserver{}
	}
	params, err := InitParams(req)
	if err != nil {
		return res, err
	}

	start := time.Now()
	set, err := req.Data.Sized(cfg.Data.TrainSize, cfg.Data.TestSize)
	if err != nil {
		return res, err
	}
	su, err := NewSetup(cfg, spec, set)
	if err != nil {
		return res, err
	}
	// Building the engine (graphs, buffers, descriptors) is set-up.
	t0 := time.Now()
	eng, err := open(su)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := eng.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	setupTime := time.Since(t0)
	if err := eng.Load(set); err != nil {
		return res, err
	}
	if err := Whiten(eng, spec, cfg.Net, su.TrainN, params); err != nil {
		return res, err
	}
	res.PreprocessSeconds = (time.Since(start) - setupTime).Seconds()
	if err := eng.Start(params); err != nil {
		return res, err
	}
	res.Precision = eng.Precision()
	l := &loop{eng: eng, su: su, obs: obs, seed: req.Seed, rates: make([]Rate, len(su.Optimizer.Groups))}
	res, err = l.run(ctx, res, newEvaluator(su, set.Test.Labels))
	if err != nil || res.Diverged || req.Keep == nil {
		return res, err
	}
	kept, err := eng.Params()
	if err != nil {
		return res, fmt.Errorf("keep the trained parameters: %w", err)
	}
	if err := req.Keep(kept); err != nil {
		return res, fmt.Errorf("keep the trained parameters: %w", err)
	}
	return res, nil
}

// NewSetup sizes the engine of a run of cfg with spec on set (the run's
// subset).
func NewSetup(cfg stages.Config, spec *model.Spec, set *data.Set) (Setup, error) {
	tc := cfg.Train
	su := Setup{Config: cfg, Spec: spec, TrainN: set.Train.Len(), TestN: set.Test.Len(), Batch: tc.BatchSize,
		Augment: Augment(cfg.Data), Average: tc.EMAMomentum > 0 || tc.Lookahead.On(), Views: Views(tc)}
	switch {
	case cfg.Data.Crop:
		su.Pad = data.CropPad
	case cfg.Data.Translate > 0:
		su.Pad = cfg.Data.Translate
	}
	if su.Batch <= 0 {
		return su, fmt.Errorf("batch size %d", su.Batch)
	}
	su.Steps = su.TrainN / su.Batch
	su.Batches = []int{su.Batch}
	if r := su.TrainN % su.Batch; r > 0 && !tc.DropLast {
		su.Steps++
		if su.TrainN > su.Batch {
			su.Batches = append(su.Batches, r)
		} else {
			su.Batches = []int{r}
		}
	}
	if su.Steps == 0 || su.TestN == 0 {
		return su, fmt.Errorf("%d training images make no batch of %d (drop_last %v), %d test images", su.TrainN, su.Batch, tc.DropLast, su.TestN)
	}
	opt, err := NewOptimizer(spec, tc, su.Steps)
	if err != nil {
		return su, err
	}
	su.Optimizer = opt
	su.Epochs = (opt.Steps() + su.Steps - 1) / su.Steps
	return su, nil
}

// Augment is the training augmentation of a config's data section:
// translation is a random crop of the image padded by data.translate.
func Augment(d stages.Data) data.Augment {
	return data.Augment{Crop: d.Crop || d.Translate > 0, Flip: d.Flip, Cutout: d.Cutout, Grouped: d.Grouped, MaxGroups: d.MaxGroups, AltFlip: d.AltFlip}
}

// Whiten fills the whitening filters (model.InitWhiten) of params from
// the training images eng has loaded: a weight of 3k² filters of k x k is
// the engine's filters; one of 2·3k² is them and their negatives
// (airbench94's first layer).
func Whiten(eng Engine, spec *model.Spec, net model.Net, trainN int, params [][]float32) error {
	for i, p := range spec.Params {
		if p.Init != model.InitWhiten {
			continue
		}
		n := min(net.WhitenImages, trainN)
		if n <= 0 {
			return fmt.Errorf("whitening filters for %s: %d images", p.Name, n)
		}
		k := p.Shape[len(p.Shape)-1]
		f, err := eng.Whitening(n, k, net.WhitenEps)
		if err != nil {
			return fmt.Errorf("whitening filters for %s: %w", p.Name, err)
		}
		switch len(params[i]) {
		case len(f):
			copy(params[i], f)
		case 2 * len(f):
			copy(params[i], f)
			for j, v := range f {
				params[i][len(f)+j] = -v
			}
		default:
			return fmt.Errorf("whitening filters for %s: %d floats, want %d or twice that", p.Name, len(f), len(params[i]))
		}
	}
	return nil
}

// loop is one run's epochs.
type loop struct {
	eng   Engine
	su    Setup
	obs   backend.Observer
	seed  uint64
	rates []Rate

	k       int // steps taken
	total   int // steps of the run
	taken   int // steps taken this epoch
	read    int // steps of this epoch whose results were read
	results []StepResult
	// This epoch's sums of the results read.
	lossSum       float64
	correct, seen int
	diverged      bool
}

func (l *loop) run(ctx context.Context, res backend.Result, ev *evaluator) (backend.Result, error) {
	su, tc := l.su, l.su.Config.Train
	plan, err := data.NewEpochPlan(su.Augment, su.Pad, su.TrainN)
	if err != nil {
		return res, err
	}
	var logged []int
	var norms []Norms
	var stats []backend.LayerStat
	logEvery := 0
	if a := su.Config.Analysis; a != nil && a.LogEvery > 0 {
		logged, logEvery = LoggedParams(su.Spec), a.LogEvery
		norms, stats = make([]Norms, len(logged)), make([]backend.LayerStat, len(logged))
	}
	useEMA := tc.EMAMomentum > 0
	emaEvery := max(tc.EMAEvery, 1)
	evalEvery := max(tc.EvalEvery, 1)
	syncEvery := l.eng.SyncEvery()
	l.total = su.Optimizer.Steps()
	l.results = make([]StepResult, 0, su.Steps)
	for e := 1; e <= su.Epochs; e++ {
		t0 := time.Now()
		l.taken, l.read, l.lossSum, l.correct, l.seen = 0, 0, 0, 0, 0
		// The host's planning counts as training time, as a loader's would.
		plan.Draw(l.seed, e)
		if err := l.eng.Epoch(ctx, plan); err != nil {
			return res, fmt.Errorf("epoch %d: %w", e, err)
		}
		var lr float64
		// A fractional last epoch stops at the run's last step.
		for i := range min(su.Steps, l.total-l.k) {
			at := stages.StepEpoch(tc.Schedule, e, i, su.Steps)
			lr = su.Optimizer.StepRates(l.k, e, i, l.rates)
			// Steps 0, logEvery, 2 logEvery, ... (0-based): the first step
			// shows how the weights leave their initialisation.
			logNow := logEvery > 0 && l.k%logEvery == 0
			if logNow {
				if err := l.eng.SaveWeights(logged); err != nil {
					return res, fmt.Errorf("epoch %d step %d: %w", e, i+1, err)
				}
			}
			n := min(su.Batch, su.TrainN-i*su.Batch)
			if err := l.eng.Step(i, n, l.rates); err != nil {
				return res, fmt.Errorf("epoch %d step %d: %w", e, i+1, err)
			}
			l.k++
			l.taken++
			if logNow || (syncEvery > 0 && l.taken-l.read >= syncEvery) {
				if err := l.collect(); err != nil {
					return res, fmt.Errorf("epoch %d: %w", e, err)
				}
				if l.diverged {
					res.TrainSeconds += time.Since(t0).Seconds()
					res.Diverged, res.DivergedEpoch = true, e
					return res, nil
				}
			}
			if logNow {
				if err := l.eng.LayerNorms(logged, norms); err != nil {
					return res, fmt.Errorf("epoch %d step %d: layer statistics: %w", e, i+1, err)
				}
				for j, p := range logged {
					upd := math.NaN()
					if n := norms[j]; n.Weight > 0 {
						upd = n.Delta / n.Weight
					}
					stats[j] = backend.LayerStat{Step: l.k - 1, Epoch: at, Layer: su.Spec.Params[p].Name,
						WeightNorm: norms[j].Weight, GradNorm: norms[j].Grad, Update: upd}
				}
				l.obs.Layers(stats)
			}
			if useEMA && l.k%emaEvery == 0 {
				if err := l.eng.Average(math.Pow(tc.EMAMomentum, float64(emaEvery))); err != nil {
					return res, fmt.Errorf("epoch %d: EMA: %w", e, err)
				}
			}
			if err := l.lookahead(tc.Lookahead); err != nil {
				return res, fmt.Errorf("epoch %d: %w", e, err)
			}
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("epoch %d: %w", e, err)
			}
		}
		if err := l.collect(); err != nil {
			return res, fmt.Errorf("epoch %d: %w", e, err)
		}
		res.TrainSeconds += time.Since(t0).Seconds()
		if l.diverged {
			res.Diverged, res.DivergedEpoch = true, e
			return res, nil
		}
		rec := backend.Epoch{Epoch: e, LR: lr, TrainLoss: l.lossSum / float64(max(l.seen, 1)), TrainAcc: float64(l.correct) / float64(max(l.seen, 1)),
			TestLoss: math.NaN(), TestAcc: math.NaN()}
		if e%evalEvery == 0 || e == su.Epochs {
			t1 := time.Now()
			last := e == su.Epochs
			sc, err := ev.evaluate(l.eng, useEMA, last && tc.TTA)
			if err != nil {
				return res, fmt.Errorf("evaluate epoch %d: %w", e, err)
			}
			res.EvalSeconds += time.Since(t1).Seconds()
			rec.TestLoss, rec.TestAcc = sc.loss, sc.acc
			if last {
				res.TestAcc, res.TestLoss = sc.acc, sc.loss
				if tc.TTA {
					res.TTAAcc = sc.ttaAcc
				}
			}
		}
		rec.Elapsed = res.TrainSeconds + res.EvalSeconds
		res.Epochs = append(res.Epochs, rec)
		l.obs.Epoch(rec)
	}
	return res, nil
}

// lookahead runs airbench94's lookahead after step l.k of l.total: every
// la.Every steps the average moves toward the live state by 1-d, d =
// la.Decay^Every (k/K)^Power, and the live state is reset to it; after
// the last step the live state is set to the average (d = 1).
func (l *loop) lookahead(la *stages.Lookahead) error {
	if !la.On() {
		return nil
	}
	if l.k%la.Every == 0 {
		d := math.Pow(la.Decay, float64(la.Every)) * math.Pow(float64(l.k)/float64(l.total), la.Power)
		if err := l.eng.Average(d); err != nil {
			return fmt.Errorf("lookahead: %w", err)
		}
		if err := l.eng.LoadAverage(); err != nil {
			return fmt.Errorf("lookahead: %w", err)
		}
	}
	if l.k == l.total && l.k%la.Every != 0 {
		if err := l.eng.LoadAverage(); err != nil {
			return fmt.Errorf("lookahead: %w", err)
		}
	}
	return nil
}

// collect reads the results of the steps taken since the last read,
// reports each to the observer and adds it to the epoch's sums. The
// first whose loss is not finite marks the run diverged; it and the
// steps after it are not reported.
func (l *loop) collect() error {
	if l.read == l.taken || l.diverged {
		return nil
	}
	var err error
	l.results, err = l.eng.Results(l.results[:0])
	if err != nil {
		return fmt.Errorf("step results: %w", err)
	}
	if len(l.results) != l.taken-l.read {
		return fmt.Errorf("%d step results, want %d", len(l.results), l.taken-l.read)
	}
	for _, r := range l.results {
		i := l.read
		l.read++
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
			l.diverged = true
			return nil
		}
		n := min(l.su.Batch, l.su.TrainN-i*l.su.Batch)
		l.lossSum += r.Loss
		l.correct += r.Correct
		l.seen += n
		l.obs.Step(l.k-l.taken+i+1, l.total, r.Loss/float64(n))
	}
	return nil
}

// LoggedParams are the parameters whose per-layer statistics a run logs
// (post 6, E6.1): every trainable conv and linear weight, in Spec order.
func LoggedParams(spec *model.Spec) []int {
	var out []int
	for i, p := range spec.Params {
		if p.Role == model.RoleWeight && !p.Frozen {
			out = append(out, i)
		}
	}
	return out
}

// PeakRSS is the process's peak resident set size in bytes.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
