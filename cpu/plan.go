package cpu

import (
	"fmt"
	"slices"
	"time"
	"unsafe"

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
// as the largest plan. The same order drives our tape (below), which runs
// the graph instead of gorgonia's TapeMachine.

// planAlign keeps every place 64-byte aligned (AVX-512 rows, oneDNN).
const planAlign = 16

// slotReq is an op output waiting for its place in the arena, or an op's
// scratch (live for its own step only).
type slotReq struct {
	buf   *buffer
	shape tensor.Shape
	bf16  bool // a uint16 buffer: half the floats
	// inPlace: the op's kernel lets this buffer alias the op's first
	// input, so it takes that input's place when the input dies at this
	// step and is a float32 output of ours of the same size.
	inPlace bool
}

// floats is the arena room r takes.
func (r slotReq) floats() int {
	n := r.shape.TotalSize()
	if r.bf16 {
		return (n + 1) / 2
	}
	return n
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
		n := s.floats()
		d := mem[s.off : s.off+n : s.off+n]
		if s.bf16 {
			h := unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(d))), s.shape.TotalSize())
			*s.buf = buffer{h: h, t: tensor.New(tensor.WithShape(s.shape...), tensor.WithBacking(h))}
			continue
		}
		*s.buf = buffer{data: d, t: tensor.New(tensor.WithShape(s.shape...), tensor.WithBacking(d))}
	}
}

// plan asks for op's output buffer *buf of the given shape to be placed in
// the arena once the graph is complete.
func (c *compiler) plan(op gorgonia.Op, buf *buffer, shape tensor.Shape) {
	c.planAs(op, buf, shape, false)
}

// planAs is plan with the element type: bf16 places a uint16 buffer.
func (c *compiler) planAs(op gorgonia.Op, buf *buffer, shape tensor.Shape, bf16 bool) {
	if c.reqs == nil {
		c.reqs = map[gorgonia.Op]slotReq{}
	}
	c.reqs[op] = slotReq{buf: buf, shape: shape, bf16: bf16}
}

// planScratch asks for a float32 scratch *buf for op, live during op's
// own step only; inPlace as in slotReq.
func (c *compiler) planScratch(op gorgonia.Op, buf *buffer, shape tensor.Shape, inPlace bool) {
	if c.scratch == nil {
		c.scratch = map[gorgonia.Op]slotReq{}
	}
	c.scratch[op] = slotReq{buf: buf, shape: shape, inPlace: inPlace}
}

// planInPlace lets op's planned output take its first input's place
// (slotReq.inPlace).
func (c *compiler) planInPlace(op gorgonia.Op) {
	r := c.reqs[op]
	r.inPlace = true
	c.reqs[op] = r
}

// ours is implemented by every op of this package (through base).
type ours interface{ done(time.Time) }

// live is a graph's execution order and the lifetime of each value.
type live struct {
	order gorgonia.Nodes
	pos   map[int64]int // node ID -> position in order
	kids  [][]int       // positions of each node's inputs, in argument order
	// end[i] is the last step that needs node i's value: its last reader,
	// len(order) for the pinned nodes (read after the run), extended over
	// gorgonia's ops that may write into it.
	end []int
	// unsafe[i]: node i is a gorgonia op that may write its result into
	// its first input, which no later step reads (what TapeMachine does).
	unsafe []bool
}

