package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
)

// lossOp is softmax cross-entropy with label smoothing (and the KL term
// to the uniform distribution, when the config has one), summed over the
// batch (blog-stages.md §0), from N x Classes logits to a scalar. The
// labels are set by the trainer before each run. It computes dlogits in
// its forward pass; the backward op scales them by the incoming gradient.
type lossOp struct {
	base
	n, classes int
	smoothing  float32
	kl         float32
	labels     []int32
	dlogits    []float32
	out        *gorgonia.F32
	sum        float64 // the loss sum in float64, for reporting
	correct    int
	bwd        *lossBwdOp
}

func (c *compiler) newLossOp(n, classes int, loss lossTerms) *lossOp {
	op := &lossOp{base: c.base("loss", []int{2}, nil), n: n, classes: classes, smoothing: float32(loss.smoothing), kl: float32(loss.kl),
		dlogits: make([]float32, n*classes), out: new(gorgonia.F32)}
	op.bwd = &lossBwdOp{base: c.base("loss.bwd", []int{0, 0}, tensor.Shape{n, classes}), l: op, d: newBuffer(tensor.Shape{n, classes})}
	return op
}

func (op *lossOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if len(op.labels) != op.n {
		return nil, fmt.Errorf("%s: %d labels for a batch of %d", op, len(op.labels), op.n)
	}
	op.sum, op.correct, err = kernels.SoftmaxCrossEntropyKL(in[0], op.labels, op.n, op.classes, op.smoothing, op.kl, op.dlogits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	*op.out = gorgonia.F32(op.sum)
	return op.out, nil
}

func (op *lossOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff feeds the loss output itself to the backward op, so that it runs
// after the forward pass that fills dlogits.
func (op *lossOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(op.bwd, out, grad)
	return gorgonia.Nodes{d}, err
}

// lossBwdOp returns dlogits times the scalar gradient of the loss.
type lossBwdOp struct {
	base
	l *lossOp
	d buffer
}

func (op *lossBwdOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	g := in[1][0]
	for i, v := range op.l.dlogits {
		op.d.data[i] = g * v
	}
	return op.d.t, nil
}
