package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"speedrun/cuda/cublas"
	"speedrun/cuda/cudnn"
	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// engine is one training run on the device: the Plan's buffers, the
// cuDNN descriptors of every convolution at every batch size the run
// uses, and the launch sequences of a training step and an evaluation
// pass (pass.go). Every method runs on the device thread (Backend.Do).
//
// Everything is queued on the legacy default stream, in order, so no
// launch needs an explicit dependency; the host only waits at epoch ends
// (the per-step loss sums and the CUDA events).
type engine struct {
	log  *slog.Logger
	drv  *driver.Driver
	kern *launch.Kernels
	blas *cublas.BLAS
	dnn  *cudnn.DNN
	// blasHandle and dnnHandle queue their calls on stream.
	blasHandle cublas.Handle
	dnnHandle  cudnn.Handle
	spec       *model.Spec
	cfg        stages.Config
	plan       *Plan
	prec       launch.Prec
	// stream is the legacy default stream (0), which orders every launch
	// and library call after the one before it.
	stream driver.Stream

	buffers []deviceBuffer // every allocation, in order; close frees them

	// Flat fp32 state, laid out by the Plan: parameters, their gradients,
	// momentum, and the EMA copies of parameters and running stats.
	params, grads, momentum, emaParams driver.DevicePtr
	runStats, emaRunStats              driver.DevicePtr
	// bf16Params and bf16ConvGrads are the bf16 copies of the parameters
	// and of the conv weight gradients that cuDNN reads and writes (BF16
	// only), at half the fp32 offsets.
	bf16Params, bf16ConvGrads driver.DevicePtr
	batchStats                driver.DevicePtr // this step's batch mean/var, at the running stats' offsets
	evalStats                 driver.DevicePtr // eval mean/var (split-averaged), 2*C per BN layer
	evalStatsOff              []int            // per layer: float offset of its eval mean in evalStats
	bnSums                    driver.DevicePtr // BN backward sums: sdz then sdzx, bnSumsLen floats each
	bnSumsLen                 int              // the most groups x channels of any BN layer
	bnPartials                driver.DevicePtr // BN reductions' per-chunk partials
	bnPartialsLen             int              // bnPartials' floats: the most any BN layer needs
	arena                     driver.DevicePtr // the activation arena: every layer's output and gradient
	gradScratch               driver.DevicePtr // one layer's output, for accumulated gradients
	headIn                    driver.DevicePtr // fp32 copy of the linear head's input (BF16)
	headInGrad                driver.DevicePtr // fp32 gradient of the linear head's input (BF16)
	losses, correct           driver.DevicePtr // per example of a batch
	workspace                 driver.DevicePtr // cuDNN workspace, the largest any call asked for
	workspaceBytes            int
	// LARS (optimizer "lars"): one parameter's row norms of w, then of g,
	// larsMaxRows floats each.
	larsNorms   driver.DevicePtr
	larsMaxRows int
	// Muon (a group of rule train.RuleMuon): the Nesterov update u (fp32),
	// the Newton-Schulz iterate X and its next value (activation
	// precision, as the GEMMs), the rows x rows products A and B, and the
	// row norms of w and u and the two scales (fp32).
	muonU, muonX, muonNext, muonA, muonB, muonNorms driver.DevicePtr
	// ones is a column of ones (activation precision) of biasRows rows:
	// a conv bias's gradient is onesᵀ dY, one GEMM.
	ones     driver.DevicePtr
	biasRows int
	// Per-layer statistics (analysis.log_every): the parameters before a
	// logged step, and the per-row (output channel) norms |w_r|, |g_r|,
	// |w_r - before_r| of each logged weight, combined on the host.
	paramsBefore, layerNorms driver.DevicePtr
	loggedParams             []int     // Spec.Params indices: train.LoggedParams
	layerNormsHost           []float32 // layerNorms read back
	layerNormRows            int       // rows of all logged weights

	convs       map[[2]int]*convCall // by (layer, batch)
	needsGrad   []bool               // per layer: its output gradient is used
	bufferOwner []int                // per layer: the layer whose buffers it shares
	gradWritten []bool               // per buffer owner: its gradient is set this backward pass
	convOfParam []int                // per param: its conv layer, or -1

	// The dataset on the device, uploaded once. The test images are
	// padded by testPad (the TTA views' largest shift) for the views'
	// crops.
	trainImages, testImages, testOrder driver.DevicePtr   // prepared fp32 NHWC; test indices 0..testN-1
	trainBytes, testBytes, prepTable   driver.DevicePtr   // the uint8 images and prep_nhwc's table
	viewPar                            []driver.DevicePtr // augment_* parameters of each of setup.Views
	epochOrder, epochAug, epochLabels  driver.DevicePtr   // this epoch's plan
	stepSums                           driver.DevicePtr   // per step of the epoch: loss, correct
	testLogits                         driver.DevicePtr   // the test set's logits, fp32
	trainN, testN, paddedSide          int
	testPad                            int
	trialEvents                        [2]driver.Event // timing cuDNN's algorithm trials

	// The run (train.Run's Setup), the training labels and the host's
	// side of the epoch plan and the step sums, made once.
	setup               train.Setup
	trainLabels         []int32
	hostAug, hostLabels []int32
	hostStepSums        []float32
	queued, readBack    int // steps of the epoch queued, and read back by Results
}

