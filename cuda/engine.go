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
	d    *driver.Driver
	k    *launch.Kernels
	bl   *cublas.BLAS
	dn   *cudnn.DNN
	hb   cublas.Handle
	hd   cudnn.Handle
	spec *model.Spec
	cfg  stages.Config
	pl   *Plan
	prec launch.Prec
	s    driver.Stream

	mem []devBuf // every allocation, in order; close frees them

	// Flat fp32 state, laid out by the Plan: parameters, their gradients,
	// momentum, and the EMA copies of parameters and running stats.
	params, grads, vel, ema driver.DevicePtr
	stats, emaStats         driver.DevicePtr
	// lowW and lowG are the bf16 copies of the parameters and of the conv
	// weight gradients that cuDNN reads and writes (BF16 only).
	lowW, lowG driver.DevicePtr
	bstats     driver.DevicePtr // this step's batch mean/var, at the stats' offsets
	estats     driver.DevicePtr // eval mean/var (split-averaged), 2*C per BN layer
	estatOff   []int            // per layer: float offset of its eval mean in estats
	sdz        driver.DevicePtr // BN backward sums: sdz then sdzx, maxGC each
	maxGC      int
	bnPart     driver.DevicePtr // BN reductions' per-chunk partials
	partFloats int              // bnPart's size: the most any BN layer needs
	act        driver.DevicePtr // the activation arena
	scratch    driver.DevicePtr // one layer's output, for accumulated gradients
	feat       driver.DevicePtr // fp32 copy of the linear head's input (BF16)
	dfeat      driver.DevicePtr // fp32 gradient of the linear head's input (BF16)
	loss, corr driver.DevicePtr // per example
	ws         driver.DevicePtr // cuDNN workspace, the largest any call asked for
	wsBytes    int
	// LARS (optimizer "lars"): one parameter's row norms of w, then of g.
	rowNorms driver.DevicePtr
	maxRows  int
	// Per-layer statistics (analysis.log_every): the parameters before a
	// logged step, and the per-row (output channel) norms |w_r|, |g_r|,
	// |w_r - before_r| of each logged weight, combined on the host.
	before, layerNorms driver.DevicePtr
	logged             []int     // Spec.Params indices: train.LoggedParams
	normsHost          []float32 // layerNorms read back
	normsRows          int       // rows of all logged weights

	convs    map[[2]int]*convCall // by (layer, batch)
	needGrad []bool               // per layer: its output gradient is used
	owner    []int                // per layer: the layer whose buffers it shares
	gradSet  []bool               // per owner, this backward pass
	convOf   []int                // per param: its conv layer, or -1

	// The dataset on the device, uploaded once.
	trainX, testX, testIdx driver.DevicePtr
	rawTrain, rawTest, lut driver.DevicePtr // the uint8 images and prep_nhwc's table
	parZero, parFlip       driver.DevicePtr // augment_* parameters for the plain and the mirrored test view
	epIdx, epPar, epY      driver.DevicePtr // this epoch's plan
	sums                   driver.DevicePtr // per step of the epoch: loss, correct
	testLogits             driver.DevicePtr // the test set's logits, fp32
	trainN, testN, side    int
	ev                     [2]driver.Event // timing cuDNN's algorithm trials

	// The run (train.Run's Setup), the training labels and the host's
	// side of the epoch plan and the step sums, made once.
	su             train.Setup
	labels         []int32
	hostPar, hostY []int32
	hostSums       []float32
	taken, read    int // steps of the epoch queued, and read back by Results
}

type devBuf struct {
	name string
	p    driver.DevicePtr
	n    int
}

// convCall is one convolution at one batch size: descriptors and the
// algorithm and workspace of each direction.
type convCall struct {
	x, y            cudnn.TensorDesc
	w               cudnn.FilterDesc
	c               cudnn.ConvDesc
	fwd, bwdD, bwdF cudnn.ConvWork
}

