package cpu

import (
	"errors"
	"fmt"
	"slices"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
	"speedrun/model"
	"speedrun/stages"
)

// state is everything a model holds between steps and that every compiled
// graph shares: parameter values (one slice per Spec param) and the BN
// running statistics (per BN layer index).
type state struct {
	spec   *model.Spec
	low    *model.Lowered
	params [][]float32
	bn     map[int]*bnState
	// f32IO keeps every conv operand float32 beside bf16 convolutions,
	// which then convert their own: the reference that the bf16 operands
	// (compile's gradBF16 and the convs' bf16 inputs) are tested against.
	f32IO bool
}

func newState(spec *model.Spec, batch int) (*state, error) {
	low, err := model.Lower(spec)
	if err != nil {
		return nil, err
	}
	s := &state{spec: spec, low: low, params: make([][]float32, len(spec.Params)), bn: map[int]*bnState{}}
	for i, p := range spec.Params {
		s.params[i] = make([]float32, model.Numel(p.Shape))
	}
	for i, l := range spec.Layers {
		if l.Op != model.OpBN || l.BN.Identity {
			continue
		}
		splits := 1
		if l.BN.Ghost > 0 {
			if batch%l.BN.Ghost != 0 {
				return nil, fmt.Errorf("layer %s: ghost batch %d does not divide batch size %d", l.Name, l.BN.Ghost, batch)
			}
			splits = batch / l.BN.Ghost
		}
		s.bn[i] = newBNState(l.Name, l.BN.C, splits, l.BN.Momentum)
	}
	return s, nil
}

// graph is one compiled ExprGraph and its tape for a batch size, in
// training mode (forward, loss, symbolic gradients) or eval mode (forward
// only, BN with running stats).
type graph struct {
	g      *gorgonia.ExprGraph
	tape   *tape
	n      int
	train  bool
	x      buffer
	logits *gorgonia.Node
	loss   *lossOp
	grads  []*gorgonia.Node // per Spec param; nil when frozen (or eval)
	close  []func() error
}

// compiler hands out op ids and collects what must be closed.
type compiler struct {
	conv    kernels.ConvLib // the convolutions' library and precision
	next    int
	prof    *profile
	closers []func() error
	reqs    map[gorgonia.Op]slotReq // outputs to place in the arena
	scratch map[gorgonia.Op]slotReq // ops' scratch, for their own step
}

func (c *compiler) base(kind string, in []int, shape tensor.Shape) base {
	c.next++
	return base{kind: kind, id: c.next, in: in, shape: shape, prof: c.prof}
}

// activation renders a lowered activation as the kernels' (model.Lower
// has checked its kind).
func activation(a model.Act) kernels.Activation {
	switch a.Kind {
	case model.ActReLU:
		return kernels.Activation{Kind: kernels.ActReLU}
	case model.ActCELU:
		return kernels.Activation{Kind: kernels.ActCELU, Alpha: float32(a.Alpha)}
	case model.ActShiftScaleReLU:
		return kernels.Activation{Kind: kernels.ActShiftScaleReLU}
	case model.ActSoftplus:
		return kernels.Activation{Kind: kernels.ActSoftplus, Beta: float32(a.Beta), Threshold: float32(a.Threshold)}
	case model.ActGELU:
		return kernels.Activation{Kind: kernels.ActGELU}
	}
	return kernels.Activation{Kind: kernels.ActIdentity}
}

// nhwc turns a Spec layer shape (C, H, W or C) into the batch tensor shape.
func nhwc(n int, out []int) tensor.Shape {
	if len(out) == 3 {
		return tensor.Shape{n, out[1], out[2], out[0]}
	}
	s := tensor.Shape{n}
	return append(s, out...)
}

// lossTerms are the training loss's settings beside the cross entropy:
// label smoothing and the weight of the KL to the uniform distribution.
type lossTerms struct {
	smoothing, kl float64
}

// lossOf is the loss of a training config.
func lossOf(t stages.Train) lossTerms {
	return lossTerms{smoothing: t.LabelSmoothing, kl: t.KLUniform}
}

