package cpu

import (
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// scaleOp is y = s*x (the classifier scale); its gradient is s*dy.
type scaleOp struct {
	base
	s      float32
	y      buffer
	needDX bool
	bwd    *scaleOp
}

func (c *compiler) newScaleOp(s float64, shape tensor.Shape, needDX bool) *scaleOp {
	op := &scaleOp{base: c.base("scale", []int{len(shape)}, shape), s: float32(s), y: newBuffer(shape), needDX: needDX}
	if needDX {
		op.bwd = &scaleOp{base: c.base("scale.bwd", []int{len(shape)}, shape), s: float32(s), y: newBuffer(shape)}
	}
	return op
}

func (op *scaleOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	x, y := in[0], op.y.data[:len(in[0])]
	for i, v := range x {
		y[i] = op.s * v
	}
	return op.y.t, nil
}

func (op *scaleOp) DiffWRT(int) []bool { return []bool{op.needDX} }

func (op *scaleOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if !op.needDX {
		return gorgonia.Nodes{nil}, nil
	}
	dx, err := gorgonia.ApplyOp(op.bwd, grad)
	return gorgonia.Nodes{dx}, err
}
