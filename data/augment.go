package data

import (
	"fmt"
	"math/rand/v2"
)

// CropPad is the reflect padding of the training images that random
// crops cut from (blog-stages.md §0: 4 px a side).
const CropPad = 4

// View is one rendering of the test images for test-time augmentation:
// the image translated by (DY, DX) pixels, with reflect padding, then
// mirrored when Flip: pixel (y, x) of the view is pixel
// (reflect(y+DY), reflect(x'+DX)) of the image, x' = 31-x when Flip and x
// otherwise. airbench's shifted views are DY = DX = -1 (its
// padded[0:32, 0:32]) and +1 (padded[2:34, 2:34]).
type View struct {
	Flip   bool
	DY, DX int
}

// Plain reports whether v is the image itself.
func (v View) Plain() bool { return v == View{} }

// RenderView writes view v of n 32x32x3 NHWC images from src into dst
// (dst and src must not overlap). Shifts must be under 32 pixels.
func RenderView(dst, src []float32, n int, v View) {
	if v.DY == 0 && v.DX == 0 {
		if v.Flip {
			FlipNHWC(dst, src, n)
		} else {
			copy(dst[:n*ImageLen], src)
		}
		return
	}
	const row = Width * Channels
	for b := range n {
		img, out := src[b*ImageLen:][:ImageLen], dst[b*ImageLen:][:ImageLen]
		for y := range Height {
			s := img[reflect(y+v.DY, Height)*row:][:row]
			d := out[y*row:][:row]
			for x := range Width {
				sx := x
				if v.Flip {
					sx = Width - 1 - x
				}
				o := reflect(sx+v.DX, Width) * Channels
				d[x*Channels] = s[o]
				d[x*Channels+1] = s[o+1]
				d[x*Channels+2] = s[o+2]
			}
		}
	}
}

// DefaultMaxGroups caps the number of groups in grouped augmentation, as
// in the post-8 GPU loader (max_options=200).
const DefaultMaxGroups = 200

// augSalt separates the augmentation stream from other users of a run's
// seed (weight init, subsets), so that they stay independent.
const augSalt = 0x6175676d656e7421 // "augment!"

// altFlipStream is the stream, beside the epochs' 1, 2, ..., of the
// per-run flips that alternating flip draws once.
const altFlipStream = 0x616c74666c6970 // "altflip"

// Augment is the per-epoch training augmentation (blog-stages.md §0 and
// p8.s1). Choices are drawn in bulk once per epoch from a PCG stream
// seeded by (seed, epoch), so any epoch can be reproduced on its own.
type Augment struct {
	// Crop takes a random 32x32 crop of the padded image; otherwise the
	// centre crop.
	Crop bool
	// Flip mirrors the image horizontally with probability 1/2.
	Flip bool
	// Cutout zeroes a Cutout x Cutout square (0 = none) whose corner is
	// uniform over the positions that keep it fully inside the image.
	// Zero is the mean colour once the data is normalised.
	Cutout int
	// Grouped is the post-8 scheme: for each transform separately, shuffle
	// the images, split them into even groups and give every image of a
	// group the same choice, with at most MaxGroups groups (choices) per
	// transform per epoch.
	Grouped bool
	// MaxGroups is the group cap for Grouped; 0 means DefaultMaxGroups.
	MaxGroups int
	// AltFlip replaces Flip's draw per epoch by airbench's alternating
	// flip: image i is mirrored in epoch e when f_i XOR (e is even), f_i
	// drawn once per run (epochs count from 1, so the first epoch shows
	// the drawn flips and the second their mirrors).
	AltFlip bool
}

