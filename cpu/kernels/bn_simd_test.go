package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBNActSIMDMatchesGo runs every pass of the C loops, for each
// instruction set this CPU has, against the Go loops: the outputs must be
// the same bits (bn_simd.h keeps the Go order of operations and no fused
// multiply-adds).
func TestBNActSIMDMatchesGo(t *testing.T) {
	shapes := []BNShape{
		{N: 4, HW: 9, C: 5},
		{N: 8, HW: 4, C: 37, Ghost: 2},
		{N: 6, HW: 16, C: 64, Ghost: 3},
		{N: 4, HW: 64, C: 130},
		{N: 1, HW: 1, C: 3},
		// Several blocks of rows per split, a short last block, and a
		// split boundary inside a worker's share of the row split.
		{N: 6, HW: 50, C: 16, Ghost: 3},
		{N: 3, HW: 100, C: 32},
		{N: 8, HW: 36, C: 24, Ghost: 4},
	}
	libs := []BNLib{BNAVX2, BNAVX512}
	for _, lib := range libs {
		if _, err := pickISA(lib); err != nil {
			t.Logf("skipping %v: %v", lib, err)
			continue
		}
		for _, a := range testActs {
			for _, s := range shapes {
				t.Run(fmt.Sprintf("%d/%v/%+v", lib, a.Kind, s), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(5, uint64(s.C)))
					m, c := s.N*s.HW*s.C, s.C
					x, dy := randF32(rng, m), randF32(rng, m)
					for i := range x {
						x[i] = 3*x[i] + 50
					}
					gamma, beta := randF32(rng, c), randF32(rng, c)
					rm, rv := randF32(rng, c), randF32(rng, c)
					for i := range rv {
						rv[i] = rv[i]*rv[i] + 0.5
					}
					run := func(lib BNLib) [][]float32 {
						b, y, mean, vr := trainedBN(t, s, a, lib, x, gamma, beta)
						defer b.Close()
						dx, dg, db := make([]float32, m), make([]float32, c), make([]float32, c)
						ye := make([]float32, m)
						if err := b.Backward(x, dy, gamma, dx, dg, db); err != nil {
							t.Fatal(err)
						}
						if err := b.ForwardEval(x, gamma, beta, rm, rv, ye); err != nil {
							t.Fatal(err)
						}
						return [][]float32{y, mean, vr, dx, dg, db, ye}
					}
					want := run(BNGo)
					// Free, the pool takes the C loops' row split; held by
					// another caller, the channel split, serially.
					got, gotHeld := run(lib), withPoolHeld(t, func() [][]float32 { return run(lib) })
					for k, name := range []string{"y", "mean", "var", "dx", "dgamma", "dbeta", "eval y"} {
						for i := range want[k] {
							if math.Float32bits(got[k][i]) != math.Float32bits(want[k][i]) {
								t.Fatalf("%s[%d] = %v, Go loops %v", name, i, got[k][i], want[k][i])
							}
							if math.Float32bits(gotHeld[k][i]) != math.Float32bits(want[k][i]) {
								t.Fatalf("pool held: %s[%d] = %v, Go loops %v", name, i, gotHeld[k][i], want[k][i])
							}
						}
					}
				})
			}
		}
	}
}

// trainedBN returns a BNAct of lib after ForwardTrain on x, with its y,
// mean and variance; the caller closes it.
func trainedBN(t *testing.T, s BNShape, a Activation, lib BNLib, x, gamma, beta []float32) (*BNAct, []float32, []float32, []float32) {
	t.Helper()
	b, err := newBNAct(s, 1e-5, a, lib)
	if err != nil {
		t.Fatal(err)
	}
	sc := b.Splits() * s.C
	y, mean, vr := make([]float32, len(x)), make([]float32, sc), make([]float32, sc)
	if err := b.ForwardTrain(x, gamma, beta, y, mean, vr); err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b, y, mean, vr
}

// withPoolHeld runs f while the test holds the worker pool, as a
// concurrent caller would.
func withPoolHeld[T any](t *testing.T, f func() T) T {
	t.Helper()
	p := pool()
	if p.n == 1 {
		return f() // one worker: no row split to avoid
	}
	if !p.acquire() {
		t.Fatal("the worker pool is busy")
	}
	defer p.busy.Unlock()
	return f()
}

