package backend

import (
	"errors"
	"fmt"

	"speedrun/model"
	"speedrun/stages"
)

// ErrUnsupported marks a config an engine does not run.
var ErrUnsupported = errors.New("engine does not run this config")

// Prober computes what post 7's analyses read: a network's layer outputs
// at given weights (the histograms and the deep linear net), activations,
// matrix products, and for the partly trained models of E7.5-E7.10 the
// logits and parameter gradients of a frozen model at any parameters. An
// engine implements it; the analyses reach the engine only through it.
type Prober interface {
	// Forward runs spec on n NHWC examples x with params (Spec.Params
	// order, PyTorch layouts), batch norm in training mode (batch
	// statistics, as at the first step of training), and calls visit with
	// each layer's index and output, valid during the call.
	Forward(spec *model.Spec, params [][]float32, x []float32, n int, visit func(layer int, y []float32) error) error
	// Act writes y = a(x) elementwise.
	Act(a model.Act, x, y []float32) error
	// MatMul writes c = a·bᵀ (transB) or a·b for row-major matrices: a is
	// m×k, b n×k (transB) or k×n, c m×n.
	MatMul(transB bool, m, n, k int, a, b, c []float32) error
	// Logits writes into dst the logits (n x Classes) of n NHWC examples
	// x through f, every BN in eval mode.
	Logits(f Frozen, x []float32, n int, dst []float32) error
	// Grad runs f on n NHWC examples x, every BN in eval mode, and hands
	// the logits to head, which writes into dlogits the gradient of a
	// scalar objective with respect to them and returns the objective.
	// Grad then adds the objective's gradient with respect to every
	// trainable parameter into grads (Spec.Params order; entries of
	// frozen parameters are left alone and may be nil) and returns the
	// objective. A gradient of the loss, of a class's mean logit or of
	// any other function of the logits is one call.
	Grad(f Frozen, x []float32, n int, head func(logits, dlogits []float32) (float64, error), grads [][]float64) (float64, error)
}

// Frozen is a trained network as post 7's E7.5-E7.10 analyse it: its
// parameters and the running statistics of its BN layers, every BN in
// eval mode ("frozen BN"), so that each example's logits depend on its
// own input and the parameters alone.
type Frozen struct {
	Spec   *model.Spec
	Params [][]float32 // Spec.Params order, PyTorch layouts
	// Mean and Var are each BN layer's running mean and variance, by
	// Spec.Layers index (nil for other layers and identity BNs).
	Mean, Var [][]float32
}

// Caps says what an engine runs, without opening it: cmd/runner lists
// which variants the GPU would train on a machine without one.
type Caps struct {
	// Name is the engine's Backend.Name.
	Name string
	// Probes is set when the engine's Backend implements Prober.
	Probes bool
	// Supports reports whether the engine trains cfg with spec (nil:
	// every config); an error wraps ErrUnsupported.
	Supports func(cfg stages.Config, spec *model.Spec) error
}

// Capable is a Backend that says what it runs. A Backend that does not
// trains every config and probes if it implements Prober.
type Capable interface {
	Caps() Caps
}

// CapsOf returns b's capabilities.
func CapsOf(b Backend) Caps {
	if c, ok := b.(Capable); ok {
		return c.Caps()
	}
	_, probes := b.(Prober)
	return Caps{Name: b.Name(), Probes: probes}
}

// Check is the one place that decides whether an engine runs a config:
// an experiment that probes (stages.Kind.Probes) needs an engine with a
// Prober, and every config must pass the engine's Supports.
func Check(c Caps, cfg stages.Config, spec *model.Spec) error {
	if cfg.Kind.Probes() && !c.Probes {
		return fmt.Errorf("%w: %s reads the activations of forward passes, which the %s engine does not offer", ErrUnsupported, cfg.Kind, c.Name)
	}
	if c.Supports != nil {
		return c.Supports(cfg, spec)
	}
	return nil
}

// ProberOf returns the Prober of the engine that runs cfg on b (b's
// choice for cfg when b is a Chooser), or why there is none.
func ProberOf(b Backend, cfg stages.Config) (Prober, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: no engine for %s", ErrUnsupported, cfg.Kind)
	}
	if ch, ok := b.(Chooser); ok {
		b = ch.For(cfg)
	}
	if p, ok := b.(Prober); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s reads the activations of forward passes, which the %s engine does not offer", ErrUnsupported, cfg.Kind, b.Name())
}
