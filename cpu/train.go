package cpu

import (
	"context"
	"fmt"
	"math"
	"time"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// Train runs one training run (backend.Backend).
func (b *Backend) Train(ctx context.Context, req backend.Request) (res backend.Result, err error) {
	res.TTAAcc = math.NaN()
	cfg, spec := req.Config, req.Spec
	tc := cfg.Train
	if err := req.Validate(); err != nil {
		return res, fmt.Errorf("cpu: train: %w", err)
	}
	if b.opts.Threads > 0 {
		if err := kernels.SetThreads(b.opts.Threads); err != nil {
			return res, fmt.Errorf("cpu: %w", err)
		}
	}
	obs := req.Observer
	if obs == nil {
		obs = backend.NopObserver{}
	}

	// Graph compilation is set-up, like cuDNN's warm-up in the blog: it is
	// not part of the preprocessing time.
	tr, err := NewTrainer(spec, cfg, req.Seed, tc.BatchSize)
	if err != nil {
		return res, err
	}
	defer tr.Close()
	if err := tr.compileEval(); err != nil {
		return res, err
	}

	start := time.Now()
	set := req.Data
	if n, m := cfg.Data.TrainSize, cfg.Data.TestSize; (n > 0 && set.Train.Len() > n) || (m > 0 && set.Test.Len() > m) {
		// Seed 0, as the runner uses: every run of a cell sees one subset.
		if set, err = set.Subset(min(n, set.Train.Len()), min(m, set.Test.Len()), 0); err != nil {
			return res, fmt.Errorf("cpu: train: %w", err)
		}
	}
	pad := 0
	if cfg.Data.Crop {
		pad = 4
	}
	prep, err := data.Prepare(set, pad)
	if err != nil {
		return res, fmt.Errorf("cpu: train: %w", err)
	}
	if err := tr.setWhitening(prep, cfg.Net); err != nil {
		return res, err
	}
	res.PreprocessSeconds = time.Since(start).Seconds()

	aug := data.Augment{Crop: cfg.Data.Crop, Flip: cfg.Data.Flip, Cutout: cfg.Data.Cutout, Grouped: cfg.Data.Grouped, MaxGroups: cfg.Data.MaxGroups}
	loader, err := data.NewLoader(prep, aug, tc.BatchSize, tc.DropLast, req.Seed)
	if err != nil {
		return res, fmt.Errorf("cpu: train: %w", err)
	}
	// Compile the short last batch's graph now: it fails early (ghost BN
	// splits) and keeps compilation out of the timed epoch.
	if rem := prep.TrainLen() % tc.BatchSize; !tc.DropLast && rem > 0 && prep.TrainLen() > tc.BatchSize {
		if _, err := tr.trainGraph(rem); err != nil {
			return res, err
		}
	}
	var stats *layerStats
	logEvery := 0
	if a := cfg.Analysis; a != nil && a.LogEvery > 0 {
		stats, logEvery = newLayerStats(spec), a.LogEvery
	}
	var avg *ema
	if tc.EMAMomentum > 0 {
		avg = newEMA(tr.st)
	}
	emaEvery := max(tc.EMAEvery, 1)
	steps, il := loader.Steps(), tr.inputLen()
	total := steps * tc.Epochs
	evalEvery := max(tc.EvalEvery, 1)
	k := 0
	for e := 1; e <= tc.Epochs; e++ {
		t0 := time.Now()
		var lossSum float64
		var correct, seen int
		var lr float64
		for batch, err := range loader.Epoch(ctx, e) {
			if err != nil {
				return res, fmt.Errorf("cpu: train epoch %d: %w", e, err)
			}
			at := stages.StepEpoch(tc.Schedule, e, batch.Index, steps)
			lr = stages.InterpLR(tc.LR, at)
			// Steps 0, logEvery, 2 logEvery, ... (0-based): the first step
			// shows how the weights leave their initialisation.
			logNow := stats != nil && k%logEvery == 0
			if logNow {
				stats.save(tr.st)
			}
			loss, err := tr.Step(batch.X[:batch.N*il], batch.Y[:batch.N], lr)
			if err != nil {
				return res, fmt.Errorf("cpu: train epoch %d step %d: %w", e, batch.Index+1, err)
			}
			k++
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				res.TrainSeconds += time.Since(t0).Seconds()
				res.Diverged, res.DivergedEpoch = true, e
				res.PeakRSSBytes = PeakRSS()
				return res, nil
			}
			if logNow {
				obs.Layers(stats.measure(spec, tr.st, tr.grads, k-1, at))
			}
			lossSum += loss
			correct += tr.lastCorrect
			seen += batch.N
			if avg != nil && k%emaEvery == 0 {
				avg.update(tr.st, math.Pow(tc.EMAMomentum, float64(emaEvery)))
			}
			obs.Step(k, total, loss/float64(batch.N))
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("cpu: train epoch %d: %w", e, err)
			}
		}
		res.TrainSeconds += time.Since(t0).Seconds()
		ep := backend.Epoch{Epoch: e, LR: lr, TrainLoss: lossSum / float64(max(seen, 1)), TrainAcc: float64(correct) / float64(max(seen, 1)),
			TestLoss: math.NaN(), TestAcc: math.NaN(), Elapsed: res.TrainSeconds + res.EvalSeconds}
		if e%evalEvery == 0 || e == tc.Epochs {
			t1 := time.Now()
			last := e == tc.Epochs
			ev, err := tr.evaluate(prep, avg, last && tc.TTA)
			if err != nil {
				return res, err
			}
			res.EvalSeconds += time.Since(t1).Seconds()
			ep.TestLoss, ep.TestAcc = ev.loss, ev.acc
			if last {
				res.TestAcc, res.TestLoss = ev.acc, ev.loss
				if tc.TTA {
					res.TTAAcc = ev.ttaAcc
				}
			}
		}
		res.Epochs = append(res.Epochs, ep)
		obs.Epoch(ep)
	}
	res.PeakRSSBytes = PeakRSS()
	return res, nil
}