// TestBNActLibs: the default is the C loops where the CPU has them, and a
// forced instruction set the CPU lacks is an error, not a crash.
func TestBNActLibs(t *testing.T) {
	s := BNShape{N: 2, HW: 4, C: 8}
	b, err := NewBNAct(s, 1e-5, Activation{Kind: ActReLU})
	if err != nil {
		t.Fatal(err)
	}
	want := "go"
	if isa := HostISA(); isa != ISANone {
		want = "c/" + isa.String()
	}
	if b.Impl() != want {
		t.Errorf("default Impl() = %q, want %q", b.Impl(), want)
	}
	for _, lib := range []BNLib{BNAVX2, BNAVX512} {
		_, errPick := pickISA(lib)
		_, err := newBNAct(s, 1e-5, Activation{}, lib)
		if (err == nil) != (errPick == nil) {
			t.Errorf("lib %d: NewBNActLib error %v, host support error %v", lib, err, errPick)
		}
	}
	if _, err := NewBNActLib(s, 1e-5, Activation{}, BNLib(99)); err == nil {
		t.Error("unknown library accepted")
	}
	for k, c := range map[ActKind]int{ActIdentity: 0, ActReLU: 1, ActCELU: 2, ActShiftScaleReLU: 3, ActGELU: 4} {
		if int(k) != c {
			t.Errorf("ActKind %v = %d, bn_simd_api.h says %d", k, k, c)
		}
	}
}

// TestMaxPoolSIMDMatchesGo runs the C max pool on each instruction set
// this CPU has against the Go loop: the same maxima (first in window
// order; NaN wins; -0 below +0) and the same argmax, on inputs full of
// ties; and the same backward bits, checked against the argmax itself.
func TestMaxPoolSIMDMatchesGo(t *testing.T) {
	for _, tc := range []struct{ n, h, w, c, k int }{
		{2, 4, 4, 3, 2}, {3, 8, 6, 37, 2}, {2, 9, 9, 64, 3}, {1, 4, 4, 130, 4}, {2, 5, 7, 19, 2}, {1, 7, 8, 3, 3},
	} {
		rng := rand.New(rand.NewPCG(9, uint64(tc.c)))
		x := make([]float32, tc.n*tc.h*tc.w*tc.c)
		for i := range x {
			// Few distinct values, so windows tie; some -0, +0 and NaN.
			switch v := rng.IntN(12); v {
			case 10:
				x[i] = float32(math.Copysign(0, -1))
			case 11:
				if rng.IntN(8) == 0 {
					x[i] = float32(math.NaN())
				}
			default:
				x[i] = float32(v%5) - 2
			}
		}
		oh, ow := tc.h/tc.k, tc.w/tc.k
		m := tc.n * oh * ow * tc.c
		run := func(isa ISA, record bool) ([]float32, []uint8) {
			y, arg := make([]float32, m), make([]uint8, m)
			if !record {
				arg = nil
			}
			task := maxPoolTask{x: x, y: y, argmax: arg, n: tc.n, h: tc.h, w: tc.w, c: tc.c, k: tc.k, oh: oh, ow: ow, isa: isa, best: make([]int32, 2*2*tc.c)}
			task.run(0, 2)
			task.run(1, 2)
			return y, arg
		}
		wantY, wantA := run(ISANone, true)
		// The first maximum in window order: check the Go loop's argmax
		// against the window itself.
		for o := range wantY {
			b, rest := o/(oh*ow*tc.c), o%(oh*ow*tc.c)
			i, j, ch := rest/(ow*tc.c), rest/tc.c%ow, o%tc.c
			var first float32
			found := -1
			for a := range tc.k * tc.k {
				v := x[((b*tc.h+i*tc.k+a/tc.k)*tc.w+j*tc.k+a%tc.k)*tc.c+ch]
				if math.Float32bits(v) == math.Float32bits(wantY[o]) {
					found, first = a, v
					break
				}
			}
			if found < 0 || int(wantA[o]) != found {
				t.Fatalf("%+v Go loop: output %d = %v at window position %d, first found at %d (%v)", tc, o, wantY[o], wantA[o], found, first)
			}
		}
		for _, isa := range []ISA{ISANone, ISAAVX2, ISAAVX512} {
			if HostISA() < isa {
				t.Logf("skipping %v: not on this CPU", isa)
				continue
			}
			for _, record := range []bool{true, false} {
				y, a := run(isa, record)
				for i := range wantY {
					if math.Float32bits(y[i]) != math.Float32bits(wantY[i]) || (record && a[i] != wantA[i]) {
						t.Fatalf("%+v %v (argmax recorded %v): output %d = %v, Go loop %v at %d", tc, isa, record, i, y[i], wantY[i], wantA[i])
					}
				}
			}
		}
		// The backward: dy at each window's argmax, zero everywhere else
		// (rows and columns no window covers included), -0 and NaN kept,
		// the same bits from every implementation over a dx full of junk.
		dy := make([]float32, m)
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
			switch i % 11 {
			case 3:
				dy[i] = float32(math.Copysign(0, -1))
			case 7:
				dy[i] = float32(math.NaN())
			}
		}
		want := make([]float32, len(x))
		for o := range dy {
			b, rest := o/(oh*ow*tc.c), o%(oh*ow*tc.c)
			i, j, ch := rest/(ow*tc.c), rest/tc.c%ow, o%tc.c
			a := int(wantA[o])
			want[((b*tc.h+i*tc.k+a/tc.k)*tc.w+j*tc.k+a%tc.k)*tc.c+ch] = dy[o]
		}
		for _, isa := range []ISA{ISANone, ISAAVX2, ISAAVX512} {
			if HostISA() < isa {
				continue
			}
			dx := make([]float32, len(x))
			for i := range dx {
				dx[i] = 7
			}
			task := newMaxPoolBwdTask(dy, wantA, tc.n, tc.h, tc.w, tc.c, tc.k, oh, ow, dx, isa)
			task.bad = make([]int, 2)
			task.run(0, 2)
			task.run(1, 2)
			if task.bad[0] != -1 || task.bad[1] != -1 {
				t.Fatalf("%+v %v backward: bad argmax at %v", tc, isa, task.bad)
			}
			for i := range want {
				if math.Float32bits(dx[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v %v backward: dx[%d] = %v, want %v", tc, isa, i, dx[i], want[i])
				}
			}
			bad := append([]uint8(nil), wantA...)
			bad[m-1] = uint8(tc.k * tc.k)
			task.argmax = bad
			task.run(0, 2)
			task.run(1, 2)
			if !slices.Contains(task.bad, m-1) {
				t.Errorf("%+v %v backward: argmax %d at output %d: bad %v", tc, isa, tc.k*tc.k, m-1, task.bad)
			}
		}
	}
}