// deviceBuffer is one allocation: what it holds, where, and its bytes.
type deviceBuffer struct {
	name  string
	ptr   driver.DevicePtr
	bytes int
}

// convCall is one convolution at one batch size: descriptors and the
// algorithm and workspace of each direction.
type convCall struct {
	xDesc, yDesc            cudnn.TensorDesc
	wDesc                   cudnn.FilterDesc
	convDesc                cudnn.ConvDesc
	fwd, bwdData, bwdFilter cudnn.ConvWork
}

// wsLimit caps the workspace an algorithm may ask for.
const wsLimit = 1 << 30

// engineShape is what setup needs to know about the data and the run.
type engineShape struct {
	trainN, testN, pad int
	batches            []int // every batch size a pass will run
	// opt groups the parameters (a zero Optimizer: the default groups);
	// views are the test views Logits renders (none: the plain one).
	opt   train.Optimizer
	views []data.View
}

// newEngine plans spec for cfg, loads the kernels, and allocates every
// buffer and descriptor of the run. On error it frees what it made.
func newEngine(b *Backend, cfg stages.Config, spec *model.Spec, prec launch.Prec, sh engineShape) (e *engine, err error) {
	if b.BLAS == nil || b.DNN == nil {
		return nil, errors.New("cuda: training needs cuBLAS and cuDNN (backend opened DriverOnly)")
	}
	pl, err := NewPlan(spec, sh.opt, cfg.Train.BatchSize, prec)
	if err != nil {
		return nil, err
	}
	if len(sh.views) == 0 {
		sh.views = []data.View{{}}
	}
	e = &engine{log: b.log, drv: b.Driver, blas: b.BLAS, dnn: b.DNN, spec: spec, cfg: cfg, plan: pl, prec: prec,
		convs: map[[2]int]*convCall{}, convOfParam: convWeightOf(spec),
		trainN: sh.trainN, testN: sh.testN, paddedSide: data32 + 2*sh.pad}
	e.setup.Views, e.setup.Optimizer = sh.views, sh.opt
	for _, v := range sh.views {
		e.testPad = max(e.testPad, abs(v.DX), abs(v.DY))
	}
	defer func() {
		if err != nil {
			e.close()
			e = nil
		}
	}()
	if e.kern, err = launch.Load(e.drv); err != nil {
		return e, err
	}
	if b.hook != nil {
		e.kern.Hook = b.hook(e)
	}
	if e.blasHandle, err = e.blas.Create(); err != nil {
		return e, err
	}
	if err = e.blas.SetStream(e.blasHandle, e.stream); err != nil {
		return e, err
	}
	if e.dnnHandle, err = e.dnn.Create(); err != nil {
		return e, err
	}
	if err = e.dnn.SetStream(e.dnnHandle, e.stream); err != nil {
		return e, err
	}
	for i := range e.trialEvents {
		if e.trialEvents[i], err = e.drv.NewEvent(); err != nil {
			return e, err
		}
	}
	e.graph()
	// Training batches (the full one and a short last one) reduce BN
	// statistics; evaluation uses the running ones.
	trainBatches := []int{e.plan.Batch}
	if r := sh.trainN % e.plan.Batch; r > 0 && !cfg.Train.DropLast {
		trainBatches = append(trainBatches, r)
	}
	for _, n := range trainBatches {
		for i := range spec.Layers {
			if e.plan.Layers[i].Splits > 0 {
				e.bnPartialsLen = max(e.bnPartialsLen, e.kern.BNPartFloats(e.bnShape(i, n, true)))
			}
		}
	}
	if err = e.allocState(); err != nil {
		return e, err
	}
	if err = e.allocData(sh); err != nil {
		return e, err
	}
	for _, n := range sh.batches {
		for i, l := range spec.Layers {
			if l.Op == model.OpConv {
				if err = e.newConv(i, n); err != nil {
					return e, fmt.Errorf("cuda: conv %s at batch %d: %w", l.Name, n, err)
				}
			}
		}
	}
	// The workspace may have moved while it grew: every call uses the last.
	for _, c := range e.convs {
		c.fwd.Space, c.bwdData.Space, c.bwdFilter.Space = e.workspace, e.workspace, e.workspace
	}
	return e, nil
}

