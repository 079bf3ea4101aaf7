package cuda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"speedrun/backend"
	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
	"speedrun/data"
	"speedrun/stages"
	"speedrun/train"
)

// Train runs one training run on the GPU (backend.Backend): train.Run
// drives the engine on the device thread, so a run has the CPU engine's
// semantics (the same data subset, weights, epoch plans, rates, EMA
// cadence and evaluation for a seed).
//
// By design, the engine reads the per-step losses back once per epoch
// (SyncEvery 0), so Observer.Step calls for an epoch come at its end and
// divergence is found at the end of the epoch it happens in.
//
// A config the engine does not cover fails with an error wrapping
// ErrTrainUnsupported before touching the device (see Supports).
func (b *Backend) Train(ctx context.Context, req backend.Request) (res backend.Result, err error) {
	res.TTAAcc = math.NaN()
	if err := req.Validate(); err != nil {
		return res, fmt.Errorf("cuda: train: %w", err)
	}
	if err := Supports(req.Config, req.Spec); err != nil {
		return res, err
	}
	prec, err := b.precision(req.Config)
	if err != nil {
		return res, err
	}
	err = b.Do(ctx, func() error {
		var err error
		res, err = train.Run(ctx, req, func(su train.Setup) (train.Engine, error) { return openEngine(b, su, prec) })
		return err
	})
	if err != nil {
		err = fmt.Errorf("cuda: train: %w", err)
	}
	return res, err
}

// precision is the activation type of a run: Options.Precision when set,
// else bf16 for runs that ask for reduced precision (train.ReducedPrecision:
// the blog's "fp16", half-precision activations with fp32 BN statistics
// and weights) and fp32 for the rest.
func (b *Backend) precision(cfg stages.Config) (launch.Prec, error) {
	switch b.prec {
	case "f32", "fp32":
		return launch.F32, nil
	case "bf16":
		return launch.BF16, nil
	case "":
		if !train.ReducedPrecision(cfg.Train) {
			return launch.F32, nil
		}
		return launch.BF16, nil
	}
	return 0, fmt.Errorf("cuda: precision %q: want f32 or bf16", b.prec)
}

// openEngine builds the engine of a run on the device thread: every batch
// size of its training and eval passes gets its cuDNN descriptors.
func openEngine(b *Backend, su train.Setup, prec launch.Prec) (*engine, error) {
	batches := append([]int(nil), su.Batches...)
	if r := su.TestN % su.Batch; r > 0 && !slicesContains(batches, r) {
		batches = append(batches, r)
	}
	if su.TestN < su.Batch && !slicesContains(batches, su.TestN) {
		batches = append(batches, su.TestN)
	}
	sh := engineShape{trainN: su.TrainN, testN: su.TestN, pad: su.Pad, batches: batches, opt: su.Optimizer, views: su.Views}
	e, err := newEngine(b, su.Config, su.Spec, prec, sh)
	if err != nil {
		return nil, err
	}
	e.setup = su
	return e, nil
}