// The standalone activation's C loops (ActForward, ActBackward on a large
// tensor, split over the workers) are bit for bit the Go loops, and GELU
// is x Phi(x) to 1e-6 of the float64 erf (geluParts' 1.5e-7 on Phi).
func TestActSIMDMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3<<15 + 5
	x, dy := randF32(rng, n), randF32(rng, n)
	for i := range x {
		x[i] *= 6 // reach GELU's tails and the exp clamp
	}
	x[0], x[1], x[2] = 0, float32(math.Copysign(0, -1)), -40
	for _, a := range testActs {
		y, dx := make([]float32, n), make([]float32, n)
		wantY, wantDX := make([]float32, n), make([]float32, n)
		if err := ActForward(a, x, y); err != nil {
			t.Fatal(err)
		}
		if err := ActBackward(a, x, dy, dx); err != nil {
			t.Fatal(err)
		}
		actForward(a, x, wantY)
		actBackward(a, x, dy, wantDX)
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(wantY[i]) || math.Float32bits(dx[i]) != math.Float32bits(wantDX[i]) {
				t.Fatalf("%s: element %d (x %v): C y %v dx %v, Go %v %v", a.Kind, i, x[i], y[i], dx[i], wantY[i], wantDX[i])
			}
		}
		if a.Kind != ActGELU {
			continue
		}
		for i, v := range x {
			z := float64(v)
			phi := 0.5 * (1 + math.Erf(z/math.Sqrt2))
			if d := math.Abs(float64(y[i]) - z*phi); d > 1e-6*max(1, math.Abs(z)) {
				t.Fatalf("gelu(%v) = %v, erf gives %v", v, y[i], z*phi)
			}
			g := phi + z*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi)
			if d := math.Abs(float64(dx[i]) - float64(dy[i])*g); d > 2e-6*max(1, math.Abs(float64(dy[i]))) {
				t.Fatalf("gelu'(%v) dy %v = %v, erf gives %v", v, dy[i], dx[i], float64(dy[i])*g)
			}
		}
	}
}

