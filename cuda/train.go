package cuda

import (
	"context"
	"fmt"
	"math"
	"syscall"
	"time"

	"speedrun/backend"
	"speedrun/cuda/kernels"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

// Train runs one training run on the GPU (backend.Backend) with the CPU
// engine's semantics (cpu/train.go): the same data subset, weights,
// epoch order and augmentation choices for a seed; the LR read every step
// at stages.StepEpoch; SGD with lambda/N and WD*N and the BN-bias group;
// EMA of all float state every EMAEvery steps; label smoothing; flip TTA
// on the last epoch; one Observer.Epoch per epoch.
//
// Differences, by design: the per-step losses are read back once per
// epoch (Observer.Step calls for an epoch come at its end), so divergence
// is found at the end of the epoch it happens in; times come from CUDA
// events around each epoch's steps and each evaluation.
//
// A config the engine does not cover fails with an error wrapping
// ErrTrainUnsupported before touching the device (see Supports).
func (b *Backend) Train(ctx context.Context, req backend.Request) (res backend.Result, err error) {
	res.TTAAcc = math.NaN()
	cfg, spec := req.Config, req.Spec
	if err := req.Validate(); err != nil {
		return res, fmt.Errorf("cuda: train: %w", err)
	}
	if err := Supports(cfg, spec); err != nil {
		return res, err
	}
	prec, err := b.precision(cfg)
	if err != nil {
		return res, err
	}
	obs := req.Observer
	if obs == nil {
		obs = backend.NopObserver{}
	}
	err = b.Do(ctx, func() error {
		var err error
		res, err = train(ctx, b, req, prec, obs)
		return err
	})
	res.PeakRSSBytes = peakRSS()
	return res, err
}

// precision is the activation type of a run: Options.Precision when set,
// else fp32 for configs that ask for it and bf16 for the rest (the blog's
// "fp16": half-precision activations, fp32 BN statistics and weights).
func (b *Backend) precision(cfg stages.Config) (Prec, error) {
	switch b.prec {
	case "f32", "fp32":
		return F32, nil
	case "bf16":
		return BF16, nil
	case "":
		if cfg.Train.Precision == "fp32" {
			return F32, nil
		}
		return BF16, nil
	}
	return 0, fmt.Errorf("cuda: precision %q: want f32 or bf16", b.prec)
}

// hostPrep is what the host keeps of preprocessing: the training labels
// (the epoch plans order them), the padding and the initial parameters.
type hostPrep struct {
	labels []int32
	pad    int
	params [][]float32 // Spec order, PyTorch layouts
}

// runSet is the data a run trains on: the class-balanced subset of the
// config, drawn with seed 0 as the runner and the CPU engine do.
func runSet(req backend.Request) (*data.Set, error) {
	cfg, set := req.Config, req.Data
	if n, m := cfg.Data.TrainSize, cfg.Data.TestSize; (n > 0 && set.Train.Len() > n) || (m > 0 && set.Test.Len() > m) {
		s, err := set.Subset(min(n, set.Train.Len()), min(m, set.Test.Len()), 0)
		if err != nil {
			return nil, fmt.Errorf("cuda: train: %w", err)
		}
		return s, nil
	}
	return set, nil
}

// prepare is data.Prepare on the device: the raw bytes go up once and
// prep_nhwc normalises, transposes and pads them in place of the host
// (bit for bit the same values). The channel statistics are an exact
// histogram on the host; the whitening filters' patch covariance is summed
// on the device and eigendecomposed on the host (whiten.go).
func (e *engine) prepare(set *data.Set, req backend.Request) (*hostPrep, error) {
	cfg := req.Config
	if err := e.checkSet(set); err != nil {
		return nil, err
	}
	mean, std := data.ChannelStats(set.Train)
	for c, v := range std {
		if v == 0 {
			return nil, fmt.Errorf("cuda: prepare %s: channel %d of the training set is constant", set.Name, c)
		}
	}
	hp := &hostPrep{labels: make([]int32, set.Train.Len()), pad: (e.side - data32) / 2}
	for i, l := range set.Train.Labels {
		hp.labels[i] = int32(l)
	}
	testY := make([]int32, set.Test.Len())
	for i, l := range set.Test.Labels {
		testY[i] = int32(l)
	}
	d := e.d
	for _, c := range []struct {
		name string
		err  error
	}{
		{"training bytes", CopyHtoD(d, e.rawTrain, set.Train.Images)},
		{"test bytes", CopyHtoD(d, e.rawTest, set.Test.Images)},
		{"normalisation table", CopyHtoD(d, e.lut, kernels.PrepLUT(mean, std))},
		{"test labels", CopyHtoD(d, e.testY, testY)},
	} {
		if c.err != nil {
			return nil, fmt.Errorf("cuda: upload %s: %w", c.name, c.err)
		}
	}
	if err := e.k.PrepNHWC(e.s, e.rawTrain, e.lut, e.trainX, e.trainN, hp.pad); err != nil {
		return nil, err
	}
	if err := e.k.PrepNHWC(e.s, e.rawTest, e.lut, e.testX, e.testN, 0); err != nil {
		return nil, err
	}
	initScale := 0.0
	if a := cfg.Analysis; a != nil {
		initScale = a.InitScale
	}
	params, err := initParams(req.Spec, req.Seed, initScale)
	if err != nil {
		return nil, fmt.Errorf("cuda: network %s: %w", req.Spec.Name, err)
	}
	hp.params = params
	for i, p := range req.Spec.Params {
		if p.Init != model.InitWhiten {
			continue
		}
		n := min(cfg.Net.WhitenImages, e.trainN)
		if n <= 0 {
			return nil, fmt.Errorf("cuda: whitening filters for %s: %d images", p.Name, n)
		}
		f, err := e.whiteningFilters(n, hp.pad, cfg.Net.WhitenEps)
		if err != nil {
			return nil, fmt.Errorf("cuda: whitening filters for %s: %w", p.Name, err)
		}
		if len(f) != len(params[i]) {
			return nil, fmt.Errorf("cuda: whitening filters for %s: %d floats, want %d", p.Name, len(f), len(params[i]))
		}
		copy(params[i], f)
	}
	return hp, nil
}

// checkSet checks the byte and label counts the device buffers assume.
func (e *engine) checkSet(set *data.Set) error {
	for _, sp := range []struct {
		name string
		s    data.Split
		n    int
	}{{"train", set.Train, e.trainN}, {"test", set.Test, e.testN}} {
		if sp.s.Len() != sp.n || len(sp.s.Images) != sp.n*data.ImageLen {
			return fmt.Errorf("cuda: prepare %s: %s split has %d labels and %d bytes, want %d images", set.Name, sp.name, sp.s.Len(), len(sp.s.Images), sp.n)
		}
		for i, l := range sp.s.Labels {
			if int(l) >= data.Classes {
				return fmt.Errorf("cuda: prepare %s: %s image %d: label %d", set.Name, sp.name, i, l)
			}
		}
	}
	return nil
}

// batchSizes lists every batch size the run's passes use.
func batchSizes(batch, trainN, testN int, dropLast bool) []int {
	out := []int{batch}
	add := func(n int) {
		for _, m := range out {
			if m == n {
				return
			}
		}
		out = append(out, n)
	}
	if r := trainN % batch; r > 0 && !dropLast {
		add(r)
	}
	if trainN < batch && !dropLast {
		add(trainN)
	}
	if r := testN % batch; r > 0 {
		add(r)
	}
	return out
}

// steps is the number of training batches per epoch.
func steps(n, batch int, dropLast bool) int {
	if dropLast {
		return n / batch
	}
	return (n + batch - 1) / batch
}

// train runs on the device thread. Like the CPU engine's graph
// compilation, the engine's set-up (kernels JIT-loaded, cuDNN algorithms
// chosen, buffers allocated) and a warm-up pass are not part of any time;
// preprocessing is the host's data preparation plus the uploads.
func train(ctx context.Context, b *Backend, req backend.Request, prec Prec, obs backend.Observer) (res backend.Result, err error) {
	res.TTAAcc = math.NaN()
	cfg, spec, tc := req.Config, req.Spec, req.Config.Train
	set, err := runSet(req)
	if err != nil {
		return res, err
	}
	trainN, testN := set.Train.Len(), set.Test.Len()
	nSteps := steps(trainN, tc.BatchSize, tc.DropLast)
	if nSteps == 0 || testN == 0 {
		return res, fmt.Errorf("cuda: train: %d training images make no batch of %d (drop_last %v), %d test images", trainN, tc.BatchSize, tc.DropLast, testN)
	}
	pad := 0
	if cfg.Data.Crop {
		pad = 4
	}
	sh := engineShape{trainN: trainN, testN: testN, pad: pad, batches: batchSizes(tc.BatchSize, trainN, testN, tc.DropLast)}
	e, err := newEngine(b, cfg, spec, prec, sh)
	if err != nil {
		return res, err
	}
	defer e.close()
	start := time.Now()
	hp, err := e.prepare(set, req)
	if err != nil {
		return res, err
	}
	if err := e.upload(hp); err != nil {
		return res, err
	}
	if err := e.d.Synchronize(); err != nil {
		return res, fmt.Errorf("cuda: upload: %w", err)
	}
	res.PreprocessSeconds = time.Since(start).Seconds()
	if err := e.warmup(hp, req.Seed); err != nil {
		return res, fmt.Errorf("cuda: warm-up: %w", err)
	}
	return e.run(ctx, req, hp, nSteps, obs, res)
}

// warmup runs one training step (without its update) and one evaluation
// batch at every batch size, so that library initialisation and lazy
// kernel loading happen here and not in the timed epochs, then restores
// the initial state: parameters, running stats, momentum and EMA.
func (e *engine) warmup(hp *hostPrep, seed uint64) error {
	cfg := e.cfg
	aug := data.Augment{Crop: cfg.Data.Crop, Flip: cfg.Data.Flip, Cutout: cfg.Data.Cutout, Grouped: cfg.Data.Grouped, MaxGroups: cfg.Data.MaxGroups}
	plan, err := newEpochPlan(aug, hp.pad, hp.labels)
	if err != nil {
		return err
	}
	plan.draw(seed, 0) // epoch 0 is never trained: its own RNG stream
	if err := e.uploadPlan(plan); err != nil {
		return err
	}
	if err := e.castWeights(e.params); err != nil {
		return err
	}
	n := min(e.pl.Batch, e.trainN)
	a := AugShape{N: n, PH: e.side, PW: e.side, H: data32, W: data32, C: 3}
	if err := e.k.Augment(e.s, e.prec, a, e.trainX, e.epIdx, e.epPar, e.out(0)); err != nil {
		return err
	}
	if err := e.forward(n, true, e.params); err != nil {
		return err
	}
	last := len(e.spec.Layers) - 1
	if err := e.k.XentLS(e.s, e.out(last), e.epY, e.grad(last), e.loss, e.corr, n, e.spec.Classes, 0, 1); err != nil {
		return err
	}
	if err := e.backward(n); err != nil {
		return err
	}
	if _, err := e.evaluate(e.params, e.stats, true); err != nil {
		return err
	}
	if err := e.d.Synchronize(); err != nil {
		return err
	}
	// Restore: parameters from the host, running stats to PyTorch's
	// initial values, momentum to zero, EMA to the live state.
	for _, b := range []DevicePtr{e.stats, e.vel} {
		if err := e.d.MemsetD8(b, 0, e.bufLen(b)); err != nil {
			return err
		}
	}
	if err := e.initStats(); err != nil {
		return err
	}
	return e.uploadParams(hp)
}

// uploadParams copies the initial parameters (conv weights permuted to
// cuDNN's KRSC) and makes the EMA copies equal to the live state.
func (e *engine) uploadParams(hp *hostPrep) error {
	flat := make([]float32, e.pl.ParamLen)
	for i, w := range hp.params {
		dst := flat[e.pl.Params[i].Off:][:len(w)]
		if l := e.convOf[i]; l >= 0 {
			c := e.spec.Layers[l].Conv
			oihwToKRSC(dst, w, c.Out, c.In, c.K)
		} else {
			copy(dst, w)
		}
	}
	if err := CopyHtoD(e.d, e.params, flat); err != nil {
		return fmt.Errorf("cuda: upload params: %w", err)
	}
	return e.emaReset()
}

// upload copies the epoch-independent augment parameters and the
// initial state to the device (the images are there: prepare).
func (e *engine) upload(hp *hostPrep) error {
	d := e.d
	idx := make([]int32, e.testN)
	for i := range idx {
		idx[i] = int32(i)
	}
	B := e.pl.Batch
	zero := make([]int32, B*kernels.AugParams)
	flip := make([]int32, B*kernels.AugParams)
	for j := range B {
		flip[j*kernels.AugParams+2] = 1
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"test indices", CopyHtoD(d, e.testIdx, idx)},
		{"eval params", CopyHtoD(d, e.parZero, zero)},
		{"tta params", CopyHtoD(d, e.parFlip, flip)},
	} {
		if c.err != nil {
			return fmt.Errorf("cuda: upload %s: %w", c.name, c.err)
		}
	}
	return e.uploadParams(hp)
}