func slicesContains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Load is data.Prepare on the device: the raw bytes go up once and
// prep_nhwc normalises, transposes and pads them in place of the host
// (bit for bit the same values). The channel statistics are an exact
// histogram on the host.
func (e *engine) Load(set *data.Set) error {
	if err := e.checkSet(set); err != nil {
		return err
	}
	mean, std := data.ChannelStats(set.Train)
	for c, v := range std {
		if v == 0 {
			return fmt.Errorf("cuda: prepare %s: channel %d of the training set is constant", set.Name, c)
		}
	}
	e.trainLabels = make([]int32, set.Train.Len())
	for i, l := range set.Train.Labels {
		e.trainLabels[i] = int32(l)
	}
	idx := make([]int32, e.testN)
	for i := range idx {
		idx[i] = int32(i)
	}
	d := e.drv
	for _, c := range []struct {
		name string
		err  error
	}{
		{"training bytes", driver.CopyHtoD(d, e.trainBytes, set.Train.Images)},
		{"test bytes", driver.CopyHtoD(d, e.testBytes, set.Test.Images)},
		{"normalisation table", driver.CopyHtoD(d, e.prepTable, kernels.PrepLUT(mean, std))},
		{"test indices", driver.CopyHtoD(d, e.testOrder, idx)},
	} {
		if c.err != nil {
			return fmt.Errorf("cuda: upload %s: %w", c.name, c.err)
		}
	}
	// Each test view is a crop of the test images padded by testPad:
	// augment_* parameters at offset testPad + the shift, mirrored or not.
	B := e.plan.Batch
	par := make([]int32, B*kernels.AugParams)
	for i, v := range e.setup.Views {
		f := int32(0)
		if v.Flip {
			f = 1
		}
		for j := range B {
			q := par[j*kernels.AugParams:][:kernels.AugParams]
			q[0], q[1], q[2] = int32(e.testPad+v.DY), int32(e.testPad+v.DX), f
		}
		if err := driver.CopyHtoD(d, e.viewPar[i], par); err != nil {
			return fmt.Errorf("cuda: upload test view %+v: %w", v, err)
		}
	}
	if err := e.kern.PrepNHWC(e.stream, e.trainBytes, e.prepTable, e.trainImages, e.trainN, e.setup.Pad); err != nil {
		return err
	}
	if err := e.kern.PrepNHWC(e.stream, e.testBytes, e.prepTable, e.testImages, e.testN, e.testPad); err != nil {
		return err
	}
	if err := e.drv.Synchronize(); err != nil {
		return fmt.Errorf("cuda: prepare: %w", err)
	}
	return nil
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

// Whitening sums the patch covariance on the device (whiten.go).
func (e *engine) Whitening(n, k int, eps float64) ([]float32, error) {
	return e.whiteningFilters(n, k, e.setup.Pad, eps)
}

// Start uploads the initial parameters, then warms up: one training step
// (without its update) and one evaluation batch at every batch size, so
// that library initialisation and lazy kernel loading happen here and not
// in the timed epochs. It then restores the initial state: parameters,
// running stats, momentum and average.
func (e *engine) Start(params [][]float32) error {
	if err := e.uploadParams(params); err != nil {
		return err
	}
	plan, err := data.NewEpochPlan(e.setup.Augment, e.setup.Pad, e.trainN)
	if err != nil {
		return fmt.Errorf("cuda: warm-up: %w", err)
	}
	plan.Draw(0, 0) // epoch 0 is never trained
	if err := e.Epoch(context.Background(), plan); err != nil {
		return fmt.Errorf("cuda: warm-up: %w", err)
	}
	if err := e.warmup(); err != nil {
		return fmt.Errorf("cuda: warm-up: %w", err)
	}
	for _, b := range []driver.DevicePtr{e.runStats, e.momentum} {
		if err := e.drv.MemsetD8(b, 0, e.bufLen(b)); err != nil {
			return err
		}
	}
	if err := e.initStats(); err != nil {
		return err
	}
	return e.uploadParams(params)
}

func (e *engine) warmup() error {
	if err := e.castWeights(e.params); err != nil {
		return err
	}
	n := min(e.plan.Batch, e.trainN)
	a := launch.AugShape{N: n, PH: e.paddedSide, PW: e.paddedSide, H: data32, W: data32, C: 3}
	if err := e.kern.Augment(e.stream, e.prec, a, e.trainImages, e.epochOrder, e.epochAug, e.out(0)); err != nil {
		return err
	}
	if err := e.forward(n, true, e.params); err != nil {
		return err
	}
	last := len(e.spec.Layers) - 1
	if err := e.kern.XentLS(e.stream, e.out(last), e.epochLabels, e.grad(last), e.losses, e.correct, n, e.spec.Classes, 0, 1); err != nil {
		return err
	}
	if err := e.backward(n); err != nil {
		return err
	}
	if err := e.logits(e.params, e.runStats, e.viewPar[len(e.viewPar)-1]); err != nil {
		return err
	}
	return e.drv.Synchronize()
}

// uploadParams copies parameters (Spec order, PyTorch layouts; conv
// weights permuted to cuDNN's KRSC) and makes the average equal to the
// live state.
func (e *engine) uploadParams(params [][]float32) error {
	if len(params) != len(e.spec.Params) {
		return fmt.Errorf("cuda: %d parameters for %d", len(params), len(e.spec.Params))
	}
	flat := make([]float32, e.plan.ParamLen)
	for i, w := range params {
		slot := e.plan.Params[i]
		if len(w) != slot.Len {
			return fmt.Errorf("cuda: parameter %s: %d floats, want %d", slot.Name, len(w), slot.Len)
		}
		dst := flat[slot.Off:][:slot.Len]
		if l := e.convOfParam[i]; l >= 0 {
			c := e.spec.Layers[l].Conv
			oihwToKRSC(dst, w, c.Out, c.In, c.K)
		} else {
			copy(dst, w)
		}
	}
	if err := driver.CopyHtoD(e.drv, e.params, flat); err != nil {
		return fmt.Errorf("cuda: upload params: %w", err)
	}
	return e.emaReset()
}

// bufLen is the size of the allocation starting at p (0 if none does).
func (e *engine) bufLen(p driver.DevicePtr) int {
	for _, m := range e.buffers {
		if m.ptr == p {
			return m.bytes
		}
	}
	return 0
}

// Epoch uploads the plan as the three arrays the augment kernels read:
// image index, augment_* parameters and label, in batch order.
func (e *engine) Epoch(_ context.Context, plan *data.EpochPlan) error {
	if len(plan.Order) != e.trainN {
		return fmt.Errorf("cuda: a plan of %d images for %d", len(plan.Order), e.trainN)
	}
	augArrays(plan, e.setup.Augment.Cutout, e.trainLabels, e.hostAug, e.hostLabels)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"epoch order", driver.CopyHtoD(e.drv, e.epochOrder, plan.Order)},
		{"epoch augment params", driver.CopyHtoD(e.drv, e.epochAug, e.hostAug)},
		{"epoch labels", driver.CopyHtoD(e.drv, e.epochLabels, e.hostLabels)},
	} {
		if c.err != nil {
			return fmt.Errorf("cuda: upload %s: %w", c.name, c.err)
		}
	}
	e.queued, e.readBack = 0, 0
	return nil
}

