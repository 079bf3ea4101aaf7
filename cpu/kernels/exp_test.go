package kernels

import (
	"math"
	"testing"
)

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 1_000_000; i++ {
		x := -87.0 * float64(i) / 1e6
		got := float64(expNeg(float32(x)))
		want := math.Exp(float64(float32(x)))
		rel := math.Abs(got-want) / want
		if !(rel <= 5e-7) {
			t.Fatalf("expNeg(%v) = %v, want %v (rel err %.2g)", float32(x), got, want, rel)
		}
		worst = max(worst, rel)
	}
	t.Logf("worst rel err %.2g", worst)
	if got := expNeg(-1000); got < 0 || got > 1e-37 {
		t.Errorf("expNeg(-1000) = %v, want ~0", got)
	}
	if got := expNeg(0); got != 1 {
		t.Errorf("expNeg(0) = %v, want 1", got)
	}
}
