package data

// Plain-Go learners that check the synthetic set is learnable but not
// trivial without the training engine.

import (
	"math"
	"math/cmplx"
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
	standardise(tr, te)
	return softmaxFeat(tr, s.Train.Labels, te, s.Test.Labels, epochs, seed)
}

// softmaxFeat trains a linear softmax classifier with plain SGD on the
// given feature vectors and returns its accuracy on the test vectors.
func softmaxFeat(tr [][]float64, trY []uint8, te [][]float64, teY []uint8, epochs int, seed uint64) float64 {
	d := len(tr[0])
	w := make([][]float64, Classes)
	for c := range w {
		w[c] = make([]float64, d)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	order := make([]int32, len(tr))
	var p [Classes]float64
	for e := range epochs {
		ShuffledOrder(order, rng)
		lr := 0.01 / float64(1+e)
		for _, i := range order {
			x, y := tr[i], trY[i]
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
		if uint8(best) == teY[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(te))
}

// standardise scales every feature but a constant one to zero mean and
// unit variance over tr, applying the same map to te.
func standardise(tr, te [][]float64) {
	for k := range len(tr[0]) {
		var m, sq float64
		for _, v := range tr {
			m += v[k]
			sq += v[k] * v[k]
		}
		m /= float64(len(tr))
		v := sq/float64(len(tr)) - m*m
		if v < 1e-12 {
			continue // the bias feature
		}
		sd := math.Sqrt(v)
		for _, set := range [][][]float64{tr, te} {
			for _, x := range set {
				x[k] = (x[k] - m) / sd
			}
		}
	}
}

// spectralFeatures returns, per image, each channel's mean and the log
// magnitudes of its 2-D DFT at frequencies |kx| <= k, 0 <= ky <= k: a
// translation- and phase-invariant description, standing in for what a
// convolutional net can learn to see.
func spectralFeatures(sp Split, k int) [][]float64 {
	n := 2*k + 1
	tw := make([]complex128, Width*n) // tw[x*n + kk] = exp(-2πi (kk-k) x / 32)
	for x := range Width {
		for kk := range n {
			tw[x*n+kk] = cmplx.Exp(complex(0, -2*math.Pi*float64((kk-k)*x)/Width))
		}
	}
	rows := make([]complex128, Height*n)
	out := make([][]float64, sp.Len())
	for i := range out {
		img := sp.Images[i*ImageLen : (i+1)*ImageLen]
		v := make([]float64, 0, Channels*(1+(k+1)*n)+1)
		for c := range Channels {
			clear(rows)
			mean := 0.0
			for y := range Height {
				for x := range Width {
					p := float64(img[(c*Height+y)*Width+x]) / 255
					mean += p
					for kk := range n {
						rows[y*n+kk] += complex(p, 0) * tw[x*n+kk]
					}
				}
			}
			v = append(v, mean/(Height*Width))
			for ky := k; ky < n; ky++ {
				for kx := range n {
					var acc complex128
					for y := range Height {
						acc += rows[y*n+kx] * tw[y*n+ky]
					}
					v = append(v, math.Log1p(cmplx.Abs(acc)))
				}
			}
		}
		out[i] = append(v, 1)
	}
	return out
}