// bufLen is the size of the allocation starting at p (0 if none does).
func (e *engine) bufLen(p DevicePtr) int {
	for _, m := range e.mem {
		if m.p == p {
			return m.n
		}
	}
	return 0
}

// run is the epoch loop.
func (e *engine) run(ctx context.Context, req backend.Request, hp *hostPrep, nSteps int, obs backend.Observer, res backend.Result) (backend.Result, error) {
	cfg, tc := req.Config, req.Config.Train
	aug := data.Augment{Crop: cfg.Data.Crop, Flip: cfg.Data.Flip, Cutout: cfg.Data.Cutout, Grouped: cfg.Data.Grouped, MaxGroups: cfg.Data.MaxGroups}
	plan, err := newEpochPlan(aug, hp.pad, hp.labels)
	if err != nil {
		return res, err
	}
	useEMA := tc.EMAMomentum > 0
	emaEvery := max(tc.EMAEvery, 1)
	evalEvery := max(tc.EvalEvery, 1)
	total := nSteps * tc.Epochs
	n, B := e.trainN, tc.BatchSize
	sums := make([]float32, 2*nSteps)
	logEvery := 0
	if a := cfg.Analysis; a != nil && a.LogEvery > 0 {
		logEvery = a.LogEvery
	}
	k := 0
	for ep := 1; ep <= tc.Epochs; ep++ {
		// e0 is stamped when the GPU reaches it: idle here, so the host's
		// planning below counts as training time, as the CPU loader's does.
		if err := e.d.Record(e.ev[0], e.s); err != nil {
			return res, err
		}
		plan.draw(req.Seed, ep)
		if err := e.uploadPlan(plan); err != nil {
			return res, err
		}
		var lr float64
		for i := range nSteps {
			at := stages.StepEpoch(tc.Schedule, ep, i, nSteps)
			lr = stages.InterpLR(tc.LR, at)
			m := min(B, n-i*B)
			logNow := logEvery > 0 && k%logEvery == 0 // as the CPU engine: steps 0, logEvery, ...
			if logNow {
				if err := e.d.CopyDtoD(e.before, e.params, 4*e.pl.ParamLen); err != nil {
					return res, err
				}
			}
			if err := e.step(i, m, lr); err != nil {
				return res, fmt.Errorf("cuda: train epoch %d step %d: %w", ep, i+1, err)
			}
			k++
			if logNow {
				if err := e.logLayers(i, k-1, at, obs); err != nil {
					return res, fmt.Errorf("cuda: train epoch %d step %d: layer statistics: %w", ep, i+1, err)
				}
			}
			if useEMA && k%emaEvery == 0 {
				if err := e.emaUpdate(math.Pow(tc.EMAMomentum, float64(emaEvery))); err != nil {
					return res, err
				}
			}
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("cuda: train epoch %d: %w", ep, err)
			}
		}
		secs, err := e.timed()
		if err != nil {
			return res, fmt.Errorf("cuda: train epoch %d: %w", ep, err)
		}
		res.TrainSeconds += secs
		if err := CopyDtoH(e.d, sums, e.sums); err != nil {
			return res, fmt.Errorf("cuda: read step sums: %w", err)
		}
		var lossSum float64
		var correct, seen int
		for i := range nSteps {
			loss := float64(sums[2*i])
			m := min(B, n-i*B)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				res.Diverged, res.DivergedEpoch = true, ep
				return res, nil
			}
			lossSum += loss
			correct += int(sums[2*i+1])
			seen += m
			obs.Step(k-nSteps+i+1, total, loss/float64(m))
		}
		rec := backend.Epoch{Epoch: ep, LR: lr, TrainLoss: lossSum / float64(max(seen, 1)), TrainAcc: float64(correct) / float64(max(seen, 1)),
			TestLoss: math.NaN(), TestAcc: math.NaN()}
		if ep%evalEvery == 0 || ep == tc.Epochs {
			last := ep == tc.Epochs
			w, st := e.params, e.stats
			if useEMA {
				w, st = e.ema, e.emaStats
			}
			if err := e.d.Record(e.ev[0], e.s); err != nil {
				return res, err
			}
			c, err := e.evaluate(w, st, last && tc.TTA)
			if err != nil {
				return res, fmt.Errorf("cuda: evaluate epoch %d: %w", ep, err)
			}
			secs, err := e.timed()
			if err != nil {
				return res, err
			}
			res.EvalSeconds += secs
			rec.TestLoss, rec.TestAcc = c.loss/float64(c.n), float64(c.correct)/float64(c.n)
			if last {
				res.TestAcc, res.TestLoss = rec.TestAcc, rec.TestLoss
				if tc.TTA {
					res.TTAAcc = float64(c.tta) / float64(c.n)
				}
			}
		}
		rec.Elapsed = res.TrainSeconds + res.EvalSeconds
		res.Epochs = append(res.Epochs, rec)
		obs.Epoch(rec)
	}
	return res, nil
}

