package cpu

import (
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// addOp is y = a + b (the residual join). Its gradient passes dy to both
// inputs unchanged.
type addOp struct {
	base
	y    buffer
	need [2]bool
}

func (c *compiler) newAddOp(shape tensor.Shape, needA, needB bool) *addOp {
	op := &addOp{base: c.base("add", []int{len(shape), len(shape)}, shape), need: [2]bool{needA, needB}}
	c.plan(op, &op.y, shape)
	return op
}

func (op *addOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	a, b, y := in[0], in[1][:len(in[0])], op.y.data[:len(in[0])]
	for i := range a {
		y[i] = a[i] + b[i]
	}
	return op.y.t, nil
}

func (op *addOp) DiffWRT(int) []bool { return op.need[:] }

func (op *addOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, 2)
	for i, n := range op.need {
		if n {
			res[i] = grad
		}
	}
	return res, nil
}
