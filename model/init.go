package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// InitParams fills params (one slice per spec.Params entry, already sized)
// from rng in Spec order with PyTorch's default inits. Both engines call it,
// so a run starts from the same weights on either. Whitening filters are
// left zero: they come from the data.
func InitParams(spec *Spec, params [][]float32, rng *rand.Rand) error {
	for i, p := range spec.Params {
		w := params[i]
		switch p.Init {
		case InitUniformFanIn, InitHeUniform, InitDirac, InitUnitStd:
			if p.FanIn <= 0 {
				return fmt.Errorf("param %s: init %s needs fan_in > 0", p.Name, p.Init)
			}
			bound := 1 / math.Sqrt(float64(p.FanIn))
			if p.Init == InitHeUniform {
				bound = math.Sqrt(6 / float64(p.FanIn))
			}
			for j := range w {
				w[j] = float32((2*rng.Float64() - 1) * bound)
			}
			// The adjustments come after the draw, so they leave the
			// stream, and every later parameter, as they are.
			switch p.Init {
			case InitDirac:
				if err := Dirac(w, p.Shape); err != nil {
					return fmt.Errorf("param %s: %w", p.Name, err)
				}
			case InitUnitStd:
				UnitStd(w)
			}
		case InitUniform01:
			for j := range w {
				w[j] = float32(rng.Float64())
			}
		case InitOnes:
			for j := range w {
				w[j] = 1
			}
		case InitZeros, InitWhiten:
			clear(w)
		default:
			return fmt.Errorf("param %s: unknown init %q", p.Name, p.Init)
		}
	}
	return nil
}

// Dirac sets the first min(Out, In) filters of a conv weight (Out x In x K
// x K) to the identity: filter o is 1 at tap (K/2, K/2) of input channel o
// and 0 elsewhere, as torch.nn.init.dirac_(w[:In]) does. The other
// filters keep their values.
func Dirac(w []float32, shape []int) error {
	if len(shape) != 4 || shape[2] != shape[3] || len(w) != Numel(shape) {
		return fmt.Errorf("dirac init of a %v weight (%d floats): want Out x In x K x K", shape, len(w))
	}
	out, in, k := shape[0], shape[1], shape[2]
	per := in * k * k
	for o := range min(out, in) {
		f := w[o*per : (o+1)*per]
		clear(f)
		f[o*k*k+(k/2)*k+k/2] = 1
	}
	return nil
}

// UnitStd divides w by its standard deviation (PyTorch's Tensor.std: the
// unbiased one, about its mean), computed in float64.
func UnitStd(w []float32) {
	if len(w) < 2 {
		return
	}
	var sum float64
	for _, v := range w {
		sum += float64(v)
	}
	mean := sum / float64(len(w))
	var ss float64
	for _, v := range w {
		d := float64(v) - mean
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(len(w)-1))
	if sd == 0 {
		return
	}
	for i := range w {
		w[i] = float32(float64(w[i]) / sd)
	}
}
