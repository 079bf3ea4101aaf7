package kernels

import (
	"math/rand/v2"
	"testing"
)

// The reference backward functions are checked against finite differences
// of the reference forward functions, in float64: loss = sum(y * r) for a
// fixed random r, so dL/dy = r.

func TestConvRefGrad(t *testing.T) {
	for _, s := range []ConvShape{
		{N: 2, H: 5, W: 4, C: 3, K: 2, R: 3, S: 3, Stride: 1, Pad: 1},
		{N: 1, H: 6, W: 7, C: 2, K: 3, R: 3, S: 2, Stride: 2, Pad: 1},
	} {
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			x, w, r := randF64(rng, s.XLen()), randF64(rng, s.WLen()), randF64(rng, s.YLen())
			y := make([]float64, s.YLen())
			f := func() float64 {
				if err := ConvForwardRef(s, x, w, y); err != nil {
					t.Fatal(err)
				}
				return dot(y, r)
			}
			dx, dw := make([]float64, len(x)), make([]float64, len(w))
			if err := ConvBackwardDataRef(s, r, w, dx); err != nil {
				t.Fatal(err)
			}
			if err := ConvBackwardWeightsRef(s, x, r, dw); err != nil {
				t.Fatal(err)
			}
			gradCheck(t, "dx", x, dx, f)
			gradCheck(t, "dw", w, dw, f)
		})
	}
}

var testActs = []Activation{
	{Kind: ActIdentity},
	{Kind: ActReLU},
	{Kind: ActCELU, Alpha: 0.3},
	{Kind: ActShiftScaleReLU},
	{Kind: ActGELU},
}

func TestBNActRefGrad(t *testing.T) {
	for _, a := range testActs {
		for _, s := range []BNShape{{N: 4, HW: 3, C: 3}, {N: 4, HW: 3, C: 2, Ghost: 2}} {
			t.Run(a.Kind.String()+"/ghost"+string(rune('0'+s.Ghost)), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, 4))
				const eps = 1e-5
				m := s.N * s.HW * s.C
				x, r := randF64(rng, m), randF64(rng, m)
				gamma, beta := randF64(rng, s.C), randF64(rng, s.C)
				splits := 1
				if s.Ghost > 0 {
					splits = s.N / s.Ghost
				}
				y := make([]float64, m)
				mean, vr := make([]float64, splits*s.C), make([]float64, splits*s.C)
				f := func() float64 {
					if err := BNActForwardTrainRef(s, eps, a, x, gamma, beta, y, mean, vr); err != nil {
						t.Fatal(err)
					}
					return dot(y, r)
				}
				dx, dg, db := make([]float64, m), make([]float64, s.C), make([]float64, s.C)
				if err := BNActBackwardTrainRef(s, eps, a, x, r, gamma, beta, dx, dg, db); err != nil {
					t.Fatal(err)
				}
				gradCheck(t, "dx", x, dx, f)
				gradCheck(t, "dgamma", gamma, dg, f)
				gradCheck(t, "dbeta", beta, db, f)

				// Eval mode: the gradient through fixed running statistics.
				rm, rv := randF64(rng, s.C), randF64(rng, s.C)
				for i := range rv {
					rv[i] = rv[i]*rv[i] + 0.5
				}
				fe := func() float64 {
					if err := BNActForwardEvalRef(s.C, eps, a, x, gamma, beta, rm, rv, y); err != nil {
						t.Fatal(err)
					}
					return dot(y, r)
				}
				if err := BNActBackwardEvalRef(s.C, eps, a, x, r, gamma, beta, rm, rv, dx, dg, db); err != nil {
					t.Fatal(err)
				}
				gradCheck(t, "eval dx", x, dx, fe)
				gradCheck(t, "eval dgamma", gamma, dg, fe)
				gradCheck(t, "eval dbeta", beta, db, fe)
			})
		}
	}
}

func TestPoolRefGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, h, w, c, k = 2, 5, 4, 3, 2 // h=5: the last row is cut off
	x := randF64(rng, n*h*w*c)
	r := randF64(rng, n*(h/k)*(w/k)*c)
	y := make([]float64, len(r))
	dx := make([]float64, len(x))

	if err := MaxPoolBackwardRef(x, r, n, h, w, c, k, dx); err != nil {
		t.Fatal(err)
	}
	gradCheck(t, "maxpool dx", x, dx, func() float64 {
		if err := MaxPoolForwardRef(x, n, h, w, c, k, y, nil); err != nil {
			t.Fatal(err)
		}
		return dot(y, r)
	})
	if err := AvgPoolBackwardRef(r, n, h, w, c, k, dx); err != nil {
		t.Fatal(err)
	}
	gradCheck(t, "avgpool dx", x, dx, func() float64 {
		if err := AvgPoolForwardRef(x, n, h, w, c, k, y); err != nil {
			t.Fatal(err)
		}
		return dot(y, r)
	})

	const hw = 6
	xg := randF64(rng, n*hw*c)
	rg := randF64(rng, n*c)
	yg := make([]float64, n*c)
	dxg := make([]float64, len(xg))
	if err := GlobalMaxPoolBackwardRef(xg, rg, n, hw, c, dxg); err != nil {
		t.Fatal(err)
	}
	gradCheck(t, "global maxpool dx", xg, dxg, func() float64 {
		if err := GlobalMaxPoolForwardRef(xg, n, hw, c, yg); err != nil {
			t.Fatal(err)
		}
		return dot(yg, rg)
	})
	if err := GlobalAvgPoolBackwardRef(rg, n, hw, c, dxg); err != nil {
		t.Fatal(err)
	}
	gradCheck(t, "global avgpool dx", xg, dxg, func() float64 {
		if err := GlobalAvgPoolForwardRef(xg, n, hw, c, yg); err != nil {
			t.Fatal(err)
		}
		return dot(yg, rg)
	})
}

func TestLossRefGrad(t *testing.T) {
	for _, s := range []float64{0, 0.2} {
		rng := rand.New(rand.NewPCG(7, 8))
		const n, classes = 3, 5
		logits := randF64(rng, n*classes)
		labels := []int32{0, 4, 2}
		d := make([]float64, len(logits))
		if _, _, err := SoftmaxCrossEntropyRef(logits, labels, n, classes, s, d); err != nil {
			t.Fatal(err)
		}
		gradCheck(t, "dlogits", logits, d, func() float64 {
			l, _, err := SoftmaxCrossEntropyRef(logits, labels, n, classes, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		})
	}
}
