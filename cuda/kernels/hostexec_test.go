package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"unsafe"

	"speedrun/data"
)

// The kernels' own CUDA C, compiled for the CPU (prelude.h's SPEEDRUN_HOST
// build) and run thread by thread, against the Go references: this checks
// their indexing, grid-stride loops, block reductions and bf16 rounding
// without a GPU. What it cannot check is the PTX itself (the JIT, the
// hardware approximations), which gpucheck does on the device.

// hostKernels is the host build, loaded once per test binary.
type hostKernels struct{ *Host }

var hostOnce struct {
	sync.Once
	k   *hostKernels
	err error
}

// barrierKernels use __syncthreads: their threads must run concurrently.
var barrierKernels = map[string]bool{"sum_f32": true, "bn_stats_part_f32": true, "bn_stats_part_bf16": true,
	"bn_act_bwd_part_f32": true, "bn_act_bwd_part_bf16": true}

func loadHost(t *testing.T) *hostKernels {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the host build of the kernels (clang-16)")
	}
	if _, err := exec.LookPath("clang-16"); err != nil {
		t.Skip("clang-16 not found: cannot build the host version of the kernels")
	}
	hostOnce.Do(func() {
		h, err := BuildHost(".", t.TempDir())
		hostOnce.k, hostOnce.err = &hostKernels{h}, err
	})
	if hostOnce.err != nil {
		t.Fatal(hostOnce.err)
	}
	return hostOnce.k
}

// arg converts a Go value to the kernel's parameter type; slices become
// pointers to their first element.
func arg(v any) reflect.Value {
	switch x := v.(type) {
	case []float32:
		return reflect.ValueOf(uintptr(unsafe.Pointer(unsafe.SliceData(x))))
	case []float64:
		return reflect.ValueOf(uintptr(unsafe.Pointer(unsafe.SliceData(x))))
	case []uint16:
		return reflect.ValueOf(uintptr(unsafe.Pointer(unsafe.SliceData(x))))
	case []int32:
		return reflect.ValueOf(uintptr(unsafe.Pointer(unsafe.SliceData(x))))
	case []uint8:
		return reflect.ValueOf(uintptr(unsafe.Pointer(unsafe.SliceData(x))))
	case nil:
		return reflect.ValueOf(uintptr(0))
	case int:
		return reflect.ValueOf(int32(x))
	case float32:
		return reflect.ValueOf(x)
	case float64:
		return reflect.ValueOf(float32(x))
	}
	panic(fmt.Sprintf("arg of type %T", v))
}

var hostMu sync.Mutex // one emulated launch at a time (shared grid state)

// launch runs name over grid x block, one call per CUDA thread.
func (k *hostKernels) launch(t *testing.T, name string, grid, block [3]int, args ...any) {
	t.Helper()
	fn, ok := k.Fns[name]
	if !ok {
		t.Fatalf("no kernel %s", name)
	}
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = arg(a)
	}
	hostMu.Lock()
	defer hostMu.Unlock()
	for bz := 0; bz < grid[2]; bz++ {
		for by := 0; by < grid[1]; by++ {
			for bx := 0; bx < grid[0]; bx++ {
				k.Block(uint32(bx), uint32(by), uint32(bz), uint32(block[0]), uint32(block[1]), uint32(block[2]),
					uint32(grid[0]), uint32(grid[1]), uint32(grid[2]))
				k.runBlock(fn, in, block, barrierKernels[name])
			}
		}
	}
	runtime.KeepAlive(args)
}

func (k *hostKernels) runBlock(fn reflect.Value, in []reflect.Value, block [3]int, concurrent bool) {
	var wg sync.WaitGroup
	one := func(x, y, z int) {
		runtime.LockOSThread() // threadIdx is thread-local in C
		defer runtime.UnlockOSThread()
		k.SetThread(uint32(x), uint32(y), uint32(z))
		fn.Call(in)
	}
	for z := 0; z < block[2]; z++ {
		for y := 0; y < block[1]; y++ {
			for x := 0; x < block[0]; x++ {
				if !concurrent {
					one(x, y, z)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					one(x, y, z)
				}()
			}
		}
	}
	wg.Wait()
	runtime.KeepAlive(in)
}

