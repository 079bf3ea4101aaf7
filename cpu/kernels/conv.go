package kernels

import (
	"errors"
	"fmt"
)

// ConvShape is a 2-D convolution: input N x H x W x C (NHWC), weights
// K x C x R x S (OIHW), output N x OutH x OutW x K (NHWC).
type ConvShape struct {
	N, H, W, C  int // input, NHWC
	K, R, S     int // output channels and kernel size; weights are K x C x R x S (OIHW)
	Stride, Pad int
}

// OutH returns the output height.
func (s ConvShape) OutH() int { return (s.H+2*s.Pad-s.R)/s.Stride + 1 }

// OutW returns the output width.
func (s ConvShape) OutW() int { return (s.W+2*s.Pad-s.S)/s.Stride + 1 }

// XLen returns N*H*W*C, the input length.
func (s ConvShape) XLen() int { return s.N * s.H * s.W * s.C }

// WLen returns K*C*R*S.
func (s ConvShape) WLen() int { return s.K * s.C * s.R * s.S }

// YLen returns N*OutH*OutW*K.
func (s ConvShape) YLen() int { return s.N * s.OutH() * s.OutW() * s.K }

// FLOPs returns the multiply-adds of one forward pass times two, counting
// padding taps (the "nominal" count PyTorch comparisons use).
func (s ConvShape) FLOPs() float64 {
	return 2 * float64(s.N) * float64(s.OutH()*s.OutW()) * float64(s.K*s.C*s.R*s.S)
}

func (s ConvShape) String() string {
	return fmt.Sprintf("n%d_%dx%dx%d_k%d_%dx%d_s%d_p%d", s.N, s.H, s.W, s.C, s.K, s.R, s.S, s.Stride, s.Pad)
}

func (s ConvShape) validate() error {
	if s.N < 1 || s.H < 1 || s.W < 1 || s.C < 1 || s.K < 1 || s.R < 1 || s.S < 1 || s.Stride < 1 || s.Pad < 0 {
		return fmt.Errorf("kernels: conv shape %+v: sizes and stride must be >= 1, pad >= 0", s)
	}
	if s.H+2*s.Pad < s.R || s.W+2*s.Pad < s.S {
		return fmt.Errorf("kernels: conv shape %+v: kernel %dx%d larger than padded input %dx%d", s, s.R, s.S, s.H+2*s.Pad, s.W+2*s.Pad)
	}
	return nil
}

// ConvLib names a convolution implementation.
type ConvLib int

const (
	// ConvAuto picks the fastest available library (see the package doc).
	ConvAuto ConvLib = iota
	// ConvOneDNN is oneDNN's direct convolution on nhwc activations.
	ConvOneDNN
	// ConvGEMM is im2col plus OpenBLAS SGEMM.
	ConvGEMM
	// ConvOneDNNBF16 is oneDNN's direct convolution reading bf16 copies of
	// x, w and dy (made by oneDNN reorders each call) and accumulating in
	// fp32; y, dx and dw stay fp32. It needs a CPU with avx512_bf16
	// (HasBF16): elsewhere NewConvLib fails with ErrNoBF16.
	ConvOneDNNBF16
)

// ErrNoBF16 is NewConvLib's error for ConvOneDNNBF16 on a CPU without
// native bf16 arithmetic.
var ErrNoBF16 = errors.New("kernels: this CPU has no avx512_bf16: bf16 convolutions would run emulated")

func (l ConvLib) String() string {
	switch l {
	case ConvAuto:
		return "auto"
	case ConvOneDNN:
		return "onednn"
	case ConvGEMM:
		return "openblas"
	case ConvOneDNNBF16:
		return "onednn-bf16"
	}
	return fmt.Sprintf("ConvLib(%d)", int(l))
}

// convImpl is one library's convolution plan.
type convImpl interface {
	forward(x, w, y []float32) error
	backwardData(dy, w, dx []float32) error
	backwardWeights(x, dy, dw []float32) error
	close() error
}

// Conv is a planned convolution: primitives and workspaces are made once
// in NewConv, so the passes allocate nothing.
type Conv struct {
	s    ConvShape
	lib  ConvLib
	impl convImpl
}

