package cpu

import (
	"fmt"
	"hash"
	"hash/fnv"
	"time"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// base holds what every one of our gorgonia Ops shares: its kind (for the
// profile), an id unique within the compiled model (gorgonia hash-conses
// nodes by op hash and children, so two stateful ops must never hash
// alike), the ranks of its inputs and its output shape (nil: a scalar).
type base struct {
	kind  string
	id    int
	in    []int
	shape tensor.Shape
	prof  *profile
	// in16 marks the inputs, and out16 the output, that are bf16 tensors
	// (uint16 storage): a batch norm's gradient written for a bf16 conv.
	in16  []bool
	out16 bool

	scratch   [][]float32
	scratch16 [][]uint16 // unpack's bf16 inputs, nil for the float32 ones
}

func (b *base) Arity() int { return len(b.in) }

func (b *base) Type() hm.Type {
	ts := make([]hm.Type, 0, len(b.in)+1)
	for i, d := range b.in {
		ts = append(ts, typeOfRank(d, b.isIn16(i)))
	}
	ts = append(ts, typeOfRank(len(b.shape), b.out16))
	return hm.NewFnType(ts...)
}

func (b *base) isIn16(i int) bool { return i < len(b.in16) && b.in16[i] }

// typeOfRank is the type of a float32 value of rank d, or with bf16 of a
// bf16 tensor (stored as uint16: gorgonia has no bf16, and only our ops
// read these values).
func typeOfRank(d int, bf16 bool) hm.Type {
	dt := tensor.Float32
	if bf16 {
		dt = tensor.Uint16
	}
	if d == 0 {
		return dt
	}
	return gorgonia.TensorType{Dims: d, Of: dt}
}

func (b *base) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(b.shape) == 0 {
		return tensor.ScalarShape(), nil
	}
	return b.shape.Clone(), nil
}

// Our ops return buffers they own (never an input), call no extern
// machinery the compiler must manage, and never overwrite an input.
func (b *base) ReturnsPtr() bool      { return false }
func (b *base) CallsExtern() bool     { return false }
func (b *base) OverwritesInput() int  { return -1 }
func (b *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "speedrun.%s#%d", b.kind, b.id) }
func (b *base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}
func (b *base) String() string { return fmt.Sprintf("%s#%d", b.kind, b.id) }

// done records the time since start under the op's kind.
func (b *base) done(start time.Time) {
	if b.prof != nil {
		b.prof.add(b.kind, time.Since(start))
	}
}

// profile accumulates time per op kind; the map stops allocating once
// every kind has been seen.
type profile struct {
	t     map[string]time.Duration
	calls map[string]int
}

func newProfile() *profile {
	return &profile{t: map[string]time.Duration{}, calls: map[string]int{}}
}

func (p *profile) add(kind string, d time.Duration) {
	p.t[kind] += d
	p.calls[kind]++
}

func (p *profile) reset() {
	clear(p.t)
	clear(p.calls)
}

// buffer is an op-owned output: a float32 slice and a Dense over it that
// is returned from Do every step, so the steady state allocates nothing.
// Activation-sized ones are views into the Trainer's arena (plan.go). A
// bf16 buffer (planned with bf16 set) holds its values in h, and t is a
// uint16 Dense over h; data is then nil.
type buffer struct {
	data []float32
	h    []uint16
	t    *tensor.Dense
}

func newBuffer(shape tensor.Shape) buffer {
	data := make([]float32, shape.TotalSize())
	return buffer{data: data, t: tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))}
}

// f32s returns the float32 backing of a gorgonia value.
func f32s(v gorgonia.Value) ([]float32, error) {
	switch d := v.(type) {
	case *tensor.Dense:
		if d.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("want float32 tensor, got %v", d.Dtype())
		}
		return d.Float32s(), nil
	case *gorgonia.F32:
		return unsafe.Slice((*float32)(d), 1), nil
	}
	return nil, fmt.Errorf("want a float32 tensor, got %T", v)
}

// input16 returns the uint16 backing of input i, a bf16 tensor.
func (b *base) input16(vs []gorgonia.Value, i int) ([]uint16, error) {
	if d, ok := vs[i].(*tensor.Dense); ok && d.Dtype() == tensor.Uint16 {
		return d.Uint16s(), nil
	}
	return nil, fmt.Errorf("%s: input %d: want a bf16 (uint16) tensor, got %T", b, i, vs[i])
}

// unpack returns the float32 backings of the op's input values in a
// scratch slice the op reuses; a bf16 input's entry is nil, and its
// uint16 backing is in b.scratch16.
func (b *base) unpack(vs []gorgonia.Value) ([][]float32, error) {
	if len(vs) != len(b.in) {
		return nil, fmt.Errorf("%s: got %d inputs, want %d", b, len(vs), len(b.in))
	}
	if b.scratch == nil {
		b.scratch = make([][]float32, len(b.in))
		b.scratch16 = make([][]uint16, len(b.in))
	}
	for i, v := range vs {
		if b.isIn16(i) {
			h, err := b.input16(vs, i)
			if err != nil {
				return nil, err
			}
			b.scratch[i], b.scratch16[i] = nil, h
			continue
		}
		d, err := f32s(v)
		if err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", b, i, err)
		}
		b.scratch[i] = d
	}
	return b.scratch, nil
}
