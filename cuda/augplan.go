package cuda

import (
	"fmt"

	"speedrun/cuda/kernels"
	"speedrun/data"
)

// epochPlan is one epoch of the CPU loader's augmentation (data.EpochPlan,
// the same draws for the same seed), kept as the three arrays the GPU
// needs: image index, augment_* parameters and label, in batch order.
// TestEpochPlanMatchesLoader holds it to the loader's images.
type epochPlan struct {
	src    *data.EpochPlan
	cutout int32
	labels []int32 // of the training images
	order  []int32 // image of each batch position: the kernel's idx
	par    []int32 // kernels.AugParams per batch position
	y      []int32 // label of each batch position
}

func newEpochPlan(aug data.Augment, pad int, labels []int32) (*epochPlan, error) {
	n := len(labels)
	src, err := data.NewEpochPlan(aug, pad, n)
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	return &epochPlan{src: src, cutout: int32(aug.Cutout), labels: labels,
		order: src.Order, par: make([]int32, n*kernels.AugParams), y: make([]int32, n)}, nil
}

// draw fills the plan of epoch e.
func (p *epochPlan) draw(seed uint64, e int) {
	p.src.Draw(seed, e)
	for j, img := range p.order {
		cx, cy, kx, ky, flip := p.src.Choice(img)
		f := int32(0)
		if flip {
			f = 1
		}
		q := p.par[j*kernels.AugParams:][:kernels.AugParams]
		// augment_*'s order: oy, ox, flip, cutout y, x, h, w.
		q[0], q[1], q[2], q[3], q[4], q[5], q[6] = int32(cy), int32(cx), f, int32(ky), int32(kx), p.cutout, p.cutout
		p.y[j] = p.labels[img]
	}
}
