package cuda

import (
	"fmt"

	"speedrun/cuda/launch"
	"speedrun/model"
	"speedrun/train"
)

// Plan is the first stage of compiling a model.Spec for the GPU: where
// every parameter, running statistic and activation lives, and which
// kernel or library call runs each layer. It is plain data, so it is
// tested without a GPU; the engine that executes it is not written yet.
//
// Parameters share one flat fp32 buffer ordered by optimizer group, so one
// SGD launch covers each group and one EMA launch covers all of it.
type Plan struct {
	// Low is the spec lowered for every engine: fusions, activations,
	// shared buffers and needed gradients.
	Low    *model.Lowered
	Batch  int
	Params []ParamSlot // by Spec.Params index
	// Groups are contiguous ranges of the flat parameter buffer, in order:
	// the optimizer's groups (train.Optimizer.Groups), then the frozen
	// parameters (Frozen()).
	Groups   []Range
	ParamLen int // floats in the flat parameter buffer
	// Stats holds every BN layer's per-split running mean and variance,
	// also one flat fp32 buffer (the EMA covers it too).
	StatsLen int
	Layers   []LayerPlan // by Spec.Layers index
	// ActBytes is the activation arena: every layer's output and its
	// gradient, each 256-byte aligned.
	ActBytes int64
}

// The default optimizer groups of the flat parameter buffer
// (train.Optimizer's, so a group's Rate applies to its range).
const (
	GroupWeights = train.GroupWeights // conv/linear weights and biases, learnable BN scales
	GroupBNBias  = train.GroupBNBias  // BN biases (p8.s6: lr x BNBiasLRMul, wd / BNBiasWDDiv)
)

// Frozen is the group index of the parameters no update touches
// (whitening filters, frozen BN scales): the last range.
func (pl *Plan) Frozen() int { return len(pl.Groups) - 1 }

// Range is [Off, Off+Len) in floats.
type Range struct{ Off, Len int }

// ParamSlot places one parameter.
type ParamSlot struct {
	Name  string
	Group int
	Range
}

// Kernel names what runs a layer.
type Kernel string

// Layer kernels.
const (
	KInput      Kernel = "augment"          // augment_* writes the batch
	KConv       Kernel = "cudnn-conv"       // cuDNN forward / backward data / backward filter
	KBNAct      Kernel = "bn+act"           // bn_stats, bn_act_fwd with the next Act fused
	KBN         Kernel = "bn"               // bn_stats, bn_act_fwd with identity
	KAct        Kernel = "act"              // a standalone activation (identity BN)
	KFused      Kernel = "fused-into-bn"    // an Act folded into the preceding BN
	KMaxPool    Kernel = "maxpool"          // maxpool_fwd/bwd, K x K with stride K
	KGlobalMax  Kernel = "gmaxpool"         // gmaxpool_fwd/bwd
	KGlobalAvg  Kernel = "gavgpool"         // gavgpool_fwd/bwd
	KConcat     Kernel = "concat"           // cols_copy per input; backward splits
	KAdd        Kernel = "add"              // add_*; backward fans the gradient out
	KLinear     Kernel = "cublas-gemm"      // GemmEx (+ bias_rows, col_sum for a bias)
	KScale      Kernel = "scale"            // scale_<x>_<y>
	KIdentityBN Kernel = "identity-bn"      // a BN marked Identity: a no-op
	KView       Kernel = "view"             // flatten: N x 1 x 1 x C is already N x C
	KUnplanned  Kernel = "unsupported-here" // ops the GPU engine does not run yet
)

// LayerPlan is one layer's placement.
type LayerPlan struct {
	Name   string
	Kernel Kernel
	// Shape is the output per batch, NHWC: N, H, W, C (N, 1, 1, C for 2-D).
	Shape [4]int
	// Out and Grad are byte offsets of the output and its gradient in the
	// activation arena; Bytes is the size of each.
	Out, Grad, Bytes int64
	// F32 marks an output kept in fp32 whatever the activation precision:
	// the linear head's, and the logits (the loss reads fp32).
	F32 bool
	// Stats is the offset (floats) of a BN layer's running mean in the
	// stats buffer; its variance follows after Splits*C floats.
	Stats  int
	Splits int
}

