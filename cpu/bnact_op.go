package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
)

// bnState is one BN layer's running statistics, shared by every graph of
// the model (training graphs of any batch size and the eval graph). Ghost
// BN keeps one row of C per split (split-major); eval averages the rows.
type bnState struct {
	name     string
	c        int
	splits   int
	momentum float32
	mean     []float32 // splits x C
	vr       []float32 // splits x C, unbiased
}

func newBNState(name string, c, splits int, momentum float64) *bnState {
	s := &bnState{name: name, c: c, splits: splits, momentum: float32(momentum),
		mean: make([]float32, splits*c), vr: make([]float32, splits*c)}
	for i := range s.vr {
		s.vr[i] = 1 // PyTorch's initial running var
	}
	return s
}

// update blends per-split batch stats into the running stats with
// PyTorch's convention: run = (1-m)*run + m*batch.
func (s *bnState) update(mean, vr []float32) {
	m := s.momentum
	for i := range s.mean {
		s.mean[i] = (1-m)*s.mean[i] + m*mean[i]
		s.vr[i] = (1-m)*s.vr[i] + m*vr[i]
	}
}

// average writes the mean over splits of the running stats.
func (s *bnState) average(mean, vr []float32) {
	clear(mean)
	clear(vr)
	inv := 1 / float32(s.splits)
	for k := range s.splits {
		for j := range s.c {
			mean[j] += s.mean[k*s.c+j] * inv
			vr[j] += s.vr[k*s.c+j] * inv
		}
	}
}

// bnActOp is training-mode BN (plain or ghost) fused with the activation
// that follows it: y = act(gamma*xhat + beta), inputs (x, gamma, beta).
// It updates the running stats in its forward pass.
type bnActOp struct {
	base
	k              *kernels.BNAct
	st             *bnState
	y              buffer
	bmean, bvar    []float32
	needDX         bool
	trainG, trainB bool
	bwd            *bnActBwdOp
}

// With dx16 the backward writes dx in bf16 for the bf16 conv that wrote x
// (gradBF16), and works in a float32 scratch live for its own step.
func (c *compiler) newBNActOp(s kernels.BNShape, eps float64, act kernels.Activation, st *bnState, xShape tensor.Shape, needDX, trainG, trainB, dx16 bool) (*bnActOp, error) {
	k, err := kernels.NewBNAct(s, float32(eps), act)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, k.Close)
	if k.Splits() != st.splits {
		return nil, fmt.Errorf("BN %s: batch %d gives %d ghost splits, but the running stats have %d (use drop_last with ghost BN)", st.name, s.N, k.Splits(), st.splits)
	}
	op := &bnActOp{base: c.base("bn_act", []int{len(xShape), 1, 1}, xShape), k: k, st: st,
		bmean: make([]float32, st.splits*st.c), bvar: make([]float32, st.splits*st.c), needDX: needDX, trainG: trainG, trainB: trainB}
	op.bwd = &bnActBwdOp{base: c.base("bn_act.bwd", []int{len(xShape), 1, len(xShape)}, xShape), k: k,
		dgamma: newBuffer(tensor.Shape{s.C}), dbeta: newBuffer(tensor.Shape{s.C})}
	c.plan(op, &op.y, xShape)
	c.planAs(op.bwd, &op.bwd.dx, xShape, dx16)
	c.planInPlace(op.bwd) // dx (or dz, below) may alias dy
	op.bwd.gammaGrad = &pickOp{base: c.base("bn_act.dgamma", []int{len(xShape)}, tensor.Shape{s.C}), out: op.bwd.dgamma}
	op.bwd.betaGrad = &pickOp{base: c.base("bn_act.dbeta", []int{len(xShape)}, tensor.Shape{s.C}), out: op.bwd.dbeta}
	if dx16 {
		op.bwd.out16 = true
		c.planScratch(op.bwd, &op.bwd.dz, xShape, true)
		op.bwd.gammaGrad.in16 = []bool{true}
		op.bwd.betaGrad.in16 = []bool{true}
	}
	return op, nil
}

func (op *bnActOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if err := op.k.ForwardTrain(in[0], in[1], in[2], op.y.data, op.bmean, op.bvar); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", op, op.st.name, err)
	}
	op.st.update(op.bmean, op.bvar)
	return op.y.t, nil
}

func (op *bnActOp) DiffWRT(int) []bool { return []bool{op.needDX, op.trainG, op.trainB} }

// SymDiff: one op computes dx, dgamma and dbeta together; dgamma and
// dbeta are handed out by two pick ops that take dx as their input, which
// orders them after it.
func (op *bnActOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(op.bwd, grad, in[1], in[0])
	if err != nil {
		return nil, err
	}
	res := make(gorgonia.Nodes, 3)
	if op.needDX {
		res[0] = dx
	}
	if op.trainG {
		if res[1], err = gorgonia.ApplyOp(op.bwd.gammaGrad, dx); err != nil {
			return nil, err
		}
	}
	if op.trainB {
		if res[2], err = gorgonia.ApplyOp(op.bwd.betaGrad, dx); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// bnActBwdOp computes dx (and, kept for the pick ops, dgamma and dbeta)
// from (dy, gamma, x): the kernel recomputes xhat from the forward input x,
// which the graph keeps alive until then, instead of saving a copy.
type bnActBwdOp struct {
	base
	k                   *kernels.BNAct
	dx, dgamma, dbeta   buffer
	dz                  buffer // with out16 (dx in bf16): dz's float32 scratch
	gammaGrad, betaGrad *pickOp
}

func (op *bnActBwdOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	if op.out16 {
		err = op.k.BackwardBF16(in[2], in[0], in[1], op.dz.data, op.dx.h, op.dgamma.data, op.dbeta.data)
	} else {
		err = op.k.Backward(in[2], in[0], in[1], op.dx.data, op.dgamma.data, op.dbeta.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.dx.t, nil
}

// pickOp returns a buffer another op filled; its input only orders it.
type pickOp struct {
	base
	out buffer
}

func (op *pickOp) Do(...gorgonia.Value) (gorgonia.Value, error) { return op.out.t, nil }

// bnActEvalOp is eval-mode BN + activation with the running stats
// (averaged over ghost splits). It is forward-only.
type bnActEvalOp struct {
	base
	k        *kernels.BNAct
	st       *bnState
	y        buffer
	mean, vr []float32
}

func (c *compiler) newBNActEvalOp(s kernels.BNShape, eps float64, act kernels.Activation, st *bnState, xShape tensor.Shape) (*bnActEvalOp, error) {
	s.Ghost = 0
	k, err := kernels.NewBNAct(s, float32(eps), act)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, k.Close)
	op := &bnActEvalOp{base: c.base("bn_act.eval", []int{len(xShape), 1, 1}, xShape), k: k, st: st,
		mean: make([]float32, st.c), vr: make([]float32, st.c)}
	c.plan(op, &op.y, xShape)
	return op, nil
}

func (op *bnActEvalOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.done(time.Now())
	in, err := op.unpack(vs)
	if err != nil {
		return nil, err
	}
	op.st.average(op.mean, op.vr)
	if err := op.k.ForwardEval(in[0], in[1], in[2], op.mean, op.vr, op.y.data); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", op, op.st.name, err)
	}
	return op.y.t, nil
}
