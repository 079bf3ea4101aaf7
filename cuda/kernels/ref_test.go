package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	cpuk "speedrun/cpu/kernels"
)

func randn(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// maxRel is max |a-b| / max(1, |b|) over the slices.
func maxRel(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i])-float64(b[i])) / math.Max(1, math.Abs(float64(b[i])))
		if d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}

func close(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	if e := maxRel(got, want); e > tol {
		t.Errorf("%s: max rel error %.3g > %.3g", what, e, tol)
	}
}

var acts = []struct {
	code  int
	cpu   cpuk.Activation
	alpha float64
}{
	{ActIdentity, cpuk.Activation{Kind: cpuk.ActIdentity}, 0},
	{ActReLU, cpuk.Activation{Kind: cpuk.ActReLU}, 0},
	{ActCELU, cpuk.Activation{Kind: cpuk.ActCELU, Alpha: 0.3}, 0.3},
	{ActShiftScaleReLU, cpuk.Activation{Kind: cpuk.ActShiftScaleReLU}, 0},
	{ActGELU, cpuk.Activation{Kind: cpuk.ActGELU}, 0},
}

func TestActRefMatchesCPU(t *testing.T) {
	for _, a := range acts {
		for _, z := range []float64{-2, -0.3, -1e-3, 0, 1e-3, 0.7, 3} {
			if g, w := ActRef(a.code, a.alpha, z), cpuk.ActRef(a.cpu, z); math.Abs(g-w) > 1e-7 {
				t.Errorf("act %d at %v: %v, cpu %v", a.code, z, g, w)
			}
			if g, w := ActGradRef(a.code, a.alpha, z), cpuk.ActGradRef(a.cpu, z); math.Abs(g-w) > 1e-7 {
				t.Errorf("act grad %d at %v: %v, cpu %v", a.code, z, g, w)
			}
		}
	}
}

func TestBNRefMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ N, HW, C, Ghost int }{{4, 9, 5, 0}, {8, 4, 3, 2}, {6, 1, 7, 3}} {
		for _, a := range acts {
			M := tc.N * tc.HW * tc.C
			x, dy := randn(rng, M), randn(rng, M)
			gamma, beta := randn(rng, tc.C), randn(rng, tc.C)
			G, R := 1, tc.N*tc.HW
			if tc.Ghost > 0 {
				G, R = tc.N/tc.Ghost, tc.Ghost*tc.HW
			}
			const eps = 1e-5
			mean, variance := BNStatsRef(x, G, R, tc.C)
			y := BNActFwdRef(x, mean, variance, gamma, beta, R, tc.C, eps, a.code, a.alpha)
			s := cpuk.BNShape{N: tc.N, HW: tc.HW, C: tc.C, Ghost: tc.Ghost}
			wy, wm, wv := make([]float32, M), make([]float32, G*tc.C), make([]float32, G*tc.C)
			if err := cpuk.BNActForwardTrainRef(s, eps, a.cpu, x, gamma, beta, wy, wm, wv); err != nil {
				t.Fatal(err)
			}
			unb := make([]float32, len(variance))
			for i, v := range variance {
				unb[i] = v * float32(R) / float32(R-1)
			}
			close(t, "bn y", y, wy, 1e-5)
			close(t, "bn mean", mean, wm, 1e-6)
			close(t, "bn var", unb, wv, 1e-5)
			dx, sdz, sdzx := BNActBwdRef(x, dy, mean, variance, gamma, beta, R, tc.C, eps, a.code, a.alpha)
			dg, db := BNParamGradRef(sdz, sdzx, G, tc.C)
			wdx, wdg, wdb := make([]float32, M), make([]float32, tc.C), make([]float32, tc.C)
			if err := cpuk.BNActBackwardTrainRef(s, eps, a.cpu, x, dy, gamma, beta, wdx, wdg, wdb); err != nil {
				t.Fatal(err)
			}
			close(t, "bn dx", dx, wdx, 1e-4)
			close(t, "bn dgamma", dg, wdg, 1e-4)
			close(t, "bn dbeta", db, wdb, 1e-4)
		}
	}
}

func TestPoolRefMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	N, H, W, C := 2, 8, 4, 3
	x := randn(rng, N*H*W*C)
	x[0], x[C] = 1, 1 // a tie: the first maximum wins
	for _, K := range []int{2, 4} {
		dy := randn(rng, N*H/K*W/K*C)
		wy := make([]float32, len(dy))
		if err := cpuk.MaxPoolForwardRef(x, N, H, W, C, K, wy, nil); err != nil {
			t.Fatal(err)
		}
		close(t, fmt.Sprintf("maxpool %dx%d fwd", K, K), MaxPoolFwdRef(x, N, H, W, C, K), wy, 0)
		wdx := make([]float32, len(x))
		if err := cpuk.MaxPoolBackwardRef(x, dy, N, H, W, C, K, wdx); err != nil {
			t.Fatal(err)
		}
		close(t, fmt.Sprintf("maxpool %dx%d bwd", K, K), MaxPoolBwdRef(x, dy, N, H, W, C, K), wdx, 0)
	}
	gy, gdy := make([]float32, N*C), randn(rng, N*C)
	if err := cpuk.GlobalMaxPoolForwardRef(x, N, H*W, C, gy); err != nil {
		t.Fatal(err)
	}
	close(t, "gmaxpool fwd", GMaxPoolFwdRef(x, N, H*W, C), gy, 0)
	gdx := make([]float32, len(x))
	if err := cpuk.GlobalMaxPoolBackwardRef(x, gdy, N, H*W, C, gdx); err != nil {
		t.Fatal(err)
	}
	close(t, "gmaxpool bwd", GMaxPoolBwdRef(x, gdy, N, H*W, C), gdx, 0)
	if err := cpuk.GlobalAvgPoolForwardRef(x, N, H*W, C, gy); err != nil {
		t.Fatal(err)
	}
	close(t, "gavgpool fwd", GAvgPoolFwdRef(x, N, H*W, C), gy, 1e-6)
	if err := cpuk.GlobalAvgPoolBackwardRef(gdy, N, H*W, C, gdx); err != nil {
		t.Fatal(err)
	}
	close(t, "gavgpool bwd", GAvgPoolBwdRef(gdy, N, H*W, C), gdx, 1e-6)
}

// act_fwd and act_bwd's references are the CPU engine's slice ones.
func TestActSliceRefMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x, dy := randn(rng, 200), randn(rng, 200)
	x[0] = 0
	for _, a := range acts {
		wy, wdx := make([]float32, len(x)), make([]float32, len(x))
		if err := cpuk.ActForwardRef(a.cpu, x, wy); err != nil {
			t.Fatal(err)
		}
		if err := cpuk.ActBackwardRef(a.cpu, x, dy, wdx); err != nil {
			t.Fatal(err)
		}
		close(t, fmt.Sprintf("act %d fwd", a.code), ActFwdRef(x, a.code, a.alpha), wy, 1e-6)
		close(t, fmt.Sprintf("act %d bwd", a.code), ActBwdRef(x, dy, a.code, a.alpha), wdx, 1e-6)
	}
}

func TestXentRefMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	N, K := 16, 10
	logits := randn(rng, N*K)
	labels := make([]int32, N)
	for i := range labels {
		labels[i] = int32(rng.IntN(K))
	}
	d, loss, correct := XentLSRef(logits, labels, N, K, 0.2, 1)
	wd := make([]float32, N*K)
	wl, wc, err := cpuk.SoftmaxCrossEntropyRef(logits, labels, N, K, 0.2, wd)
	if err != nil {
		t.Fatal(err)
	}
	var l, c float64
	for i := range loss {
		l += float64(loss[i])
		c += float64(correct[i])
	}
	if math.Abs(l-wl) > 1e-4 || int(c) != wc {
		t.Errorf("loss %v correct %v; cpu %v %v", l, c, wl, wc)
	}
	close(t, "dlogits", d, wd, 1e-6)
}