// wsLimit caps the workspace an algorithm may ask for.
const wsLimit = 1 << 30

// engineShape is what setup needs to know about the data.
type engineShape struct {
	trainN, testN, pad int
	batches            []int // every batch size a pass will run
}

// newEngine plans spec for cfg, loads the kernels, and allocates every
// buffer and descriptor of the run. On error it frees what it made.
func newEngine(b *Backend, cfg stages.Config, spec *model.Spec, prec launch.Prec, sh engineShape) (e *engine, err error) {
	if b.BLAS == nil || b.DNN == nil {
		return nil, errors.New("cuda: training needs cuBLAS and cuDNN (backend opened DriverOnly)")
	}
	pl, err := NewPlan(spec, cfg.Train.BatchSize, prec)
	if err != nil {
		return nil, err
	}
	e = &engine{log: b.log, d: b.Driver, bl: b.BLAS, dn: b.DNN, spec: spec, cfg: cfg, pl: pl, prec: prec,
		convs: map[[2]int]*convCall{}, convOf: convWeightOf(spec),
		trainN: sh.trainN, testN: sh.testN, side: data32 + 2*sh.pad}
	defer func() {
		if err != nil {
			e.close()
			e = nil
		}
	}()
	if e.k, err = launch.Load(e.d); err != nil {
		return e, err
	}
	if b.hook != nil {
		e.k.Hook = b.hook(e)
	}
	if e.hb, err = e.bl.Create(); err != nil {
		return e, err
	}
	if err = e.bl.SetStream(e.hb, e.s); err != nil {
		return e, err
	}
	if e.hd, err = e.dn.Create(); err != nil {
		return e, err
	}
	if err = e.dn.SetStream(e.hd, e.s); err != nil {
		return e, err
	}
	for i := range e.ev {
		if e.ev[i], err = e.d.NewEvent(); err != nil {
			return e, err
		}
	}
	e.graph()
	// Training batches (the full one and a short last one) reduce BN
	// statistics; evaluation uses the running ones.
	trainBatches := []int{e.pl.Batch}
	if r := sh.trainN % e.pl.Batch; r > 0 && !cfg.Train.DropLast {
		trainBatches = append(trainBatches, r)
	}
	for _, n := range trainBatches {
		for i := range spec.Layers {
			if e.pl.Layers[i].Splits > 0 {
				e.partFloats = max(e.partFloats, e.k.BNPartFloats(e.bnShape(i, n, true)))
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
		c.fwd.Space, c.bwdD.Space, c.bwdF.Space = e.ws, e.ws, e.ws
	}
	return e, nil
}

// data32 is the side of a CIFAR image.
const data32 = 32

// graph takes the buffer owners and the gradients the backward pass
// needs from the lowered spec.
func (e *engine) graph() {
	n := len(e.spec.Layers)
	e.owner, e.needGrad, e.gradSet = make([]int, n), make([]bool, n), make([]bool, n)
	for i, lo := range e.pl.Low.Layers {
		e.owner[i], e.needGrad[i] = lo.Owner, lo.NeedsGrad
	}
}

// alloc allocates n bytes, zeroed, and records them for close.
func (e *engine) alloc(name string, n int) (driver.DevicePtr, error) {
	p, err := e.d.Alloc(n)
	if err != nil {
		return 0, fmt.Errorf("cuda: %s: %w", name, err)
	}
	e.mem = append(e.mem, devBuf{name: name, p: p, n: n})
	if err := e.d.MemsetD8(p, 0, n); err != nil {
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
	pl, spec := e.pl, e.spec
	B := pl.Batch
	e.estatOff = make([]int, len(spec.Layers))
	estats, maxBytes, linIn := 0, int64(0), 0
	for i, l := range spec.Layers {
		lp := pl.Layers[i]
		if l.Op == model.OpBN && !l.BN.Identity {
			e.estatOff[i] = estats
			estats += 2 * l.BN.C
			e.maxGC = max(e.maxGC, lp.Splits*l.BN.C)
		}
		maxBytes = max(maxBytes, lp.Bytes)
		if l.Op == model.OpLinear {
			linIn = max(linIn, l.Linear.In)
		}
	}
	P, S := 4*pl.ParamLen, 4*pl.StatsLen
	bufs := []bufSpec{
		{&e.params, "params", P}, {&e.grads, "grads", P}, {&e.vel, "momentum", P}, {&e.ema, "ema params", P},
		{&e.stats, "running stats", S}, {&e.emaStats, "ema running stats", S}, {&e.bstats, "batch stats", S},
		{&e.estats, "eval stats", 4 * estats}, {&e.sdz, "bn sums", 8 * e.maxGC}, {&e.bnPart, "bn partials", 4 * e.partFloats},
		{&e.act, "activations", int(pl.ActBytes)}, {&e.scratch, "gradient scratch", int(maxBytes)},
		{&e.feat, "linear input", 4 * B * linIn}, {&e.dfeat, "linear input grad", 4 * B * linIn},
		{&e.loss, "loss", 4 * B}, {&e.corr, "correct", 4 * B},
	}
	if e.prec == launch.BF16 {
		bufs = append(bufs, bufSpec{&e.lowW, "bf16 params", 2 * pl.ParamLen}, bufSpec{&e.lowG, "bf16 conv grads", 2 * pl.ParamLen})
	}
	if e.cfg.Train.Optimizer == "lars" {
		for _, p := range spec.Params {
			e.maxRows = max(e.maxRows, p.Shape[0])
		}
		bufs = append(bufs, bufSpec{&e.rowNorms, "lars row norms", 8 * e.maxRows})
	}
	if a := e.cfg.Analysis; a != nil && a.LogEvery > 0 {
		e.logged = train.LoggedParams(spec)
		for _, p := range e.logged {
			e.normsRows += spec.Params[p].Shape[0]
		}
		bufs = append(bufs, bufSpec{&e.before, "weights before a logged step", P}, bufSpec{&e.layerNorms, "layer norms", 12 * e.normsRows})
		e.normsHost = make([]float32, 3*e.normsRows)
	}
	if err := e.allocs(bufs...); err != nil {
		return err
	}
	return e.initStats()
}

// initStats sets every running variance to PyTorch's initial 1 (the
// means are zero from the allocation or the caller).
func (e *engine) initStats() error {
	for i, l := range e.spec.Layers {
		if lp := e.pl.Layers[i]; lp.Splits > 0 {
			n := lp.Splits * l.BN.C
			if err := e.k.Fill(e.s, e.stats.Add(4*(lp.Stats+n)), 1, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *engine) allocData(sh engineShape) error {
	B := e.pl.Batch
	maxSteps := (sh.trainN + B - 1) / B
	img := data32 * data32 * 3
	e.hostPar, e.hostY, e.hostSums = make([]int32, sh.trainN*kernels.AugParams), make([]int32, sh.trainN), make([]float32, 2*maxSteps)
	return e.allocs(
		bufSpec{&e.trainX, "training images", 4 * sh.trainN * e.side * e.side * 3},
		bufSpec{&e.rawTrain, "training bytes", sh.trainN * img},
		bufSpec{&e.rawTest, "test bytes", sh.testN * img},
		bufSpec{&e.lut, "normalisation table", 4 * 3 * 256},
		bufSpec{&e.testX, "test images", 4 * sh.testN * img},
		bufSpec{&e.testIdx, "test indices", 4 * sh.testN},
		bufSpec{&e.parZero, "eval augment params", 4 * B * kernels.AugParams},
		bufSpec{&e.parFlip, "tta augment params", 4 * B * kernels.AugParams},
		bufSpec{&e.epIdx, "epoch order", 4 * sh.trainN},
		bufSpec{&e.epPar, "epoch augment params", 4 * sh.trainN * kernels.AugParams},
		bufSpec{&e.epY, "epoch labels", 4 * sh.trainN},
		bufSpec{&e.sums, "step sums", 8 * maxSteps},
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
	dn, dt := e.dn, e.dtype()
	c := &convCall{}
	e.convs[key] = c
	var err error
	if c.x, err = dn.Tensor4d(cudnn.TensorNHWC, dt, n, in[0], in[1], in[2]); err != nil {
		return err
	}
	if c.y, err = dn.Tensor4d(cudnn.TensorNHWC, dt, n, l.Out[0], l.Out[1], l.Out[2]); err != nil {
		return err
	}
	if c.w, err = dn.Filter4d(dt, cudnn.TensorNHWC, cv.Out, cv.In, cv.K, cv.K); err != nil {
		return err
	}
	mathType := cudnn.TensorOpMath
	if e.prec == launch.F32 {
		mathType = cudnn.FMAMath // no TF32: fp32 means fp32
	}
	if c.c, err = dn.Conv2d(cv.Pad, cv.Stride, cudnn.Float, mathType); err != nil {
		return err
	}
	// Trial calls run on the arena's (not yet meaningful) buffers: the
	// full-batch buffers hold any batch n.
	in0 := l.Inputs[0]
	x, y, dy, dx := e.out(in0), e.out(i), e.grad(i), e.grad(in0)
	w, dw := e.convW(e.params, i), e.param(e.grads, l.Params[0])
	if e.prec == launch.BF16 {
		dw = e.lowG.Add(2 * e.pl.Params[l.Params[0]].Off)
	}
	perf, err := dn.ForwardAlgos(e.hd, c.x, c.w, c.c, c.y)
	if err != nil {
		return err
	}
	c.fwd, err = e.choose(perf, "forward",
		func(a int) (int, error) { return dn.ForwardWorkspace(e.hd, c.x, c.w, c.c, c.y, a) },
		func(wk cudnn.ConvWork) error { return dn.Forward(e.hd, 1, c.x, x, c.w, w, c.c, wk, 0, c.y, y) })
	if err != nil {
		return err
	}
	if perf, err = dn.BackwardDataAlgos(e.hd, c.w, c.y, c.c, c.x); err != nil {
		return err
	}
	c.bwdD, err = e.choose(perf, "backward data",
		func(a int) (int, error) { return dn.BackwardDataWorkspace(e.hd, c.w, c.y, c.c, c.x, a) },
		func(wk cudnn.ConvWork) error { return dn.BackwardData(e.hd, 1, c.w, w, c.y, dy, c.c, wk, 0, c.x, dx) })
	if err != nil {
		return err
	}
	if perf, err = dn.BackwardFilterAlgos(e.hd, c.x, c.y, c.c, c.w); err != nil {
		return err
	}
	c.bwdF, err = e.choose(perf, "backward filter",
		func(a int) (int, error) { return dn.BackwardFilterWorkspace(e.hd, c.x, c.y, c.c, c.w, a) },
		func(wk cudnn.ConvWork) error { return dn.BackwardFilter(e.hd, 1, c.x, x, c.y, dy, c.c, wk, 0, c.w, dw) })
	if err != nil {
		return err
	}
	// The choices are timed on this card, so they differ between cards and
	// runs; the log is how a run's numbers can be traced to them.
	e.log.Debug("cuDNN algorithms", "layer", l.Name, "batch", n, "fwd", c.fwd.Algo, "bwd_data", c.bwdD.Algo,
		"bwd_filter", c.bwdF.Algo, "workspace_bytes", max(c.fwd.Bytes, c.bwdD.Bytes, c.bwdF.Bytes))
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
		wk := cudnn.ConvWork{Algo: p.Algo, Space: e.ws, Bytes: n}
		if err := run(wk); err != nil { // the trial, and a warm-up
			errs = append(errs, fmt.Errorf("algo %d: %w", p.Algo, err))
			continue
		}
		if err := e.d.Record(e.ev[0], e.s); err != nil {
			return cudnn.ConvWork{}, err
		}
		for range reps {
			if err := run(wk); err != nil {
				return cudnn.ConvWork{}, fmt.Errorf("algo %d: %w", p.Algo, err)
			}
		}
		if err := e.d.Record(e.ev[1], e.s); err != nil {
			return cudnn.ConvWork{}, err
		}
		if err := e.d.SyncEvent(e.ev[1]); err != nil {
			return cudnn.ConvWork{}, err
		}
		ms, err := e.d.Elapsed(e.ev[0], e.ev[1])
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
	best.Space = e.ws
	return best, nil
}

// growWS makes the shared cuDNN workspace at least n bytes.
func (e *engine) growWS(n int) error {
	if n <= e.wsBytes {
		return nil
	}
	if e.ws != 0 {
		// Trial calls may still use the old one.
		if err := e.d.Synchronize(); err != nil {
			return err
		}
		for j, m := range e.mem {
			if m.p == e.ws {
				e.mem = append(e.mem[:j], e.mem[j+1:]...)
				break
			}
		}
		if err := e.d.Free(e.ws); err != nil {
			return err
		}
		e.ws = 0
	}
	p, err := e.alloc("cudnn workspace", n)
	if err != nil {
		return err
	}
	e.ws, e.wsBytes = p, n
	return nil
}

// close frees everything; safe on a partly built engine.
func (e *engine) close() error {
	var errs []error
	for _, c := range e.convs {
		for _, t := range []cudnn.TensorDesc{c.x, c.y} {
			if t != 0 {
				errs = append(errs, e.dn.DestroyTensor(t))
			}
		}
		if c.w != 0 {
			errs = append(errs, e.dn.DestroyFilter(c.w))
		}
		if c.c != 0 {
			errs = append(errs, e.dn.DestroyConv(c.c))
		}
	}
	e.convs = nil
	for _, ev := range e.ev {
		if ev != 0 {
			errs = append(errs, e.d.DestroyEvent(ev))
		}
	}
	if e.hd != 0 {
		errs = append(errs, e.dn.Destroy(e.hd))
	}
	if e.hb != 0 {
		errs = append(errs, e.bl.Destroy(e.hb))
	}
	for _, m := range e.mem {
		errs = append(errs, e.d.Free(m.p))
	}
	e.mem = nil
	if e.k != nil {
		errs = append(errs, e.k.Close())
	}
	return errors.Join(errs...)
}

// inAlloc reports whether [p, p+n) lies inside one of e's allocations.
func (e *engine) inAlloc(p driver.DevicePtr, n int) bool {
	for _, m := range e.mem {
		if p >= m.p && p+driver.DevicePtr(n) <= m.p+driver.DevicePtr(m.n) {
			return true
		}
	}
	return false
}

// downloadParams reads the fp32 parameters back in Spec order and
// PyTorch layouts (tests and checks).
func (e *engine) downloadParams() ([][]float32, error) {
	flat := make([]float32, e.pl.ParamLen)
	if err := driver.CopyDtoH(e.d, flat, e.params); err != nil {
		return nil, err
	}
	out := make([][]float32, len(e.spec.Params))
	for i, s := range e.pl.Params {
		src := flat[s.Off:][:s.Len]
		out[i] = make([]float32, s.Len)
		if l := e.convOf[i]; l >= 0 {
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
	flat := make([]float32, e.pl.StatsLen)
	if err := driver.CopyDtoH(e.d, flat, e.stats); err != nil {
		return nil, err
	}
	var out [][]float32
	for i, l := range e.spec.Layers {
		if lp := e.pl.Layers[i]; lp.Splits > 0 {
			n := lp.Splits * l.BN.C
			out = append(out, flat[lp.Stats:][:n], flat[lp.Stats+n:][:n])
		}
	}
	return out, nil
}
