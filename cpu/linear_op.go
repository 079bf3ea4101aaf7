package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
)

// linearOp is y = x Wᵀ (+ b): x is N x In, W is Out x In (PyTorch's
// layout), through OpenBLAS sgemm.
type linearOp struct {
	base
	n, in, out int
	bias       bool
	y          buffer
	needDX     bool
	trainW     bool
	trainB     bool
	dataOp     *linearBwdOp
	weightsOp  *linearBwdOp
	biasOp     *linearBwdOp
}

func (c *compiler) newLinearOp(n, in, out int, bias, needDX, trainW, trainB bool) *linearOp {
	ranks := []int{2, 2}
	if bias {
		ranks = append(ranks, 1)
	}
	op := &linearOp{base: c.base("linear", ranks, tensor.Shape{n, out}), n: n, in: in, out: out, bias: bias,
		y: newBuffer(tensor.Shape{n, out}), needDX: needDX, trainW: trainW, trainB: trainB && bias}
	mk := func(part int, ranks []int, shape tensor.Shape) *linearBwdOp {
		return &linearBwdOp{base: c.base("linear.bwd", ranks, shape), l: op, part: part, d: newBuffer(shape)}
	}
	if needDX {
		op.dataOp = mk(0, []int{2, 2}, tensor.Shape{n, in})
	}
	if trainW {
		op.weightsOp = mk(1, []int{2, 2}, tensor.Shape{out, in})
	}
	if op.trainB {
		op.biasOp = mk(2, []int{2}, tensor.Shape{out})
	}
	return op
}

func (op *linearOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := kernels.Sgemm(false, true, op.n, op.out, op.in, 1, in[0], op.in, in[1], op.in, 0, op.y.data, op.out); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if op.bias {
		b := in[2]
		for i := range op.n {
			row := op.y.data[i*op.out : (i+1)*op.out]
			for j := range row {
				row[j] += b[j]
			}
		}
	}
	return op.y.t, nil
}

func (op *linearOp) DiffWRT(int) []bool {
	d := []bool{op.needDX, op.trainW}
	if op.bias {
		d = append(d, op.trainB)
	}
	return d
}

func (op *linearOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, len(in))
	var err error
	if op.needDX {
		if res[0], err = gorgonia.ApplyOp(op.dataOp, grad, in[1]); err != nil {
			return nil, err
		}
	}
	if op.trainW {
		if res[1], err = gorgonia.ApplyOp(op.weightsOp, grad, in[0]); err != nil {
			return nil, err
		}
	}
	if op.trainB {
		if res[2], err = gorgonia.ApplyOp(op.biasOp, grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// linearBwdOp is one part of the linear gradient: 0 dx = dy W from
// (dy, W); 1 dW = dyᵀ x from (dy, x); 2 db = column sums of dy.
type linearBwdOp struct {
	base
	l    *linearOp
	part int
	d    buffer
}

func (op *linearBwdOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	l, dy := op.l, in[0]
	switch op.part {
	case 0:
		err = kernels.Sgemm(false, false, l.n, l.in, l.out, 1, dy, l.out, in[1], l.in, 0, op.d.data, l.in)
	case 1:
		err = kernels.Sgemm(true, false, l.out, l.in, l.n, 1, dy, l.out, in[1], l.in, 0, op.d.data, l.in)
	case 2:
		clear(op.d.data)
		for i := range l.n {
			for j, v := range dy[i*l.out : (i+1)*l.out] {
				op.d.data[j] += v
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.d.t, nil
}