func nanF(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(nan())
	}
	return s
}

func toBF16(x []float32) []uint16 {
	out := make([]uint16, len(x))
	for i, v := range x {
		out[i] = F32ToBF16(v)
	}
	return out
}

func fromBF16(x []uint16) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = BF16ToF32(v)
	}
	return out
}

func roundBF16(x []float32) []float32 { return fromBF16(toBF16(x)) }

var (
	elem1 = [3]int{1, 1, 1}
	b64   = [3]int{64, 1, 1}
	g3    = [3]int{3, 1, 1} // fewer threads than elements: exercises grid-stride loops
)

func TestHostElementwise(t *testing.T) {
	k := loadHost(t)
	rng := rand.New(rand.NewPCG(21, 22))
	n := 1000
	a, b := randn(rng, n), randn(rng, n)
	y := nanF(n)
	k.launch(t, "fill_f32", g3, b64, y, float32(2.5), n)
	for i := range y {
		if y[i] != 2.5 {
			t.Fatalf("fill y[%d] = %v", i, y[i])
		}
	}
	k.launch(t, "add_f32", g3, b64, y, a, b, n)
	want := make([]float32, n)
	for i := range want {
		want[i] = a[i] + b[i]
	}
	close(t, "add_f32", y, want, 0)
	yb := make([]uint16, n)
	k.launch(t, "add_bf16", g3, b64, yb, toBF16(a), toBF16(b), n)
	ra, rb := roundBF16(a), roundBF16(b)
	for i := range want {
		want[i] = ra[i] + rb[i]
	}
	close(t, "add_bf16", fromBF16(yb), roundBF16(want), 0)
	special := append([]float32{1 + 1.0/256, 1 + 3.0/256, 65504, 3.4e38, 1e-40, -0}, a...)
	cb := make([]uint16, len(special))
	k.launch(t, "cast_f32_bf16", g3, b64, cb, special, len(special))
	for i, v := range special {
		if cb[i] != F32ToBF16(v) {
			t.Fatalf("cast_f32_bf16(%v) = %#x, want %#x", v, cb[i], F32ToBF16(v))
		}
	}
	cf := nanF(len(special))
	k.launch(t, "cast_bf16_f32", g3, b64, cf, cb, len(special))
	close(t, "cast_bf16_f32", cf, fromBF16(cb), 0)
	out := nanF(1)
	k.launch(t, "sum_f32", elem1, [3]int{256, 1, 1}, out, a, n)
	var s float64
	for _, v := range a {
		s += float64(v)
	}
	close(t, "sum_f32", out, []float32{float32(s)}, 1e-5)
}

