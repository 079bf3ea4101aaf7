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
	case ActIdentity, ActReLU, ActShiftScaleReLU:
		return nil
	case ActCELU:
		if !(a.Alpha > 0) {
			return fmt.Errorf("kernels: CELU alpha %v: must be > 0", a.Alpha)
		}
		return nil
	}
	return fmt.Errorf("kernels: unknown activation kind %d", int(a.Kind))
}

// ActForward computes y = act(x) elementwise. y may alias x.
func ActForward(a Activation, x, y []float32) error {
	if err := a.validate(); err != nil {
		return err
	}
	if len(x) != len(y) {
		return fmt.Errorf("kernels: ActForward: len(x)=%d, len(y)=%d: want equal", len(x), len(y))
	}
	actForward(a, x, y)
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
	actBackward(a, x, dy, dx)
	return nil
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
	}
}