// setWhitening fills the frozen whitening filters from the training data.
func (t *Trainer) setWhitening(prep *data.Prepared, net model.Net) error {
	for i, p := range t.spec.Params {
		if p.Init != model.InitWhiten {
			continue
		}
		f, err := data.WhiteningFilters(prep, min(net.WhitenImages, prep.TrainLen()), net.WhitenEps)
		if err != nil {
			return fmt.Errorf("cpu: whitening filters for %s: %w", p.Name, err)
		}
		if len(f) != len(t.st.params[i]) {
			return fmt.Errorf("cpu: whitening filters for %s: %d floats, want %d", p.Name, len(f), len(t.st.params[i]))
		}
		copy(t.st.params[i], f)
	}
	return nil
}

type evalResult struct{ loss, acc, ttaAcc float64 }

// evaluate runs the test set in eval mode (with the EMA weights when avg
// is set) and, with tta, also on the mirrored images, averaging logits.
func (t *Trainer) evaluate(prep *data.Prepared, avg *ema, tta bool) (evalResult, error) {
	var res evalResult
	f := func() error {
		var err error
		res, err = t.evalTest(prep, tta)
		return err
	}
	if avg != nil {
		return res, avg.with(t.st, f)
	}
	return res, f()
}

func (t *Trainer) evalTest(prep *data.Prepared, tta bool) (evalResult, error) {
	il, k, bs := t.inputLen(), t.spec.Classes, t.batch
	logits := make([]float32, bs*k)
	flipped := make([]float32, bs*k)
	flipX := make([]float32, bs*il)
	dl := make([]float32, bs*k)
	var lossSum float64
	var correct, ttaCorrect, n int
	for b := range prep.TestBatches(bs, false) {
		m := b.N
		if err := t.evalInto(b.X[:m*il], m, logits[:m*k]); err != nil {
			return evalResult{}, err
		}
		loss, c, err := kernels.SoftmaxCrossEntropy(logits[:m*k], b.Y[:m], m, k, float32(t.cfg.Train.LabelSmoothing), dl[:m*k])
		if err != nil {
			return evalResult{}, fmt.Errorf("cpu: test loss: %w", err)
		}
		lossSum += loss
		correct += c
		n += m
		if !tta {
			continue
		}
		data.FlipNHWC(flipX[:m*il], b.X[:m*il], m)
		if err := t.evalInto(flipX[:m*il], m, flipped[:m*k]); err != nil {
			return evalResult{}, err
		}
		for i := range logits[:m*k] {
			flipped[i] = (flipped[i] + logits[i]) / 2
		}
		ttaCorrect += countCorrect(flipped[:m*k], b.Y[:m], k)
	}
	if n == 0 {
		return evalResult{}, fmt.Errorf("cpu: empty test set")
	}
	return evalResult{loss: lossSum / float64(n), acc: float64(correct) / float64(n), ttaAcc: float64(ttaCorrect) / float64(n)}, nil
}

// countCorrect counts rows whose first maximum is the label.
func countCorrect(logits []float32, labels []int32, k int) int {
	c := 0
	for i, y := range labels {
		row := logits[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int32(best) == y {
			c++
		}
	}
	return c
}
