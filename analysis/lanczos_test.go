package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestLanczosMatchesEigenSym checks Lanczos's top eigenvalues and vectors
// of small explicit symmetric matrices against gonum's full
// eigendecomposition.
func TestLanczosMatchesEigenSym(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dim, k int
		// spectrum returns eigenvalue i (nil: a random symmetric matrix).
		spectrum func(i int) float64
	}{
		{"random symmetric", 60, 5, nil},
		{"decaying spectrum, like a Hessian", 80, 10, func(i int) float64 { return 100 * math.Pow(0.7, float64(i)) }},
		{"negative eigenvalues among the largest", 50, 6, func(i int) float64 { return float64(i%3-1) * float64(50-i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testMatrix(tc.dim, tc.spectrum, 7)
			op := func(x, y []float64) error {
				yv := mat.NewVecDense(len(y), y)
				yv.MulVec(a, mat.NewVecDense(len(x), x))
				return nil
			}
			got, err := Lanczos(op, tc.dim, LanczosOptions{K: tc.k, Tol: 1e-10, MaxIter: tc.dim, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			var es mat.EigenSym
			if !es.Factorize(a, true) {
				t.Fatal("EigenSym failed")
			}
			want := es.Values(nil)
			order := byMagnitude(want)
			worst := 0.0
			for i := range tc.k {
				w := want[order[i]]
				e := math.Abs(got.Values[i]-w) / math.Abs(w)
				worst = math.Max(worst, e)
				if e > 1e-8 {
					t.Errorf("eigenvalue %d: lanczos %.12g, EigenSym %.12g (relative error %.2g)", i+1, got.Values[i], w, e)
				}
				// A v = lambda v for the returned vector.
				av := make([]float64, tc.dim)
				op(got.Vectors[i], av)
				axpy(-got.Values[i], got.Vectors[i], av)
				if r := norm2(av) / math.Abs(w); r > 1e-6 {
					t.Errorf("eigenvector %d: |Av - lambda v| / |lambda| = %.2g", i+1, r)
				}
			}
			t.Logf("%d eigenvalues in %d products; worst relative error %.2g", tc.k, got.Products, worst)
		})
	}
}

// testMatrix is a dim x dim symmetric matrix Q diag(spectrum) Q^T with a
// random orthogonal Q, or with spectrum nil a random symmetric one.
func testMatrix(dim int, spectrum func(int) float64, seed uint64) *mat.SymDense {
	rng := rand.New(rand.NewPCG(seed, 3))
	g := mat.NewDense(dim, dim, nil)
	for i := range dim {
		for j := range dim {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	a := mat.NewSymDense(dim, nil)
	if spectrum == nil {
		for i := range dim {
			for j := i; j < dim; j++ {
				a.SetSym(i, j, (g.At(i, j)+g.At(j, i))/2)
			}
		}
		return a
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	for i := range dim {
		for j := i; j < dim; j++ {
			var s float64
			for k := range dim {
				s += q.At(i, k) * spectrum(k) * q.At(j, k)
			}
			a.SetSym(i, j, s)
		}
	}
	return a
}