// data32 is the side of a CIFAR image.
const data32 = 32

// graph takes the buffer owners and the gradients the backward pass
// needs from the lowered spec.
func (e *engine) graph() {
	n := len(e.spec.Layers)
	e.bufferOwner, e.needsGrad, e.gradWritten = make([]int, n), make([]bool, n), make([]bool, n)
	for i, lo := range e.plan.Low.Layers {
		e.bufferOwner[i], e.needsGrad[i] = lo.Owner, lo.NeedsGrad
	}
}

// alloc allocates n bytes, zeroed, and records them for close.
func (e *engine) alloc(name string, n int) (driver.DevicePtr, error) {
	p, err := e.drv.Alloc(n)
	if err != nil {
		return 0, fmt.Errorf("cuda: %s: %w", name, err)
	}
	e.buffers = append(e.buffers, deviceBuffer{name: name, ptr: p, bytes: n})
	if err := e.drv.MemsetD8(p, 0, n); err != nil {
		return 0, fmt.Errorf("cuda: clear %s: %w", name, err)
	}
	return p, nil
}

// allocs allocates several buffers, stopping at the first error.
func (e *engine) allocs(bufs ...bufSpec) error {
	for _, b := range bufs {
		p, err := e.alloc(b.name, max(b.n, 4))
		if err != nil {
			return err
		}
		*b.dst = p
	}
	return nil
}

// bufSpec is one buffer for allocs: where to store it, its name and size.
type bufSpec struct {
	dst  *driver.DevicePtr
	name string
	n    int
}