// NewPlan lays out spec for batches of batch images with activations of
// precision p, its parameters grouped as opt groups them (opt.Of; a zero
// Optimizer: train.ParamGroup's default two groups). Ghost BN needs batch
// to be a multiple of its ghost size.
func NewPlan(spec *model.Spec, opt train.Optimizer, batch int, p launch.Prec) (*Plan, error) {
	if batch < 1 {
		return nil, fmt.Errorf("cuda: plan %s: batch %d: want >= 1", spec.Name, batch)
	}
	low, err := model.Lower(spec)
	if err != nil {
		return nil, fmt.Errorf("cuda: plan: %w", err)
	}
	ngroups := len(opt.Groups)
	of := opt.Of
	if of == nil {
		ngroups, of = 2, make([]int, len(spec.Params))
		for i, prm := range spec.Params {
			of[i] = train.ParamGroup(prm)
		}
	}
	pl := &Plan{Low: low, Batch: batch, Params: make([]ParamSlot, len(spec.Params)), Layers: make([]LayerPlan, len(spec.Layers)),
		Groups: make([]Range, ngroups+1)}
	groupOf := func(i int) int {
		if of[i] == train.Frozen {
			return ngroups
		}
		return of[i]
	}
	// Parameters: group by optimizer group, keeping Spec order inside each.
	for g := range pl.Groups {
		pl.Groups[g].Off = pl.ParamLen
		for i, prm := range spec.Params {
			if groupOf(i) != g {
				continue
			}
			n := 1
			for _, d := range prm.Shape {
				n *= d
			}
			pl.Params[i] = ParamSlot{Name: prm.Name, Group: g, Range: Range{Off: pl.ParamLen, Len: n}}
			pl.ParamLen += n
		}
		pl.Groups[g].Len = pl.ParamLen - pl.Groups[g].Off
	}
	for i, l := range spec.Layers {
		lp := &pl.Layers[i]
		lp.Name = l.Name
		hwc := low.Layers[i].NHWC
		lp.Shape = [4]int{batch, hwc[0], hwc[1], hwc[2]}
		lp.Kernel, err = layerKernel(low, i)
		if err != nil {
			return nil, fmt.Errorf("cuda: plan %s: layer %d (%s): %w", spec.Name, i, l.Name, err)
		}
		if l.Op == model.OpBN && !l.BN.Identity {
			lp.Splits = 1
			if l.BN.Ghost > 0 {
				if batch%l.BN.Ghost != 0 {
					return nil, fmt.Errorf("cuda: plan %s: layer %s: batch %d is not a multiple of ghost batch %d", spec.Name, l.Name, batch, l.BN.Ghost)
				}
				lp.Splits = batch / l.BN.Ghost
			}
			lp.Stats = pl.StatsLen
			pl.StatsLen += 2 * lp.Splits * l.BN.C
		}
		// Fused activations, views and identity BNs use their input's
		// buffers (model.Lowering.Owner); every other layer gets its own
		// output and gradient.
		if low.Layers[i].Owner != i {
			prev := pl.Layers[l.Inputs[0]]
			lp.Out, lp.Grad, lp.Bytes, lp.F32 = prev.Out, prev.Grad, prev.Bytes, prev.F32
			continue
		}
		switch {
		case l.Op == model.OpLinear:
			lp.F32 = true
		case l.Op == model.OpScale || l.Op == model.OpConcat:
			lp.F32 = pl.Layers[l.Inputs[0]].F32 || i == len(spec.Layers)-1
		}
		for _, in := range l.Inputs {
			if l.Op == model.OpConcat && pl.Layers[in].F32 != lp.F32 {
				return nil, fmt.Errorf("cuda: plan %s: layer %s: concat of fp32 and activation-precision inputs", spec.Name, l.Name)
			}
		}
		if i == len(spec.Layers)-1 && !lp.F32 {
			return nil, fmt.Errorf("cuda: plan %s: the logits (%s, %s) must come from a linear layer or a scale", spec.Name, l.Name, l.Op)
		}
		elem := int64(p.Bytes())
		if lp.F32 {
			elem = 4
		}
		lp.Bytes = int64(lp.Shape[0]*lp.Shape[1]*lp.Shape[2]*lp.Shape[3]) * elem
		lp.Out = pl.ActBytes
		pl.ActBytes += align256(lp.Bytes)
		lp.Grad = pl.ActBytes
		pl.ActBytes += align256(lp.Bytes)
	}
	return pl, nil
}

func align256(n int64) int64 { return (n + 255) &^ 255 }

// layerKernel picks what runs layer i of the lowered spec: a BN runs the
// activation it fuses, which becomes KFused.
func layerKernel(low *model.Lowered, i int) (Kernel, error) {
	l, lo := low.Spec.Layers[i], low.Layers[i]
	switch l.Op {
	case model.OpInput:
		return KInput, nil
	case model.OpConv:
		return KConv, nil
	case model.OpBN:
		switch {
		case l.BN.Identity:
			return KIdentityBN, nil
		case lo.Fuses >= 0:
			return KBNAct, nil
		}
		return KBN, nil
	case model.OpAct:
		if lo.Fused {
			return KFused, nil
		}
		return KAct, nil
	case model.OpMaxPool:
		// H and W need not be multiples of K: the pool floors, as
		// PyTorch's (airbench94's 31 -> 15), and the engine clears the
		// rows and columns no window reaches before the backward.
		if in := low.Spec.Layers[l.Inputs[0]].Out; len(in) != 3 || l.Pool.K < 1 || in[1] < l.Pool.K || in[2] < l.Pool.K {
			return KUnplanned, fmt.Errorf("max pool %dx%d of %v: the input is smaller than the window", l.Pool.K, l.Pool.K, in)
		}
		return KMaxPool, nil
	case model.OpGlobalMaxPool:
		return KGlobalMax, nil
	case model.OpGlobalAvgPool:
		return KGlobalAvg, nil
	case model.OpConcat:
		for _, in := range l.Inputs {
			if o := low.Spec.Layers[in].Out; len(o) == 3 && (o[1] != l.Out[1] || o[2] != l.Out[2]) {
				return KUnplanned, fmt.Errorf("concat of %v into %v: inputs must share H and W", o, l.Out)
			}
		}
		return KConcat, nil
	case model.OpAdd:
		return KAdd, nil
	case model.OpLinear:
		return KLinear, nil
	case model.OpScale:
		return KScale, nil
	case model.OpFlatten:
		return KView, nil
	}
	return KUnplanned, fmt.Errorf("op %q has no GPU kernel yet", l.Op)
}

// actCode renders a lowered activation as the kernels' act code.
func actCode(a model.Act) int {
	switch a.Kind {
	case model.ActReLU:
		return 1
	case model.ActCELU:
		return 2
	case model.ActShiftScaleReLU:
		return 3
	case model.ActGELU:
		return 4
	}
	return 0
}
