package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"

	"speedrun/data"
)

// whitenChunk is the images per partial covariance sum: fixed, so the
// summation order (and the filters, bit for bit) does not depend on the
// machine's core count.
const whitenChunk = 64

// whiteningFilters is data.WhiteningFilters (same patches, covariance,
// eigenvectors and scaling) with the patch covariance summed on every
// core: single-threaded it costs seconds of the timed preprocessing. imgs
// holds the first n prepared training images, side x side x 3, padded by
// pad. The result differs from data's only by summation order.
func whiteningFilters(imgs []float32, n, side, pad int, eps float64) ([]float32, error) {
	const P = data.PatchLen
	if n <= 0 || len(imgs) < n*side*side*3 {
		return nil, fmt.Errorf("whitening: %d images in %d floats of %dx%dx3", n, len(imgs), side, side)
	}
	if !(eps >= 0) {
		return nil, fmt.Errorf("whitening: eps %v, expected >= 0", eps)
	}
	chunks := (n + whitenChunk - 1) / whitenChunk
	parts := make([][P * P]float64, chunks)
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var row [P]float64
			for c := range next {
				acc := &parts[c]
				for i := c * whitenChunk; i < min((c+1)*whitenChunk, n); i++ {
					img := imgs[i*side*side*3:]
					for y := range data.Height - 2 {
						for x := range data.Width - 2 {
							for dy := range 3 {
								for dx := range 3 {
									o := ((pad+y+dy)*side + pad + x + dx) * 3
									for ch := range 3 {
										row[ch*9+dy*3+dx] = float64(img[o+ch])
									}
								}
							}
							for a := range P {
								ra := row[a]
								r := acc[a*P:]
								for b := a; b < P; b++ {
									r[b] += ra * row[b]
								}
							}
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	cov := mat.NewSymDense(P, nil)
	total := float64(n * (data.Height - 2) * (data.Width - 2))
	for a := range P {
		for b := a; b < P; b++ {
			var s float64
			for c := range parts {
				s += parts[c][a*P+b]
			}
			cov.SetSym(a, b, s/max(total-1, 1))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, fmt.Errorf("whitening: eigendecomposition of the %dx%d patch covariance did not converge", P, P)
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	filters := make([]float32, P*P)
	for o := range P {
		k := P - 1 - o // descending, as data's
		scale := 1 / math.Sqrt(max(vals[k], 0)+eps)
		for j := range P {
			filters[o*P+j] = float32(vecs.At(j, k) * scale)
		}
	}
	return filters, nil
}
