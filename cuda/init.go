package cuda

import (
	"math/rand/v2"

	"speedrun/model"
)

// initParams draws spec's parameters from seed exactly as the CPU engine
// does (model.InitParams on one PCG stream (seed, 0x1a17), PyTorch
// layouts), so that both engines start a run from the same weights; conv
// and linear weights are then multiplied by initScale (E6.3). Whitening
// filters stay zero; the caller sets them from the data.
func initParams(spec *model.Spec, seed uint64, initScale float64) ([][]float32, error) {
	out := make([][]float32, len(spec.Params))
	for i, p := range spec.Params {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		out[i] = make([]float32, n)
	}
	if err := model.InitParams(spec, out, rand.New(rand.NewPCG(seed, 0x1a17))); err != nil {
		return nil, err
	}
	if initScale > 0 && initScale != 1 {
		for i, p := range spec.Params {
			if p.Role == model.RoleWeight {
				for j := range out[i] {
					out[i][j] *= float32(initScale)
				}
			}
		}
	}
	return out, nil
}

// convWeightOf maps a parameter index to the conv layer whose weight it
// is (-1 for every other parameter).
func convWeightOf(spec *model.Spec) []int {
	of := make([]int, len(spec.Params))
	for i := range of {
		of[i] = -1
	}
	for i, l := range spec.Layers {
		if l.Op == model.OpConv {
			of[l.Params[0]] = i
		}
	}
	return of
}

// oihwToKRSC permutes a conv weight from PyTorch's O x I x K x K to
// cuDNN's NHWC filter layout O x K x K x I; krscToOIHW undoes it.
func oihwToKRSC(dst, src []float32, o, in, k int) {
	for a := range o {
		for c := range in {
			for r := range k {
				for s := range k {
					dst[((a*k+r)*k+s)*in+c] = src[((a*in+c)*k+r)*k+s]
				}
			}
		}
	}
}

func krscToOIHW(dst, src []float32, o, in, k int) {
	for a := range o {
		for c := range in {
			for r := range k {
				for s := range k {
					dst[((a*in+c)*k+r)*k+s] = src[((a*k+r)*k+s)*in+c]
				}
			}
		}
	}
}
