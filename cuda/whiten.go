package cuda

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"speedrun/cuda/cublas"
	"speedrun/cuda/driver"
	"speedrun/data"
)

// whitenMaxChunk caps the images whose patches one Dgemm sums: 1,024
// images are 921,600 rows of 27 fp64 (199 MB) for 3x3 patches.
const whitenMaxChunk = 1024

// whiteningFilters is data.WhiteningFiltersK (same patches, covariance,
// eigenvectors and scaling) on the first n prepared training images,
// already on the device: whiten_patches_f64 writes their k x k patches
// as fp64 rows and Dgemm sums X^T X chunk by chunk (on the host this sum
// cost seconds of the timed preprocessing); only the P x P sum (P = 3k²)
// comes back for the eigendecomposition. Its scratch is the activation
// arena, unused before training, or a buffer of its own when the arena
// holds less than one image's patches. The result differs from data's
// only by summation order.
func (e *engine) whiteningFilters(n, k, pad int, eps float64) ([]float32, error) {
	P := data.Channels * k * k
	patchesPerImage := data.PatchesPerImage(k)
	if k < 1 || k > data.Height {
		return nil, fmt.Errorf("whitening: %dx%d patches", k, k)
	}
	if n <= 0 || n > e.trainN {
		return nil, fmt.Errorf("whitening: %d images of %d", n, e.trainN)
	}
	if !(eps >= 0) {
		return nil, fmt.Errorf("whitening: eps %v, expected >= 0", eps)
	}
	covBytes := int(align256(int64(8 * P * P)))
	rowBytes := patchesPerImage * P * 8
	chunk := min(n, whitenMaxChunk, (int(e.plan.ActBytes)-covBytes)/rowBytes)
	base := e.arena
	if chunk < 1 {
		// A tiny network: 16 images' patches (3 MB), kept until close.
		chunk = min(n, 16)
		p, err := e.alloc("whitening scratch", covBytes+chunk*rowBytes)
		if err != nil {
			return nil, fmt.Errorf("whitening: %w", err)
		}
		base = p
	}
	cov, X := base, base.Add(covBytes)
	img := e.paddedSide * e.paddedSide * 3
	for lo := 0; lo < n; lo += chunk {
		m := min(chunk, n-lo)
		if err := e.kern.WhitenPatches(e.stream, e.trainImages.Add(4*lo*img), X, m, e.paddedSide, pad, k); err != nil {
			return nil, fmt.Errorf("whitening: %w", err)
		}
		beta := 1.0
		if lo == 0 {
			beta = 0
		}
		// Column-major, X is P x rows: cov = X X^T sums every row's outer
		// product.
		if err := e.blas.Dgemm(e.blasHandle, cublas.OpN, cublas.OpT, P, P, m*patchesPerImage, 1, X, P, X, P, beta, cov, P); err != nil {
			return nil, fmt.Errorf("whitening: %w", err)
		}
	}
	sums := make([]float64, P*P)
	if err := driver.CopyDtoH(e.drv, sums, cov); err != nil {
		return nil, fmt.Errorf("whitening: read back the patch covariance: %w", err)
	}
	return filtersFromSums(sums, P, n*patchesPerImage, eps)
}

// filtersFromSums turns the patch sums X^T X (P x P, symmetric) of total
// patches into data.WhiteningFiltersK's filters: the covariance's
// eigenvectors by descending eigenvalue, each scaled by
// 1/sqrt(lambda + eps).
func filtersFromSums(sums []float64, P, total int, eps float64) ([]float32, error) {
	cov := mat.NewSymDense(P, nil)
	for a := range P {
		for b := a; b < P; b++ {
			cov.SetSym(a, b, sums[a*P+b]/max(float64(total)-1, 1))
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