// liveness computes the lifetimes of order's values (order is the
// execution order; pinned the nodes read after the run: logits, gradients).
//
// gorgonia's own ops (the sums of gradients that reach a node along
// several paths) write into their first input when it dies with them
// (UnsafeDo), so each of them keeps its inputs alive as long as itself.
func liveness(order gorgonia.Nodes, g *gorgonia.ExprGraph, pinned gorgonia.Nodes) (*live, error) {
	lv := &live{order: order, pos: make(map[int64]int, len(order)), kids: make([][]int, len(order)),
		end: make([]int, len(order)), unsafe: make([]bool, len(order))}
	for i, n := range order {
		lv.pos[n.ID()] = i
	}
	for i, n := range order {
		lv.end[i] = max(lv.end[i], i)
		it := g.From(n.ID())
		for it.Next() {
			c, ok := lv.pos[it.Node().ID()]
			if !ok || c >= i {
				return nil, fmt.Errorf("plan: node %v does not run after its input %v", n, it.Node())
			}
			lv.kids[i] = append(lv.kids[i], c)
			lv.end[c] = max(lv.end[c], i)
		}
	}
	for _, n := range pinned {
		if n != nil {
			lv.end[lv.pos[n.ID()]] = len(order)
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if _, ok := n.Op().(ours); ok || n.Op() == nil {
			continue
		}
		if _, ok := n.Op().(gorgonia.UnsafeDoer); ok && len(lv.kids[i]) > 0 {
			c := lv.kids[i][0]
			lv.unsafe[i] = lv.end[c] == i && order[c].Op() != nil && !slices.Contains(lv.kids[i][1:], c)
		}
		for _, c := range lv.kids[i] {
			lv.end[c] = max(lv.end[c], lv.end[i])
		}
	}
	return lv, nil
}

// planGraph places the requested outputs of lv's nodes, each for the
// steps it is live, and their scratch for their own step. An in-place
// request joins its input's place. The places are then laid out largest
// first, each at the lowest offset free over its lifetime ("greedy by
// size", as TFLite's arena planner does): placing in execution order
// instead, first fit, left 12% of ResNet-9's arena as holes.
func planGraph(lv *live, reqs, scratch map[gorgonia.Op]slotReq) *plan {
	type place struct {
		reqs      []slotReq // sharing the place: an in-place chain
		from, end int       // steps
		size, off int       // floats
	}
	var places []*place
	holder := make([]*place, len(lv.order)) // by step: the place of its value
	add := func(i int, r slotReq, end int) *place {
		size := (r.floats() + planAlign - 1) / planAlign * planAlign
		if r.inPlace && !r.bf16 && len(lv.kids[i]) > 0 {
			c := lv.kids[i][0]
			if q := holder[c]; q != nil && lv.end[c] == i && q.end == i && q.size == size && !q.reqs[len(q.reqs)-1].bf16 {
				q.reqs = append(q.reqs, r)
				q.end = end
				return q
			}
		}
		q := &place{reqs: []slotReq{r}, from: i, end: end, size: size}
		places = append(places, q)
		return q
	}
	for i, n := range lv.order {
		if n.Op() == nil {
			continue
		}
		if r, ok := reqs[n.Op()]; ok {
			holder[i] = add(i, r, lv.end[i])
		}
		if r, ok := scratch[n.Op()]; ok {
			add(i, r, i)
		}
	}
	bySize := slices.Clone(places)
	slices.SortStableFunc(bySize, func(a, b *place) int { return b.size - a.size })
	var laid []*place // by offset
	p := &plan{}
	for _, q := range bySize {
		off := 0
		for _, o := range laid {
			if o.end < q.from || q.end < o.from {
				continue // never live together
			}
			if o.off-off >= q.size {
				break
			}
			off = max(off, o.off+o.size)
		}
		q.off = off
		at, _ := slices.BinarySearchFunc(laid, q, func(a, b *place) int { return a.off - b.off })
		laid = slices.Insert(laid, at, q)
		p.size = max(p.size, off+q.size)
	}
	for _, q := range places {
		for _, r := range q.reqs {
			p.slots = append(p.slots, slot{slotReq: r, off: q.off})
		}
	}
	return p
}

// tape runs a graph's nodes in order. It replaces gorgonia's TapeMachine,
// which allocated about 350 small objects per step (argument slices,
// boxed log arguments); this allocates nothing.
type tape struct {
	steps []tapeStep
	vals  []gorgonia.Value // by position in order
	pos   map[int64]int
}

type tapeStep struct {
	at     int
	op     gorgonia.Op
	in     []int
	args   []gorgonia.Value
	unsafe gorgonia.UnsafeDoer // non-nil: write into the first input
}

func newTape(lv *live) (*tape, error) {
	t := &tape{vals: make([]gorgonia.Value, len(lv.order)), pos: lv.pos}
	for i, n := range lv.order {
		if n.Op() == nil { // an input: the batch or a parameter, bound once
			if t.vals[i] = n.Value(); t.vals[i] == nil {
				return nil, fmt.Errorf("input node %s has no value", n.Name())
			}
			continue
		}
		s := tapeStep{at: i, op: n.Op(), in: lv.kids[i], args: make([]gorgonia.Value, len(lv.kids[i]))}
		if lv.unsafe[i] {
			s.unsafe = n.Op().(gorgonia.UnsafeDoer)
		}
		t.steps = append(t.steps, s)
	}
	return t, nil
}

func (t *tape) run() error {
	for k := range t.steps {
		s := &t.steps[k]
		for j, c := range s.in {
			s.args[j] = t.vals[c]
		}
		var v gorgonia.Value
		var err error
		if s.unsafe != nil {
			v, err = s.unsafe.UnsafeDo(s.args...)
		} else {
			v, err = s.op.Do(s.args...)
		}
		if err != nil {
			return fmt.Errorf("%v: %w", s.op, err)
		}
		t.vals[s.at] = v
	}
	return nil
}

// value is node n's value in the last run (nil if n is not in the graph).
func (t *tape) value(n *gorgonia.Node) gorgonia.Value {
	i, ok := t.pos[n.ID()]
	if !ok {
		return nil
	}
	return t.vals[i]
}
