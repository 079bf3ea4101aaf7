package kernels

import (
	"errors"
	"fmt"
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
			y, dx, dw := convPasses(t, c, x, w, dy)
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

// TestConvBF16Operands: the passes on a caller's bf16 x and dy (ToBF16 of
// the float32 ones) give the bits of the passes that convert them
// themselves, so ToBF16 rounds as oneDNN's reorder does: ties, denormals
// and infinities included. InputBF16 writes ToBF16's bits. Other
// libraries refuse bf16 operands, and a BF16 operand with both or neither
// form is refused.
func TestConvBF16Operands(t *testing.T) {
	if c, err := NewConvLib(testConvShapes[0], ConvOneDNN); err == nil {
		s := testConvShapes[0]
		if err := c.BackwardDataBF16(make([]uint16, s.YLen()), make([]float32, s.WLen()), make([]float32, s.XLen())); err == nil {
			t.Error("BackwardDataBF16 on float32 convolutions: no error")
		}
		if err := c.ForwardBF16(make([]uint16, s.XLen()), make([]float32, s.WLen()), make([]float32, s.YLen())); err == nil {
			t.Error("ForwardBF16 on float32 convolutions: no error")
		}
		if err := c.InputBF16(make([]float32, s.XLen()), make([]uint16, s.XLen())); err == nil {
			t.Error("InputBF16 on float32 convolutions: no error")
		}
		c.Close()
	}
	if !HasBF16() {
		t.Skip("this CPU has no avx512_bf16: no bf16 convolutions to read bf16 operands")
	}
	special := []float32{1 + 1.0/256, 1 + 3.0/256, -(1 + 1.0/256), 1e-40, -1e-40, float32(math.Inf(-1)), 3.4e38}
	for _, s := range testConvShapes {
		t.Run(s.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(23, uint64(s.C)))
			x, w, dy := randF32(rng, s.XLen()), randF32(rng, s.WLen()), randF32(rng, s.YLen())
			for i := range dy {
				if i%5 == 0 {
					dy[i] = special[(i/5)%len(special)]
				}
			}
			for i := range x {
				if i%7 == 0 && special[(i/7)%len(special)] < 1e30 { // finite x: an infinite input makes NaNs
					x[i] = special[(i/7)%len(special)]
				}
			}
			x16, dy16 := make([]uint16, len(x)), make([]uint16, len(dy))
			ToBF16(x16, x)
			ToBF16(dy16, dy)
			c, err := NewConvLib(s, ConvOneDNNBF16)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got16 := make([]uint16, len(x))
			if err := c.InputBF16(x, got16); err != nil {
				t.Fatal(err)
			}
			for i := range x16 {
				if got16[i] != x16[i] {
					t.Fatalf("InputBF16: x[%d] = %v -> %#04x, ToBF16 %#04x", i, x[i], got16[i], x16[i])
				}
			}
			same := func(name string, got, want []float32) {
				t.Helper()
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s[%d] = %v from bf16 operands, %v converting itself", name, i, got[i], want[i])
					}
				}
			}
			y, dx, dw := convPasses(t, c, x, w, dy)
			y16 := make([]float32, len(y))
			if err := c.ForwardBF16(x16, w, y16); err != nil {
				t.Fatal(err)
			}
			same("y", y16, y)
			dx16 := make([]float32, len(dx))
			if err := c.BackwardDataBF16(dy16, w, dx16); err != nil {
				t.Fatal(err)
			}
			same("dx", dx16, dx)
			for _, xs := range []BF16{{F32: x}, {H: x16}} {
				for _, dys := range []BF16{{F32: dy}, {H: dy16}} {
					dw16 := make([]float32, len(dw))
					if err := c.BackwardWeightsBF16(xs, dys, dw16); err != nil {
						t.Fatal(err)
					}
					same(fmt.Sprintf("dw (x16 %v, dy16 %v)", xs.H != nil, dys.H != nil), dw16, dw)
				}
			}
			for _, bad := range [][2]BF16{{{}, {H: dy16}}, {{F32: x, H: x16}, {H: dy16}}, {{H: x16}, {}}, {{H: x16[1:]}, {H: dy16}}} {
				if err := c.BackwardWeightsBF16(bad[0], bad[1], dw); err == nil {
					t.Errorf("BackwardWeightsBF16(x %d+%d, dy %d+%d values): no error", len(bad[0].F32), len(bad[0].H), len(bad[1].F32), len(bad[1].H))
				}
			}
		})
	}
}
