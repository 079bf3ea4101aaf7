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
	f, _, err := WhiteningEigenK(p, nImages, 3, eps)
	return f, err
}

// WhiteningFiltersK is WhiteningFilters for k x k patches: 3k^2 filters
// of shape 3 x k x k (airbench94's first layer is k = 2). airbench divides
// the covariance by n rather than n-1; over its 4.8 million patches the
// two differ by 2e-7, below float32 resolution.
func WhiteningFiltersK(p *Prepared, nImages, k int, eps float64) ([]float32, error) {
	f, _, err := WhiteningEigenK(p, nImages, k, eps)
	return f, err
}

// WhiteningEigen is WhiteningFilters that also returns the patch
// covariance's eigenvalues, descending (filter o belongs to lambda[o]).
func WhiteningEigen(p *Prepared, nImages int, eps float64) (filters []float32, lambda []float64, err error) {
	return WhiteningEigenK(p, nImages, 3, eps)
}

// WhiteningEigenK is WhiteningEigen for k x k patches.
func WhiteningEigenK(p *Prepared, nImages, k int, eps float64) (filters []float32, lambda []float64, err error) {
	if nImages <= 0 || nImages > p.TrainLen() {
		return nil, nil, fmt.Errorf("whitening: %d images, expected 1-%d", nImages, p.TrainLen())
	}
	if k < 1 || k > Height {
		return nil, nil, fmt.Errorf("whitening: %dx%d patches, expected 1-%d", k, k, Height)
	}
	if !(eps >= 0) {
		return nil, nil, fmt.Errorf("whitening: eps %v, expected >= 0", eps)
	}
	P := Channels * k * k
	cov := patchCovariance(p, nImages, k)
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, nil, fmt.Errorf("whitening: eigendecomposition of the %dx%d patch covariance did not converge", P, P)
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	filters = make([]float32, P*P)
	lambda = make([]float64, P)
	for o := range P {
		j := P - 1 - o // descending order
		lambda[o] = vals[j]
		scale := 1 / math.Sqrt(max(vals[j], 0)+eps)
		for i := range P {
			filters[o*P+i] = float32(vecs.At(i, j) * scale)
		}
	}
	return filters, lambda, nil
}

// PatchesPerImage is the k x k patches of a 32x32 image.
func PatchesPerImage(k int) int { return (Height - k + 1) * (Width - k + 1) }

// patchCovariance accumulates X^T X / (n-1) over all k x k patches, in
// chunks through a BLAS rank-k update.
func patchCovariance(p *Prepared, nImages, k int) *mat.SymDense {
	perImage := PatchesPerImage(k)
	P := Channels * k * k
	side := p.PaddedSide()
	img := side * side * Channels
	// Up to 16 images (14,400 3x3 patches) per rank-k update.
	chunk := min(nImages, 16)
	buf := make([]float64, chunk*perImage*P)
	cov := mat.NewSymDense(P, nil)
	for lo := 0; lo < nImages; lo += chunk {
		hi := min(lo+chunk, nImages)
		rows := 0
		for i := lo; i < hi; i++ {
			src := p.Train[i*img : (i+1)*img]
			for y := range Height - k + 1 {
				for x := range Width - k + 1 {
					row := buf[rows*P : (rows+1)*P]
					for dy := range k {
						for dx := range k {
							o := ((p.Pad+y+dy)*side + p.Pad + x + dx) * Channels
							for c := range Channels {
								row[c*k*k+dy*k+dx] = float64(src[o+c])
							}
						}
					}
					rows++
				}
			}
		}
		x := mat.NewDense(rows, P, buf[:rows*P])
		cov.SymRankK(cov, 1, x.T())
	}
	n := float64(nImages * perImage)
	cov.ScaleSym(1/max(n-1, 1), cov)
	return cov
}
