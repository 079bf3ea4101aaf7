package model

import "fmt"

// Lowered is a Spec lowered once for every engine: which activations run
// inside the BN before them, what each layer applies, which layers share
// their input's buffer, which need a gradient, and each output's layout.
// The CPU graph compiler, the CUDA plan and the CPU probe's interpreter
// render it; none of them re-derives these decisions.
type Lowered struct {
	*Spec
	Layers []Lowering // by Spec.Layers index
}

// Lowering is one layer's lowering.
type Lowering struct {
	// Act is what the layer applies after its op: an Act layer's own
	// activation, and for a BN the activation fused into it; identity
	// otherwise.
	Act Act
	// Fuses is, for a BN, the Act layer it runs fused (-1: none).
	Fuses int
	// Fused marks an Act layer that its BN runs: it has no work and no
	// buffer of its own.
	Fused bool
	// Owner is the layer whose output buffer this layer's output is:
	// itself, or for a fused Act, a flatten (a view) or an identity BN,
	// its input's owner.
	Owner int
	// NeedsGrad marks an output that depends on a trainable parameter,
	// so training computes its gradient.
	NeedsGrad bool
	// Consumers are the layers that read this output, in order.
	Consumers []int
	// NHWC is the per-example output layout: H, W, C (1, 1, C for a
	// vector).
	NHWC [3]int
}

// Trainable reports whether training updates p: not frozen, and not the
// whitening filters (set from the data).
func (p Param) Trainable() bool { return !p.Frozen && p.Role != RoleWhiten }

// ParamLayers maps each parameter to the layer that holds it.
func (s *Spec) ParamLayers() []int {
	out := make([]int, len(s.Params))
	for i, l := range s.Layers {
		for _, p := range l.Params {
			out[p] = i
		}
	}
	return out
}

// Lower decides, for every engine, how spec runs. A BN fuses the
// activation that is its only consumer and comes right after it (the
// engines' buffers hold a fused pair in one place).
func Lower(spec *Spec) (*Lowered, error) {
	if spec == nil {
		return nil, fmt.Errorf("lower: nil spec")
	}
	n := len(spec.Layers)
	lw := &Lowered{Spec: spec, Layers: make([]Lowering, n)}
	for i, l := range spec.Layers {
		lw.Layers[i].Fuses, lw.Layers[i].Owner = -1, i
		lw.Layers[i].Act = Act{Kind: ActIdentity}
		for _, in := range l.Inputs {
			if in < 0 || in >= i {
				return nil, fmt.Errorf("lower %s: layer %s reads layer %d: not before it", spec.Name, l.Name, in)
			}
			lw.Layers[in].Consumers = append(lw.Layers[in].Consumers, i)
		}
	}
	for i, l := range spec.Layers {
		lo := &lw.Layers[i]
		switch len(l.Out) {
		case 3:
			lo.NHWC = [3]int{l.Out[1], l.Out[2], l.Out[0]}
		case 1:
			lo.NHWC = [3]int{1, 1, l.Out[0]}
		default:
			return nil, fmt.Errorf("lower %s: layer %s: output shape %v: want C,H,W or C", spec.Name, l.Name, l.Out)
		}
		for _, p := range l.Params {
			lo.NeedsGrad = lo.NeedsGrad || spec.Params[p].Trainable()
		}
		for _, in := range l.Inputs {
			lo.NeedsGrad = lo.NeedsGrad || lw.Layers[in].NeedsGrad
		}
		switch l.Op {
		case OpAct:
			if l.Act == nil {
				return nil, fmt.Errorf("lower %s: layer %s: an activation layer without an activation", spec.Name, l.Name)
			}
			a, err := l.Act.Lower()
			if err != nil {
				return nil, fmt.Errorf("lower %s: layer %s: %w", spec.Name, l.Name, err)
			}
			lo.Act = a
			if in := l.Inputs[0]; lw.Layers[in].Fuses == i {
				lo.Fused, lo.Owner = true, lw.Layers[in].Owner
			}
		case OpBN:
			if l.BN.Identity {
				lo.Owner = lw.Layers[l.Inputs[0]].Owner
				break
			}
			if cs := lo.Consumers; len(cs) == 1 && cs[0] == i+1 {
				if next := spec.Layers[i+1]; next.Op == OpAct && len(next.Inputs) == 1 && next.Act != nil {
					if a, err := next.Act.Lower(); err == nil && a.Fusable() {
						lo.Fuses, lo.Act = i+1, a
					}
				}
			}
		case OpFlatten:
			lo.Owner = lw.Layers[l.Inputs[0]].Owner
		}
	}
	return lw, nil
}

// Lower checks that every engine has activation a; an empty kind is the
// identity.
func (a Act) Lower() (Act, error) {
	switch a.Kind {
	case "":
		a.Kind = ActIdentity
		return a, nil
	case ActIdentity, ActReLU, ActCELU, ActShiftScaleReLU, ActGELU:
		return a, nil
	case ActSoftplus:
		if !(a.Beta > 0) || !(a.Threshold > 0) {
			return a, fmt.Errorf("softplus beta %v, threshold %v: want both > 0", a.Beta, a.Threshold)
		}
		return a, nil
	}
	return a, fmt.Errorf("unknown activation %q", a.Kind)
}

// Fusable reports whether a BN runs activation a fused: the fused BN
// kernels (the CPU's vectorised C, the GPU's) implement the identity,
// ReLU, CELU and the shift-scale ReLU; softplus, used by post 7's
// analyses only, runs as a layer of its own.
func (a Act) Fusable() bool { return a.Kind != ActSoftplus }
