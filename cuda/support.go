package cuda

import (
	"fmt"

	"speedrun/cuda/launch"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// Supports reports whether the GPU engine can train cfg's network. Its
// error wraps ErrTrainUnsupported, so a caller can fall back to the CPU
// engine with errors.Is. The engine covers every image network of the
// registry: convs with or without bias, BN (plain, ghost or identity)
// with its activation fused or standalone (ReLU, CELU, GELU), K x K max
// pooling (floored), global max and mean pooling, channel concat,
// residual adds, a linear head with or without bias, and scales (of
// images or logits); SGD (per-group rates and momenta), per-filter LARS
// and Muon on filter banks no taller than wide, and per-layer statistics
// (analysis.log_every) through Observer.Layers. Post 7's softplus and
// KL-to-uniform loss (E7.5) are the CPU engine's.
func Supports(cfg stages.Config, spec *model.Spec) error {
	un := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrTrainUnsupported, fmt.Sprintf(format, a...))
	}
	tc := cfg.Train
	if spec == nil {
		return un("no network spec")
	}
	if tc.Optimizer != "" && tc.Optimizer != "sgd" && tc.Optimizer != "lars" {
		return un("optimizer %q (the GPU engine has SGD and LARS)", tc.Optimizer)
	}
	if len(spec.Input) != 3 || spec.Input[0] != 3 || spec.Input[1] != 32 || spec.Input[2] != 32 {
		return un("input %v: want 3x32x32 images", spec.Input)
	}
	if tc.BatchSize <= 0 {
		return un("batch size %d", tc.BatchSize)
	}
	if tc.KLUniform != 0 {
		// Post 7's E7.5 models only; they train on the CPU.
		return un("train.kl_uniform %v (the GPU loss kernel is cross entropy with label smoothing)", tc.KLUniform)
	}
	for _, l := range spec.Layers {
		if l.Op == model.OpAct && l.Act != nil && l.Act.Kind == model.ActSoftplus {
			return un("layer %s: softplus has no GPU kernel", l.Name)
		}
	}
	opt, err := train.NewOptimizer(spec, tc, 0)
	if err != nil {
		return un("%v", err)
	}
	pl, err := NewPlan(spec, opt, tc.BatchSize, launch.F32)
	if err != nil {
		return un("%v", err)
	}
	for p, g := range opt.Of {
		if g == train.Frozen || opt.Groups[g].Rule != train.RuleMuon {
			continue
		}
		if sh := spec.Params[p].Shape; sh[0] > pl.Params[p].Len/sh[0] {
			return un("Muon on %s %v: the engine's Newton-Schulz takes banks no taller than wide", spec.Params[p].Name, sh)
		}
	}
	last := len(spec.Layers) - 1
	for i, l := range spec.Layers {
		lp := pl.Layers[i]
		switch lp.Kernel {
		case KInput, KBNAct, KBN, KFused, KAct, KIdentityBN, KView, KMaxPool, KGlobalMax, KGlobalAvg, KConcat, KAdd, KScale:
		case KConv:
		case KLinear:
			if in := spec.Layers[l.Inputs[0]]; len(in.Out) != 1 {
				return un("layer %s: linear on a %v input", l.Name, in.Out)
			}
		default:
			return un("layer %s: %s (%s) has no GPU path yet", l.Name, l.Op, lp.Kernel)
		}
		if l.Op == model.OpBN && l.BN.Ghost > 0 && !tc.DropLast {
			// The short last batch would have fewer ghost splits than the
			// running stats (the CPU engine refuses it too).
			return un("layer %s: ghost BN needs drop_last", l.Name)
		}
	}
	if k := pl.Layers[last].Kernel; k != KLinear && k != KScale {
		return un("the last layer is %s, want the linear head or its scale", k)
	}
	if spec.Layers[last].Out[0] != spec.Classes {
		return un("logits %v for %d classes", spec.Layers[last].Out, spec.Classes)
	}
	return nil
}
