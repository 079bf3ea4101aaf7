package cpu

import (
	"fmt"

	"speedrun/cpu/kernels"
	"speedrun/model"
)

// Forward is backend.Prober's: a plain interpreter over the Spec, built
// for the post-7 histograms of a network at initialisation, outside the
// training graph. It holds each layer's output only until its last
// consumer has run.
func (b *Backend) Forward(spec *model.Spec, params [][]float32, x []float32, n int, visit func(layer int, y []float32) error) error {
	if len(params) != len(spec.Params) {
		return fmt.Errorf("forward %s: %d parameter tensors, want %d", spec.Name, len(params), len(spec.Params))
	}
	// Every layer runs on its own, fused or not: the histograms read a
	// BN's output before its activation.
	low, err := model.Lower(spec)
	if err != nil {
		return err
	}
	outs := make([][]float32, len(spec.Layers))
	for i, l := range spec.Layers {
		y, err := forwardLayer(spec, l, low.Layers[i], params, outs, x, n)
		if err != nil {
			return fmt.Errorf("forward %s: layer %s: %w", spec.Name, l.Name, err)
		}
		outs[i] = y
		if visit != nil {
			if err := visit(i, y); err != nil {
				return err
			}
		}
		for _, in := range l.Inputs {
			if cs := low.Layers[in].Consumers; cs[len(cs)-1] == i {
				outs[in] = nil
			}
		}
	}
	return nil
}

func forwardLayer(spec *model.Spec, l model.Layer, lo model.Lowering, params [][]float32, outs [][]float32, x []float32, n int) ([]float32, error) {
	if l.Op == model.OpInput {
		if len(x) != n*model.Numel(l.Out) {
			return nil, fmt.Errorf("input has %d floats, want %d x %v", len(x), n, l.Out)
		}
		return x, nil
	}
	if len(l.Inputs) == 0 {
		return nil, fmt.Errorf("op %s has no input", l.Op)
	}
	in := outs[l.Inputs[0]]
	xs := spec.Layers[l.Inputs[0]].Out
	y := make([]float32, n*model.Numel(l.Out))
	switch l.Op {
	case model.OpScale:
		for j, v := range in {
			y[j] = v * float32(l.Scale)
		}
	case model.OpFlatten:
		copy(y, in)
	case model.OpConv:
		c := l.Conv
		if c.Bias {
			return nil, fmt.Errorf("conv bias is not supported")
		}
		cv, err := kernels.NewConv(kernels.ConvShape{N: n, H: xs[1], W: xs[2], C: xs[0], K: c.Out, R: c.K, S: c.K, Stride: c.Stride, Pad: c.Pad})
		if err != nil {
			return nil, err
		}
		defer cv.Close()
		if err := cv.Forward(in, params[l.Params[0]], y); err != nil {
			return nil, err
		}
	case model.OpBN:
		if l.BN.Identity {
			copy(y, in)
			return y, nil
		}
		hw := 1
		if len(xs) == 3 {
			hw = xs[1] * xs[2]
		}
		c := xs[0]
		splits := 1
		if l.BN.Ghost > 0 {
			splits = n / l.BN.Ghost
		}
		mean, vr := make([]float32, splits*c), make([]float32, splits*c)
		s := kernels.BNShape{N: n, HW: hw, C: c, Ghost: l.BN.Ghost}
		if err := kernels.BNActForwardTrainRef(s, l.BN.Eps, kernels.Activation{Kind: kernels.ActIdentity}, in, params[l.Params[0]], params[l.Params[1]], y, mean, vr); err != nil {
			return nil, err
		}
	case model.OpAct:
		if err := kernels.ActForward(activation(lo.Act), in, y); err != nil {
			return nil, err
		}
	case model.OpMaxPool:
		if err := kernels.MaxPoolForward(in, n, xs[1], xs[2], xs[0], l.Pool.K, y, nil); err != nil {
			return nil, err
		}
	case model.OpAvgPool:
		if err := kernels.AvgPoolForward(in, n, xs[1], xs[2], xs[0], l.Pool.K, y); err != nil {
			return nil, err
		}
	case model.OpGlobalMaxPool:
		if err := kernels.GlobalMaxPoolForward(in, n, xs[1]*xs[2], xs[0], y, make([]int32, len(y))); err != nil {
			return nil, err
		}
	case model.OpGlobalAvgPool:
		if err := kernels.GlobalAvgPoolForward(in, n, xs[1]*xs[2], xs[0], y); err != nil {
			return nil, err
		}
	case model.OpAdd:
		b := outs[l.Inputs[1]]
		for j := range y {
			y[j] = in[j] + b[j]
		}
	case model.OpLinear:
		li := l.Linear
		if err := kernels.Sgemm(false, true, n, li.Out, li.In, 1, in, li.In, params[l.Params[0]], li.In, 0, y, li.Out); err != nil {
			return nil, err
		}
		if li.Bias {
			b := params[l.Params[1]]
			for r := range n {
				for j := range li.Out {
					y[r*li.Out+j] += b[j]
				}
			}
		}
	default:
		return nil, fmt.Errorf("op %q is not supported by the probe's forward pass", l.Op)
	}
	return y, nil
}

// Act is backend.Prober's: y = a(x) elementwise.
func (b *Backend) Act(a model.Act, x, y []float32) error {
	a, err := a.Lower()
	if err != nil {
		return err
	}
	return kernels.ActForward(activation(a), x, y)
}

// MatMul is backend.Prober's: c = a·bᵀ (transB) or a·b, row-major, on
// OpenBLAS.
func (b *Backend) MatMul(transB bool, m, n, k int, a, bm, c []float32) error {
	ldb := n
	if transB {
		ldb = k
	}
	return kernels.Sgemm(false, transB, m, n, k, 1, a, k, bm, ldb, 0, c, n)
}
