package train

import (
	"fmt"
	"slices"

	"speedrun/model"
	"speedrun/stages"
)

// Optimizer is the update rule of a run and its parameter groups, with
// every group's rate at every step: the one place that reads the
// recipe's units (stages.Train.Units) and schedules.
//
// The SGD update is PyTorch's (the Oct-2018 code's torch.optim.SGD), on
// the gradient of the loss summed over the batch:
//
//	g ← grad + wd·w;  v ← ρv + g;  step = g + ρv (Nesterov) or v;  w ← w − lr·step
//
// Page's later code hand-writes dw ← −λ(g + wd·w); v ← ρv + dw; w ← w + dw + ρv,
// which puts λ inside the momentum buffer: the two agree while λ is
// constant and differ slightly while it changes. The engines use the
// PyTorch form. In the blog's units (blog-stages.md §0) the step is λ/N
// and the decay coefficient WeightDecay·N, so the per-step shrink
// λ·WeightDecay does not depend on N; airbench's decoupled units are
// converted in rate.
//
// Without train.groups there are two groups: weights (conv and linear
// weights and biases, learnable BN scales) and BN biases, which p8.s6
// gives their own lr × BNBiasLRMul and wd / BNBiasWDDiv. train.groups
// gives each group its own schedule, momentum, span of epochs and rule:
// SGD, or Muon (airbench94_muon's conv filters: the engines renormalise
// each filter bank to norm sqrt(out) and step along the Newton-Schulz
// orthogonalisation of its Nesterov momentum). Whitening filters and
// frozen parameters are never updated. With LARS (post 6, E6.2) the step
// of each output channel (row) is scaled by ‖w_r‖/(‖g_r‖+0.01), g the
// loss gradient before weight decay.
type Optimizer struct {
	LARS bool
	// Momentum and Nesterov are the run's (a group may have its own
	// momentum).
	Momentum float64
	Nesterov bool
	// Groups are the parameter groups; StepRates fills one Rate per group.
	Groups []Group
	// Of is each Spec.Params entry's group index, or Frozen.
	Of []int

	batch, wd float64
	units     string
	schedule  string
	lr        []stages.Knot // the run's schedule
	steps     int           // per epoch
	total     int           // of the run
}

// Rule is how a group's parameters are updated.
type Rule int

const (
	// RuleSGD is the SGD update above.
	RuleSGD Rule = iota
	// RuleMuon is Muon (airbench94_muon): v ← ρv + g; u = g + ρv
	// (Nesterov); w ← w·sqrt(out)/‖w‖; w ← w − lr·NS(u), NS 3
	// Newton-Schulz iterations on u reshaped to out × (in·k·k) (MuonNS).
	// It has no weight decay.
	RuleMuon
)

// Group is one parameter group.
type Group struct {
	Name string
	Rule Rule
	// Momentum is the group's ρ; Nesterov the run's.
	Momentum float64
	Nesterov bool
	// LRMul and WDMul multiply the step and (in the blog's units) the
	// decay.
	LRMul, WDMul float64
	// lr is the group's own schedule (nil: the run's); until > 0 stops
	// the group after that many steps (its rate is zero from then on).
	lr    []stages.Knot
	until int
}

// Frozen marks a parameter no update touches (Optimizer.Of).
const Frozen = -1

// The default groups (no train.groups), in Optimizer.Groups order.
const (
	GroupWeights = iota
	GroupBNBias
)

// MuonNS is the Newton-Schulz iteration of Muon: X ← X/(‖X‖_F + Eps),
// then Steps times A = X Xᵀ, X ← aX + (bA + cA²)X, X transposed first
// when it has more rows than columns (airbench94_muon's
// zeropower_via_newtonschulz5).
var MuonNS = struct {
	A, B, C, Eps float64
	Steps        int
}{3.4445, -4.7750, 2.0315, 1e-7, 3}

// NewOptimizer returns the optimizer of t for spec's parameters, with
// steps optimizer steps per epoch (0 when only Rates is used).
func NewOptimizer(spec *model.Spec, t stages.Train, steps int) (Optimizer, error) {
	o := Optimizer{Momentum: t.Momentum, Nesterov: t.Nesterov, batch: float64(t.BatchSize), wd: t.WeightDecay,
		units: t.Units, schedule: t.Schedule, lr: t.LR, steps: steps, total: stages.RunSteps(steps, t.Epochs)}
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
	o.Of = make([]int, len(spec.Params))
	if len(t.Groups) == 0 {
		lrMul, wdDiv := t.BNBiasLRMul, t.BNBiasWDDiv
		if lrMul == 0 {
			lrMul = 1
		}
		if wdDiv == 0 {
			wdDiv = 1
		}
		o.Groups = []Group{
			GroupWeights: {Name: "weights", Momentum: t.Momentum, Nesterov: t.Nesterov, LRMul: 1, WDMul: 1},
			GroupBNBias:  {Name: "bn_bias", Momentum: t.Momentum, Nesterov: t.Nesterov, LRMul: lrMul, WDMul: 1 / wdDiv},
		}
		for i, p := range spec.Params {
			o.Of[i] = ParamGroup(p)
		}
		return o, nil
	}
	for _, g := range t.Groups {
		og := Group{Name: g.Params, Momentum: t.Momentum, Nesterov: t.Nesterov, LRMul: 1, WDMul: 1, lr: g.LR}
		if g.Rule == "muon" {
			og.Rule = RuleMuon
		}
		if g.Momentum > 0 {
			og.Momentum = g.Momentum
		}
		if g.LRMul > 0 {
			og.LRMul = g.LRMul
		}
		if g.Epochs > 0 {
			og.until = stages.RunSteps(steps, g.Epochs)
		}
		o.Groups = append(o.Groups, og)
	}
	layers := spec.ParamLayers()
	for i, p := range spec.Params {
		o.Of[i] = Frozen
		if !p.Trainable() {
			continue
		}
		op := spec.Layers[layers[i]].Op
		for g, tg := range t.Groups {
			if groupHolds(tg.Params, p, op) {
				o.Of[i] = g
				break
			}
		}
		if o.Of[i] == Frozen {
			return Optimizer{}, fmt.Errorf("train.groups: parameter %s is in no group (add {params = \"weights\"} last)", p.Name)
		}
		if o.Groups[o.Of[i]].Rule == RuleMuon && len(p.Shape) != 4 {
			return Optimizer{}, fmt.Errorf("train.groups: Muon updates conv filters, not %s %v", p.Name, p.Shape)
		}
	}
	return o, nil
}