// Step queues batch i: it leaves its loss sum and correct count in
// stepSums[2i], stepSums[2i+1] for Results.
func (e *engine) Step(i, n int, rates []train.Rate) error {
	if i != e.queued {
		return fmt.Errorf("cuda: step %d after %d steps of the epoch", i, e.queued)
	}
	if err := e.step(i, n, rates); err != nil {
		return err
	}
	e.queued++
	return nil
}

// Results reads the sums of the steps since the last call (one copy,
// which waits for them).
func (e *engine) Results(dst []train.StepResult) ([]train.StepResult, error) {
	if e.readBack == e.queued {
		return dst, nil
	}
	sums := e.hostStepSums[:2*(e.queued-e.readBack)]
	if err := driver.CopyDtoH(e.drv, sums, e.stepSums.Add(8*e.readBack)); err != nil {
		return dst, fmt.Errorf("cuda: read step sums: %w", err)
	}
	for j := 0; j < len(sums); j += 2 {
		dst = append(dst, train.StepResult{Loss: float64(sums[j]), Correct: int(sums[j+1])})
	}
	e.readBack = e.queued
	return dst, nil
}

// SyncEvery is 0: the host reads the step sums once an epoch, so it
// never waits on the GPU mid-epoch.
func (e *engine) SyncEvery() int { return 0 }

func (e *engine) Average(rho float64) error { return e.emaUpdate(rho) }

