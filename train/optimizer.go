package train

import (
	"fmt"

	"speedrun/model"
	"speedrun/stages"
)

// Optimizer is SGD with (Nesterov) momentum and coupled L2 weight decay in
// the blog's conventions (blog-stages.md §0): the loss is summed over the
// batch, the step is λ/N and the decay coefficient WeightDecay·N, so the
// per-step shrink λ·WeightDecay does not depend on N.
//
// The update is PyTorch's SGD (the Oct-2018 code's torch.optim.SGD):
//
//	g ← grad + wd·w;  v ← ρv + g;  step = g + ρv (Nesterov) or v;  w ← w − lr·step
//
// Page's later code hand-writes dw ← −λ(g + wd·w); v ← ρv + dw; w ← w + dw + ρv,
// which puts λ inside the momentum buffer: the two agree while λ is
// constant and differ slightly while it changes. The engines use the
// PyTorch form.
//
// Parameters fall into two groups: weights (conv and linear weights and
// biases, learnable BN scales) and BN biases, which p8.s6 gives their own
// lr × BNBiasLRMul and wd / BNBiasWDDiv. Whitening filters and frozen
// parameters are never updated. With LARS (post 6, E6.2) the step of each
// output channel (row) is scaled by ‖w_r‖/(‖g_r‖+0.01), g the loss
// gradient before weight decay.
type Optimizer struct {
	LARS     bool
	Momentum float64
	Nesterov bool
	// Groups are the parameter groups; Rates fills one Rate per group.
	Groups []Group
	// Of is each Spec.Params entry's group index, or Frozen.
	Of []int

	batch, wd float64
}

// Group is one parameter group's multipliers of the step and the decay.
type Group struct {
	Name         string
	LRMul, WDMul float64
}

// Frozen marks a parameter no update touches (Optimizer.Of).
const Frozen = -1

// The groups of every optimizer, in Optimizer.Groups order.
const (
	GroupWeights = iota
	GroupBNBias
)

// NewOptimizer returns the optimizer of t for spec's parameters.
func NewOptimizer(spec *model.Spec, t stages.Train) (Optimizer, error) {
	o := Optimizer{Momentum: t.Momentum, Nesterov: t.Nesterov, batch: float64(t.BatchSize), wd: t.WeightDecay}
	switch t.Optimizer {
	case "sgd", "":
	case "lars":
		o.LARS = true
	default:
		return Optimizer{}, fmt.Errorf("train.optimizer %q: want \"sgd\" or \"lars\"", t.Optimizer)
	}
	if t.BatchSize <= 0 {
		return Optimizer{}, fmt.Errorf("train.batch_size %d: must be > 0", t.BatchSize)
	}
	lrMul, wdDiv := t.BNBiasLRMul, t.BNBiasWDDiv
	if lrMul == 0 {
		lrMul = 1
	}
	if wdDiv == 0 {
		wdDiv = 1
	}
	o.Groups = []Group{
		GroupWeights: {Name: "weights", LRMul: 1, WDMul: 1},
		GroupBNBias:  {Name: "bn_bias", LRMul: lrMul, WDMul: 1 / wdDiv},
	}
	o.Of = make([]int, len(spec.Params))
	for i, p := range spec.Params {
		o.Of[i] = ParamGroup(p)
	}
	return o, nil
}

// ParamGroup is the group a parameter belongs to, or Frozen.
func ParamGroup(p model.Param) int {
	switch {
	case p.Frozen || p.Role == model.RoleWhiten:
		return Frozen
	case p.Role == model.RoleBNBias:
		return GroupBNBias
	}
	return GroupWeights
}

// Rates fills dst (one per group) with the update of a step at
// per-example learning rate lambda: lr = λ/N and wd = WeightDecay·N, each
// times its group's multiplier, N the configured batch size (a short last
// batch keeps it).
func (o Optimizer) Rates(lambda float64, dst []Rate) {
	for g, m := range o.Groups {
		dst[g] = Rate{LR: float32(lambda / o.batch * m.LRMul), WD: float32(o.wd * o.batch * m.WDMul)}
	}
}