// logLayers reports the per-layer statistics of the step just taken
// (batch i of the epoch, 0-based step k of the run, at epoch position at), as the
// CPU engine does: |w| before the step, |g| of the summed loss, and
// |w_after - w_before| / |w_before|, for every trainable conv and linear
// weight. It waits for the device: logged steps only. A step whose loss
// is not finite reports nothing (the epoch's end records the divergence).
func (e *engine) logLayers(i, k int, at float64, obs backend.Observer) error {
	// Each norm is taken per row in parallel (one thread would walk a
	// 512x512x3x3 weight alone) and the rows' squares summed here.
	R := e.normsRows
	off := 0
	for _, p := range e.logged {
		rows := e.spec.Params[p].Shape[0]
		n := e.pl.Params[p].Len / rows
		before, w, g := e.param(e.before, p), e.param(e.params, p), e.param(e.grads, p)
		out := e.layerNorms.Add(4 * off)
		if err := e.k.RowNorms(e.s, out, before, 0, rows, n); err != nil {
			return err
		}
		if err := e.k.RowNorms(e.s, out.Add(4*R), g, 0, rows, n); err != nil {
			return err
		}
		if err := e.k.RowNorms(e.s, out.Add(8*R), w, before, rows, n); err != nil {
			return err
		}
		off += rows
	}
	if err := CopyDtoH(e.d, e.stepLoss[:], e.sums.Add(8*i)); err != nil {
		return err
	}
	if l := float64(e.stepLoss[0]); math.IsNaN(l) || math.IsInf(l, 0) {
		return nil
	}
	if err := CopyDtoH(e.d, e.normsHost, e.layerNorms); err != nil {
		return err
	}
	norm := func(r []float32) float64 {
		var s float64
		for _, v := range r {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	off = 0
	for j, p := range e.logged {
		rows := e.spec.Params[p].Shape[0]
		h := e.normsHost
		wn, gn, dn := norm(h[off:off+rows]), norm(h[R+off:R+off+rows]), norm(h[2*R+off:2*R+off+rows])
		off += rows
		upd := math.NaN()
		if wn > 0 {
			upd = dn / wn
		}
		e.layerStats[j] = backend.LayerStat{Step: k, Epoch: at, Layer: e.spec.Params[p].Name, WeightNorm: wn, GradNorm: gn, Update: upd}
	}
	obs.Layers(e.layerStats)
	return nil
}

// uploadPlan copies an epoch's order, augment parameters and labels.
func (e *engine) uploadPlan(p *epochPlan) error {
	if err := CopyHtoD(e.d, e.epIdx, p.order); err != nil {
		return fmt.Errorf("cuda: upload epoch order: %w", err)
	}
	if err := CopyHtoD(e.d, e.epPar, p.par); err != nil {
		return fmt.Errorf("cuda: upload epoch augment params: %w", err)
	}
	if err := CopyHtoD(e.d, e.epY, p.y); err != nil {
		return fmt.Errorf("cuda: upload epoch labels: %w", err)
	}
	return nil
}

// timed records e.ev[1], waits for it and returns the seconds since
// e.ev[0].
func (e *engine) timed() (float64, error) {
	if err := e.d.Record(e.ev[1], e.s); err != nil {
		return 0, err
	}
	if err := e.d.SyncEvent(e.ev[1]); err != nil {
		return 0, err
	}
	ms, err := e.d.Elapsed(e.ev[0], e.ev[1])
	return float64(ms) / 1000, err
}

// peakRSS is the process's peak resident set size in bytes (host memory).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
