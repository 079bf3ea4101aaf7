package train

import (
	"fmt"
	"math/rand/v2"

	"speedrun/backend"
	"speedrun/model"
)

// initSalt is the weight-init stream of a run's seed: its own PCG stream,
// so the weights do not depend on how much data augmentation draws.
const initSalt = 0x1a17

// InitParams draws the run's initial parameters (model.InitParams,
// PyTorch's default inits and layouts) from its seed; for E6.3 the conv
// and linear weights are then multiplied by analysis.init_scale.
// Whitening filters stay zero until Run fills them from the data.
func InitParams(req backend.Request) ([][]float32, error) {
	spec := req.Spec
	out := make([][]float32, len(spec.Params))
	for i, p := range spec.Params {
		out[i] = make([]float32, model.Numel(p.Shape))
	}
	if err := model.InitParams(spec, out, rand.New(rand.NewPCG(req.Seed, initSalt))); err != nil {
		return nil, fmt.Errorf("network %s: %w", spec.Name, err)
	}
	if a := req.Config.Analysis; a != nil && a.InitScale > 0 && a.InitScale != 1 {
		for i, p := range spec.Params {
			if p.Role == model.RoleWeight {
				for j := range out[i] {
					out[i][j] *= float32(a.InitScale)
				}
			}
		}
	}
	return out, nil
}
