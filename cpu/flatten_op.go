package cpu

import (
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reshapeOp copies its input into a buffer of another shape with the same
// number of elements (flatten, and its gradient). It copies rather than
// aliasing so that no value is shared between two nodes.
type reshapeOp struct {
	base
	y      buffer
	needDX bool
	bwd    *reshapeOp
}

func (c *compiler) newReshapeOp(from, to tensor.Shape, needDX bool) *reshapeOp {
	op := &reshapeOp{base: c.base("flatten", []int{len(from)}, to), y: newBuffer(to), needDX: needDX}
	if needDX {
		op.bwd = &reshapeOp{base: c.base("flatten.bwd", []int{len(to)}, from), y: newBuffer(from)}
	}
	return op
}

func (op *reshapeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	copy(op.y.data, in[0])
	return op.y.t, nil
}

func (op *reshapeOp) DiffWRT(int) []bool { return []bool{op.needDX} }

func (op *reshapeOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if !op.needDX {
		return gorgonia.Nodes{nil}, nil
	}
	dx, err := gorgonia.ApplyOp(op.bwd, grad)
	return gorgonia.Nodes{dx}, err
}
