package data

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// PatchLen is the length of a 3x3 patch over all channels: 27.
const PatchLen = Channels * 3 * 3

// WhiteningFilters returns the post-8 net's frozen PCA-whitening conv
// (blog-stages.md §4 W): PatchLen filters of shape 3x3x3 in OIHW order
// (27 x 3 x 3 x 3 floats). It takes every 3x3 patch (27-d, channel-major
// like OIHW: index c*9 + dy*3 + dx) of the 32x32 centres of the first
// nImages normalised training images, forms their covariance as the blog
// does (uncentred, divided by n-1; the data is already zero-mean), and
// returns the eigenvectors scaled by 1/sqrt(lambda+eps) as rows, largest
// eigenvalue first.
func WhiteningFilters(p *Prepared, nImages int, eps float64) ([]float32, error) {
	f, _, err := WhiteningEigen(p, nImages, eps)
	return f, err
}

// WhiteningEigen is WhiteningFilters that also returns the patch
// covariance's eigenvalues, descending (filter o belongs to lambda[o]).
func WhiteningEigen(p *Prepared, nImages int, eps float64) (filters []float32, lambda []float64, err error) {
	if nImages <= 0 || nImages > p.TrainLen() {
		return nil, nil, fmt.Errorf("whitening: %d images, expected 1-%d", nImages, p.TrainLen())
	}
	if !(eps >= 0) {
		return nil, nil, fmt.Errorf("whitening: eps %v, expected >= 0", eps)
	}
	cov := patchCovariance(p, nImages)
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, nil, fmt.Errorf("whitening: eigendecomposition of the %dx%d patch covariance did not converge", PatchLen, PatchLen)
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	filters = make([]float32, PatchLen*PatchLen)
	lambda = make([]float64, PatchLen)
	for o := range PatchLen {
		k := PatchLen - 1 - o // descending order
		lambda[o] = vals[k]
		scale := 1 / math.Sqrt(max(vals[k], 0)+eps)
		for j := range PatchLen {
			filters[o*PatchLen+j] = float32(vecs.At(j, k) * scale)
		}
	}
	return filters, lambda, nil
}

// patchCovariance accumulates X^T X / (n-1) over all 3x3 patches, in
// chunks through a BLAS rank-k update.
func patchCovariance(p *Prepared, nImages int) *mat.SymDense {
	const perImage = (Height - 2) * (Width - 2)
	side := p.PaddedSide()
	img := side * side * Channels
	// Up to 16 images (14,400 patches) per rank-k update.
	chunk := min(nImages, 16)
	buf := make([]float64, chunk*perImage*PatchLen)
	cov := mat.NewSymDense(PatchLen, nil)
	for lo := 0; lo < nImages; lo += chunk {
		hi := min(lo+chunk, nImages)
		rows := 0
		for i := lo; i < hi; i++ {
			src := p.Train[i*img : (i+1)*img]
			for y := range Height - 2 {
				for x := range Width - 2 {
					row := buf[rows*PatchLen : (rows+1)*PatchLen]
					for dy := range 3 {
						for dx := range 3 {
							o := ((p.Pad+y+dy)*side + p.Pad + x + dx) * Channels
							for c := range Channels {
								row[c*9+dy*3+dx] = float64(src[o+c])
							}
						}
					}
					rows++
				}
			}
		}
		x := mat.NewDense(rows, PatchLen, buf[:rows*PatchLen])
		cov.SymRankK(cov, 1, x.T())
	}
	n := float64(nImages * perImage)
	cov.ScaleSym(1/max(n-1, 1), cov)
	return cov
}