// The layers beyond ResNet-9's: standalone activations, scales between
// precisions, channel concat and split, and the linear head's bias.
func TestHostActScaleConcatBias(t *testing.T) {
	k := loadHost(t)
	rng := rand.New(rand.NewPCG(23, 24))
	n := 300
	x, dy := randn(rng, n), randn(rng, n)
	x[0] = 0 // the kink: act'(0) is the left derivative, as on the CPU
	rx, rdy := roundBF16(x), roundBF16(dy)
	for _, a := range acts {
		y, dx := nanF(n), nanF(n)
		k.launch(t, "act_fwd_f32", g3, b64, x, y, n, a.code, a.alpha)
		close(t, fmt.Sprintf("act_fwd_f32 act %d", a.code), y, ActFwdRef(x, a.code, a.alpha), 1e-5)
		k.launch(t, "act_bwd_f32", g3, b64, x, dy, dx, n, a.code, a.alpha)
		close(t, fmt.Sprintf("act_bwd_f32 act %d", a.code), dx, ActBwdRef(x, dy, a.code, a.alpha), 1e-5)
		yb, dxb := make([]uint16, n), make([]uint16, n)
		k.launch(t, "act_fwd_bf16", g3, b64, toBF16(rx), yb, n, a.code, a.alpha)
		close(t, fmt.Sprintf("act_fwd_bf16 act %d", a.code), fromBF16(yb), ActFwdRef(rx, a.code, a.alpha), 1e-2)
		k.launch(t, "act_bwd_bf16", g3, b64, toBF16(rx), toBF16(rdy), dxb, n, a.code, a.alpha)
		close(t, fmt.Sprintf("act_bwd_bf16 act %d", a.code), fromBF16(dxb), ActBwdRef(rx, rdy, a.code, a.alpha), 1e-2)
	}
	const sc = float32(-0.7)
	ff := nanF(n) // scale never reads y
	k.launch(t, "scale_f32_f32", g3, b64, ff, x, sc, n)
	close(t, "scale_f32_f32", ff, ScaleRef(x, sc), 0)
	bb := make([]uint16, n)
	k.launch(t, "scale_bf16_bf16", g3, b64, bb, toBF16(rx), sc, n)
	close(t, "scale_bf16_bf16", fromBF16(bb), roundBF16(ScaleRef(rx, sc)), 0)
	bf := nanF(n)
	k.launch(t, "scale_bf16_f32", g3, b64, bf, toBF16(rx), sc, n)
	close(t, "scale_bf16_f32", bf, ScaleRef(rx, sc), 0)
	k.launch(t, "scale_f32_bf16", g3, b64, bb, x, sc, n)
	close(t, "scale_f32_bf16", fromBF16(bb), roundBF16(ScaleRef(x, sc)), 0)

	// Concat a (rows x 3) and b (rows x 5) into y (rows x 8), then split.
	const rows, ca, cb = 7, 3, 5
	a, b := randn(rng, rows*ca), randn(rng, rows*cb)
	y, want := nanF(rows*(ca+cb)), nanF(rows*(ca+cb))
	k.launch(t, "cols_copy_f32", g3, b64, y, a, rows, ca+cb, 0, ca, 0, ca)
	k.launch(t, "cols_copy_f32", g3, b64, y, b, rows, ca+cb, ca, cb, 0, cb)
	want = ColsCopyRef(ColsCopyRef(want, a, rows, ca+cb, 0, ca, 0, ca), b, rows, ca+cb, ca, cb, 0, cb)
	close(t, "cols_copy concat", y, want, 0)
	for r := range rows {
		if y[r*(ca+cb)] != a[r*ca] || y[r*(ca+cb)+ca] != b[r*cb] {
			t.Fatalf("concat row %d does not start with a's then b's first channel", r)
		}
	}
	back := nanF(rows * cb)
	k.launch(t, "cols_copy_f32", g3, b64, back, y, rows, cb, 0, ca+cb, ca, cb)
	close(t, "cols_copy split", back, b, 0)
	yb16, back16 := make([]uint16, rows*(ca+cb)), make([]uint16, rows*ca)
	k.launch(t, "cols_copy_bf16", g3, b64, yb16, toBF16(a), rows, ca+cb, 0, ca, 0, ca)
	k.launch(t, "cols_copy_bf16", g3, b64, back16, yb16, rows, ca, 0, ca+cb, 0, ca)
	close(t, "cols_copy_bf16 round trip", fromBF16(back16), roundBF16(a), 0)

	const K = 10
	logits, bias := randn(rng, rows*K), randn(rng, K)
	wl := BiasRowsRef(logits, bias, rows, K)
	lrows, lb := append([]float32(nil), logits...), toBF16(logits)
	k.launch(t, "bias_rows_f32", g3, b64, logits, bias, rows, K)
	close(t, "bias_rows_f32", logits, wl, 0)
	k.launch(t, "bias_rows_bf16", g3, b64, lb, bias, rows, K)
	close(t, "bias_rows_bf16", fromBF16(lb), roundBF16(BiasRowsRef(roundBF16(lrows), bias, rows, K)), 0)
	cs := nanF(K)
	k.launch(t, "col_sum_f32", g3, [3]int{4, 1, 1}, cs, logits, rows, K)
	close(t, "col_sum_f32", cs, ColSumRef(logits, rows, K), 1e-6)
}