// compile renders the lowered spec (st.low: fusions, activations,
// gradients) as a graph for batch n. The activation-sized op outputs are
// placed in ar (plan.go).
func compile(st *state, n int, train bool, loss lossTerms, conv kernels.ConvLib, prof *profile, ar *arena) (_ *graph, err error) {
	spec := st.spec
	c := &compiler{conv: conv, prof: prof}
	gr := &graph{g: gorgonia.NewGraph(), n: n, train: train, grads: make([]*gorgonia.Node, len(spec.Params))}
	defer func() {
		if err != nil {
			for _, f := range c.closers {
				f()
			}
		}
	}()

	low := st.low
	// needs[i]: layer i's output gradient is computed (training only).
	needs := func(i int) bool { return train && low.Layers[i].NeedsGrad }
	trainable := func(p int) bool { return train && spec.Params[p].Trainable() }

	pnodes := make([]*gorgonia.Node, len(spec.Params))
	param := func(p int) *gorgonia.Node {
		if pnodes[p] == nil {
			sh := spec.Params[p].Shape
			v := tensor.New(tensor.WithShape(sh...), tensor.WithBacking(st.params[p]))
			pnodes[p] = gorgonia.NewTensor(gr.g, tensor.Float32, len(sh), gorgonia.WithShape(sh...), gorgonia.WithName(spec.Params[p].Name), gorgonia.WithValue(v))
		}
		return pnodes[p]
	}

	// gradBF16(j): conv layer j takes its output gradient in bf16. With the
	// bf16 convolutions, a conv without bias whose one reader is a BN gets
	// its gradient from that BN's backward written as the bf16 values its
	// backward passes read anyway: the conv's own conversion of a float32
	// gradient is saved, and BN writes half the bytes. The values are the
	// same bits (kernels.BNAct.BackwardBF16).
	gradBF16 := func(j int) bool {
		l := spec.Layers[j]
		if !train || st.f32IO || conv != kernels.ConvOneDNNBF16 || l.Op != model.OpConv || l.Conv.Bias ||
			!needs(j) || len(low.Layers[j].Consumers) != 1 {
			return false
		}
		b := spec.Layers[low.Layers[j].Consumers[0]]
		return b.Op == model.OpBN && !b.BN.Identity && b.Inputs[0] == j
	}

	nodes := make([]*gorgonia.Node, len(spec.Layers))
	for i, l := range spec.Layers {
		lo := low.Layers[i]
		if lo.Fused {
			continue
		}
		var x *gorgonia.Node
		var xs []int
		if len(l.Inputs) > 0 {
			x, xs = nodes[l.Inputs[0]], spec.Layers[l.Inputs[0]].Out
		}
		needX := len(l.Inputs) > 0 && needs(l.Inputs[0])
		var op gorgonia.Op
		args := []*gorgonia.Node{x}
		switch l.Op {
		case model.OpInput:
			shape := nhwc(n, l.Out)
			gr.x = newBuffer(shape)
			nodes[i] = gorgonia.NewTensor(gr.g, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName("x"), gorgonia.WithValue(gr.x.t))
			continue
		case model.OpConv:
			cv := l.Conv
			s := kernels.ConvShape{N: n, H: xs[1], W: xs[2], C: xs[0], K: cv.Out, R: cv.K, S: cv.K, Stride: cv.Stride, Pad: cv.Pad}
			x16 := conv == kernels.ConvOneDNNBF16 && !st.f32IO
			o, err := c.newConvOp(s, needX, trainable(l.Params[0]), cv.Bias, cv.Bias && trainable(l.Params[1]), x16, gradBF16(i))
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Name, err)
			}
			if x16 {
				// The conv reads, and its backward keeps, the bf16 copy of
				// x that it would make anyway, so the float32 x can die
				// here instead of living until the backward.
				if args[0], err = gorgonia.ApplyOp(o.inOp, x); err != nil {
					return nil, fmt.Errorf("layer %s: %w", l.Name, err)
				}
			}
			op, args = o, append(args, param(l.Params[0]))
			if cv.Bias {
				args = append(args, param(l.Params[1]))
			}
		case model.OpBN:
			if l.BN.Identity {
				nodes[i] = x
				continue
			}
			a := activation(lo.Act)
			if len(xs) != 3 {
				return nil, fmt.Errorf("layer %s: BN needs a C,H,W input, got %v", l.Name, xs)
			}
			// Ghost BN keeps its number of splits (and per-split running
			// stats) for any batch, as Page's GhostBatchNorm does, so a
			// short last batch gets smaller ghost batches.
			ghost := 0
			if l.BN.Ghost > 0 {
				sp := st.bn[i].splits
				if n%sp != 0 {
					return nil, fmt.Errorf("layer %s: batch %d does not split into the %d ghost batches of the running stats (use drop_last)", l.Name, n, sp)
				}
				ghost = n / sp
			}
			s := kernels.BNShape{N: n, HW: xs[1] * xs[2], C: xs[0], Ghost: ghost}
			shape := nhwc(n, xs)
			if train {
				op, err = c.newBNActOp(s, l.BN.Eps, a, st.bn[i], shape, needX, trainable(l.Params[0]), trainable(l.Params[1]), gradBF16(l.Inputs[0]))
			} else {
				op, err = c.newBNActEvalOp(s, l.BN.Eps, a, st.bn[i], shape)
			}
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Name, err)
			}
			args = append(args, param(l.Params[0]), param(l.Params[1]))
		case model.OpAct:
			op = c.newActOp(activation(lo.Act), nhwc(n, xs), needX)
		case model.OpMaxPool, model.OpAvgPool, model.OpGlobalMaxPool, model.OpGlobalAvgPool:
			if len(xs) != 3 {
				return nil, fmt.Errorf("layer %s: pool needs a C,H,W input, got %v", l.Name, xs)
			}
			k := 0
			if l.Pool != nil {
				k = l.Pool.K
			}
			op = c.newPoolOp(l.Op, n, xs[1], xs[2], xs[0], k, needX)
		case model.OpAdd:
			op = c.newAddOp(nhwc(n, xs), needX, needs(l.Inputs[1]))
			args = append(args, nodes[l.Inputs[1]])
		case model.OpConcat:
			op = c.newConcatOp(n, xs[0], spec.Layers[l.Inputs[1]].Out[0], needX, needs(l.Inputs[1]))
			args = append(args, nodes[l.Inputs[1]])
		case model.OpScale:
			op = c.newScaleOp(l.Scale, nhwc(n, xs), needX)
		case model.OpFlatten:
			op = c.newReshapeOp(nhwc(n, xs), nhwc(n, l.Out), needX)
		case model.OpLinear:
			li := l.Linear
			trainB := li.Bias && trainable(l.Params[1])
			op = c.newLinearOp(n, li.In, li.Out, li.Bias, needX, trainable(l.Params[0]), trainB)
			args = append(args, param(l.Params[0]))
			if li.Bias {
				args = append(args, param(l.Params[1]))
			}
		default:
			return nil, fmt.Errorf("layer %s: op %q is not supported by the cpu backend", l.Name, l.Op)
		}
		if nodes[i], err = gorgonia.ApplyOp(op, args...); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Name, err)
		}
		if lo.Fuses >= 0 {
			nodes[lo.Fuses] = nodes[i]
		}
	}
	gr.logits = nodes[len(nodes)-1]

	if train {
		gr.loss = c.newLossOp(n, spec.Classes, loss)
		cost, err := gorgonia.ApplyOp(gr.loss, gr.logits)
		if err != nil {
			return nil, fmt.Errorf("loss: %w", err)
		}
		var wrt gorgonia.Nodes
		var idx []int
		for p := range spec.Params {
			if pnodes[p] != nil && trainable(p) {
				wrt = append(wrt, pnodes[p])
				idx = append(idx, p)
			}
		}
		if len(wrt) == 0 {
			return nil, errors.New("no trainable parameters")
		}
		gs, err := gorgonia.Grad(cost, wrt...)
		if err != nil {
			return nil, fmt.Errorf("symbolic gradient: %w", err)
		}
		for k, p := range idx {
			gr.grads[p] = gs[k]
		}
	}
	// Nodes run in reverse topological order, as gorgonia's TapeMachine
	// would run them (the same stable sort).
	order, err := gorgonia.Sort(gr.g)
	if err != nil {
		return nil, fmt.Errorf("sort graph: %w", err)
	}
	slices.Reverse(order)
	lv, err := liveness(order, gr.g, append(gorgonia.Nodes{gr.logits}, gr.grads...))
	if err != nil {
		return nil, err
	}
	if gr.tape, err = newTape(lv); err != nil {
		return nil, err
	}
	ar.add(planGraph(lv, c.reqs, c.scratch))
	gr.close = c.closers
	return gr, nil
}

// run executes the graph once on the batch already in gr.x.
func (gr *graph) run() error {
	if err := gr.tape.run(); err != nil {
		return fmt.Errorf("run graph (batch %d): %w", gr.n, err)
	}
	return nil
}

func (gr *graph) Close() error {
	var errs []error
	for _, f := range gr.close {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// values returns the float32 backing of a node's value in the last run.
func (gr *graph) values(n *gorgonia.Node) ([]float32, error) {
	v := gr.tape.value(n)
	if v == nil {
		return nil, fmt.Errorf("node %s has no value", n.Name())
	}
	return f32s(v)
}
