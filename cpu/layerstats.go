package cpu

import (
	"math"

	"speedrun/backend"
	"speedrun/model"
)

// layerStats measures, for every conv and linear weight, |w|, |g| and the
// relative update |Δw|/|w| of one step (post 6, E6.1). It keeps a copy of
// the weights from before the step in buffers made once.
type layerStats struct {
	idx    []int // Spec.Params indices of the weights followed
	before [][]float32
	out    []backend.LayerStat
}

func newLayerStats(spec *model.Spec) *layerStats {
	s := &layerStats{}
	for i, p := range spec.Params {
		if p.Role == model.RoleWeight && !p.Frozen {
			s.idx = append(s.idx, i)
			s.before = append(s.before, make([]float32, numel(p.Shape)))
		}
	}
	s.out = make([]backend.LayerStat, len(s.idx))
	return s
}

// save copies the weights before a step.
func (s *layerStats) save(st *state) {
	for k, i := range s.idx {
		copy(s.before[k], st.params[i])
	}
}

// measure returns the stats of the step just taken; the slice is reused.
func (s *layerStats) measure(spec *model.Spec, st *state, grads [][]float32, step int, epoch float64) []backend.LayerStat {
	for k, i := range s.idx {
		w, b := st.params[i], s.before[k]
		var dw float64
		for j := range w {
			d := float64(w[j]) - float64(b[j])
			dw += d * d
		}
		wn := norm(b)
		upd := math.NaN()
		if wn > 0 {
			upd = math.Sqrt(dw) / wn
		}
		s.out[k] = backend.LayerStat{Step: step, Epoch: epoch, Layer: spec.Params[i].Name, WeightNorm: wn, GradNorm: norm(grads[i]), Update: upd}
	}
	return s.out
}
