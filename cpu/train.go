package cpu

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/data"
	"speedrun/train"
)

// Train runs one training run (backend.Backend): train.Run drives this
// engine.
func (b *Backend) Train(ctx context.Context, req backend.Request) (backend.Result, error) {
	if b.opts.Threads > 0 {
		if err := kernels.SetThreads(b.opts.Threads); err != nil {
			return backend.Result{}, fmt.Errorf("cpu: %w", err)
		}
	}
	conv, prec := b.convLib(req.Config)
	res, err := train.Run(ctx, req, func(su train.Setup) (train.Engine, error) { return openEngine(su, conv, prec) })
	if err != nil {
		err = fmt.Errorf("cpu: train: %w", err)
	}
	return res, err
}

// engine is the CPU's train.Engine: a Trainer over host memory, the
// prepared data and a Loader that augments the next batches on a
// background goroutine while a step runs.
type engine struct {
	tr     *Trainer
	su     train.Setup
	prep   *data.Prepared
	loader *data.Loader
	// next and stop pull the running epoch's batches.
	next    func() (*data.Batch, error, bool)
	stop    func()
	avg     *ema
	pending []train.StepResult
	before  [][]float32 // per param, saved before a logged step
	viewX   []float32   // one eval batch, rendered as a TTA view
	prec    string      // the convolutions' precision, "f32" or "bf16"
}

// openEngine compiles the training graph of every batch size of the run
// and the eval graph: set-up, untimed, and a failure (a ghost BN split
// that does not divide a batch) comes before any work.
func openEngine(su train.Setup, conv kernels.ConvLib, prec string) (train.Engine, error) {
	tr, err := newTrainer(su.Spec, su.Config, su.Batch, conv)
	if err != nil {
		return nil, err
	}
	for _, n := range su.Batches {
		if _, err := tr.trainGraph(n); err != nil {
			tr.Close()
			return nil, err
		}
	}
	if err := tr.compileEval(); err != nil {
		tr.Close()
		return nil, err
	}
	return &engine{tr: tr, su: su, prec: prec, pending: make([]train.StepResult, 0, 1)}, nil
}

func (e *engine) Load(set *data.Set) error {
	prep, err := data.Prepare(set, e.su.Pad)
	if err != nil {
		return err
	}
	loader, err := data.NewLoader(prep, e.su.Batch, e.su.Config.Train.DropLast)
	if err != nil {
		return err
	}
	e.prep, e.loader = prep, loader
	return nil
}

func (e *engine) Whitening(n, k int, eps float64) ([]float32, error) {
	return data.WhiteningFiltersK(e.prep, n, k, eps)
}

// Start copies the initial parameters into the Trainer, whose running
// stats and momentum are fresh, and starts the average from them.
func (e *engine) Start(params [][]float32) error {
	if err := e.tr.setParams(params); err != nil {
		return err
	}
	if e.su.Average {
		e.avg = newEMA(e.tr.st)
	}
	return nil
}

func (e *engine) Epoch(ctx context.Context, plan *data.EpochPlan) error {
	e.endEpoch()
	e.next, e.stop = iter.Pull2(e.loader.Epoch(ctx, plan))
	return nil
}

// endEpoch stops the running epoch's loader goroutine.
func (e *engine) endEpoch() {
	if e.stop != nil {
		e.stop()
		e.next, e.stop = nil, nil
	}
}

func (e *engine) Step(i, n int, rates []train.Rate) error {
	if e.next == nil {
		return errors.New("cpu: step before an epoch")
	}
	b, err, ok := e.next()
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("cpu: the loader's epoch ended before batch %d", i)
	case b.Index != i || b.N != n:
		return fmt.Errorf("cpu: the loader gave batch %d of %d images, want batch %d of %d", b.Index, b.N, i, n)
	}
	loss, err := e.tr.forwardBackward(b.X[:n*e.tr.inputLen()], b.Y[:n])
	if err != nil {
		return err
	}
	e.tr.opt.apply(e.tr.st.params, e.tr.grads, rates)
	e.pending = append(e.pending, train.StepResult{Loss: loss, Correct: e.tr.lastCorrect})
	return nil
}

func (e *engine) Results(dst []train.StepResult) ([]train.StepResult, error) {
	dst = append(dst, e.pending...)
	e.pending = e.pending[:0]
	return dst, nil
}

// SyncEvery is 1: a step's loss is on the host when it returns.
func (e *engine) SyncEvery() int { return 1 }

func (e *engine) Average(rho float64) error {
	if e.avg == nil {
		return errors.New("cpu: no average: the run has no EMA or lookahead")
	}
	e.avg.update(e.tr.st, rho)
	return nil
}

func (e *engine) LoadAverage() error {
	if e.avg == nil {
		return errors.New("cpu: no average: the run has no EMA or lookahead")
	}
	e.avg.load(e.tr.st)
	return nil
}

// Logits evaluates the test set in chunks of the eval graph's batch.
func (e *engine) Logits(avg bool, v data.View, dst []float32) error {
	f := func() error {
		il, k, bs := e.tr.inputLen(), e.su.Spec.Classes, e.tr.batch
		n := e.prep.TestLen()
		if len(dst) != n*k {
			return fmt.Errorf("cpu: logits: %d floats for %d test images", len(dst), n)
		}
		if !v.Plain() && e.viewX == nil {
			e.viewX = make([]float32, bs*il)
		}
		for lo := 0; lo < n; lo += bs {
			m := min(bs, n-lo)
			x := e.prep.Test[lo*il : (lo+m)*il]
			if !v.Plain() {
				data.RenderView(e.viewX[:m*il], x, m, v)
				x = e.viewX[:m*il]
			}
			if err := e.tr.evalInto(x, m, dst[lo*k:(lo+m)*k]); err != nil {
				return err
			}
		}
		return nil
	}
	if !avg {
		return f()
	}
	if e.avg == nil {
		return errors.New("cpu: no average: the run has no EMA or lookahead")
	}
	return e.avg.with(e.tr.st, f)
}

func (e *engine) SaveWeights(params []int) error {
	if e.before == nil {
		e.before = make([][]float32, len(e.tr.st.params))
	}
	for _, p := range params {
		if e.before[p] == nil {
			e.before[p] = make([]float32, len(e.tr.st.params[p]))
		}
		copy(e.before[p], e.tr.st.params[p])
	}
	return nil
}

func (e *engine) LayerNorms(params []int, dst []train.Norms) error {
	for k, p := range params {
		w, b := e.tr.st.params[p], e.before[p]
		if b == nil {
			return fmt.Errorf("cpu: layer norms of %s: no weights saved", e.su.Spec.Params[p].Name)
		}
		var dw float64
		for j := range w {
			d := float64(w[j]) - float64(b[j])
			dw += d * d
		}
		dst[k] = train.Norms{Weight: norm(b), Grad: norm(e.tr.grads[p]), Delta: math.Sqrt(dw)}
	}
	return nil
}

// Params copies the live parameters.
func (e *engine) Params() ([][]float32, error) {
	out := make([][]float32, len(e.tr.st.params))
	for i, p := range e.tr.st.params {
		out[i] = slices.Clone(p)
	}
	return out, nil
}

func (e *engine) Precision() string { return e.prec }

func (e *engine) Close() error {
	e.endEpoch()
	return e.tr.Close()
}
