package kernels

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestRoundBF16(t *testing.T) {
	for _, tc := range []struct{ in, want float32 }{
		{1, 1},
		{1 + 1.0/256, 1},          // a tie rounds to the even mantissa
		{1 + 1.0/512, 1},          // below half an ulp
		{1 + 3.0/256, 1 + 1.0/64}, // a tie from an odd mantissa rounds up
		{-3.14159, -3.140625},     // 0xc0490fd0 -> 0xc049
		{float32(math.Inf(1)), float32(math.Inf(1))},
		{0, 0},
	} {
		if got := RoundBF16(tc.in); got != tc.want {
			t.Errorf("RoundBF16(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if v := RoundBF16(float32(math.NaN())); v == v {
		t.Error("NaN did not stay NaN")
	}
}

// TestConvBF16 checks oneDNN's bf16 convolutions against the float64
// reference on the bf16-rounded operands: that is what they compute, the
// only other error being their fp32 accumulation (about 1e-6 of the
// tensor's scale at these sizes; 1e-4 allowed). The fp32 reference on the
// unrounded operands is off by the operands' own rounding, up to 2^-8
// relative per product, which averages down over a sum: ~4e-3 allowed.
func TestConvBF16(t *testing.T) {
	if !HasBF16() {
		if _, err := NewConvLib(testConvShapes[0], ConvOneDNNBF16); !errors.Is(err, ErrNoBF16) {
			t.Errorf("no avx512_bf16: NewConvLib = %v, want ErrNoBF16", err)
		}
		t.Skip("this CPU has no avx512_bf16: the bf16 convolutions are not built (ErrNoBF16 checked)")
	}
	for _, s := range testConvShapes {
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, uint64(s.C)))
			c, err := NewConvLib(s, ConvOneDNNBF16)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Logf("%s", c.Impl())
			x, w, dy := randF32(rng, s.XLen()), randF32(rng, s.WLen()), randF32(rng, s.YLen())
			round := func(v []float32) []float64 {
				out := make([]float64, len(v))
				for i, f := range v {
					out[i] = float64(RoundBF16(f))
				}
				return out
			}
			y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
			if err := c.Forward(x, w, y); err != nil {
				t.Fatal(err)
			}
			if err := c.BackwardData(dy, w, dx); err != nil {
				t.Fatal(err)
			}
			if err := c.BackwardWeights(x, dy, dw); err != nil {
				t.Fatal(err)
			}
			for _, rounded := range []bool{true, false} {
				xs, ws, dys := to64(x), to64(w), to64(dy)
				tol := 4e-3
				if rounded {
					xs, ws, dys, tol = round(x), round(w), round(dy), 1e-4
				}
				y64, dx64, dw64 := make([]float64, s.YLen()), make([]float64, s.XLen()), make([]float64, s.WLen())
				if err := ConvForwardRef(s, xs, ws, y64); err != nil {
					t.Fatal(err)
				}
				if err := ConvBackwardDataRef(s, dys, ws, dx64); err != nil {
					t.Fatal(err)
				}
				if err := ConvBackwardWeightsRef(s, xs, dys, dw64); err != nil {
					t.Fatal(err)
				}
				closeTo(t, "y", y, y64, tol)
				closeTo(t, "dx", dx, dx64, tol)
				closeTo(t, "dw", dw, dw64, tol)
			}
			// The backward passes reuse the forward's bf16 x only while x
			// is the same buffer: a new x must be converted again.
			x2 := randF32(rng, s.XLen())
			if err := c.BackwardWeights(x2, dy, dw); err != nil {
				t.Fatal(err)
			}
			dw64 := make([]float64, s.WLen())
			if err := ConvBackwardWeightsRef(s, round(x2), round(dy), dw64); err != nil {
				t.Fatal(err)
			}
			closeTo(t, "dw of a new x", dw, dw64, 1e-4)
		})
	}
}

// TestFMAPeak: the measured peak is positive and, per thread, within what
// a core can do (at most 2 FMA pipes x 16 lanes x 2 FLOP at 6 GHz).
func TestFMAPeak(t *testing.T) {
	for _, bits := range []int{256, 512} {
		gf, err := FMAPeak(1, bits, 30*time.Millisecond)
		if err != nil {
			t.Logf("%d-bit: %v", bits, err)
			continue
		}
		if lanes := float64(bits / 32); !(gf > 0.5 && gf < 2*lanes*2*6) {
			t.Errorf("%d-bit FMA peak on 1 thread: %.1f GFLOP/s", bits, gf)
		}
	}
	if _, err := FMAPeak(1, 128, time.Millisecond); err == nil {
		t.Error("128-bit accepted")
	}
}

// TestConvBF16Dy: the backward passes on a caller's bf16 dy (ToBF16 of
// the float32 one) give the bits of the passes that convert dy
// themselves, so ToBF16 rounds as oneDNN's reorder does: ties, denormals
// and infinities included. Other libraries refuse a bf16 dy.
func TestConvBF16Dy(t *testing.T) {
	if c, err := NewConvLib(testConvShapes[0], ConvOneDNN); err == nil {
		s := testConvShapes[0]
		if err := c.BackwardDataBF16(make([]uint16, s.YLen()), make([]float32, s.WLen()), make([]float32, s.XLen())); err == nil {
			t.Error("BackwardDataBF16 on float32 convolutions: no error")
		}
		c.Close()
	}
	if !HasBF16() {
		t.Skip("this CPU has no avx512_bf16: no bf16 convolutions to read a bf16 dy")
	}
	for _, s := range testConvShapes {
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(23, uint64(s.C)))
			x, w, dy := randF32(rng, s.XLen()), randF32(rng, s.WLen()), randF32(rng, s.YLen())
			special := []float32{1 + 1.0/256, 1 + 3.0/256, -(1 + 1.0/256), 1e-40, -1e-40, float32(math.Inf(-1)), 3.4e38}
			for i := range dy {
				if i%5 == 0 {
					dy[i] = special[(i/5)%len(special)]
				}
			}
			run := func(bf16dy bool) ([]float32, []float32) {
				c, err := NewConvLib(s, ConvOneDNNBF16)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
				if err := c.Forward(x, w, y); err != nil {
					t.Fatal(err)
				}
				if !bf16dy {
					if err := c.BackwardData(dy, w, dx); err != nil {
						t.Fatal(err)
					}
					if err := c.BackwardWeights(x, dy, dw); err != nil {
						t.Fatal(err)
					}
					return dx, dw
				}
				dy16 := make([]uint16, len(dy))
				ToBF16(dy16, dy)
				if err := c.BackwardDataBF16(dy16, w, dx); err != nil {
					t.Fatal(err)
				}
				if err := c.BackwardWeightsBF16(x, dy16, dw); err != nil {
					t.Fatal(err)
				}
				return dx, dw
			}
			dx, dw := run(false)
			dx16, dw16 := run(true)
			for name, p := range map[string][2][]float32{"dx": {dx16, dx}, "dw": {dw16, dw}} {
				for i := range p[1] {
					if math.Float32bits(p[0][i]) != math.Float32bits(p[1][i]) {
						t.Fatalf("%s[%d] = %v from a bf16 dy, %v converting itself", name, i, p[0][i], p[1][i])
					}
				}
			}
		})
	}
}
