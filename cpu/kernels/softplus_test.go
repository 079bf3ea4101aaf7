package kernels

import (
	"math"
	"testing"
)

// TestSoftplus checks post 7's softplus (beta 10, threshold 2.5, as
// PyTorch's): the kernels against the float64 reference, the backward
// pass against central differences of the reference away from the
// threshold, and the linear part above it.
func TestSoftplus(t *testing.T) {
	a := Activation{Kind: ActSoftplus, Beta: 10, Threshold: 2.5}
	xs := []float32{-3, -0.5, -0.1, -1e-3, 0, 1e-3, 0.1, 0.2, 0.249, 0.251, 0.5, 3}
	y, dx := make([]float32, len(xs)), make([]float32, len(xs))
	ones := make([]float32, len(xs))
	for i := range ones {
		ones[i] = 1
	}
	if err := ActForward(a, xs, y); err != nil {
		t.Fatal(err)
	}
	if err := ActBackward(a, xs, ones, dx); err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		z := float64(x)
		if want := float32(ActRef(a, z)); y[i] != want {
			t.Errorf("softplus(%g) = %g, reference %g", x, y[i], want)
		}
		if want := float32(ActGradRef(a, z)); dx[i] != want {
			t.Errorf("softplus'(%g) = %g, reference %g", x, dx[i], want)
		}
		if 10*z > 2.5 {
			if y[i] != x || dx[i] != 1 {
				t.Errorf("above the threshold softplus(%g) = %g, slope %g: want the identity", x, y[i], dx[i])
			}
			continue
		}
		const h = 1e-6
		if fd := (ActRef(a, z+h) - ActRef(a, z-h)) / (2 * h); math.Abs(fd-float64(dx[i])) > 1e-5 {
			t.Errorf("softplus'(%g) = %g, central difference %g", x, dx[i], fd)
		}
	}
	if err := ActForward(Activation{Kind: ActSoftplus, Beta: 10}, xs, y); err == nil {
		t.Error("softplus without a threshold: no error")
	}
}
