package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
)

// convOp is a 2-D convolution y = conv(x, w) (x NHWC, w OIHW) over a
// planned kernels.Conv. Its backward is two ops, one per input, so a
// frozen weight or an input that needs no gradient costs nothing.
type convOp struct {
	base
	k           *kernels.Conv
	y           buffer
	needDX      bool      // the input depends on a trainable parameter
	trainW      bool      // the weight is trainable
	bias        bool      // a third input: a per-channel bias
	trainB      bool      // the bias is trainable
	inOp        *convInOp // with x16: makes the bf16 x that the conv reads
	dataOp      *convDataOp
	weightsOp   *convWeightsOp
	biasOp      *convBiasOp
	shapeOfX    tensor.Shape
	shapeOfW    tensor.Shape
	forwardOnly bool
}

// newConvOp makes a conv of shape s; with bias its third input is a
// per-channel bias added to the output (airbench94's whitening conv),
// whose gradient is the sum of the output gradient's rows. With x16 its
// input is the bf16 x made by op.inOp, which the forward and the weight
// gradient read as it is. With dy16 its output gradient arrives in bf16
// (gradBF16), which its backward passes read as they are.
func (c *compiler) newConvOp(s kernels.ConvShape, needDX, trainW, bias, trainB, x16, dy16 bool) (*convOp, error) {
	if dy16 && (bias || c.conv != kernels.ConvOneDNNBF16) {
		return nil, fmt.Errorf("conv %v: a bf16 output gradient needs the bf16 convolutions and no bias", s)
	}
	if x16 && c.conv != kernels.ConvOneDNNBF16 {
		return nil, fmt.Errorf("conv %v: a bf16 input needs the bf16 convolutions", s)
	}
	k, err := kernels.NewConvLib(s, c.conv)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, k.Close)
	yShape := tensor.Shape{s.N, s.OutH(), s.OutW(), s.K}
	ranks := []int{4, 4}
	if bias {
		ranks = append(ranks, 1)
	}
	op := &convOp{base: c.base("conv", ranks, yShape), k: k, needDX: needDX, trainW: trainW, bias: bias, trainB: bias && trainB,
		shapeOfX: tensor.Shape{s.N, s.H, s.W, s.C}, shapeOfW: tensor.Shape{s.K, s.C, s.R, s.S}}
	if op.trainB {
		op.biasOp = &convBiasOp{base: c.base("conv.bwd_bias", []int{4}, tensor.Shape{s.K}), db: newBuffer(tensor.Shape{s.K}),
			part: make([]float64, kernels.BiasGradScratch(s.K))}
	}
	c.plan(op, &op.y, yShape)
	if x16 {
		op.in16 = []bool{true}
		op.inOp = &convInOp{base: c.base("conv.in_bf16", []int{4}, op.shapeOfX), k: k, needDX: needDX}
		op.inOp.out16 = true
		c.planAs(op.inOp, &op.inOp.x16, op.shapeOfX, true)
	}
	if needDX {
		op.dataOp = &convDataOp{base: c.base("conv.bwd_data", []int{4, 4}, op.shapeOfX), k: k}
		c.plan(op.dataOp, &op.dataOp.dx, op.shapeOfX)
		if dy16 {
			op.dataOp.in16 = []bool{true, false}
		}
	}
	if trainW {
		op.weightsOp = &convWeightsOp{base: c.base("conv.bwd_weights", []int{4, 4}, op.shapeOfW), k: k, dw: newBuffer(op.shapeOfW)}
		op.weightsOp.in16 = []bool{x16, dy16}
	}
	return op, nil
}

func (op *convOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if x16 := op.scratch16[0]; x16 != nil {
		err = op.k.ForwardBF16(x16, in[1], op.y.data)
	} else {
		err = op.k.Forward(in[0], in[1], op.y.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if op.bias {
		if err := kernels.AddBias(op.y.data, in[2]); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return op.y.t, nil
}

func (op *convOp) DiffWRT(int) []bool {
	if op.bias {
		return []bool{op.needDX, op.trainW, op.trainB}
	}
	return []bool{op.needDX, op.trainW}
}

func (op *convOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, len(in))
	if op.trainB {
		var err error
		if res[2], err = gorgonia.ApplyOp(op.biasOp, grad); err != nil {
			return nil, err
		}
	}
	var err error
	if op.needDX {
		if res[0], err = gorgonia.ApplyOp(op.dataOp, grad, in[1]); err != nil {
			return nil, err
		}
	}
	if op.trainW {
		if res[1], err = gorgonia.ApplyOp(op.weightsOp, in[0], grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// convInOp writes the bf16 copy of a bf16 conv's input x, which the conv
// and its weight gradient read: the conversion the conv would otherwise
// make of x itself, moved into the graph so that the float32 x need not
// live until the backward. Its gradient passes through.
type convInOp struct {
	base
	k      *kernels.Conv
	x16    buffer
	needDX bool
}

func (op *convInOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := op.k.InputBF16(in[0], op.x16.h); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.x16.t, nil
}

func (op *convInOp) DiffWRT(int) []bool { return []bool{op.needDX} }

func (op *convInOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{grad}, nil
}

// convDataOp computes dx from (dy, w).
type convDataOp struct {
	base
	k  *kernels.Conv
	dx buffer
}

func (op *convDataOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if dy16 := op.scratch16[0]; dy16 != nil {
		err = op.k.BackwardDataBF16(dy16, in[1], op.dx.data)
	} else {
		err = op.k.BackwardData(in[0], in[1], op.dx.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.dx.t, nil
}

// convWeightsOp computes dw from (x, dy).
type convWeightsOp struct {
	base
	k  *kernels.Conv
	dw buffer
}

func (op *convWeightsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	// unpack sets one form of each operand.
	x, dy := kernels.BF16{F32: in[0], H: op.scratch16[0]}, kernels.BF16{F32: in[1], H: op.scratch16[1]}
	if x.H != nil || dy.H != nil {
		err = op.k.BackwardWeightsBF16(x, dy, op.dw.data)
	} else {
		err = op.k.BackwardWeights(in[0], in[1], op.dw.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.dw.t, nil
}

// convBiasOp computes the bias gradient from dy: its rows' sum.
type convBiasOp struct {
	base
	db   buffer
	part []float64
}

func (op *convBiasOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := kernels.BiasGrad(in[0], op.db.data, op.part); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.db.t, nil
}
