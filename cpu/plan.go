package cpu

import (
	"fmt"
	"slices"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Memory plan. Every op returns a buffer it owns, which keeps the steady
// state free of allocations but, with one buffer per node, made a training
// graph hold every activation and every activation gradient at once. The
// activation-sized outputs (conv, BN+act, pools, act, add and their
// backward ops) instead get a place in one arena per Trainer, chosen by
// liveness over the tape: a value occupies its place from the step that
// writes it to the last step that reads it, and places whose lifetimes do
// not overlap share memory. All graphs of a Trainer (training graphs of
// each batch size, the eval graph) run one at a time and keep nothing in
// these buffers between runs, so they share the arena too; it is as large
// as the largest plan.

// planAlign keeps every place 64-byte aligned (AVX-512 rows, oneDNN).
const planAlign = 16

// slotReq is an op output waiting for its place in the arena.
type slotReq struct {
	buf   *buffer
	shape tensor.Shape
}

// slot is a placed op output: floats [off, off+shape.TotalSize()).
type slot struct {
	slotReq
	off int
}

// plan is one graph's placement of its planned outputs.
type plan struct {
	slots []slot
	size  int // floats
}

// arena is the memory of every plan of one Trainer.
type arena struct {
	mem   []float32
	plans []*plan
}

// add binds p's buffers into the arena, growing it (and rebinding the
// plans already there) when p needs more room.
func (a *arena) add(p *plan) {
	a.plans = append(a.plans, p)
	if p.size <= len(a.mem) {
		p.bind(a.mem)
		return
	}
	a.mem = make([]float32, p.size)
	for _, q := range a.plans {
		q.bind(a.mem)
	}
}

// bytes is the arena's size.
func (a *arena) bytes() int64 { return 4 * int64(len(a.mem)) }

func (p *plan) bind(mem []float32) {
	for _, s := range p.slots {
		n := s.shape.TotalSize()
		d := mem[s.off : s.off+n : s.off+n]
		*s.buf = buffer{data: d, t: tensor.New(tensor.WithShape(s.shape...), tensor.WithBacking(d))}
	}
}

// plan asks for op's output buffer *buf of the given shape to be placed in
// the arena once the graph is complete.
func (c *compiler) plan(op gorgonia.Op, buf *buffer, shape tensor.Shape) {
	if c.reqs == nil {
		c.reqs = map[gorgonia.Op]slotReq{}
	}
	c.reqs[op] = slotReq{buf: buf, shape: shape}
}

// ours is implemented by every op of this package (through base).
type ours interface{ done(time.Time) }

// planGraph places the requested outputs of g's nodes. order is the tape's
// execution order, regs each node's register (by node ID), and pinned the
// nodes whose values are read after the run (logits, gradients), which
// live to its end.
//
// gorgonia's own ops (the sums of gradients that reach a node along
// several paths) may write into an input's value (UnsafeDo) or into the
// value their register held before (UsePreallocDo), so each of them keeps
// its inputs and its register's earlier values alive as long as itself.
func planGraph(order gorgonia.Nodes, regs map[int64]string, reqs map[gorgonia.Op]slotReq, pinned gorgonia.Nodes, g *gorgonia.ExprGraph) (*plan, error) {
	pos := make(map[int64]int, len(order))
	for i, n := range order {
		pos[n.ID()] = i
	}
	children := func(n *gorgonia.Node) []int {
		var cs []int
		it := g.From(n.ID())
		for it.Next() {
			cs = append(cs, pos[it.Node().ID()])
		}
		return cs
	}
	end := make([]int, len(order)) // last step that needs node i's value
	kids := make([][]int, len(order))
	for i, n := range order {
		end[i] = max(end[i], i)
		kids[i] = children(n)
		for _, c := range kids[i] {
			if c >= i {
				return nil, fmt.Errorf("plan: node %v runs before its input %v", n, order[c])
			}
			end[c] = max(end[c], i)
		}
	}
	for _, n := range pinned {
		if n != nil {
			end[pos[n.ID()]] = len(order)
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if _, ok := n.Op().(ours); ok || n.Op() == nil {
			continue
		}
		for _, c := range kids[i] {
			end[c] = max(end[c], end[i])
		}
		for j := range i {
			if regs[order[j].ID()] == regs[n.ID()] {
				end[j] = max(end[j], end[i])
			}
		}
	}

	type block struct{ off, n, end int }
	var live []block // by offset
	p := &plan{}
	placed := map[gorgonia.Op]bool{}
	for i, n := range order {
		live = slices.DeleteFunc(live, func(b block) bool { return b.end < i })
		r, ok := reqs[n.Op()]
		if !ok || n.Op() == nil {
			continue
		}
		if placed[n.Op()] {
			return nil, fmt.Errorf("plan: op %v is applied twice", n.Op())
		}
		placed[n.Op()] = true
		size := (r.shape.TotalSize() + planAlign - 1) / planAlign * planAlign
		off, at := 0, len(live) // first fit
		for k, b := range live {
			if b.off-off >= size {
				at = k
				break
			}
			off = b.off + b.n
		}
		live = slices.Insert(live, at, block{off: off, n: size, end: end[i]})
		p.size = max(p.size, off+size)
		p.slots = append(p.slots, slot{slotReq: r, off: off})
	}
	return p, nil
}
