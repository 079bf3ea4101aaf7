package analysis

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Lanczos finds the top eigenvalues of a symmetric operator known only by
// its products (E7.8's Hessian, by Hessian-vector products). It is our
// own, not a library's: gonum, the numerical library this module already
// uses, has dense eigensolvers but no iterative one, and the operator
// here is a function of ~10^5-10^7 dimensions whose every product costs
// two passes over the data. It keeps every Lanczos vector and
// reorthogonalises each new one against all of them, twice: at the few
// dozen iterations a handful of eigenvalues needs, that costs little
// beside one product and keeps the basis orthogonal to rounding, so no
// spurious copies of converged eigenvalues appear. The small tridiagonal
// eigenproblem goes to gonum's mat.EigenSym.

// Operator writes y = A x for a symmetric A.
type Operator func(x, y []float64) error

// Eigen is what Lanczos found: the k eigenvalues of largest magnitude in
// decreasing magnitude, their unit eigenvectors, each one's residual
// bound |A v - lambda v| and the number of products taken.
type Eigen struct {
	Values    []float64
	Vectors   [][]float64
	Residuals []float64
	Products  int
	Converged bool
}

// LanczosOptions bound a run: K eigenpairs, converged when every one's
// residual bound is at most Tol times its |eigenvalue| (scipy's eigsh
// criterion), after at most MaxIter products (0: 3K+20). Project, when
// set, is applied to the start vector and every new vector, and must be
// a symmetric projection that A commutes with on its range (E7.10 runs
// Lanczos on P A P).
type LanczosOptions struct {
	K       int
	Tol     float64
	MaxIter int
	Project func(v []float64)
	Seed    uint64
}

// Lanczos runs the Lanczos iteration on op in dim dimensions.
func Lanczos(op Operator, dim int, o LanczosOptions) (Eigen, error) {
	if o.K < 1 || o.K > dim {
		return Eigen{}, fmt.Errorf("lanczos: %d eigenvalues of a %d-dimensional operator", o.K, dim)
	}
	if !(o.Tol > 0) {
		return Eigen{}, fmt.Errorf("lanczos: tolerance %v: want > 0", o.Tol)
	}
	m := o.MaxIter
	if m <= 0 {
		m = 3*o.K + 20
	}
	m = min(m, dim)
	rng := rand.New(rand.NewPCG(o.Seed, 0x1a2c))
	q := make([]float64, dim)
	for i := range q {
		q[i] = rng.NormFloat64()
	}
	if o.Project != nil {
		o.Project(q)
	}
	nq := norm2(q)
	if !(nq > 0) {
		return Eigen{}, errors.New("lanczos: the start vector projects to zero")
	}
	q = scaled(1/nq, q)
	var (
		basis       = [][]float64{q}
		alpha, beta []float64
		res         Eigen
	)
	w := make([]float64, dim)
	for j := 0; j < m; j++ {
		if err := op(basis[j], w); err != nil {
			return res, fmt.Errorf("lanczos: product %d: %w", j+1, err)
		}
		res.Products++
		if o.Project != nil {
			o.Project(w)
		}
		a := dot(w, basis[j])
		alpha = append(alpha, a)
		// Full reorthogonalisation, twice (w - a q_j - b q_{j-1} is
		// among what it removes).
		for range 2 {
			for _, v := range basis {
				axpy(-dot(w, v), v, w)
			}
		}
		b := norm2(w)
		vals, vecs, err := tridiagEigen(alpha, beta)
		if err != nil {
			return res, err
		}
		k := min(o.K, len(vals))
		order := byMagnitude(vals)
		done := len(vals) >= o.K
		resid := make([]float64, k)
		for i := range k {
			c := order[i]
			resid[i] = math.Abs(b * vecs.At(len(vals)-1, c))
			if resid[i] > o.Tol*math.Abs(vals[c]) {
				done = false
			}
		}
		// An invariant subspace (b ~ 0) ends the iteration exactly.
		exhausted := b <= 1e-12*math.Max(math.Abs(a), 1)
		if done || exhausted || j == m-1 {
			res.Values, res.Residuals, res.Vectors = make([]float64, k), resid, make([][]float64, k)
			for i := range k {
				c := order[i]
				res.Values[i] = vals[c]
				v := make([]float64, dim)
				for r, u := range basis {
					axpy(vecs.At(r, c), u, v)
				}
				res.Vectors[i] = v
			}
			res.Converged = done || (exhausted && len(vals) >= o.K)
			if len(vals) < o.K {
				return res, fmt.Errorf("lanczos: the start vector spans an invariant subspace of %d dimensions, fewer than the %d eigenvalues asked for", len(vals), o.K)
			}
			return res, nil
		}
		beta = append(beta, b)
		basis = append(basis, scaled(1/b, w))
	}
	return res, errors.New("lanczos: no iterations")
}

// tridiagEigen is the eigendecomposition of the symmetric tridiagonal
// matrix with diagonal alpha and off-diagonal beta.
func tridiagEigen(alpha, beta []float64) ([]float64, *mat.Dense, error) {
	n := len(alpha)
	t := mat.NewSymDense(n, nil)
	for i := range n {
		t.SetSym(i, i, alpha[i])
		if i+1 < n {
			t.SetSym(i, i+1, beta[i])
		}
	}
	var es mat.EigenSym
	if !es.Factorize(t, true) {
		return nil, nil, errors.New("lanczos: the tridiagonal eigenproblem did not converge")
	}
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	return es.Values(nil), &vecs, nil
}

// byMagnitude returns the indices of vals by decreasing |value|.
func byMagnitude(vals []float64) []int {
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(vals[b]), math.Abs(vals[a])) })
	return idx
}
