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
	// ActSoftplus is log(1+exp(Beta*x))/Beta, and x where Beta*x >
	// Threshold (PyTorch's Softplus).
	ActSoftplus
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
	case ActSoftplus:
		return "softplus"
	}
	return fmt.Sprintf("ActKind(%d)", int(k))
}

// Activation is an activation and its parameter.
type Activation struct {
	Kind  ActKind
	Alpha float32 // CELU's alpha; must be > 0 for ActCELU
	// Beta and Threshold are ActSoftplus's; both must be > 0.
	Beta, Threshold float32
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
	case ActSoftplus:
		if !(a.Beta > 0) || !(a.Threshold > 0) {
			return fmt.Errorf("kernels: softplus beta %v, threshold %v: must be > 0", a.Beta, a.Threshold)
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
	if t.a.Kind == ActSoftplus {
		// No C loop: softplus's float64 exp and log1p take the pool
		// themselves (softplusTask).
		t.run(0, 1)
		return
	}
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
	case ActSoftplus:
		pool().do(&softplusTask{a: a, x: x, out: y})
	}
}

// softplusTask runs softplus (dy nil) or its backward over parts of x on
// the worker pool: its float64 exp and log1p cost more than the small
// convolutions of post 7's analysis nets around them.
type softplusTask struct {
	a          Activation
	x, dy, out []float32
}

func (t *softplusTask) run(part, parts int) {
	lo, hi := span(len(t.x), part, parts)
	beta, th := float64(t.a.Beta), float64(t.a.Threshold)
	if t.dy == nil {
		for i := lo; i < hi; i++ {
			t.out[i] = float32(softplus(float64(t.x[i]), beta, th))
		}
		return
	}
	for i := lo; i < hi; i++ {
		t.out[i] = t.dy[i] * float32(softplusGrad(float64(t.x[i]), beta, th))
	}
}

// softplus and softplusGrad are in float64: the post-7 analyses that use
// softplus difference gradients (E7.8's Hessian-vector products), so
// the activation's own rounding should be float32's and no worse.
func softplus(x, beta, threshold float64) float64 {
	if beta*x > threshold {
		return x
	}
	return math.Log1p(math.Exp(beta*x)) / beta
}

// softplusGrad is the sigmoid of beta*x below the threshold, 1 above.
func softplusGrad(x, beta, threshold float64) float64 {
	if beta*x > threshold {
		return 1
	}
	return 1 / (1 + math.Exp(-beta*x))
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
	case ActSoftplus:
		pool().do(&softplusTask{a: a, x: x, dy: dy, out: dx})
	}
}