func (e *engine) allocState() error {
	pl, spec := e.plan, e.spec
	B := pl.Batch
	e.evalStatsOff = make([]int, len(spec.Layers))
	estats, maxBytes, linIn := 0, int64(0), 0
	for i, l := range spec.Layers {
		lp := pl.Layers[i]
		if l.Op == model.OpBN && !l.BN.Identity {
			e.evalStatsOff[i] = estats
			estats += 2 * l.BN.C
			e.bnSumsLen = max(e.bnSumsLen, lp.Splits*l.BN.C)
		}
		maxBytes = max(maxBytes, lp.Bytes)
		if l.Op == model.OpLinear {
			linIn = max(linIn, l.Linear.In)
		}
	}
	P, S := 4*pl.ParamLen, 4*pl.StatsLen
	bufs := []bufSpec{
		{&e.params, "params", P}, {&e.grads, "grads", P}, {&e.momentum, "momentum", P}, {&e.emaParams, "ema params", P},
		{&e.runStats, "running stats", S}, {&e.emaRunStats, "ema running stats", S}, {&e.batchStats, "batch stats", S},
		{&e.evalStats, "eval stats", 4 * estats}, {&e.bnSums, "bn sums", 8 * e.bnSumsLen}, {&e.bnPartials, "bn partials", 4 * e.bnPartialsLen},
		{&e.arena, "activations", int(pl.ActBytes)}, {&e.gradScratch, "gradient scratch", int(maxBytes)},
		{&e.headIn, "linear input", 4 * B * linIn}, {&e.headInGrad, "linear input grad", 4 * B * linIn},
		{&e.losses, "loss", 4 * B}, {&e.correct, "correct", 4 * B},
	}
	if e.prec == launch.BF16 {
		bufs = append(bufs, bufSpec{&e.bf16Params, "bf16 params", 2 * pl.ParamLen}, bufSpec{&e.bf16ConvGrads, "bf16 conv grads", 2 * pl.ParamLen})
	}
	if e.cfg.Train.Optimizer == "lars" {
		for _, p := range spec.Params {
			e.larsMaxRows = max(e.larsMaxRows, p.Shape[0])
		}
		bufs = append(bufs, bufSpec{&e.larsNorms, "lars row norms", 8 * e.larsMaxRows})
	}
	if o := e.setup.Optimizer; o.HasRule(train.RuleMuon) {
		maxLen, maxRows := 0, 0
		for p, g := range o.Of {
			if g != train.Frozen && o.Groups[g].Rule == train.RuleMuon {
				maxLen, maxRows = max(maxLen, pl.Params[p].Len), max(maxRows, spec.Params[p].Shape[0])
			}
		}
		eb := e.prec.Bytes()
		bufs = append(bufs, bufSpec{&e.muonU, "muon update", 4 * maxLen}, bufSpec{&e.muonX, "muon iterate", eb * maxLen},
			bufSpec{&e.muonNext, "muon next iterate", eb * maxLen}, bufSpec{&e.muonA, "muon A", eb * maxRows * maxRows},
			bufSpec{&e.muonB, "muon B", eb * maxRows * maxRows}, bufSpec{&e.muonNorms, "muon norms", 4 * (2*maxRows + 2)})
	}
	for _, l := range spec.Layers {
		if l.Op == model.OpConv && l.Conv.Bias {
			e.biasRows = max(e.biasRows, B*l.Out[1]*l.Out[2])
		}
	}
	if e.biasRows > 0 {
		bufs = append(bufs, bufSpec{&e.ones, "ones", e.prec.Bytes() * e.biasRows})
	}
	if a := e.cfg.Analysis; a != nil && a.LogEvery > 0 {
		e.loggedParams = train.LoggedParams(spec)
		for _, p := range e.loggedParams {
			e.layerNormRows += spec.Params[p].Shape[0]
		}
		bufs = append(bufs, bufSpec{&e.paramsBefore, "weights before a logged step", P}, bufSpec{&e.layerNorms, "layer norms", 12 * e.layerNormRows})
		e.layerNormsHost = make([]float32, 3*e.layerNormRows)
	}
	if err := e.allocs(bufs...); err != nil {
		return err
	}
	if err := e.initOnes(); err != nil {
		return err
	}
	return e.initStats()
}

// initOnes fills the column of ones the bias gradients multiply by.
func (e *engine) initOnes() error {
	if e.biasRows == 0 {
		return nil
	}
	var err error
	if e.prec == launch.BF16 {
		ones := make([]uint16, e.biasRows)
		for i := range ones {
			ones[i] = kernels.F32ToBF16(1)
		}
		err = driver.CopyHtoD(e.drv, e.ones, ones)
	} else {
		ones := make([]float32, e.biasRows)
		for i := range ones {
			ones[i] = 1
		}
		err = driver.CopyHtoD(e.drv, e.ones, ones)
	}
	if err != nil {
		return fmt.Errorf("cuda: upload the ones of the bias gradients: %w", err)
	}
	return nil
}

func abs(x int) int { return max(x, -x) }

