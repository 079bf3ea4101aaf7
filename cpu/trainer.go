package cpu

import (
	"errors"
	"fmt"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// Tensor is a named view of live float32 state, in PyTorch's layouts
// (conv OIHW, linear Out x In).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Trainer holds one model (params, BN stats, optimizer state) and its
// compiled graphs. Train drives it; the PyTorch cross-check drives it
// step by step.
type Trainer struct {
	spec  *model.Spec
	cfg   stages.Config
	batch int
	conv  kernels.ConvLib // the convolutions' library (and precision)
	st    *state
	opt   *optimizer
	prof  *profile

	train map[int]*graph // training graphs by batch size
	eval  *graph         // eval graph at batch size `batch`
	arena *arena         // activation memory shared by the graphs
	grads [][]float32    // of the last step, per param (nil when frozen)

	lastCorrect int // correct predictions of the last step
}

// NewTrainer initialises spec's parameters from seed (train.InitParams:
// PyTorch default inits; whitening filters zero until set through Params)
// and compiles the training graph for batch.
func NewTrainer(spec *model.Spec, cfg stages.Config, seed uint64, batch int) (*Trainer, error) {
	t, err := newTrainer(spec, cfg, batch, kernels.ConvAuto)
	if err != nil {
		return nil, err
	}
	params, err := train.InitParams(backend.Request{Config: cfg, Spec: spec, Seed: seed})
	if err == nil {
		err = t.setParams(params)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("cpu: %w", err)
	}
	return t, nil
}

// newTrainer compiles the training graph of spec for batch, with
// convolutions from conv, over zeroed parameters, fresh running stats and
// zero momentum.
func newTrainer(spec *model.Spec, cfg stages.Config, batch int, conv kernels.ConvLib) (*Trainer, error) {
	return newTrainerIO(spec, cfg, batch, conv, false)
}

// newTrainerIO is newTrainer; f32IO keeps every conv operand float32
// beside bf16 convolutions (state.f32IO: the tests' reference).
func newTrainerIO(spec *model.Spec, cfg stages.Config, batch int, conv kernels.ConvLib, f32IO bool) (*Trainer, error) {
	if spec == nil {
		return nil, errors.New("cpu: nil spec")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("cpu: batch %d: must be > 0", batch)
	}
	if cfg.Train.BatchSize == 0 {
		cfg.Train.BatchSize = batch
	}
	st, err := newState(spec, batch)
	if err != nil {
		return nil, fmt.Errorf("cpu: network %s: %w", spec.Name, err)
	}
	st.f32IO = f32IO
	opt, err := newOptimizer(spec, cfg.Train)
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	t := &Trainer{spec: spec, cfg: cfg, batch: batch, conv: conv, st: st, opt: opt, prof: newProfile(),
		train: map[int]*graph{}, arena: &arena{}, grads: make([][]float32, len(spec.Params))}
	if _, err := t.trainGraph(batch); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// setParams copies params (Spec order, PyTorch layouts) into the model.
func (t *Trainer) setParams(params [][]float32) error {
	if len(params) != len(t.st.params) {
		return fmt.Errorf("cpu: %d parameters for %d", len(params), len(t.st.params))
	}
	for i, p := range params {
		if len(p) != len(t.st.params[i]) {
			return fmt.Errorf("cpu: parameter %s: %d floats, want %d", t.spec.Params[i].Name, len(p), len(t.st.params[i]))
		}
		copy(t.st.params[i], p)
	}
	return nil
}

func (t *Trainer) trainGraph(n int) (*graph, error) {
	if g := t.train[n]; g != nil {
		return g, nil
	}
	g, err := compile(t.st, n, true, lossOf(t.cfg.Train), t.conv, t.prof, t.arena)
	if err != nil {
		return nil, fmt.Errorf("cpu: compile %s for training at batch %d: %w", t.spec.Name, n, err)
	}
	t.train[n] = g
	return g, nil
}

// inputLen is the number of floats of one example (NHWC).
func (t *Trainer) inputLen() int { return model.Numel(t.spec.Input) }

// Params returns views of the live parameters, in Spec.Params order.
// Writing through them changes the model.
func (t *Trainer) Params() []Tensor {
	out := make([]Tensor, len(t.spec.Params))
	for i, p := range t.spec.Params {
		out[i] = Tensor{Name: p.Name, Shape: p.Shape, Data: t.st.params[i]}
	}
	return out
}

// Grads returns the loss gradients of the last Step (before weight decay
// and the update), in Spec.Params order; frozen params have nil Data.
func (t *Trainer) Grads() []Tensor {
	out := make([]Tensor, len(t.spec.Params))
	for i, p := range t.spec.Params {
		out[i] = Tensor{Name: p.Name, Shape: p.Shape, Data: t.grads[i]}
	}
	return out
}

// BNStats returns the BN running stats, two tensors per BN layer in layer
// order (name.running_mean, name.running_var), each splits x C for ghost
// BN.
func (t *Trainer) BNStats() []Tensor {
	var out []Tensor
	for i, l := range t.spec.Layers {
		b := t.st.bn[i]
		if b == nil {
			continue
		}
		shape := []int{b.c}
		if b.splits > 1 {
			shape = []int{b.splits, b.c}
		}
		out = append(out, Tensor{Name: l.Name + ".running_mean", Shape: shape, Data: b.mean},
			Tensor{Name: l.Name + ".running_var", Shape: shape, Data: b.vr})
	}
	return out
}

// Step runs one forward, backward and optimizer step on a batch of
// len(y) NHWC examples with per-example learning rate lr (λ, applied as
// λ/N to the summed loss). It returns the loss summed over the batch.
func (t *Trainer) Step(x []float32, y []int32, lr float64) (float64, error) {
	loss, err := t.forwardBackward(x, y)
	if err != nil {
		return 0, err
	}
	t.opt.step(t.st.params, t.grads, lr)
	return loss, nil
}

// forwardBackward runs the training graph (BN in training mode, updating
// the running stats) and collects the gradients, without an update.
func (t *Trainer) forwardBackward(x []float32, y []int32) (float64, error) {
	n := len(y)
	if n == 0 || len(x) != n*t.inputLen() {
		return 0, fmt.Errorf("cpu: Step: %d floats for %d labels, want %d per example", len(x), n, t.inputLen())
	}
	g, err := t.trainGraph(n)
	if err != nil {
		return 0, err
	}
	copy(g.x.data, x)
	g.loss.labels = y
	err = g.run()
	g.loss.labels = nil
	if err != nil {
		return 0, fmt.Errorf("cpu: step: %w", err)
	}
	for p, gn := range g.grads {
		if gn == nil {
			t.grads[p] = nil
			continue
		}
		if t.grads[p], err = g.values(gn); err != nil {
			return 0, fmt.Errorf("cpu: gradient of %s: %w", t.spec.Params[p].Name, err)
		}
	}
	t.lastCorrect = g.loss.correct
	return g.loss.sum, nil
}

// Eval returns the eval-mode logits (n x Classes) of n NHWC examples.
func (t *Trainer) Eval(x []float32, n int) ([]float32, error) {
	out := make([]float32, n*t.spec.Classes)
	if err := t.evalInto(x, n, out); err != nil {
		return nil, err
	}
	return out, nil
}

// evalInto writes the eval-mode logits of n examples into out, in chunks
// of the eval graph's batch; the last chunk is zero-padded, which is exact
// because eval-mode rows are independent.
func (t *Trainer) evalInto(x []float32, n int, out []float32) error {
	il, k := t.inputLen(), t.spec.Classes
	if len(x) != n*il || len(out) != n*k {
		return fmt.Errorf("cpu: Eval: %d floats and %d outputs for %d examples", len(x), len(out), n)
	}
	if err := t.compileEval(); err != nil {
		return err
	}
	g := t.eval
	for lo := 0; lo < n; lo += g.n {
		m := min(g.n, n-lo)
		copy(g.x.data, x[lo*il:(lo+m)*il])
		clear(g.x.data[m*il:])
		if err := g.run(); err != nil {
			return fmt.Errorf("cpu: eval: %w", err)
		}
		logits, err := g.values(g.logits)
		if err != nil {
			return fmt.Errorf("cpu: eval: %w", err)
		}
		copy(out[lo*k:(lo+m)*k], logits[:m*k])
	}
	return nil
}

// compileEval compiles the eval graph once.
func (t *Trainer) compileEval() error {
	if t.eval != nil {
		return nil
	}
	g, err := compile(t.st, t.batch, false, lossTerms{}, t.conv, t.prof, t.arena)
	if err != nil {
		return fmt.Errorf("cpu: compile %s for eval: %w", t.spec.Name, err)
	}
	t.eval = g
	return nil
}

// Close releases the kernels' resources.
func (t *Trainer) Close() error {
	var errs []error
	for _, g := range t.train {
		errs = append(errs, g.Close())
	}
	if t.eval != nil {
		errs = append(errs, t.eval.Close())
	}
	return errors.Join(errs...)
}