// NewConv plans a convolution of shape s with the fastest library.
func NewConv(s ConvShape) (*Conv, error) { return NewConvLib(s, ConvAuto) }

// NewConvLib plans a convolution of shape s with the given library.
func NewConvLib(s ConvShape, lib ConvLib) (*Conv, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if lib == ConvAuto {
		lib = defaultConvLib
	}
	var (
		impl convImpl
		err  error
	)
	switch lib {
	case ConvGEMM:
		impl, err = newGemmConv(s)
	case ConvOneDNN:
		impl, err = newDnnlConv(s, false)
	case ConvOneDNNBF16:
		if !HasBF16() {
			return nil, ErrNoBF16
		}
		impl, err = newDnnlConv(s, true)
	default:
		return nil, fmt.Errorf("kernels: NewConvLib: unknown library %v", lib)
	}
	if err != nil {
		return nil, fmt.Errorf("kernels: NewConvLib(%v, %v): %w", s, lib, err)
	}
	return &Conv{s: s, lib: lib, impl: impl}, nil
}

// Shape returns the convolution's shape.
func (c *Conv) Shape() ConvShape { return c.s }

// Lib returns the library that runs the convolution.
func (c *Conv) Lib() ConvLib { return c.lib }

// Impl describes the implementation of each pass, e.g. oneDNN's kernel
// names ("fwd=brgconv:avx512_core bwd_data=... bwd_weights=..."), for logs
// and reports.
func (c *Conv) Impl() string {
	if d, ok := c.impl.(*dnnlConv); ok {
		return fmt.Sprintf("fwd=%s bwd_data=%s bwd_weights=%s", d.impl(0), d.impl(1), d.impl(2))
	}
	return c.lib.String()
}

// Forward computes y = conv(x, w).
func (c *Conv) Forward(x, w, y []float32) error {
	if err := checkLens("Conv.Forward", []lenCheck{{"x", len(x), c.s.XLen()}, {"w", len(w), c.s.WLen()}, {"y", len(y), c.s.YLen()}}); err != nil {
		return err
	}
	return c.impl.forward(x, w, y)
}

// BackwardData computes dx = dL/dx (overwritten) from dy = dL/dy.
func (c *Conv) BackwardData(dy, w, dx []float32) error {
	if err := checkLens("Conv.BackwardData", []lenCheck{{"dy", len(dy), c.s.YLen()}, {"w", len(w), c.s.WLen()}, {"dx", len(dx), c.s.XLen()}}); err != nil {
		return err
	}
	return c.impl.backwardData(dy, w, dx)
}

// BackwardWeights computes dw = dL/dw (overwritten, OIHW).
func (c *Conv) BackwardWeights(x, dy, dw []float32) error {
	if err := checkLens("Conv.BackwardWeights", []lenCheck{{"x", len(x), c.s.XLen()}, {"dy", len(dy), c.s.YLen()}, {"dw", len(dw), c.s.WLen()}}); err != nil {
		return err
	}
	return c.impl.backwardWeights(x, dy, dw)
}

// dnnl16 returns the oneDNN convolution of a ConvOneDNNBF16 Conv, the one
// kind whose backward passes read a bf16 dy.
func (c *Conv) dnnl16(fn string) (*dnnlConv, error) {
	d, ok := c.impl.(*dnnlConv)
	if !ok || c.lib != ConvOneDNNBF16 {
		return nil, fmt.Errorf("kernels: Conv.%s: needs the bf16 convolutions (%v), have %v", fn, ConvOneDNNBF16, c.lib)
	}
	return d, nil
}

// BackwardDataBF16 is BackwardData reading dy as bf16 values (dy16, NHWC,
// uint16 storage), which the bf16 convolutions read anyway: a caller that
// writes its gradient in bf16 saves the conversion. Only for
// ConvOneDNNBF16; the result equals BackwardData's on the float32 dy
// whose bf16 rounding dy16 is.
func (c *Conv) BackwardDataBF16(dy16 []uint16, w, dx []float32) error {
	d, err := c.dnnl16("BackwardDataBF16")
	if err != nil {
		return err
	}
	if err := checkLens("Conv.BackwardDataBF16", []lenCheck{{"dy16", len(dy16), c.s.YLen()}, {"w", len(w), c.s.WLen()}, {"dx", len(dx), c.s.XLen()}}); err != nil {
		return err
	}
	return d.backwardData16(dy16, w, dx)
}