func TestHostBN(t *testing.T) {
	k := loadHost(t)
	rng := rand.New(rand.NewPCG(23, 24))
	const N, HW, C, ghost, eps = 8, 9, 40, 4, 1e-5
	G, R := N/ghost, ghost*HW
	rb := [3]int{32, 8, 1}
	// Chunks of 10 rows: 4 per group, the last of 6; and the whole group.
	for _, tc := range []struct {
		bf    bool
		chunk int
	}{{false, 10}, {true, 10}, {false, R}} {
		bf, chunk := tc.bf, tc.chunk
		S := (R + chunk - 1) / chunk
		red := [3]int{(C + 31) / 32, G, S}
		sfx, tol := "_f32", 1e-5
		x, dy := randn(rng, N*HW*C), randn(rng, N*HW*C)
		for i := range x {
			x[i] = 2*x[i] + 0.5
		}
		var xa, dya, ya, dxa any = x, dy, nanF(len(x)), nanF(len(x))
		if bf {
			sfx, tol = "_bf16", 1e-2
			x, dy = roundBF16(x), roundBF16(dy)
			xa, dya, ya, dxa = toBF16(x), toBF16(dy), toBF16(nanF(len(x))), toBF16(nanF(len(x)))
		}
		read := func(v any) []float32 {
			if b, ok := v.([]uint16); ok {
				return fromBF16(b)
			}
			return v.([]float32)
		}
		gamma, beta := randn(rng, C), randn(rng, C)
		kn := sfx // the kernel's precision suffix; sfx labels the case
		sfx += fmt.Sprintf(" (S=%d)", S)
		mean, variance, pm, pm2 := nanF(G*C), nanF(G*C), nanF(G*S*C), nanF(G*S*C)
		k.launch(t, "bn_stats_part"+kn, red, rb, xa, pm, pm2, R, C, chunk)
		wpm, wpm2 := BNStatsPartRef(x, G, R, C, chunk)
		close(t, "bn_stats_part mean"+sfx, pm, wpm, 1e-5)
		close(t, "bn_stats_part m2"+sfx, pm2, wpm2, 1e-5)
		k.launch(t, "bn_stats_combine", g3, b64, mean, variance, pm, pm2, G, S, R, C, chunk)
		cm, cv := BNStatsCombineRef(wpm, wpm2, G, R, C, chunk)
		close(t, "bn_stats_combine mean"+sfx, mean, cm, 1e-6)
		close(t, "bn_stats_combine var"+sfx, variance, cv, 1e-6)
		wm, wv := BNStatsRef(x, G, R, C)
		close(t, "bn_stats mean"+sfx, mean, wm, 1e-5)
		close(t, "bn_stats var"+sfx, variance, wv, 1e-5)
		for act, alpha := range []float64{0, 0, 0.3, 0} {
			k.launch(t, "bn_act_fwd"+kn, g3, b64, xa, ya, wm, wv, gamma, beta, R, C, len(x), eps, act, alpha)
			want := BNActFwdRef(x, wm, wv, gamma, beta, R, C, eps, act, alpha)
			if bf {
				want = roundBF16(want)
			}
			close(t, fmt.Sprintf("bn_act_fwd%s act %d", sfx, act), read(ya), want, tol)
			sdz, sdzx, pa, pb := nanF(G*C), nanF(G*C), nanF(G*S*C), nanF(G*S*C)
			k.launch(t, "bn_act_bwd_part"+kn, red, rb, xa, dya, wm, wv, gamma, beta, pa, pb, R, C, chunk, eps, act, alpha)
			wpa, wpb := BNActBwdPartRef(x, dy, wm, wv, gamma, beta, R, C, chunk, eps, act, alpha)
			close(t, fmt.Sprintf("bn_act_bwd_part%s dz act %d", sfx, act), pa, wpa, 1e-4)
			close(t, fmt.Sprintf("bn_act_bwd_part%s dz*xhat act %d", sfx, act), pb, wpb, 1e-4)
			k.launch(t, "bn_act_bwd_combine", g3, b64, sdz, sdzx, pa, pb, G, S, C)
			k.launch(t, "bn_act_bwd_dx"+kn, g3, b64, xa, dya, dxa, wm, wv, gamma, beta, sdz, sdzx, R, C, len(x), eps, act, alpha)
			wdx, wsdz, wsdzx := BNActBwdRef(x, dy, wm, wv, gamma, beta, R, C, eps, act, alpha)
			if bf {
				wdx = roundBF16(wdx)
			}
			csdz, csdzx := BNActBwdCombineRef(pa, pb, G, S, C)
			close(t, fmt.Sprintf("bn_act_bwd_combine%s sdz act %d", sfx, act), sdz, csdz, 0)
			close(t, fmt.Sprintf("bn_act_bwd_combine%s sdzx act %d", sfx, act), sdzx, csdzx, 0)
			close(t, fmt.Sprintf("bn_act_bwd sdz%s act %d", sfx, act), sdz, wsdz, 1e-4)
			close(t, fmt.Sprintf("bn_act_bwd sdzx%s act %d", sfx, act), sdzx, wsdzx, 1e-4)
			close(t, fmt.Sprintf("bn_act_bwd_dx%s act %d", sfx, act), read(dxa), wdx, tol)
			if !bf && act == ActCELU {
				dg, db := nanF(C), nanF(C)
				k.launch(t, "bn_param_grad", g3, b64, dg, db, sdz, sdzx, G, C)
				wdg, wdb := BNParamGradRef(sdz, sdzx, G, C)
				close(t, "bn_param_grad dgamma", dg, wdg, 1e-6)
				close(t, "bn_param_grad dbeta", db, wdb, 1e-6)
			}
		}
	}
	rm, rv, bm, bv := randn(rng, 2*C), randn(rng, 2*C), randn(rng, 2*C), randn(rng, 2*C)
	wrm, wrv := append([]float32(nil), rm...), append([]float32(nil), rv...)
	k.launch(t, "bn_running_update", g3, b64, rm, rv, bm, bv, 2*C, float32(0.1), float32(36.0/35))
	BNRunningUpdateRef(wrm, wrv, bm, bv, 0.1, float64(float32(36.0/35)))
	close(t, "bn_running_update mean", rm, wrm, 1e-6)
	close(t, "bn_running_update var", rv, wrv, 1e-6)
	am, av := nanF(C), nanF(C)
	k.launch(t, "bn_split_average", g3, b64, am, av, rm, rv, 2, C)
	wam, wav := BNSplitAverageRef(rm, rv, 2, C)
	close(t, "bn_split_average mean", am, wam, 1e-6)
	close(t, "bn_split_average var", av, wav, 1e-6)
}

