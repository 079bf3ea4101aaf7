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
		case InitUniformFanIn, InitHeUniform:
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
