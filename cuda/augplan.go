package cuda

import (
	"speedrun/cuda/kernels"
	"speedrun/data"
)

// augArrays writes a drawn epoch plan as the arrays the augment kernels
// read besides its order: kernels.AugParams parameters and the label of
// each batch position. TestEpochPlanMatchesLoader holds them to the CPU
// loader's images.
func augArrays(plan *data.EpochPlan, cutout int, labels, par, y []int32) {
	cut := int32(cutout)
	for j, img := range plan.Order {
		cx, cy, kx, ky, flip := plan.Choice(img)
		f := int32(0)
		if flip {
			f = 1
		}
		q := par[j*kernels.AugParams:][:kernels.AugParams]
		// augment_*'s order: oy, ox, flip, cutout y, x, h, w.
		q[0], q[1], q[2], q[3], q[4], q[5], q[6] = int32(cy), int32(cx), f, int32(ky), int32(kx), cut, cut
		y[j] = labels[img]
	}
}
