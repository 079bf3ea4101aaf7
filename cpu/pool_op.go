package cpu

import (
	"fmt"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"speedrun/cpu/kernels"
	"speedrun/model"
)

// poolOp is a k x k pool with stride k (max or average) or a global pool
// (max or average over H x W, giving N x C). Max pools remember their
// argmax for the backward op: a byte per output, its place in the window,
// and only when a backward op will read it.
type poolOp struct {
	base
	op         model.Op
	n, h, w, c int
	k          int
	y          buffer
	argmax     []uint8 // k x k max pool
	gArgmax    []int32 // global max pool
	bwd        *poolBwdOp
}

func (cp *compiler) newPoolOp(op model.Op, n, h, w, c, k int, needDX bool) *poolOp {
	var yShape tensor.Shape
	switch op {
	case model.OpGlobalMaxPool, model.OpGlobalAvgPool:
		yShape = tensor.Shape{n, c}
	default:
		yShape = tensor.Shape{n, h / k, w / k, c}
	}
	xShape := tensor.Shape{n, h, w, c}
	p := &poolOp{base: cp.base(string(op), []int{4}, yShape), op: op, n: n, h: h, w: w, c: c, k: k}
	cp.plan(p, &p.y, yShape)
	switch {
	case op == model.OpMaxPool && needDX:
		p.argmax = make([]uint8, yShape.TotalSize())
	case op == model.OpGlobalMaxPool:
		p.gArgmax = make([]int32, yShape.TotalSize())
	}
	if needDX {
		p.bwd = &poolBwdOp{base: cp.base(string(op)+".bwd", []int{len(yShape)}, xShape), p: p}
		cp.plan(p.bwd, &p.bwd.dx, xShape)
	}
	return p
}

func (p *poolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer p.done(time.Now())
	in, err := p.unpack(vs)
	if err != nil {
		return nil, err
	}
	x := in[0]
	switch p.op {
	case model.OpMaxPool:
		err = kernels.MaxPoolForward(x, p.n, p.h, p.w, p.c, p.k, p.y.data, p.argmax)
	case model.OpAvgPool:
		err = kernels.AvgPoolForward(x, p.n, p.h, p.w, p.c, p.k, p.y.data)
	case model.OpGlobalMaxPool:
		err = kernels.GlobalMaxPoolForward(x, p.n, p.h*p.w, p.c, p.y.data, p.gArgmax)
	case model.OpGlobalAvgPool:
		err = kernels.GlobalAvgPoolForward(x, p.n, p.h*p.w, p.c, p.y.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return p.y.t, nil
}

func (p *poolOp) DiffWRT(int) []bool { return []bool{p.bwd != nil} }

func (p *poolOp) SymDiff(in gorgonia.Nodes, out, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if p.bwd == nil {
		return gorgonia.Nodes{nil}, nil
	}
	dx, err := gorgonia.ApplyOp(p.bwd, grad)
	return gorgonia.Nodes{dx}, err
}

// poolBwdOp computes dx from dy with the forward op's argmax.
type poolBwdOp struct {
	base
	p  *poolOp
	dx buffer
}

func (b *poolBwdOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer b.done(time.Now())
	in, err := b.unpack(vs)
	if err != nil {
		return nil, err
	}
	p, dy := b.p, in[0]
	switch p.op {
	case model.OpMaxPool:
		err = kernels.MaxPoolBackward(dy, p.argmax, p.n, p.h, p.w, p.c, p.k, b.dx.data)
	case model.OpAvgPool:
		err = kernels.AvgPoolBackward(dy, p.n, p.h, p.w, p.c, p.k, b.dx.data)
	case model.OpGlobalMaxPool:
		err = kernels.GlobalMaxPoolBackward(dy, p.gArgmax, p.n, p.h*p.w, p.c, b.dx.data)
	case model.OpGlobalAvgPool:
		err = kernels.GlobalAvgPoolBackward(dy, p.n, p.h*p.w, p.c, b.dx.data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	return b.dx.t, nil
}