func TestHostPoolLossOptimAugment(t *testing.T) {
	k := loadHost(t)
	rng := rand.New(rand.NewPCG(25, 26))
	const N, H, W, C = 2, 6, 4, 3
	x, dy := randn(rng, N*H*W*C), randn(rng, N*H/2*W/2*C)
	x[0], x[C] = 1, 1 // a tie: the first maximum takes the gradient
	y, dx := nanF(len(dy)), nanF(len(x))
	k.launch(t, "maxpool_fwd_f32", g3, b64, x, y, N, H, W, C, 2)
	close(t, "maxpool_fwd", y, MaxPoolFwdRef(x, N, H, W, C, 2), 0)
	k.launch(t, "maxpool_bwd_f32", g3, b64, x, dy, dx, N, H, W, C, 2)
	close(t, "maxpool_bwd", dx, MaxPoolBwdRef(x, dy, N, H, W, C, 2), 0)
	yb, dxb := make([]uint16, len(dy)), make([]uint16, len(x))
	rx, rdy := roundBF16(x), roundBF16(dy)
	k.launch(t, "maxpool_fwd_bf16", g3, b64, toBF16(rx), yb, N, H, W, C, 2)
	close(t, "maxpool_fwd_bf16", fromBF16(yb), MaxPoolFwdRef(rx, N, H, W, C, 2), 0)
	k.launch(t, "maxpool_bwd_bf16", g3, b64, toBF16(rx), toBF16(rdy), dxb, N, H, W, C, 2)
	close(t, "maxpool_bwd_bf16", fromBF16(dxb), MaxPoolBwdRef(rx, rdy, N, H, W, C, 2), 0)
	// 3x3 windows (the runtime-K path; post 7 pools 4x4) on 6 x 3.
	dy3, y3, dx3 := randn(rng, N*2*1*C), nanF(N*2*1*C), nanF(N*6*3*C)
	x3 := x[:N*6*3*C]
	k.launch(t, "maxpool_fwd_f32", g3, b64, x3, y3, N, 6, 3, C, 3)
	close(t, "maxpool_fwd 3x3", y3, MaxPoolFwdRef(x3, N, 6, 3, C, 3), 0)
	k.launch(t, "maxpool_bwd_f32", g3, b64, x3, dy3, dx3, N, 6, 3, C, 3)
	close(t, "maxpool_bwd 3x3", dx3, MaxPoolBwdRef(x3, dy3, N, 6, 3, C, 3), 0)
	gay, ady, adx := nanF(N*C), randn(rng, N*C), nanF(len(x))
	k.launch(t, "gavgpool_fwd_f32", g3, b64, x, gay, N, H*W, C)
	close(t, "gavgpool_fwd", gay, GAvgPoolFwdRef(x, N, H*W, C), 1e-6)
	k.launch(t, "gavgpool_bwd_f32", g3, b64, ady, adx, N, H*W, C)
	close(t, "gavgpool_bwd", adx, GAvgPoolBwdRef(ady, N, H*W, C), 1e-6)
	ayb, adxb := make([]uint16, N*C), make([]uint16, len(x))
	k.launch(t, "gavgpool_fwd_bf16", g3, b64, toBF16(rx), ayb, N, H*W, C)
	close(t, "gavgpool_fwd_bf16", fromBF16(ayb), GAvgPoolFwdRef(rx, N, H*W, C), 1e-2)
	rady := roundBF16(ady)
	k.launch(t, "gavgpool_bwd_bf16", g3, b64, toBF16(rady), adxb, N, H*W, C)
	close(t, "gavgpool_bwd_bf16", fromBF16(adxb), GAvgPoolBwdRef(rady, N, H*W, C), 1e-2)
	gy, gdy, gdx := nanF(N*C), randn(rng, N*C), nanF(len(x))
	k.launch(t, "gmaxpool_fwd_f32", g3, b64, x, gy, N, H*W, C)
	close(t, "gmaxpool_fwd", gy, GMaxPoolFwdRef(x, N, H*W, C), 0)
	k.launch(t, "gmaxpool_bwd_f32", g3, b64, x, gdy, gdx, N, H*W, C)
	close(t, "gmaxpool_bwd", gdx, GMaxPoolBwdRef(x, gdy, N, H*W, C), 0)

	const B, K = 37, 10
	logits := randn(rng, B*K)
	labels := make([]int32, B)
	for i := range labels {
		labels[i] = int32(rng.IntN(K))
	}
	dl, loss, cor := nanF(B*K), nanF(B), nanF(B)
	k.launch(t, "xent_ls_f32", g3, b64, logits, labels, dl, loss, cor, B, K, float32(0.2), float32(0.5))
	wdl, wl, wc := XentLSRef(logits, labels, B, K, 0.2, 0.5)
	close(t, "xent dlogits", dl, wdl, 1e-6)
	close(t, "xent loss", loss, wl, 1e-5)
	close(t, "xent correct", cor, wc, 0)
	loss2 := nanF(B)
	k.launch(t, "xent_ls_f32", g3, b64, logits, labels, nil, loss2, cor, B, K, float32(0.2), float32(0.5))
	close(t, "xent loss without dlogits", loss2, wl, 1e-5)

	n := 500
	w, g, v := randn(rng, n), randn(rng, n), randn(rng, n)
	ww, wv := append([]float32(nil), w...), append([]float32(nil), v...)
	for _, nest := range []int{0, 1} {
		k.launch(t, "sgd_f32", g3, b64, w, g, v, n, float32(0.01), float32(0.256), float32(0.9), nest)
		SGDRef(ww, g, wv, 0.01, 0.256, 0.9, nest == 1)
		close(t, fmt.Sprintf("sgd_f32 nesterov=%d w", nest), w, ww, 1e-6)
		close(t, fmt.Sprintf("sgd_f32 nesterov=%d v", nest), v, wv, 1e-6)
	}
	// LARS: 20 rows of 25; the norms of w, of g, and of w - ema.
	const rows, rowLen = 20, 25
	wn, gn, dn := nanF(rows), nanF(rows), nanF(rows)
	k.launch(t, "row_norms_f32", g3, b64, wn, w, nil, rows, rowLen)
	close(t, "row_norms |w|", wn, RowNormsRef(w, nil, rows, rowLen), 1e-6)
	k.launch(t, "row_norms_f32", g3, b64, gn, g, nil, rows, rowLen)
	close(t, "row_norms |g|", gn, RowNormsRef(g, nil, rows, rowLen), 1e-6)
	k.launch(t, "row_norms_f32", g3, b64, dn, w, v, rows, rowLen)
	close(t, "row_norms |w-v|", dn, RowNormsRef(w, v, rows, rowLen), 1e-6)
	for _, nest := range []int{0, 1} {
		k.launch(t, "sgd_lars_f32", g3, b64, w, g, v, wn, gn, n, rowLen, float32(0.01), float32(0.256), float32(0.9), nest)
		SGDLARSRef(ww, g, wv, wn, gn, rowLen, 0.01, 0.256, 0.9, nest == 1)
		close(t, fmt.Sprintf("sgd_lars_f32 nesterov=%d w", nest), w, ww, 1e-6)
		close(t, fmt.Sprintf("sgd_lars_f32 nesterov=%d v", nest), v, wv, 1e-6)
	}
	// Muon's kernels on 20 rows of 25: momentum, the two scales, X in
	// both precisions, the step.
	mg, mv, mu := randn(rng, n), randn(rng, n), nanF(n)
	wmv, wmu := append([]float32(nil), mv...), make([]float32, n)
	k.launch(t, "muon_momentum_f32", g3, b64, mg, mv, mu, n, float32(0.6), 1)
	MuonMomentumRef(mg, wmv, wmu, 0.6, true)
	close(t, "muon_momentum v", mv, wmv, 0)
	close(t, "muon_momentum u", mu, wmu, 0)
	un, sc := nanF(rows), nanF(2)
	k.launch(t, "row_norms_f32", g3, b64, un, mu, nil, rows, rowLen)
	k.launch(t, "muon_norms", elem1, elem1, sc, wn, un, rows, float32(1e-7))
	ws := MuonNormsRef(wn, un, 1e-7)
	close(t, "muon_norms", sc, ws[:], 1e-6)
	mw, mw16 := append([]float32(nil), w...), append([]float32(nil), w...)
	wmw := append([]float32(nil), w...)
	x32, x16 := nanF(n), make([]uint16, n)
	wx := MuonScaleRef(wmw, mu, ws)
	k.launch(t, "muon_scale_f32", g3, b64, mw, mu, x32, sc, n)
	close(t, "muon_scale w", mw, wmw, 1e-6)
	close(t, "muon_scale X", x32, wx, 1e-6)
	k.launch(t, "muon_scale_bf16", g3, b64, mw16, mu, x16, sc, n)
	close(t, "muon_scale_bf16 X", fromBF16(x16), roundBF16(wx), 1e-6)
	k.launch(t, "muon_update_f32", g3, b64, mw, x32, n, float32(0.24))
	k.launch(t, "muon_update_bf16", g3, b64, mw16, x16, n, float32(0.24))
	for i := range wmw {
		wmw[i] -= 0.24 * wx[i]
	}
	close(t, "muon_update_f32", mw, wmw, 1e-6)
	close(t, "muon_update_bf16", mw16, wmw, 1e-2)

	ema := randn(rng, n)
	wema := append([]float32(nil), ema...)
	k.launch(t, "ema_f32", g3, b64, ema, w, n, float32(0.95))
	EMARef(wema, w, 0.95)
	close(t, "ema", ema, wema, 1e-6)

	const M, PH, PW, AH, AW, AN = 5, 10, 10, 6, 5, 4 // non-square: H and W must not be swappable
	src := randn(rng, M*PH*PW*C)
	idx := []int32{4, 0, 2, 4}
	par := []int32{0, 0, 0, 0, 0, 0, 0, 4, 4, 1, 0, 0, 0, 0, 2, 1, 0, 1, 2, 3, 2, 3, 3, 1, 5, 5, 1, 1}
	ay := nanF(AN * AH * AW * C)
	k.launch(t, "augment_f32", g3, b64, src, idx, par, ay, AN, PH, PW, AH, AW, C)
	want := AugmentRef(src, idx, par, AN, PH, PW, AH, AW, C)
	close(t, "augment_f32", ay, want, 0)
	ab := make([]uint16, len(ay))
	k.launch(t, "augment_bf16", g3, b64, src, idx, par, ab, AN, PH, PW, AH, AW, C)
	close(t, "augment_bf16", fromBF16(ab), roundBF16(want), 0)
}