// String describes the augmentation as in the registry, e.g.
// "crop+flip+cutout8 grouped(200)".
func (a Augment) String() string {
	s := ""
	add := func(t string) {
		if s != "" {
			s += "+"
		}
		s += t
	}
	if a.Crop {
		add("crop")
	}
	if a.Flip {
		add("flip")
		if a.AltFlip {
			s += "(alternating)"
		}
	}
	if a.Cutout > 0 {
		add(fmt.Sprintf("cutout%d", a.Cutout))
	}
	if s == "" {
		s = "none"
	}
	if a.Grouped {
		s += fmt.Sprintf(" grouped(%d)", a.maxGroups())
	}
	return s
}

func (a Augment) maxGroups() int {
	if a.MaxGroups > 0 {
		return a.MaxGroups
	}
	return DefaultMaxGroups
}

func (a Augment) validate(pad int) error {
	if a.Cutout < 0 || a.Cutout > Height {
		return fmt.Errorf("augment: cutout %d, expected 0-%d", a.Cutout, Height)
	}
	if a.MaxGroups < 0 {
		return fmt.Errorf("augment: max groups %d, expected >= 0 (0 = %d)", a.MaxGroups, DefaultMaxGroups)
	}
	if a.Crop && pad == 0 {
		return fmt.Errorf("augment: random crop needs padded training images (Prepare with pad > 0)")
	}
	if a.AltFlip && (!a.Flip || a.Grouped) {
		return fmt.Errorf("augment: alternating flip needs flip and no grouping")
	}
	return nil
}

// choice is one image's augmentation for an epoch: crop offset, flip, and
// cutout corner, all in pixels.
type choice struct {
	cx, cy uint8 // crop offset into the padded image
	kx, ky uint8 // cutout corner in the 32x32 output
	flip   bool
}

// ShuffledOrder fills dst with a uniformly random permutation of
// 0..len(dst)-1 drawn from rng.
func ShuffledOrder(dst []int32, rng *rand.Rand) {
	for i := range dst {
		dst[i] = int32(i)
	}
	rng.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
}

// EpochPlan is one epoch's shuffle and augmentation choices, drawn as the
// Loader draws them. An engine that augments elsewhere (the GPU) draws the
// same plan, so every engine trains on the same images for a seed.
type EpochPlan struct {
	planner
	// Order is the image index of each position in the epoch.
	Order []int32
}

// NewEpochPlan returns a plan for n training images padded by pad.
func NewEpochPlan(aug Augment, pad, n int) (*EpochPlan, error) {
	if err := aug.validate(pad); err != nil {
		return nil, err
	}
	return &EpochPlan{planner: *newPlanner(aug, pad, n), Order: make([]int32, n)}, nil
}

// Draw fills the plan of epoch e of seed: the choices, then the order,
// from one PCG stream seeded by (seed, e).
func (p *EpochPlan) Draw(seed uint64, e int) {
	rng := rand.New(rand.NewPCG(seed^augSalt, uint64(e)))
	p.plan(rng)
	ShuffledOrder(p.Order, rng)
	if p.aug.AltFlip {
		p.altFlip(seed, e)
	}
}

// altFlip sets every image's flip for epoch e of alternating flip: the
// run's flips, drawn from their own stream, mirrored in even epochs.
func (p *EpochPlan) altFlip(seed uint64, e int) {
	rng := rand.New(rand.NewPCG(seed^augSalt, altFlipStream))
	odd := e%2 == 0
	var bits uint64
	for i := range p.choice {
		if i%64 == 0 {
			bits = rng.Uint64()
		}
		p.choice[i].flip = (bits>>(i%64))&1 == 1 != odd
	}
}

// Choice returns image i's crop offset into the padded image, its cutout
// corner in the 32x32 output and whether it is mirrored.
func (p *EpochPlan) Choice(i int32) (cx, cy, kx, ky int, flip bool) {
	c := p.choice[i]
	return int(c.cx), int(c.cy), int(c.kx), int(c.ky), c.flip
}

// planner draws one epoch's choices into reusable buffers.
type planner struct {
	aug    Augment
	pad    int
	choice []choice // per image index
	perm   []int32  // scratch permutation for grouped mode
	opts   []int32  // scratch option list for grouped mode
}