// LoadAverage copies the average into the live parameters and running
// stats (lookahead's reset): two device copies.
func (e *engine) LoadAverage() error {
	if err := e.drv.CopyDtoD(e.params, e.emaParams, 4*e.plan.ParamLen); err != nil {
		return fmt.Errorf("cuda: load the average: %w", err)
	}
	if e.plan.StatsLen == 0 {
		return nil
	}
	if err := e.drv.CopyDtoD(e.runStats, e.emaRunStats, 4*e.plan.StatsLen); err != nil {
		return fmt.Errorf("cuda: load the average: %w", err)
	}
	return nil
}

// Logits runs the test set in eval mode and reads its logits back once.
func (e *engine) Logits(avg bool, v data.View, dst []float32) error {
	if len(dst) != e.testN*e.spec.Classes {
		return fmt.Errorf("cuda: logits: %d floats for %d test images", len(dst), e.testN)
	}
	w, st := e.params, e.runStats
	if avg {
		w, st = e.emaParams, e.emaRunStats
	}
	i := slices.Index(e.setup.Views, v)
	if i < 0 {
		return fmt.Errorf("cuda: logits of view %+v: not one of the run's views %v", v, e.setup.Views)
	}
	if err := e.logits(w, st, e.viewPar[i]); err != nil {
		return err
	}
	return driver.CopyDtoH(e.drv, dst, e.testLogits)
}

// SaveWeights copies every parameter (one copy of the flat buffer).
func (e *engine) SaveWeights([]int) error {
	if e.paramsBefore == 0 {
		return errors.New("cuda: no buffer for the weights before a step: the run logs no layer statistics")
	}
	return e.drv.CopyDtoD(e.paramsBefore, e.params, 4*e.plan.ParamLen)
}

// LayerNorms takes each logged weight's norms per row (output channel)
// in parallel (one thread would walk a 512x512x3x3 weight alone) and sums
// the rows' squares on the host. It waits for the device.
func (e *engine) LayerNorms(params []int, dst []train.Norms) error {
	if len(params) != len(e.loggedParams) {
		return fmt.Errorf("cuda: layer norms of %d parameters, the engine logs %d", len(params), len(e.loggedParams))
	}
	R := e.layerNormRows
	off := 0
	for j, p := range params {
		if p != e.loggedParams[j] {
			return fmt.Errorf("cuda: layer norms of parameter %d, the engine logs %d", p, e.loggedParams[j])
		}
		rows := e.spec.Params[p].Shape[0]
		n := e.plan.Params[p].Len / rows
		before, w, g := e.param(e.paramsBefore, p), e.param(e.params, p), e.param(e.grads, p)
		out := e.layerNorms.Add(4 * off)
		if err := e.kern.RowNorms(e.stream, out, before, 0, rows, n); err != nil {
			return err
		}
		if err := e.kern.RowNorms(e.stream, out.Add(4*R), g, 0, rows, n); err != nil {
			return err
		}
		if err := e.kern.RowNorms(e.stream, out.Add(8*R), w, before, rows, n); err != nil {
			return err
		}
		off += rows
	}
	if err := driver.CopyDtoH(e.drv, e.layerNormsHost, e.layerNorms); err != nil {
		return err
	}
	norm := func(r []float32) float64 {
		var s float64
		for _, v := range r {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	h := e.layerNormsHost
	off = 0
	for j, p := range params {
		rows := e.spec.Params[p].Shape[0]
		dst[j] = train.Norms{Weight: norm(h[off : off+rows]), Grad: norm(h[R+off : R+off+rows]), Delta: norm(h[2*R+off : 2*R+off+rows])}
		off += rows
	}
	return nil
}

// Precision is the activations' number format.
// Params reads the fp32 parameters back from the device.
func (e *engine) Params() ([][]float32, error) { return e.downloadParams() }

func (e *engine) Precision() string { return e.prec.String() }

// Close frees the engine's device memory and handles.
func (e *engine) Close() error { return e.close() }