// initStats sets every running variance to PyTorch's initial 1 (the
// means are zero from the allocation or the caller).
func (e *engine) initStats() error {
	for i, l := range e.spec.Layers {
		if lp := e.plan.Layers[i]; lp.Splits > 0 {
			n := lp.Splits * l.BN.C
			if err := e.kern.Fill(e.stream, e.runStats.Add(4*(lp.Stats+n)), 1, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *engine) allocData(sh engineShape) error {
	B := e.plan.Batch
	maxSteps := (sh.trainN + B - 1) / B
	img := data32 * data32 * 3
	testSide := data32 + 2*e.testPad
	e.hostAug, e.hostLabels, e.hostStepSums = make([]int32, sh.trainN*kernels.AugParams), make([]int32, sh.trainN), make([]float32, 2*maxSteps)
	e.viewPar = make([]driver.DevicePtr, len(e.setup.Views))
	for i := range e.viewPar {
		if err := e.allocs(bufSpec{&e.viewPar[i], fmt.Sprintf("test view %d augment params", i), 4 * B * kernels.AugParams}); err != nil {
			return err
		}
	}
	return e.allocs(
		bufSpec{&e.trainImages, "training images", 4 * sh.trainN * e.paddedSide * e.paddedSide * 3},
		bufSpec{&e.trainBytes, "training bytes", sh.trainN * img},
		bufSpec{&e.testBytes, "test bytes", sh.testN * img},
		bufSpec{&e.prepTable, "normalisation table", 4 * 3 * 256},
		bufSpec{&e.testImages, "test images", 4 * sh.testN * testSide * testSide * 3},
		bufSpec{&e.testOrder, "test indices", 4 * sh.testN},
		bufSpec{&e.epochOrder, "epoch order", 4 * sh.trainN},
		bufSpec{&e.epochAug, "epoch augment params", 4 * sh.trainN * kernels.AugParams},
		bufSpec{&e.epochLabels, "epoch labels", 4 * sh.trainN},
		bufSpec{&e.stepSums, "step sums", 8 * maxSteps},
		bufSpec{&e.testLogits, "test logits", 4 * sh.testN * e.spec.Classes},
	)
}

// dtype is the cuDNN data type of the activations.
func (e *engine) dtype() int {
	if e.prec == launch.BF16 {
		return cudnn.BF16
	}
	return cudnn.Float
}

// newConv makes layer i's descriptors at batch n and picks its
// algorithms (choose).
func (e *engine) newConv(i, n int) error {
	key := [2]int{i, n}
	if e.convs[key] != nil {
		return nil
	}
	l := e.spec.Layers[i]
	in := e.spec.Layers[l.Inputs[0]].Out
	cv := l.Conv
	dn, dt := e.dnn, e.dtype()
	c := &convCall{}
	e.convs[key] = c
	var err error
	if c.xDesc, err = dn.Tensor4d(cudnn.TensorNHWC, dt, n, in[0], in[1], in[2]); err != nil {
		return err
	}
	if c.yDesc, err = dn.Tensor4d(cudnn.TensorNHWC, dt, n, l.Out[0], l.Out[1], l.Out[2]); err != nil {
		return err
	}
	if c.wDesc, err = dn.Filter4d(dt, cudnn.TensorNHWC, cv.Out, cv.In, cv.K, cv.K); err != nil {
		return err
	}
	mathType := cudnn.TensorOpMath
	if e.prec == launch.F32 {
		mathType = cudnn.FMAMath // no TF32: fp32 means fp32
	}
	if c.convDesc, err = dn.Conv2d(cv.Pad, cv.Stride, cudnn.Float, mathType); err != nil {
		return err
	}
	// Trial calls run on the arena's (not yet meaningful) buffers: the
	// full-batch buffers hold any batch n.
	in0 := l.Inputs[0]
	x, y, dy, dx := e.out(in0), e.out(i), e.grad(i), e.grad(in0)
	w, dw := e.convW(e.params, i), e.param(e.grads, l.Params[0])
	if e.prec == launch.BF16 {
		dw = e.bf16ConvGrads.Add(2 * e.plan.Params[l.Params[0]].Off)
	}
	perf, err := dn.ForwardAlgos(e.dnnHandle, c.xDesc, c.wDesc, c.convDesc, c.yDesc)
	if err != nil {
		return err
	}
	c.fwd, err = e.choose(perf, "forward",
		func(a int) (int, error) {
			return dn.ForwardWorkspace(e.dnnHandle, c.xDesc, c.wDesc, c.convDesc, c.yDesc, a)
		},
		func(wk cudnn.ConvWork) error {
			return dn.Forward(e.dnnHandle, 1, c.xDesc, x, c.wDesc, w, c.convDesc, wk, 0, c.yDesc, y)
		})
	if err != nil {
		return err
	}
	if perf, err = dn.BackwardDataAlgos(e.dnnHandle, c.wDesc, c.yDesc, c.convDesc, c.xDesc); err != nil {
		return err
	}
	c.bwdData, err = e.choose(perf, "backward data",
		func(a int) (int, error) {
			return dn.BackwardDataWorkspace(e.dnnHandle, c.wDesc, c.yDesc, c.convDesc, c.xDesc, a)
		},
		func(wk cudnn.ConvWork) error {
			return dn.BackwardData(e.dnnHandle, 1, c.wDesc, w, c.yDesc, dy, c.convDesc, wk, 0, c.xDesc, dx)
		})
	if err != nil {
		return err
	}
	if perf, err = dn.BackwardFilterAlgos(e.dnnHandle, c.xDesc, c.yDesc, c.convDesc, c.wDesc); err != nil {
		return err
	}
	c.bwdFilter, err = e.choose(perf, "backward filter",
		func(a int) (int, error) {
			return dn.BackwardFilterWorkspace(e.dnnHandle, c.xDesc, c.yDesc, c.convDesc, c.wDesc, a)
		},
		func(wk cudnn.ConvWork) error {
			return dn.BackwardFilter(e.dnnHandle, 1, c.xDesc, x, c.yDesc, dy, c.convDesc, wk, 0, c.wDesc, dw)
		})
	if err != nil {
		return err
	}
	// The choices are timed on this card, so they differ between cards and
	// runs; the log is how a run's numbers can be traced to them.
	e.log.Debug("cuDNN algorithms", "layer", l.Name, "batch", n, "fwd", c.fwd.Algo, "bwd_data", c.bwdData.Algo,
		"bwd_filter", c.bwdFilter.Algo, "workspace_bytes", max(c.fwd.Bytes, c.bwdData.Bytes, c.bwdFilter.Bytes))
	return nil
}

// choose runs every algorithm cuDNN ranks as supported within wsLimit
// and keeps the fastest that runs (what cudnn.benchmark does in PyTorch;
// ties keep the better-ranked): the heuristics' first pick is often not
// the fastest, and can even refuse the descriptors. Each workspace size is
// asked for, and the shared workspace grown to it, before the trial.
func (e *engine) choose(perf []cudnn.ConvAlgoPerf, dir string, ws func(algo int) (int, error), run func(cudnn.ConvWork) error) (cudnn.ConvWork, error) {
	const reps = 3
	var errs []error
	best, bestMS := cudnn.ConvWork{Algo: -1}, float32(math.Inf(1))
	for _, p := range perf {
		if p.Status != 0 || p.Workspace > wsLimit {
			continue
		}
		n, err := ws(p.Algo)
		if err != nil {
			errs = append(errs, fmt.Errorf("algo %d workspace: %w", p.Algo, err))
			continue
		}
		if err := e.growWS(n); err != nil {
			return cudnn.ConvWork{}, err
		}
		wk := cudnn.ConvWork{Algo: p.Algo, Space: e.workspace, Bytes: n}
		if err := run(wk); err != nil { // the trial, and a warm-up
			errs = append(errs, fmt.Errorf("algo %d: %w", p.Algo, err))
			continue
		}
		if err := e.drv.Record(e.trialEvents[0], e.stream); err != nil {
			return cudnn.ConvWork{}, err
		}
		for range reps {
			if err := run(wk); err != nil {
				return cudnn.ConvWork{}, fmt.Errorf("algo %d: %w", p.Algo, err)
			}
		}
		if err := e.drv.Record(e.trialEvents[1], e.stream); err != nil {
			return cudnn.ConvWork{}, err
		}
		if err := e.drv.SyncEvent(e.trialEvents[1]); err != nil {
			return cudnn.ConvWork{}, err
		}
		ms, err := e.drv.Elapsed(e.trialEvents[0], e.trialEvents[1])
		if err != nil {
			return cudnn.ConvWork{}, err
		}
		if ms < bestMS {
			best, bestMS = wk, ms
		}
	}
	if best.Algo < 0 {
		return cudnn.ConvWork{}, fmt.Errorf("no %s algorithm runs (%d ranked): %w", dir, len(perf), errors.Join(errs...))
	}
	best.Space = e.workspace
	return best, nil
}

// growWS makes the shared cuDNN workspace at least n bytes.
func (e *engine) growWS(n int) error {
	if n <= e.workspaceBytes {
		return nil
	}
	if e.workspace != 0 {
		// Trial calls may still use the old one.
		if err := e.drv.Synchronize(); err != nil {
			return err
		}
		for j, m := range e.buffers {
			if m.ptr == e.workspace {
				e.buffers = append(e.buffers[:j], e.buffers[j+1:]...)
				break
			}
		}
		if err := e.drv.Free(e.workspace); err != nil {
			return err
		}
		e.workspace = 0
	}
	p, err := e.alloc("cudnn workspace", n)
	if err != nil {
		return err
	}
	e.workspace, e.workspaceBytes = p, n
	return nil
}

// close frees everything; safe on a partly built engine.
func (e *engine) close() error {
	var errs []error
	for _, c := range e.convs {
		for _, t := range []cudnn.TensorDesc{c.xDesc, c.yDesc} {
			if t != 0 {
				errs = append(errs, e.dnn.DestroyTensor(t))
			}
		}
		if c.wDesc != 0 {
			errs = append(errs, e.dnn.DestroyFilter(c.wDesc))
		}
		if c.convDesc != 0 {
			errs = append(errs, e.dnn.DestroyConv(c.convDesc))
		}
	}
	e.convs = nil
	for _, ev := range e.trialEvents {
		if ev != 0 {
			errs = append(errs, e.drv.DestroyEvent(ev))
		}
	}
	if e.dnnHandle != 0 {
		errs = append(errs, e.dnn.Destroy(e.dnnHandle))
	}
	if e.blasHandle != 0 {
		errs = append(errs, e.blas.Destroy(e.blasHandle))
	}
	for _, m := range e.buffers {
		errs = append(errs, e.drv.Free(m.ptr))
	}
	e.buffers = nil
	if e.kern != nil {
		errs = append(errs, e.kern.Close())
	}
	return errors.Join(errs...)
}

// inAlloc reports whether [p, p+n) lies inside one of e's allocations.
func (e *engine) inAlloc(p driver.DevicePtr, n int) bool {
	for _, m := range e.buffers {
		if p >= m.ptr && p+driver.DevicePtr(n) <= m.ptr+driver.DevicePtr(m.bytes) {
			return true
		}
	}
	return false
}

// downloadParams reads the fp32 parameters back in Spec order and
// PyTorch layouts (tests and checks).
func (e *engine) downloadParams() ([][]float32, error) {
	flat := make([]float32, e.plan.ParamLen)
	if err := driver.CopyDtoH(e.drv, flat, e.params); err != nil {
		return nil, err
	}
	out := make([][]float32, len(e.spec.Params))
	for i, s := range e.plan.Params {
		src := flat[s.Off:][:s.Len]
		out[i] = make([]float32, s.Len)
		if l := e.convOfParam[i]; l >= 0 {
			c := e.spec.Layers[l].Conv
			krscToOIHW(out[i], src, c.Out, c.In, c.K)
		} else {
			copy(out[i], src)
		}
	}
	return out, nil
}

// downloadStats reads the running stats back, mean then variance per BN
// layer in layer order (cpu.Trainer.BNStats's order).
func (e *engine) downloadStats() ([][]float32, error) {
	flat := make([]float32, e.plan.StatsLen)
	if err := driver.CopyDtoH(e.drv, flat, e.runStats); err != nil {
		return nil, err
	}
	var out [][]float32
	for i, l := range e.spec.Layers {
		if lp := e.plan.Layers[i]; lp.Splits > 0 {
			n := lp.Splits * l.BN.C
			out = append(out, flat[lp.Stats:][:n], flat[lp.Stats+n:][:n])
		}
	}
	return out, nil
}