func newPlanner(aug Augment, pad, n int) *planner {
	p := &planner{aug: aug, pad: pad, choice: make([]choice, n)}
	if aug.Grouped {
		p.perm = make([]int32, n)
		// The largest option list is the cutout's (33-h)^2 or the crop's
		// (2pad+1)^2.
		k := (2*pad + 1) * (2*pad + 1)
		if c := Height - aug.Cutout + 1; c*c > k {
			k = c * c
		}
		p.opts = make([]int32, max(k, 2))
	}
	return p
}

// plan draws every image's choices for one epoch from rng.
func (p *planner) plan(rng *rand.Rand) {
	a := p.aug
	crops := 2*p.pad + 1
	cuts := Height - a.Cutout + 1
	for i := range p.choice {
		p.choice[i] = choice{cx: uint8(p.pad), cy: uint8(p.pad)}
	}
	if !a.Grouped {
		for i := range p.choice {
			c := &p.choice[i]
			if a.Crop {
				c.cx, c.cy = uint8(rng.IntN(crops)), uint8(rng.IntN(crops))
			}
			if a.Flip && !a.AltFlip {
				c.flip = rng.Uint64()&1 == 1
			}
			if a.Cutout > 0 {
				c.kx, c.ky = uint8(rng.IntN(cuts)), uint8(rng.IntN(cuts))
			}
		}
		return
	}
	// Grouped, transform by transform as the post-8 loader does: each
	// transform reshuffles the images and picks its own groups.
	if a.Crop {
		p.grouped(rng, crops*crops, func(c *choice, o int) { c.cx, c.cy = uint8(o%crops), uint8(o/crops) })
	}
	if a.Flip {
		p.grouped(rng, 2, func(c *choice, o int) { c.flip = o == 1 })
	}
	if a.Cutout > 0 {
		p.grouped(rng, cuts*cuts, func(c *choice, o int) { c.kx, c.ky = uint8(o%cuts), uint8(o/cuts) })
	}
}

// grouped assigns one of nOpts options to every image: a random subset of
// at most MaxGroups options, each given to one even slice of a random
// permutation of the images.
func (p *planner) grouped(rng *rand.Rand, nOpts int, set func(*choice, int)) {
	opts := p.opts[:nOpts]
	ShuffledOrder(opts, rng)
	g := min(nOpts, p.aug.maxGroups())
	ShuffledOrder(p.perm, rng)
	n := len(p.perm)
	for k, img := range p.perm {
		set(&p.choice[img], int(opts[k*g/n]))
	}
}

// apply writes one augmented 32x32x3 NHWC image into dst from a padded
// side x side x 3 source.
func apply(dst, src []float32, side int, c choice, cutout int) {
	const row = Width * Channels
	for y := range Height {
		s := src[((int(c.cy)+y)*side+int(c.cx))*Channels:][:row]
		d := dst[y*row:][:row]
		if !c.flip {
			copy(d, s)
			continue
		}
		for x := range Width {
			o := (Width - 1 - x) * Channels
			d[x*Channels] = s[o]
			d[x*Channels+1] = s[o+1]
			d[x*Channels+2] = s[o+2]
		}
	}
	if cutout > 0 {
		for y := int(c.ky); y < int(c.ky)+cutout; y++ {
			clear(dst[(y*Width+int(c.kx))*Channels:][:cutout*Channels])
		}
	}
}

// FlipNHWC writes the horizontal mirror of n 32x32x3 NHWC images from src
// into dst, for flip test-time augmentation. dst and src must not overlap.
func FlipNHWC(dst, src []float32, n int) {
	const row = Width * Channels
	for r := range n * Height {
		s := src[r*row:][:row]
		d := dst[r*row:][:row]
		for x := range Width {
			o := (Width - 1 - x) * Channels
			d[x*Channels] = s[o]
			d[x*Channels+1] = s[o+1]
			d[x*Channels+2] = s[o+2]
		}
	}
}
