package cpu

import (
	"fmt"
	"math"

	"speedrun/model"
	"speedrun/stages"
)

// optimizer is SGD with (Nesterov) momentum and coupled L2 weight decay in
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
// constant and differ slightly while it changes. We use the PyTorch form.
//
// BN biases form their own group when BNBiasLRMul/BNBiasWDDiv are set
// (p8.s6); frozen params are never updated. With Optimizer "lars" the
// step of each output channel (filter) is scaled by ‖w_c‖/(‖g_c‖+0.01)
// (post 6, E6.2; g is the loss gradient before weight decay).
type optimizer struct {
	lars     bool
	momentum float32
	nesterov bool
	batch    float64
	wd       float64
	groups   []group
	vel      [][]float32
}

// group is one param's multipliers.
type group struct {
	frozen       bool
	lrMul, wdMul float64
	rows         int // LARS: output channels (first dimension)
}

func newOptimizer(spec *model.Spec, t stages.Train) (*optimizer, error) {
	o := &optimizer{momentum: float32(t.Momentum), nesterov: t.Nesterov, batch: float64(t.BatchSize), wd: t.WeightDecay}
	switch t.Optimizer {
	case "sgd", "":
	case "lars":
		o.lars = true
	default:
		return nil, fmt.Errorf("train.optimizer %q: want \"sgd\" or \"lars\"", t.Optimizer)
	}
	if t.BatchSize <= 0 {
		return nil, fmt.Errorf("train.batch_size %d: must be > 0", t.BatchSize)
	}
	lrMul, wdDiv := t.BNBiasLRMul, t.BNBiasWDDiv
	if lrMul == 0 {
		lrMul = 1
	}
	if wdDiv == 0 {
		wdDiv = 1
	}
	for _, p := range spec.Params {
		g := group{frozen: p.Frozen || p.Role == model.RoleWhiten, lrMul: 1, wdMul: 1, rows: p.Shape[0]}
		if p.Role == model.RoleBNBias {
			g.lrMul, g.wdMul = lrMul, 1/wdDiv
		}
		o.groups = append(o.groups, g)
		var v []float32
		if !g.frozen {
			v = make([]float32, numel(p.Shape))
		}
		o.vel = append(o.vel, v)
	}
	return o, nil
}

// step applies one update with per-example learning rate lambda.
func (o *optimizer) step(params, grads [][]float32, lambda float64) {
	for p, g := range o.groups {
		if g.frozen {
			continue
		}
		lr := float32(lambda / o.batch * g.lrMul)
		wd := float32(o.wd * o.batch * g.wdMul)
		w, dw, v := params[p], grads[p], o.vel[p]
		if !o.lars {
			o.update(w, dw, v, lr, wd)
			continue
		}
		n := len(w) / g.rows
		for r := range g.rows {
			lo, hi := r*n, (r+1)*n
			ratio := norm(w[lo:hi]) / (norm(dw[lo:hi]) + 0.01)
			o.update(w[lo:hi], dw[lo:hi], v[lo:hi], lr*float32(ratio), wd)
		}
	}
}

func (o *optimizer) update(w, dw, v []float32, lr, wd float32) {
	rho := o.momentum
	dw, v = dw[:len(w)], v[:len(w)]
	for i := range w {
		g := dw[i] + wd*w[i]
		v[i] = rho*v[i] + g
		s := v[i]
		if o.nesterov {
			s = g + rho*v[i]
		}
		w[i] -= lr * s
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