func TestBF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{1 + 1.0/256, 0x3f80}, // halfway: ties to even (down)
		{1 + 3.0/256, 0x3f82}, // halfway: ties to even (up)
		{1 + 1.0/128, 0x3f81}, // exact
		{float32(math.Inf(1)), 0x7f80},
		{math.MaxFloat32, 0x7f80}, // overflows to +Inf
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.in); got != tt.want {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	if got := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(got)) {
		t.Errorf("NaN became %v", got)
	}
	if got := BF16ToF32(0x3f81); got != 1+1.0/128 {
		t.Errorf("BF16ToF32(0x3f81) = %v", got)
	}
}

func TestEMARef(t *testing.T) {
	ema, w := []float32{1, 2}, []float32{3, 4}
	EMARef(ema, w, 0.9)
	close(t, "ema", ema, []float32{1.2, 2.2}, 1e-6)
}

func TestAugmentRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	PH, PW, H, W, C := 10, 10, 6, 6, 2
	src := randn(rng, 3*PH*PW*C)
	idx := []int32{2, 0}
	// Image 0: centre crop, no flip, no cutout. Image 1: crop at (1, 3),
	// flipped, cutout 2x3 at (4, 1).
	par := []int32{2, 2, 0, 0, 0, 0, 0, 1, 3, 1, 4, 1, 2, 3}
	y := AugmentRef(src, idx, par, 2, PH, PW, H, W, C)
	for h := 0; h < H; h++ {
		for w := 0; w < W; w++ {
			for c := 0; c < C; c++ {
				if got, want := y[(h*W+w)*C+c], src[((2*PH+2+h)*PW+2+w)*C+c]; got != want {
					t.Fatalf("img 0 (%d,%d,%d) = %v, want %v", h, w, c, got, want)
				}
				want := src[((0*PH+1+h)*PW+3+W-1-w)*C+c]
				if h >= 4 && h < 6 && w >= 1 && w < 4 {
					want = 0
				}
				if got := y[((H+h)*W+w)*C+c]; got != want {
					t.Fatalf("img 1 (%d,%d,%d) = %v, want %v", h, w, c, got, want)
				}
			}
		}
	}
}

func TestConvRefMatchesCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, s := range []ConvShape{{2, 5, 6, 3, 4, 3, 1, 1}, {1, 4, 4, 2, 3, 1, 1, 0}, {2, 7, 7, 2, 2, 3, 2, 1}} {
		cs := cpuk.ConvShape{N: s.N, H: s.H, W: s.W, C: s.C, K: s.K, R: s.R, S: s.R, Stride: s.Stride, Pad: s.Pad}
		x, w := randn(rng, s.N*s.H*s.W*s.C), randn(rng, s.K*s.C*s.R*s.R)
		dy := randn(rng, s.N*s.P()*s.Q()*s.K)
		wy, wdx, wdw := make([]float32, cs.YLen()), make([]float32, cs.XLen()), make([]float32, cs.WLen())
		if err := cpuk.ConvForwardRef(cs, x, w, wy); err != nil {
			t.Fatal(err)
		}
		if err := cpuk.ConvBackwardDataRef(cs, dy, w, wdx); err != nil {
			t.Fatal(err)
		}
		if err := cpuk.ConvBackwardWeightsRef(cs, x, dy, wdw); err != nil {
			t.Fatal(err)
		}
		close(t, "conv fwd", ConvFwdRef(s, x, w), wy, 1e-5)
		close(t, "conv bwd data", ConvBwdDataRef(s, dy, w), wdx, 1e-5)
		close(t, "conv bwd filter", ConvBwdFilterRef(s, x, dy), wdw, 1e-5)
	}
	w := []float32{0, 1, 2, 3, 4, 5, 6, 7} // K=2, C=2, R=... use R=1 with C=4
	if got := OIHWToOHWI(w, 2, 4, 1); !equalF(got, w) {
		t.Errorf("1x1 reorder changed weights: %v", got)
	}
	// K=1, C=2, R=2: OIHW [c][r][t] -> OHWI [r][t][c].
	if got := OIHWToOHWI([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 1, 2, 2); !equalF(got, []float32{0, 4, 1, 5, 2, 6, 3, 7}) {
		t.Errorf("reorder: %v", got)
	}
	close(t, "gemm", GemmRef(2, 2, 3, []float32{1, 2, 3, 4, 5, 6}, []float32{1, 0, 0, 1, 1, 1}), []float32{4, 5, 10, 11}, 0)
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
