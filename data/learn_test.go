package data

// Plain-Go learners that check the synthetic set is learnable but not
// trivial without the training engine.

import (
	"math"
	"math/rand/v2"
)

// downsample averages a CHW image into 8x8 blocks per channel (192 values).
func downsample(dst []float64, img []uint8) {
	clear(dst)
	for c := range Channels {
		for y := range Height {
			for x := range Width {
				dst[(c*8+y/4)*8+x/4] += float64(img[(c*Height+y)*Width+x]) / (16 * 255)
			}
		}
	}
}

// nearestMeanAccuracy fits class means of the downsampled training images
// and returns the test accuracy of the nearest mean.
func nearestMeanAccuracy(s *Set) float64 {
	const d = Channels * 64
	var means [Classes][d]float64
	var counts [Classes]float64
	v := make([]float64, d)
	for i := range s.Train.Len() {
		downsample(v, s.Train.Images[i*ImageLen:(i+1)*ImageLen])
		l := s.Train.Labels[i]
		for k := range v {
			means[l][k] += v[k]
		}
		counts[l]++
	}
	for c := range means {
		for k := range means[c] {
			means[c][k] /= max(counts[c], 1)
		}
	}
	correct := 0
	for i := range s.Test.Len() {
		downsample(v, s.Test.Images[i*ImageLen:(i+1)*ImageLen])
		best, bestD := -1, 0.0
		for c := range means {
			dist := 0.0
			for k := range v {
				e := v[k] - means[c][k]
				dist += e * e
			}
			if best < 0 || dist < bestD {
				best, bestD = c, dist
			}
		}
		if uint8(best) == s.Test.Labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(s.Test.Len())
}

// softmaxAccuracy trains a linear softmax classifier on the downsampled
// pixels (standardised per feature) with plain SGD for a few epochs and
// returns its test accuracy.
func softmaxAccuracy(s *Set, epochs int, seed uint64) float64 {
	const d = Channels*64 + 1 // + bias
	feats := func(sp Split) [][]float64 {
		out := make([][]float64, sp.Len())
		for i := range out {
			v := make([]float64, d)
			downsample(v[:d-1], sp.Images[i*ImageLen:(i+1)*ImageLen])
			v[d-1] = 1
			out[i] = v
		}
		return out
	}
	tr, te := feats(s.Train), feats(s.Test)
	// Standardise with the training statistics.
	for k := range d - 1 {
		var m, sq float64
		for _, v := range tr {
			m += v[k]
			sq += v[k] * v[k]
		}
		m /= float64(len(tr))
		sd := math.Sqrt(max(sq/float64(len(tr))-m*m, 1e-12))
		for _, set := range [][][]float64{tr, te} {
			for _, v := range set {
				v[k] = (v[k] - m) / sd
			}
		}
	}
	var w [Classes][d]float64
	rng := rand.New(rand.NewPCG(seed, 0))
	order := make([]int32, len(tr))
	var p [Classes]float64
	for e := range epochs {
		ShuffledOrder(order, rng)
		lr := 0.01 / float64(1+e)
		for _, i := range order {
			x, y := tr[i], s.Train.Labels[i]
			mx := math.Inf(-1)
			for c := range w {
				p[c] = 0
				for k, xv := range x {
					p[c] += w[c][k] * xv
				}
				mx = max(mx, p[c])
			}
			sum := 0.0
			for c := range p {
				p[c] = math.Exp(p[c] - mx)
				sum += p[c]
			}
			for c := range w {
				g := p[c] / sum
				if c == int(y) {
					g--
				}
				for k, xv := range x {
					w[c][k] -= lr * g * xv
				}
			}
		}
	}
	correct := 0
	for i, x := range te {
		best, bestV := 0, math.Inf(-1)
		for c := range w {
			v := 0.0
			for k, xv := range x {
				v += w[c][k] * xv
			}
			if v > bestV {
				best, bestV = c, v
			}
		}
		if uint8(best) == s.Test.Labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(te))
}