// BF16 is an operand of a bf16 convolution pass: either its float32
// values (F32), which the pass rounds to bf16 itself, or that rounding
// already made (H, NHWC, uint16 storage), read as it is. Exactly one is
// set.
type BF16 struct {
	F32 []float32
	H   []uint16
}

// check is b's length check, named name or name16 by its form (two
// constants, so that a step's checks allocate nothing).
func (b BF16) check(name, name16 string, want int) (lenCheck, error) {
	switch {
	case (b.F32 == nil) == (b.H == nil):
		return lenCheck{}, fmt.Errorf("%s: want exactly one of its float32 and bf16 forms", name)
	case b.H != nil:
		return lenCheck{name16, len(b.H), want}, nil
	}
	return lenCheck{name, len(b.F32), want}, nil
}

// BackwardWeightsBF16 is BackwardWeights reading x and dy each in either
// form (BF16). Only for ConvOneDNNBF16; the result equals
// BackwardWeights' on float32 operands whose bf16 rounding the bf16 forms
// are.
func (c *Conv) BackwardWeightsBF16(x, dy BF16, dw []float32) error {
	d, err := c.dnnl16("BackwardWeightsBF16")
	if err != nil {
		return err
	}
	xc, err := x.check("x", "x16", c.s.XLen())
	if err != nil {
		return fmt.Errorf("kernels: Conv.BackwardWeightsBF16: %w", err)
	}
	dyc, err := dy.check("dy", "dy16", c.s.YLen())
	if err != nil {
		return fmt.Errorf("kernels: Conv.BackwardWeightsBF16: %w", err)
	}
	if err := checkLens("Conv.BackwardWeightsBF16", []lenCheck{xc, dyc, {"dw", len(dw), c.s.WLen()}}); err != nil {
		return err
	}
	return d.backwardWeights16(x.F32, x.H, dy.F32, dy.H, dw)
}

// InputBF16 writes into x16 (NHWC, uint16 storage) the bf16 rounding of x
// that the conv's passes read: the same conversion they make of a float32
// x. A graph that keeps x16 for the backward instead of x halves that
// activation's memory, at no extra conversion. Only for ConvOneDNNBF16.
func (c *Conv) InputBF16(x []float32, x16 []uint16) error {
	d, err := c.dnnl16("InputBF16")
	if err != nil {
		return err
	}
	if err := checkLens("Conv.InputBF16", []lenCheck{{"x", len(x), c.s.XLen()}, {"x16", len(x16), c.s.XLen()}}); err != nil {
		return err
	}
	return d.input16(x, x16)
}

// ForwardBF16 is Forward reading x as bf16 values (x16, InputBF16's).
// Only for ConvOneDNNBF16.
func (c *Conv) ForwardBF16(x16 []uint16, w, y []float32) error {
	d, err := c.dnnl16("ForwardBF16")
	if err != nil {
		return err
	}
	if err := checkLens("Conv.ForwardBF16", []lenCheck{{"x16", len(x16), c.s.XLen()}, {"w", len(w), c.s.WLen()}, {"y", len(y), c.s.YLen()}}); err != nil {
		return err
	}
	return d.forward16(x16, w, y)
}

// Close frees the C resources; the Conv must not be used afterwards.
func (c *Conv) Close() error {
	if c.impl == nil {
		return nil
	}
	err := c.impl.close()
	c.impl = closedConv{}
	return err
}

type closedConv struct{}

var errClosed = fmt.Errorf("kernels: Conv used after Close")

func (closedConv) forward(x, w, y []float32) error           { return errClosed }
func (closedConv) backwardData(dy, w, dx []float32) error    { return errClosed }
func (closedConv) backwardWeights(x, dy, dw []float32) error { return errClosed }
func (closedConv) close() error                              { return nil }
