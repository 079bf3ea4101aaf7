package cuda

import (
	"math/rand/v2"

	"speedrun/cuda/kernels"
	"speedrun/data"
)

// augSalt is data's augmentation salt (data/augment.go): the GPU engine
// draws every epoch's order and choices from the same PCG stream as the
// CPU loader, so both engines train on the same images.
// TestEpochPlanMatchesLoader holds the two to the same images.
const augSalt = 0x6175676d656e7421

// epochPlan is one epoch of the CPU loader's bulk augmentation (data
// planner and Loader.Epoch), kept as the three arrays the GPU needs:
// image index, augment_* parameters and label, in batch order.
type epochPlan struct {
	aug    data.Augment
	pad    int
	groups int
	labels []int32 // of the training images
	cx, cy []int32 // per image: crop offset
	kx, ky []int32 // per image: cutout corner
	flip   []int32
	perm   []int32
	opts   []int32
	order  []int32 // image of each batch position: the kernel's idx
	par    []int32 // kernels.AugParams per batch position
	y      []int32 // label of each batch position
}

func newEpochPlan(aug data.Augment, pad int, labels []int32) *epochPlan {
	n := len(labels)
	p := &epochPlan{aug: aug, pad: pad, labels: labels, groups: aug.MaxGroups,
		cx: make([]int32, n), cy: make([]int32, n), kx: make([]int32, n), ky: make([]int32, n), flip: make([]int32, n),
		order: make([]int32, n), par: make([]int32, n*kernels.AugParams), y: make([]int32, n)}
	if p.groups <= 0 {
		p.groups = data.DefaultMaxGroups
	}
	if aug.Grouped {
		p.perm = make([]int32, n)
		k := max((2*pad+1)*(2*pad+1), 2)
		if c := data.Height - aug.Cutout + 1; c*c > k {
			k = c * c
		}
		p.opts = make([]int32, k)
	}
	return p
}

// draw fills the plan of epoch e, in the loader's draw order.
func (p *epochPlan) draw(seed uint64, e int) {
	rng := rand.New(rand.NewPCG(seed^augSalt, uint64(e)))
	a := p.aug
	crops := int32(2*p.pad + 1)
	cuts := int32(data.Height - a.Cutout + 1)
	for i := range p.cx {
		p.cx[i], p.cy[i], p.kx[i], p.ky[i], p.flip[i] = int32(p.pad), int32(p.pad), 0, 0, 0
	}
	if !a.Grouped {
		for i := range p.cx {
			if a.Crop {
				p.cx[i], p.cy[i] = int32(rng.IntN(int(crops))), int32(rng.IntN(int(crops)))
			}
			if a.Flip {
				p.flip[i] = int32(rng.Uint64() & 1)
			}
			if a.Cutout > 0 {
				p.kx[i], p.ky[i] = int32(rng.IntN(int(cuts))), int32(rng.IntN(int(cuts)))
			}
		}
	} else {
		if a.Crop {
			p.grouped(rng, crops*crops, func(i int, o int32) { p.cx[i], p.cy[i] = o%crops, o/crops })
		}
		if a.Flip {
			p.grouped(rng, 2, func(i int, o int32) { p.flip[i] = o })
		}
		if a.Cutout > 0 {
			p.grouped(rng, cuts*cuts, func(i int, o int32) { p.kx[i], p.ky[i] = o%cuts, o/cuts })
		}
	}
	data.ShuffledOrder(p.order, rng)
	for j, img := range p.order {
		q := p.par[j*kernels.AugParams:][:kernels.AugParams]
		// augment_*'s order: oy, ox, flip, cutout y, x, h, w.
		q[0], q[1], q[2], q[3], q[4], q[5], q[6] = p.cy[img], p.cx[img], p.flip[img], p.ky[img], p.kx[img], int32(a.Cutout), int32(a.Cutout)
		p.y[j] = p.labels[img]
	}
}

// grouped is data's planner.grouped: a random subset of at most groups
// options, each given to one even slice of a random permutation.
func (p *epochPlan) grouped(rng *rand.Rand, nOpts int32, set func(int, int32)) {
	opts := p.opts[:nOpts]
	data.ShuffledOrder(opts, rng)
	g := min(int(nOpts), p.groups)
	data.ShuffledOrder(p.perm, rng)
	n := len(p.perm)
	for k, img := range p.perm {
		set(int(img), opts[k*g/n])
	}
}