// groupHolds reports whether train.groups' params name matches parameter
// p of a layer of op.
func groupHolds(name string, p model.Param, op model.Op) bool {
	switch name {
	case "weights":
		return true
	case "bn_bias":
		return p.Role == model.RoleBNBias
	case "whiten_bias":
		return p.Role == model.RoleWhitenBias
	case "head":
		return p.Role == model.RoleWeight && op == model.OpLinear
	case "filters":
		return p.Role == model.RoleWeight && op == model.OpConv
	}
	return false
}

// ParamGroup is the default group a parameter belongs to, or Frozen.
func ParamGroup(p model.Param) int {
	switch {
	case !p.Trainable():
		return Frozen
	case p.Role == model.RoleBNBias:
		return GroupBNBias
	}
	return GroupWeights
}

// Steps is the run's optimizer steps: ceil(steps per epoch × epochs).
func (o Optimizer) Steps() int { return o.total }

// Rates fills dst (one per group) with the update of a step at
// per-example learning rate lambda in the blog's units: lr = λ/N and
// wd = WeightDecay·N, each times its group's multiplier, N the configured
// batch size (a short last batch keeps it).
func (o Optimizer) Rates(lambda float64, dst []Rate) {
	for g, m := range o.Groups {
		dst[g] = Rate{LR: float32(lambda / o.batch * m.LRMul), WD: float32(o.wd * o.batch * m.WDMul)}
	}
}

// StepRates fills dst with every group's rate at step i (0-based) of
// epoch e (1-based), step k (0-based) of the run, and returns the run
// schedule's value there (the epoch record's lr).
func (o Optimizer) StepRates(k, e, i int, dst []Rate) float64 {
	run := o.at(o.lr, o.total, k, e, i)
	for g, m := range o.Groups {
		switch {
		case m.until > 0 && k >= m.until:
			dst[g] = Rate{}
		case m.lr == nil:
			dst[g] = o.rate(m, run, peak(o.lr))
		default:
			total := o.total
			if m.until > 0 {
				total = m.until
			}
			dst[g] = o.rate(m, o.at(m.lr, total, k, e, i), peak(m.lr))
		}
	}
	return run
}

// at reads a schedule of a span of total steps at step k (step i of epoch
// e): under "run" the knots are fractions of the span, else epochs read
// at stages.StepEpoch.
func (o Optimizer) at(kn []stages.Knot, total, k, e, i int) float64 {
	if o.schedule == "run" {
		return stages.InterpRun(kn, k, total)
	}
	return stages.InterpLR(kn, stages.StepEpoch(o.schedule, e, i, o.steps))
}

// rate converts group m's schedule value x (whose schedule peaks at pk)
// into the engines' Rate, by the run's units (stages.Train.Units):
//   - the blog's: lr = x/N × LRMul, wd = WeightDecay·N × WDMul;
//   - "airbench": lr = x × LRMul / (1024 (1 + 1/(1−ρ))), ρ the group's
//     momentum (airbench's kilostep scale);
//   - "torch": lr = x × LRMul;
//
// and in both decoupled units wd = WeightDecay·N / (pk × LRMul): PyTorch's
// weight_decay = wd/lr of the group's base lr, so that the decay per
// step, lr·wd, is the same whatever the multiplier (airbench94's
// wd/lr_biases for the ×64 BN biases) and follows the schedule. Muon has
// no weight decay.
func (o Optimizer) rate(m Group, x, pk float64) Rate {
	if o.units == "" {
		return Rate{LR: float32(x / o.batch * m.LRMul), WD: float32(o.wd * o.batch * m.WDMul)}
	}
	lr := x * m.LRMul
	if o.units == "airbench" {
		lr /= 1024 * (1 + 1/(1-m.Momentum))
	}
	if m.Rule == RuleMuon {
		return Rate{LR: float32(lr)}
	}
	var wd float64
	if pk > 0 {
		wd = o.wd * o.batch / (pk * m.LRMul)
	}
	return Rate{LR: float32(lr), WD: float32(wd)}
}

// peak is a schedule's largest value.
func peak(kn []stages.Knot) float64 {
	p := 0.0
	for _, k := range kn {
		p = max(p, k.LR)
	}
	return p
}

// HasRule reports whether some group updates with r.
func (o Optimizer) HasRule(r Rule) bool {
	return slices.ContainsFunc(o.Groups, func(g Group) bool { return g.Rule == r })
}
