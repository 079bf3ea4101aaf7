package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Synthetic sizes by default: CIFAR-10's.
const (
	DefaultSyntheticTrain = 50000
	DefaultSyntheticTest  = 10000
)

const synthSalt = 0x73796e7468657469 // "synthetic"

// SyntheticOptions size and seed the generated set. Zero sizes mean the
// defaults (50,000 / 10,000).
type SyntheticOptions struct {
	Train, Test int
	Seed        uint64
}

// Geometry of the generator: prototypes are drawn on a canvas larger than
// the image so that every image can be a translated window of one.
const (
	synthCanvas     = 40 // prototype side; an image is a 32x32 window
	synthPrototypes = 4  // prototypes per class
	synthBlend      = 0.25
	synthNoise      = 0.35 // amplitude of the uniform pixel noise, 0-1 scale
)

// Synthetic generates a deterministic CIFAR-shaped dataset: 10 classes of
// 32x32 RGB images, balanced, with the same byte layout as CIFAR-10.
//
// It is built to be learnable but not trivial, so the stages' relative
// effects stay visible without the real data:
//
//   - Each class has a mean colour (classes differ by a few percent), a
//     stripe orientation (class c at c*10 degrees, so a mirrored image, at
//     -c*10 degrees, looks like no other class), a stripe frequency and a
//     stripe colour direction.
//   - Each class has 4 prototypes on a 40x40 canvas: the class colour with
//     a small offset, the class stripes with jittered orientation and
//     frequency, a low-frequency random background (3 cosines per channel)
//     and a Gaussian blob of class-tinted colour and class-typical size.
//   - An image is a random 32x32 window of one of its class's prototypes
//     (translation 0-8 px), mirrored with probability 1/2, with its own
//     stripe phase, background phase, stripe strength and blob position,
//     random contrast (x0.6-1.4) and brightness (+-0.15), and strong
//     uniform pixel noise (+-0.35 on the 0-1 scale).
//   - 25% of images are blends with a prototype of another class at a
//     weight of 30-50%, keeping their own label, so ~100% accuracy is not
//     reachable at once.
//
// With the stripe phase random per image, a linear model on pixels sees
// mostly the weak colour cue, while orientation and frequency need a
// convolutional learner. Image i of a split depends only on (seed, split,
// i), so generation runs in parallel and gives the same bytes for any
// number of workers.
func Synthetic(opt SyntheticOptions) (*Set, error) {
	if opt.Train == 0 {
		opt.Train = DefaultSyntheticTrain
	}
	if opt.Test == 0 {
		opt.Test = DefaultSyntheticTest
	}
	if opt.Train < 0 || opt.Test < 0 {
		return nil, fmt.Errorf("synthetic: sizes %d/%d, expected >= 0", opt.Train, opt.Test)
	}
	g := newSynthGen(opt.Seed)
	s := &Set{
		Name:    "synthetic",
		Classes: []string{"class0", "class1", "class2", "class3", "class4", "class5", "class6", "class7", "class8", "class9"},
		Train:   g.split(opt.Train, 0),
		Test:    g.split(opt.Test, 1),
	}
	if opt.Train != DefaultSyntheticTrain || opt.Test != DefaultSyntheticTest || opt.Seed != 0 {
		s.Name = fmt.Sprintf("synthetic(seed=%d,%d/%d)", opt.Seed, opt.Train, opt.Test)
	}
	s.Checksum = checksum(s)
	return s, nil
}

// synthProto is one prototype: a colour, the quadrature pair of a stripe
// pattern and of a low-frequency background field (so that every image can
// take its own phase), and a blob shape.
type synthProto struct {
	base, stripeCol, blobCol [Channels]float32
	stripeC, stripeS         []float32 // canvas x canvas
	bgC, bgS                 []float32 // 3 x canvas x canvas
	blob                     []float32 // blobSide x blobSide Gaussian
	blobAmp                  float32
}

const blobSide = 17

type synthGen struct {
	seed  uint64
	proto [Classes][synthPrototypes]synthProto
}

func newSynthGen(seed uint64) *synthGen {
	g := &synthGen{seed: seed}
	rng := rand.New(rand.NewPCG(seed^synthSalt, 1<<40))
	const n = synthCanvas
	for c := range Classes {
		var colour, stripe [Channels]float64
		for ch := range Channels {
			colour[ch] = 0.5 + 0.08*(rng.Float64()*2-1)
			stripe[ch] = rng.Float64()*2 - 1
		}
		norm := math.Sqrt(stripe[0]*stripe[0] + stripe[1]*stripe[1] + stripe[2]*stripe[2])
		theta := float64(c) * math.Pi / 18
		freq := 2.5 + 3*rng.Float64() // cycles per 32 px
		sigma := 1.5 + 3*rng.Float64()
		for p := range synthPrototypes {
			pr := &g.proto[c][p]
			for ch := range Channels {
				pr.base[ch] = float32(colour[ch] + 0.06*(rng.Float64()*2-1))
				pr.stripeCol[ch] = float32(stripe[ch]/norm + 0.2*rng.NormFloat64())
				pr.blobCol[ch] = float32(0.5*stripe[ch]/norm + 0.3*rng.NormFloat64())
			}
			th := theta + 0.10*rng.NormFloat64()
			f := freq * (1 + 0.08*rng.NormFloat64()) * 2 * math.Pi / 32
			kx, ky := f*math.Cos(th), f*math.Sin(th)
			pr.stripeC = make([]float32, n*n)
			pr.stripeS = make([]float32, n*n)
			for y := range n {
				for x := range n {
					a := kx*float64(x) + ky*float64(y)
					pr.stripeC[y*n+x] = float32(math.Cos(a))
					pr.stripeS[y*n+x] = float32(math.Sin(a))
				}
			}
			// Background: per channel, 3 cosines of at most 1.5 cycles.
			pr.bgC = make([]float32, Channels*n*n)
			pr.bgS = make([]float32, Channels*n*n)
			for ch := range Channels {
				for range 3 {
					fx := (rng.Float64()*3 - 1.5) * 2 * math.Pi / 32
					fy := (rng.Float64()*3 - 1.5) * 2 * math.Pi / 32
					ph := rng.Float64() * 2 * math.Pi
					amp := 0.5 * rng.Float64()
					for y := range n {
						for x := range n {
							a := fx*float64(x) + fy*float64(y) + ph
							pr.bgC[(ch*n+y)*n+x] += float32(amp * math.Cos(a))
							pr.bgS[(ch*n+y)*n+x] += float32(amp * math.Sin(a))
						}
					}
				}
			}
			s := sigma * (1 + 0.15*rng.NormFloat64())
			pr.blob = make([]float32, blobSide*blobSide)
			for y := range blobSide {
				for x := range blobSide {
					dx, dy := float64(x-blobSide/2), float64(y-blobSide/2)
					pr.blob[y*blobSide+x] = float32(math.Exp(-(dx*dx + dy*dy) / (2 * s * s)))
				}
			}
			pr.blobAmp = float32(0.2 + 0.1*rng.Float64())
		}
	}
	return g
}