// TestBNActBackwardBF16 runs BackwardBF16 (dx written in bf16, dz in a
// scratch that aliases dy) on every implementation this CPU has, with the
// pool free and held: dx16 is ToBF16 of the Go loops' dx, bit for bit,
// and dgamma, dbeta are theirs.
func TestBNActBackwardBF16(t *testing.T) {
	for _, lib := range []BNLib{BNGo, BNAVX2, BNAVX512} {
		if _, err := pickISA(lib); err != nil {
			t.Logf("skipping %v: %v", lib, err)
			continue
		}
		for _, a := range testActs {
			for _, s := range []BNShape{{N: 6, HW: 50, C: 16, Ghost: 3}, {N: 4, HW: 64, C: 130}, {N: 8, HW: 4, C: 37, Ghost: 2}} {
				rng := rand.New(rand.NewPCG(7, uint64(s.C)))
				m, c := s.N*s.HW*s.C, s.C
				x, dy, gamma, beta := randF32(rng, m), randF32(rng, m), randF32(rng, c), randF32(rng, c)
				run := func(lib BNLib, to16 bool) ([]float32, []uint16, []float32, []float32) {
					b, _, _, _ := trainedBN(t, s, a, lib, x, gamma, beta)
					defer b.Close()
					dx, dg, db := append([]float32(nil), dy...), make([]float32, c), make([]float32, c)
					if !to16 {
						if err := b.Backward(x, dy, gamma, dx, dg, db); err != nil {
							t.Fatal(err)
						}
						return dx, nil, dg, db
					}
					dx16 := make([]uint16, m)
					if err := b.BackwardBF16(x, dx, gamma, dx, dx16, dg, db); err != nil {
						t.Fatal(err)
					}
					return nil, dx16, dg, db
				}
				want, _, wg, wb := run(BNGo, false)
				want16 := make([]uint16, m)
				ToBF16(want16, want)
				for _, held := range []bool{false, true} {
					var got16 []uint16
					var gg, gb []float32
					if held {
						withPoolHeld(t, func() int { _, got16, gg, gb = run(lib, true); return 0 })
					} else {
						_, got16, gg, gb = run(lib, true)
					}
					for i := range want16 {
						if got16[i] != want16[i] {
							t.Fatalf("%v %v %+v held %v: dx16[%d] = %#04x, want %#04x", lib, a.Kind, s, held, i, got16[i], want16[i])
						}
					}
					for i := range wg {
						if math.Float32bits(gg[i]) != math.Float32bits(wg[i]) || math.Float32bits(gb[i]) != math.Float32bits(wb[i]) {
							t.Fatalf("%v %v %+v held %v: dgamma, dbeta[%d] = %v, %v, want %v, %v", lib, a.Kind, s, held, i, gg[i], gb[i], wg[i], wb[i])
						}
					}
				}
			}
		}
	}
}

// TestBF16Bits pins the conversion's edge cases (VCVTNEPS2BF16's rules).
func TestBF16Bits(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {1 + 1.0/256, 0x3f80}, {1 + 3.0/256, 0x3f82}, {-2, 0xc000},
		{1e-40, 0}, {-1e-40, 0x8000}, {float32(math.Inf(1)), 0x7f80}, {float32(math.Inf(-1)), 0xff80},
		{3.4e38, 0x7f80}, // rounds up past the largest finite bf16
		{math.Float32frombits(0x7f800001), 0x7fc0}, {math.Float32frombits(0xffa00000), 0xffe0},
	} {
		if got := bf16Bits(tc.in); got != tc.want {
			t.Errorf("bf16Bits(%v, %#08x) = %#04x, want %#04x", tc.in, math.Float32bits(tc.in), got, tc.want)
		}
	}
}
