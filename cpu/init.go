package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"

	"speedrun/model"
)

// initParams fills every parameter from rng in Spec order. Whitening
// filters are left zero: they come from the data (setWhitening).
func initParams(spec *model.Spec, params [][]float32, rng *rand.Rand) error {
	for i, p := range spec.Params {
		w := params[i]
		switch p.Init {
		case model.InitUniformFanIn, model.InitHeUniform:
			if p.FanIn <= 0 {
				return fmt.Errorf("param %s: init %s needs fan_in > 0", p.Name, p.Init)
			}
			bound := 1 / math.Sqrt(float64(p.FanIn))
			if p.Init == model.InitHeUniform {
				bound = math.Sqrt(6 / float64(p.FanIn))
			}
			for j := range w {
				w[j] = float32((2*rng.Float64() - 1) * bound)
			}
		case model.InitUniform01:
			for j := range w {
				w[j] = float32(rng.Float64())
			}
		case model.InitOnes:
			for j := range w {
				w[j] = 1
			}
		case model.InitZeros, model.InitWhiten:
			clear(w)
		default:
			return fmt.Errorf("param %s: unknown init %q", p.Name, p.Init)
		}
	}
	return nil
}