// split generates the n images of one split (stream 0 train, 1 test).
func (g *synthGen) split(n int, stream uint64) Split {
	s := Split{Images: make([]uint8, n*ImageLen), Labels: make([]uint8, n)}
	workers := max(1, min(runtime.GOMAXPROCS(0), n/256))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf [ImageLen]float32
			for i := w; i < n; i += workers {
				s.Labels[i] = g.image(s.Images[i*ImageLen:(i+1)*ImageLen], &buf, i, stream)
			}
		})
	}
	wg.Wait()
	return s
}

// render adds weight times prototype p, windowed at (ox, oy), mirrored
// when flip, with the given stripe and background phases, into dst (CHW).
func (p *synthProto) render(dst *[ImageLen]float32, weight, stripeAmp float32, ox, oy int, flip bool, phase, bgPhase float64, bx, by int) {
	const n = synthCanvas
	cs, ss := float32(math.Cos(phase)), float32(math.Sin(phase))
	cb, sb := float32(math.Cos(bgPhase)), float32(math.Sin(bgPhase))
	const bgAmp = 0.12
	for ch := range Channels {
		sc := weight * stripeAmp * p.stripeCol[ch]
		for y := range Height {
			row := (y+oy)*n + ox
			brow := (ch*n+y+oy)*n + ox
			d := dst[(ch*Height+y)*Width:][:Width]
			for x := range Width {
				sx := x
				if flip {
					sx = Width - 1 - x
				}
				st := p.stripeC[row+sx]*cs - p.stripeS[row+sx]*ss
				bg := p.bgC[brow+sx]*cb - p.bgS[brow+sx]*sb
				d[x] += weight*(p.base[ch]+bgAmp*bg) + sc*st
			}
		}
		// The blob, centred at (bx, by) in image coordinates.
		a := weight * p.blobAmp * p.blobCol[ch]
		for y := range blobSide {
			iy := by + y - blobSide/2
			if iy < 0 || iy >= Height {
				continue
			}
			for x := range blobSide {
				ix := bx + x - blobSide/2
				if ix < 0 || ix >= Width {
					continue
				}
				dst[(ch*Height+iy)*Width+ix] += a * p.blob[y*blobSide+x]
			}
		}
	}
}

// image draws image i of a split into dst (CHW bytes) and returns its
// label. Labels cycle 0..9 so every split is balanced.
func (g *synthGen) image(dst []uint8, buf *[ImageLen]float32, i int, stream uint64) uint8 {
	rng := rand.New(rand.NewPCG(g.seed^synthSalt, stream<<32|uint64(i)))
	c := i % Classes
	clear(buf[:])
	draw := func(class int, w float32) {
		p := &g.proto[class][rng.IntN(synthPrototypes)]
		ox, oy := rng.IntN(synthCanvas-Width+1), rng.IntN(synthCanvas-Height+1)
		flip := rng.IntN(2) == 1
		ph, bph := 2*math.Pi*rng.Float64(), 2*math.Pi*rng.Float64()
		bx, by := 4+rng.IntN(Width-8), 4+rng.IntN(Height-8)
		amp := float32(0.03 + 0.09*rng.Float64())
		p.render(buf, w, amp, ox, oy, flip, ph, bph, bx, by)
	}
	if rng.Float64() < synthBlend {
		wq := float32(0.3 + 0.2*rng.Float64())
		draw(c, 1-wq)
		draw((c+1+rng.IntN(Classes-1))%Classes, wq)
	} else {
		draw(c, 1)
	}
	contrast := float32(0.6 + 0.8*rng.Float64())
	bright := float32(0.3 * (rng.Float64() - 0.5))
	const noiseScale = 2 * synthNoise / 255
	var bits uint64
	nbits := 0
	for k, v := range buf {
		if nbits == 0 {
			bits, nbits = rng.Uint64(), 8
		}
		noise := float32(int(bits&0xff)-128) * noiseScale
		bits >>= 8
		nbits--
		v = contrast*(v-0.5) + 0.5 + bright + noise
		dst[k] = uint8(min(max(v*255+0.5, 0), 255))
	}
	return uint8(c)
}
