package kernels

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const tol32 = 1e-4

var testConvShapes = []ConvShape{
	{N: 2, H: 5, W: 7, C: 3, K: 4, R: 3, S: 3, Stride: 1, Pad: 1},
	{N: 3, H: 8, W: 8, C: 16, K: 32, R: 3, S: 3, Stride: 1, Pad: 1},
	{N: 2, H: 9, W: 6, C: 5, K: 7, R: 3, S: 3, Stride: 2, Pad: 1},
	{N: 2, H: 4, W: 5, C: 6, K: 3, R: 1, S: 1, Stride: 1, Pad: 0},
	{N: 1, H: 6, W: 5, C: 4, K: 2, R: 2, S: 3, Stride: 1, Pad: 0},
	{N: 1, H: 4, W: 4, C: 33, K: 17, R: 3, S: 3, Stride: 1, Pad: 2},
}

func testConvLibs(t *testing.T) []ConvLib {
	libs := []ConvLib{ConvGEMM}
	c, err := NewConvLib(testConvShapes[0], ConvOneDNN)
	if err != nil {
		t.Logf("oneDNN unavailable, testing OpenBLAS only: %v", err)
		return libs
	}
	c.Close()
	return append(libs, ConvOneDNN)
}

func TestConv(t *testing.T) {
	for _, lib := range testConvLibs(t) {
		for _, s := range testConvShapes {
			t.Run(lib.String()+"/"+s.String(), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(11, uint64(s.C)))
				c, err := NewConvLib(s, lib)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				t.Logf("%s", c.Impl())
				x, w, dy := randF32(rng, s.XLen()), randF32(rng, s.WLen()), randF32(rng, s.YLen())
				y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
				// Run twice with garbage in the outputs: results must overwrite.
				for rep := 0; rep < 2; rep++ {
					for i := range dx {
						dx[i] = 7
					}
					for i := range dw {
						dw[i] = 7
					}
					if err := c.Forward(x, w, y); err != nil {
						t.Fatal(err)
					}
					if err := c.BackwardData(dy, w, dx); err != nil {
						t.Fatal(err)
					}
					if err := c.BackwardWeights(x, dy, dw); err != nil {
						t.Fatal(err)
					}
				}
				x64, w64, dy64 := to64(x), to64(w), to64(dy)
				y64, dx64, dw64 := make([]float64, len(y)), make([]float64, len(dx)), make([]float64, len(dw))
				if err := ConvForwardRef(s, x64, w64, y64); err != nil {
					t.Fatal(err)
				}
				if err := ConvBackwardDataRef(s, dy64, w64, dx64); err != nil {
					t.Fatal(err)
				}
				if err := ConvBackwardWeightsRef(s, x64, dy64, dw64); err != nil {
					t.Fatal(err)
				}
				closeTo(t, "y", y, y64, tol32)
				closeTo(t, "dx", dx, dx64, tol32)
				closeTo(t, "dw", dw, dw64, tol32)
			})
		}
	}
}

