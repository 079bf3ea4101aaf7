package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func randF64(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// closeTo fails t when got differs from want by more than tol relative to
// the largest |want| (so near-zero elements are judged on the tensor's
// scale, as float32 accumulation error is).
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	scale := 1e-30
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i])-want[i]) / scale
		if math.IsNaN(d) || d > worst {
			worst, at = d, i
		}
		if math.IsNaN(d) {
			break
		}
	}
	if !(worst <= tol) {
		t.Errorf("%s: max rel err %.3g at %d (got %v, want %v, scale %.3g), tol %.1g", what, worst, at, got[at], want[at], scale, tol)
	}
}

// dot returns sum(a*b) in float64.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// gradCheck compares analytic gradient g of f at p against central finite
// differences, for every element (the sizes are tiny). f reads p.
func gradCheck(t *testing.T, what string, p []float64, g []float64, f func() float64) {
	t.Helper()
	const eps = 1e-6
	worst := 0.0
	for i := range p {
		old := p[i]
		p[i] = old + eps
		fp := f()
		p[i] = old - eps
		fm := f()
		p[i] = old
		num := (fp - fm) / (2 * eps)
		d := math.Abs(num-g[i]) / math.Max(1, math.Abs(num))
		worst = math.Max(worst, d)
		if !(d <= 1e-5) {
			t.Errorf("%s[%d]: analytic %.8g, numeric %.8g", what, i, g[i], num)
			return
		}
	}
	t.Logf("%s: worst rel err %.2g over %d elements", what, worst, len(p))
}

// convPasses runs c's three float32 passes: y, dx and dw.
func convPasses(t *testing.T, c *Conv, x, w, dy []float32) (y, dx, dw []float32) {
	t.Helper()
	s := c.Shape()
	y, dx, dw = make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
	if err := c.Forward(x, w, y); err != nil {
		t.Fatal(err)
	}
	if err := c.BackwardData(dy, w, dx); err != nil {
		t.Fatal(err)
	}
	if err := c.BackwardWeights(x, dy, dw); err != nil {
		t.Fatal(err)
	}
	return y, dx, dw
}
