package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
)

// actOp is a standalone activation, for an Act layer that does not
// directly follow a BN layer (e.g. conv-bn-pool-act).
type actOp struct {
	base
	a   kernels.Activation
	y   buffer
	bwd *actBwdOp
}

func (c *compiler) newActOp(a kernels.Activation, shape tensor.Shape, needDX bool) *actOp {
	op := &actOp{base: c.base("act", []int{len(shape)}, shape), a: a}
	c.plan(op, &op.y, shape)
	if needDX {
		op.bwd = &actBwdOp{base: c.base("act.bwd", []int{len(shape), len(shape)}, shape), a: a}
		c.plan(op.bwd, &op.bwd.dx, shape)
	}
	return op
}

func (op *actOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := kernels.ActForward(op.a, in[0], op.y.data); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.y.t, nil
}

func (op *actOp) DiffWRT(int) []bool { return []bool{op.bwd != nil} }

func (op *actOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.bwd == nil {
		return gorgonia.Nodes{nil}, nil
	}
	dx, err := gorgonia.ApplyOp(op.bwd, in[0], grad)
	return gorgonia.Nodes{dx}, err
}

// actBwdOp computes dx from (x, dy).
type actBwdOp struct {
	base
	a  kernels.Activation
	dx buffer
}

func (op *actBwdOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := kernels.ActBackward(op.a, in[0], in[1], op.dx.data); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.dx.t, nil
}
