package cuda

import (
	"speedrun/model"
)

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
