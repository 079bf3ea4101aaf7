package kernels

import (
	"math/rand/v2"
	"testing"
)

// The hot calls must allocate nothing: they run every step of training.
func TestZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, lib := range testConvLibs(t) {
		s := testConvShapes[1]
		c, err := NewConvLib(s, lib)
		if err != nil {
			t.Fatal(err)
		}
		x, w, y := randF32(rng, s.XLen()), randF32(rng, s.WLen()), make([]float32, s.YLen())
		dx, dw := make([]float32, s.XLen()), make([]float32, s.WLen())
		for name, f := range map[string]func() error{
			"Forward":         func() error { return c.Forward(x, w, y) },
			"BackwardData":    func() error { return c.BackwardData(y, w, dx) },
			"BackwardWeights": func() error { return c.BackwardWeights(x, y, dw) },
		} {
			if n := testing.AllocsPerRun(5, func() {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v Conv.%s: %v allocs per call, want 0", lib, name, n)
			}
		}
		c.Close()
	}

	s := BNShape{N: 4, HW: 16, C: 64, Ghost: 2}
	for _, tc := range []struct {
		a    Activation
		impl BNLib
	}{
		{testActs[0], BNGo}, {testActs[1], BNGo}, {testActs[2], BNGo}, {testActs[3], BNGo},
		{testActs[0], BNOneDNN}, {testActs[1], BNOneDNN},
		{testActs[0], BNAuto}, {testActs[1], BNAuto}, {testActs[2], BNAuto},
	} {
		a := tc.a
		b, err := newBNAct(s, 1e-5, a, tc.impl)
		if err != nil {
			t.Fatal(err)
		}
		m := s.N * s.HW * s.C
		x, y, dx, dx16 := randF32(rng, m), make([]float32, m), make([]float32, m), make([]uint16, m)
		g, be := randF32(rng, s.C), randF32(rng, s.C)
		mean, vr := make([]float32, b.Splits()*s.C), make([]float32, b.Splits()*s.C)
		dg, db := make([]float32, s.C), make([]float32, s.C)
		if n := testing.AllocsPerRun(5, func() {
			if err := b.ForwardTrain(x, g, be, y, mean, vr); err != nil {
				t.Fatal(err)
			}
			if err := b.Backward(x, y, g, dx, dg, db); err != nil {
				t.Fatal(err)
			}
			if err := b.ForwardEval(x, g, be, mean[:s.C], g, y); err != nil {
				t.Fatal(err)
			}
			if err := b.BackwardBF16(x, y, g, dx, dx16, dg, db); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("BNAct %v (%s): %v allocs per ForwardTrain+Backward+ForwardEval+BackwardBF16, want 0", a.Kind, b.Impl(), n)
		}
		b.Close()
	}

	logits, labels, d := randF32(rng, 64*10), make([]int32, 64), make([]float32, 64*10)
	if n := testing.AllocsPerRun(5, func() {
		if _, _, err := SoftmaxCrossEntropy(logits, labels, 64, 10, 0.2, d); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("SoftmaxCrossEntropy: %v allocs per call, want 0", n)
	}

	px, py, pa := randF32(rng, 4*8*8*16), make([]float32, 4*4*4*16), make([]uint8, 4*4*4*16)
	pdx := make([]float32, len(px))
	if n := testing.AllocsPerRun(5, func() {
		if err := MaxPoolForward(px, 4, 8, 8, 16, 2, py, pa); err != nil {
			t.Fatal(err)
		}
		if err := MaxPoolBackward(py, pa, 4, 8, 8, 16, 2, pdx); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("MaxPool: %v allocs per forward+backward, want 0", n)
	}
}