func TestConvErrors(t *testing.T) {
	if _, err := NewConv(ConvShape{N: 1, H: 2, W: 2, C: 1, K: 1, R: 3, S: 3, Stride: 1}); err == nil {
		t.Error("NewConv with a kernel larger than the input: no error")
	}
	s := testConvShapes[0]
	c, err := NewConv(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Forward(make([]float32, s.XLen()-1), make([]float32, s.WLen()), make([]float32, s.YLen())); err == nil {
		t.Error("Forward with a short x: no error")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Forward(make([]float32, s.XLen()), make([]float32, s.WLen()), make([]float32, s.YLen())); err == nil {
		t.Error("Forward after Close: no error")
	}
}

func TestAct(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, dy := randF32(rng, 257), randF32(rng, 257)
	for _, a := range testActs {
		y, dx := make([]float32, len(x)), make([]float32, len(x))
		if err := ActForward(a, x, y); err != nil {
			t.Fatal(err)
		}
		if err := ActBackward(a, x, dy, dx); err != nil {
			t.Fatal(err)
		}
		y64, dx64 := make([]float64, len(x)), make([]float64, len(x))
		ActForwardRef(a, to64(x), y64)
		ActBackwardRef(a, to64(x), to64(dy), dx64)
		closeTo(t, a.Kind.String()+" y", y, y64, 1e-6)
		closeTo(t, a.Kind.String()+" dx", dx, dx64, 1e-6)
	}
	if err := ActForward(Activation{Kind: ActCELU}, x, x); err == nil {
		t.Error("CELU with alpha 0: no error")
	}
}

func TestBNAct(t *testing.T) {
	const eps = 1e-5
	shapes := []BNShape{
		{N: 4, HW: 9, C: 5},
		{N: 8, HW: 4, C: 37, Ghost: 2},
		{N: 6, HW: 16, C: 64, Ghost: 3},
		{N: 1, HW: 1, C: 3},
	}
	for _, useDnnl := range []bool{true, false} {
		for _, a := range testActs {
			for _, s := range shapes {
				t.Run(fmt.Sprintf("dnnl=%v/%v/%+v", useDnnl, a.Kind, s), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(2, uint64(s.C)))
					impl := BNGo
					if useDnnl {
						impl = BNOneDNN
					}
					b, err := newBNAct(s, eps, a, impl)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Close()
					if wantGo := !useDnnl || a.Kind == ActCELU || a.Kind == ActShiftScaleReLU || a.Kind == ActGELU; wantGo != (b.Impl() == "go") {
						t.Errorf("Impl() = %q with useDnnl=%v, %v", b.Impl(), useDnnl, a.Kind)
					}
					m, c, sc := s.N*s.HW*s.C, s.C, b.Splits()*s.C
					x, dy := randF32(rng, m), randF32(rng, m)
					for i := range x {
						x[i] = 3*x[i] + 50 // a mean far from 0 against the spread: cancellation
					}
					gamma, beta := randF32(rng, c), randF32(rng, c)
					y, mean, vr := make([]float32, m), make([]float32, sc), make([]float32, sc)
					dx, dg, db := make([]float32, m), make([]float32, c), make([]float32, c)
					if err := b.ForwardTrain(x, gamma, beta, y, mean, vr); err != nil {
						t.Fatal(err)
					}
					if err := b.Backward(x, dy, gamma, dx, dg, db); err != nil {
						t.Fatal(err)
					}
					x64, dy64, g64, b64 := to64(x), to64(dy), to64(gamma), to64(beta)
					y64, mean64, vr64 := make([]float64, m), make([]float64, sc), make([]float64, sc)
					dx64, dg64, db64 := make([]float64, m), make([]float64, c), make([]float64, c)
					if err := BNActForwardTrainRef(s, eps, a, x64, g64, b64, y64, mean64, vr64); err != nil {
						t.Fatal(err)
					}
					if err := BNActBackwardTrainRef(s, eps, a, x64, dy64, g64, b64, dx64, dg64, db64); err != nil {
						t.Fatal(err)
					}
					closeTo(t, "y", y, y64, tol32)
					closeTo(t, "mean", mean, mean64, tol32)
					closeTo(t, "var", vr, vr64, tol32)
					if s.N*s.HW/b.Splits() > 1 { // a one-row split has no gradient but rounding
						closeTo(t, "dx", dx, dx64, tol32)
					}
					closeTo(t, "dgamma", dg, dg64, tol32)
					closeTo(t, "dbeta", db, db64, tol32)

					// dx may alias dy.
					alias := append([]float32(nil), dy...)
					if err := b.Backward(x, alias, gamma, alias, dg, db); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(alias, dx) {
						t.Error("Backward with dx aliasing dy differs from separate buffers")
					}

					rm, rv := randF32(rng, c), randF32(rng, c)
					for i := range rv {
						rv[i] = rv[i]*rv[i] + 0.5
					}
					if err := b.ForwardEval(x, gamma, beta, rm, rv, y); err != nil {
						t.Fatal(err)
					}
					if err := b.BackwardEval(x, dy, gamma, beta, rm, rv, dx, dg, db); err != nil {
						t.Fatal(err)
					}
					if err := BNActForwardEvalRef(c, eps, a, x64, g64, b64, to64(rm), to64(rv), y64); err != nil {
						t.Fatal(err)
					}
					if err := BNActBackwardEvalRef(c, eps, a, x64, dy64, g64, b64, to64(rm), to64(rv), dx64, dg64, db64); err != nil {
						t.Fatal(err)
					}
					closeTo(t, "eval y", y, y64, tol32)
					closeTo(t, "eval dx", dx, dx64, tol32)
					closeTo(t, "eval dgamma", dg, dg64, tol32)
					closeTo(t, "eval dbeta", db, db64, tol32)
				})
			}
		}
	}
}

func TestBNActErrors(t *testing.T) {
	if _, err := NewBNAct(BNShape{N: 6, HW: 1, C: 1, Ghost: 4}, 1e-5, Activation{}); err == nil {
		t.Error("ghost 4 with batch 6: no error")
	}
	b, err := NewBNAct(BNShape{N: 2, HW: 1, C: 2}, 1e-5, Activation{Kind: ActReLU})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 4)
	c := make([]float32, 2)
	if err := b.Backward(v, v, c, v, c, c); err == nil {
		t.Error("Backward before ForwardTrain: no error")
	}
	if err := b.ForwardTrain(v[:3], c, c, v, c, c); err == nil {
		t.Error("ForwardTrain with a short x: no error")
	}
}