func nan() float64 { return math.NaN() }

// prep_nhwc reproduces data.Prepare bit for bit: padded training images
// and unpadded test images.
func TestHostPrepMatchesPrepare(t *testing.T) {
	k := loadHost(t)
	set, err := data.Synthetic(data.SyntheticOptions{Train: 5, Test: 3, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	prep, err := data.Prepare(set, 4)
	if err != nil {
		t.Fatal(err)
	}
	lut := PrepLUT(data.ChannelStats(set.Train))
	for _, c := range []struct {
		name string
		src  []uint8
		n    int
		pad  int
		want []float32
	}{{"train", set.Train.Images, 5, 4, prep.Train}, {"test", set.Test.Images, 3, 0, prep.Test}} {
		got := nanF(len(c.want))
		k.launch(t, "prep_nhwc", g3, b64, c.src, lut, got, c.n, c.pad)
		close(t, "prep_nhwc "+c.name, got, c.want, 0)
		close(t, "PrepNHWCRef "+c.name, PrepNHWCRef(c.src, lut, c.n, c.pad), c.want, 0)
	}
	// The whitening patches of the prepared images (the engine's test
	// holds the filters made from them to data.WhiteningFilters').
	for _, kk := range []int{3, 2} {
		X := make([]float64, 5*(33-kk)*(33-kk)*3*kk*kk)
		k.launch(t, "whiten_patches_f64", g3, b64, prep.Train, X, 5, prep.PaddedSide(), 4, kk)
		if want := WhitenPatchesRef(prep.Train, 5, prep.PaddedSide(), 4, kk); !slices.Equal(X, want) {
			t.Fatalf("whiten_patches_f64 %dx%d differs from WhitenPatchesRef", kk, kk)
		}
	}
}
