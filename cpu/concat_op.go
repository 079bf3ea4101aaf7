package cpu

import (
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// concatOp joins two N x Ca and N x Cb matrices into N x (Ca+Cb) (the
// DAWN head: global avg and global max features).
type concatOp struct {
	base
	n, ca, cb int
	y         buffer
	parts     [2]*splitOp
}

func (c *compiler) newConcatOp(n, ca, cb int, needA, needB bool) *concatOp {
	op := &concatOp{base: c.base("concat", []int{2, 2}, tensor.Shape{n, ca + cb}), n: n, ca: ca, cb: cb, y: newBuffer(tensor.Shape{n, ca + cb})}
	if needA {
		op.parts[0] = &splitOp{base: c.base("concat.bwd", []int{2}, tensor.Shape{n, ca}), n: n, off: 0, w: ca, stride: ca + cb, dx: newBuffer(tensor.Shape{n, ca})}
	}
	if needB {
		op.parts[1] = &splitOp{base: c.base("concat.bwd", []int{2}, tensor.Shape{n, cb}), n: n, off: ca, w: cb, stride: ca + cb, dx: newBuffer(tensor.Shape{n, cb})}
	}
	return op
}

func (op *concatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	w := op.ca + op.cb
	for i := range op.n {
		copy(op.y.data[i*w:i*w+op.ca], in[0][i*op.ca:(i+1)*op.ca])
		copy(op.y.data[i*w+op.ca:(i+1)*w], in[1][i*op.cb:(i+1)*op.cb])
	}
	return op.y.t, nil
}

func (op *concatOp) DiffWRT(int) []bool { return []bool{op.parts[0] != nil, op.parts[1] != nil} }

func (op *concatOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	res := make(gorgonia.Nodes, 2)
	for i, p := range op.parts {
		if p == nil {
			continue
		}
		var err error
		if res[i], err = gorgonia.ApplyOp(p, grad); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// splitOp copies columns [off, off+w) of an N x stride matrix.
type splitOp struct {
	base
	n, off, w, stride int
	dx                buffer
}

func (op *splitOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	for i := range op.n {
		copy(op.dx.data[i*op.w:(i+1)*op.w], in[0][i*op.stride+op.off:i*op.stride+op.off+op.w])
	}
	return op.dx.t, nil
}