func TestPools(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, d := range []struct{ n, h, w, c, k int }{{2, 4, 4, 3, 2}, {1, 5, 7, 17, 2}, {3, 8, 8, 4, 4}, {1, 3, 3, 2, 3}} {
		t.Run(fmt.Sprint(d), func(t *testing.T) {
			x := randF32(rng, d.n*d.h*d.w*d.c)
			ny := d.n * (d.h / d.k) * (d.w / d.k) * d.c
			dy := randF32(rng, ny)
			y, am, dx := make([]float32, ny), make([]uint8, ny), make([]float32, len(x))
			y64, dx64 := make([]float64, ny), make([]float64, len(x))

			if err := MaxPoolForward(x, d.n, d.h, d.w, d.c, d.k, y, am); err != nil {
				t.Fatal(err)
			}
			if err := MaxPoolBackward(dy, am, d.n, d.h, d.w, d.c, d.k, dx); err != nil {
				t.Fatal(err)
			}
			MaxPoolForwardRef(to64(x), d.n, d.h, d.w, d.c, d.k, y64, nil)
			MaxPoolBackwardRef(to64(x), to64(dy), d.n, d.h, d.w, d.c, d.k, dx64)
			closeTo(t, "max y", y, y64, 0)
			closeTo(t, "max dx", dx, dx64, 0)

			if err := AvgPoolForward(x, d.n, d.h, d.w, d.c, d.k, y); err != nil {
				t.Fatal(err)
			}
			if err := AvgPoolBackward(dy, d.n, d.h, d.w, d.c, d.k, dx); err != nil {
				t.Fatal(err)
			}
			AvgPoolForwardRef(to64(x), d.n, d.h, d.w, d.c, d.k, y64)
			AvgPoolBackwardRef(to64(dy), d.n, d.h, d.w, d.c, d.k, dx64)
			closeTo(t, "avg y", y, y64, 1e-6)
			closeTo(t, "avg dx", dx, dx64, 1e-6)

			hw := d.h * d.w
			gy, gam, gdy := make([]float32, d.n*d.c), make([]int32, d.n*d.c), randF32(rng, d.n*d.c)
			gy64 := make([]float64, d.n*d.c)
			if err := GlobalMaxPoolForward(x, d.n, hw, d.c, gy, gam); err != nil {
				t.Fatal(err)
			}
			if err := GlobalMaxPoolBackward(gdy, gam, d.n, hw, d.c, dx); err != nil {
				t.Fatal(err)
			}
			GlobalMaxPoolForwardRef(to64(x), d.n, hw, d.c, gy64)
			GlobalMaxPoolBackwardRef(to64(x), to64(gdy), d.n, hw, d.c, dx64)
			closeTo(t, "global max y", gy, gy64, 0)
			closeTo(t, "global max dx", dx, dx64, 0)

			if err := GlobalAvgPoolForward(x, d.n, hw, d.c, gy); err != nil {
				t.Fatal(err)
			}
			if err := GlobalAvgPoolBackward(gdy, d.n, hw, d.c, dx); err != nil {
				t.Fatal(err)
			}
			GlobalAvgPoolForwardRef(to64(x), d.n, hw, d.c, gy64)
			GlobalAvgPoolBackwardRef(to64(gdy), d.n, hw, d.c, dx64)
			closeTo(t, "global avg y", gy, gy64, 1e-6)
			closeTo(t, "global avg dx", dx, dx64, 1e-6)
		})
	}
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	const n, classes = 37, 10
	logits := randF32(rng, n*classes)
	for i := range logits {
		logits[i] *= 5
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(rng.IntN(classes))
	}
	for _, s := range []float32{0, 0.2} {
		d := make([]float32, n*classes)
		loss, correct, err := SoftmaxCrossEntropy(logits, labels, n, classes, s, d)
		if err != nil {
			t.Fatal(err)
		}
		d64 := make([]float64, len(d))
		loss64, correct64, err := SoftmaxCrossEntropyRef(to64(logits), labels, n, classes, float64(s), d64)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "loss", []float32{float32(loss)}, []float64{loss64}, 1e-6)
		closeTo(t, "dlogits", d, d64, 1e-6)
		if correct != correct64 {
			t.Errorf("smoothing %v: correct %d, want %d", s, correct, correct64)
		}
	}
	bad := append([]int32(nil), labels...)
	bad[3] = classes
	if _, _, err := SoftmaxCrossEntropy(logits, bad, n, classes, 0, make([]float32, n*classes)); err == nil {
		t.Error("label out of range: no error")
	}
}

func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const m, n, k = 7, 5, 9
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		a, b := randF32(rng, m*k), randF32(rng, k*n)
		c := randF32(rng, m*n)
		want := make([]float64, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					av := a[i*k+p]
					if tr[0] {
						av = a[p*m+i]
					}
					bv := b[p*n+j]
					if tr[1] {
						bv = b[j*k+p]
					}
					s += float64(av) * float64(bv)
				}
				want[i*n+j] = 2*s + 0.5*float64(c[i*n+j])
			}
		}
		lda, ldb := k, n
		if tr[0] {
			lda = m
		}
		if tr[1] {
			ldb = k
		}
		if err := Sgemm(tr[0], tr[1], m, n, k, 2, a, lda, b, ldb, 0.5, c, n); err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprint("sgemm ", tr), c, want, 1e-5)
	}
	if err := Sgemm(false, false, m, n, k, 1, make([]float32, m*k-1), k, make([]float32, k*n), n, 0, make([]float32, m*n), n); err == nil {
		t.Error("short a: no error")
	}
}

func TestVersions(t *testing.T) {
	v := Versions()
	if !strings.HasPrefix(v, "oneDNN ") || !strings.Contains(v, "OpenBLAS") {
		t.Errorf("Versions() = %q, want the loaded oneDNN and OpenBLAS", v)
	}
}
