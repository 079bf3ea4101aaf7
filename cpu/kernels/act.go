package kernels

import (
	"fmt"
	"math"
)

// ActKind names an elementwise activation.
type ActKind int

const (
	ActIdentity ActKind = iota
	ActReLU
	// ActCELU is x for x > 0, Alpha*(exp(x/Alpha)-1) otherwise.
	ActCELU
	// ActShiftScaleReLU is (relu(x)-sqrt(1/pi))/sqrt(1-1/pi): a ReLU whose
	// output has zero mean and unit variance for standard normal input.
	ActShiftScaleReLU
	// ActGELU is x*Phi(x), Phi the standard normal CDF (PyTorch's exact,
	// erf GELU), with Phi to 1e-7 (gelu in exp.go).
	ActGELU
)

func (k ActKind) String() string {
	switch k {
	case ActIdentity:
		return "identity"
	case ActReLU:
		return "relu"
	case ActCELU:
		return "celu"
	case ActShiftScaleReLU:
		return "shiftscalerelu"
	case ActGELU:
		return "gelu"
	}
	return fmt.Sprintf("ActKind(%d)", int(k))
}

// Activation is an activation and its parameter.
type Activation struct {
	Kind  ActKind
	Alpha float32 // CELU's alpha; must be > 0 for ActCELU
}

// Shift-scale ReLU constants, computed in float64 and rounded once.
var (
	ssrShift = math.Sqrt(1 / math.Pi)
	ssrScale = 1 / math.Sqrt(1-1/math.Pi)
)

func (a Activation) validate() error {
	switch a.Kind {
	case ActIdentity, ActReLU, ActShiftScaleReLU, ActGELU:
		return nil
	case ActCELU:
		if !(a.Alpha > 0) {
			return fmt.Errorf("kernels: CELU alpha %v: must be > 0", a.Alpha)
		}
		return nil
	}
	return fmt.Errorf("kernels: unknown activation kind %d", int(a.Kind))
}

// ActForward computes y = act(x) elementwise. y may alias x. It runs the
// vectorised C loops (bn_simd.h) on the worker pool where the CPU has
// AVX2 or AVX-512, bit for bit actForward's Go loops.
func ActForward(a Activation, x, y []float32) error {
	if err := a.validate(); err != nil {
		return err
	}
	if len(x) != len(y) {
		return fmt.Errorf("kernels: ActForward: len(x)=%d, len(y)=%d: want equal", len(x), len(y))
	}
	actRun(actTask{a: a, fwd: true, x: x, y: y})
	return nil
}

// ActBackward computes dx = dy * act'(x), where x is the activation's input.
// dx may alias dy.
func ActBackward(a Activation, x, dy, dx []float32) error {
	if err := a.validate(); err != nil {
		return err
	}
	if len(x) != len(dy) || len(x) != len(dx) {
		return fmt.Errorf("kernels: ActBackward: len(x)=%d, len(dy)=%d, len(dx)=%d: want equal", len(x), len(dy), len(dx))
	}
	actRun(actTask{a: a, x: x, dy: dy, dx: dx})
	return nil
}

// actTask is one ActForward or ActBackward call, split into element
// ranges of whole 64-byte lines.
type actTask struct {
	a          Activation
	fwd        bool
	x, y       []float32
	dy, dx     []float32
	isa        ISA
	maxPerCall int // elements per C call (its int arguments), 0: all
}

func (t *actTask) run(i, n int) {
	blocks := (len(t.x) + 15) / 16
	lo, hi := span(blocks, i, n)
	lo, hi = min(lo*16, len(t.x)), min(hi*16, len(t.x))
	if lo >= hi {
		return
	}
	if t.isa == ISANone {
		if t.fwd {
			actForward(t.a, t.x[lo:hi], t.y[lo:hi])
		} else {
			actBackward(t.a, t.x[lo:hi], t.dy[lo:hi], t.dx[lo:hi])
		}
		return
	}
	for c0 := lo; c0 < hi; c0 += 1 << 30 {
		actSIMD(t, c0, min(c0+1<<30, hi))
	}
}

// actRun runs t on the worker pool with the host's C loops (ISANone: the
// Go loops). A small call stays on the caller.
func actRun(t actTask) {
	t.isa = HostISA()
	if len(t.x) < 1<<14 {
		t.run(0, 1)
		return
	}
	p := pool()
	if !p.acquire() {
		t.run(0, 1)
		return
	}
	defer p.busy.Unlock()
	p.act = t
	p.runHeld(&p.act)
	p.act = actTask{}
}

func actForward(a Activation, x, y []float32) {
	y = y[:len(x)]
	switch a.Kind {
	case ActIdentity:
		copy(y, x)
	case ActReLU:
		for i, v := range x {
			y[i] = reluBits(v)
		}
	case ActCELU:
		al, ia := a.Alpha, 1/a.Alpha
		for i, v := range x {
			y[i] = celu(v, al, ia)
		}
	case ActShiftScaleReLU:
		sh, sc := float32(ssrShift), float32(ssrScale)
		for i, v := range x {
			y[i] = (reluBits(v) - sh) * sc
		}
	case ActGELU:
		for i, v := range x {
			y[i] = gelu(v)
		}
	}
}

func actBackward(a Activation, x, dy, dx []float32) {
	dy = dy[:len(x)]
	dx = dx[:len(x)]
	switch a.Kind {
	case ActIdentity:
		copy(dx, dy)
	case ActReLU:
		for i, v := range x {
			dx[i] = keepIfPositive(v, dy[i])
		}
	case ActCELU:
		ia := 1 / a.Alpha
		for i, v := range x {
			dx[i] = dy[i] * celuGrad(v, ia)
		}
	case ActShiftScaleReLU:
		sc := float32(ssrScale)
		for i, v := range x {
			if v > 0 {
				dx[i] = dy[i] * sc
			} else {
				dx[i] = 0
			}
		}
	case ActGELU:
		for i, v := range x {
			dx[i] = dy[i] * geluGrad(v)
		}
	}
}
