// Package launch queues the GPU backend's own kernels (the PTX of
// speedrun/cuda/kernels) through package driver: Load JIT-loads every
// module once, and each typed helper (Fill, BNStats, Augment, ...) checks
// its arguments against kernels.Signatures before it launches, so a wrong
// type or count fails loudly instead of corrupting memory.
package launch

import (
	"fmt"

	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
)

// Prec selects a kernel's activation type.
type Prec int

// Activation precisions. Statistics, losses and parameters are fp32 in
// both; BF16 stores activations as bfloat16.
const (
	F32 Prec = iota
	BF16
)

func (p Prec) String() string { return [...]string{"f32", "bf16"}[p] }

// Bytes is the size of one activation element.
func (p Prec) Bytes() int { return [...]int{4, 2}[p] }

// Kernels holds our PTX modules loaded into the current context, each
// function resolved once. Launch helpers check their arguments against
// kernels.Signatures (the table TestSignatures checks against the PTX), so
// a helper that passes a wrong type or count fails loudly, not silently.
// Not safe for concurrent use; one per device thread.
type Kernels struct {
	drv     *driver.Driver
	modules []driver.Module
	funcs   map[string]kernelFunc
	args    driver.Args
	// Hook, when set, runs each checked launch instead of the driver: the
	// engine tests execute the kernels' host build through it.
	Hook func(name string, grid, block driver.Dim3, a *driver.Args) error
	// BNMaxChunks caps the row chunks of BN reductions (0: BNChunks
	// decides); gpucheck bench sets 1 to time the unsplit reduction.
	BNMaxChunks int
	// BNMinChunk overrides bnMinChunk, the fewest rows of a chunk (0:
	// bnMinChunk); tests set a few rows so that tiny batches split too.
	BNMinChunk int
}

type kernelFunc struct {
	f   driver.Function
	sig []kernels.Kind
}

// Load JIT-loads every embedded module into the current context and
// resolves every kernel.
func Load(drv *driver.Driver) (*Kernels, error) {
	mods, err := kernels.Modules()
	if err != nil {
		return nil, err
	}
	k := &Kernels{drv: drv, funcs: map[string]kernelFunc{}}
	byModule := map[string]driver.Module{}
	for _, m := range mods {
		h, err := drv.LoadModule(m.PTX)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("module %s.ptx: %w", m.Name, err)
		}
		k.modules = append(k.modules, h)
		byModule[m.Name] = h
	}
	for _, s := range kernels.Signatures {
		m, ok := byModule[s.Module]
		if !ok {
			k.Close()
			return nil, fmt.Errorf("kernel %s: module %s.ptx is not embedded", s.Name, s.Module)
		}
		f, err := drv.Function(m, s.Name)
		if err != nil {
			k.Close()
			return nil, fmt.Errorf("module %s.ptx: %w", s.Module, err)
		}
		kinds := make([]kernels.Kind, len(s.Params))
		for i, p := range s.Params {
			kinds[i] = p.Kind
		}
		k.funcs[s.Name] = kernelFunc{f: f, sig: kinds}
	}
	return k, nil
}

// Close unloads the modules.
func (k *Kernels) Close() error {
	var first error
	for _, m := range k.modules {
		if err := k.drv.UnloadModule(m); err != nil && first == nil {
			first = err
		}
	}
	k.modules = nil
	k.args.Release()
	return first
}

var kindOf = [...]kernels.Kind{driver.KPtr: kernels.Ptr, driver.KI32: kernels.I32, driver.KF32: kernels.F32, driver.KU64: "u64"}

// launch checks k.args against name's signature and launches it.
func (k *Kernels) launch(s driver.Stream, name string, grid, block driver.Dim3) error {
	fn, ok := k.funcs[name]
	if !ok {
		return fmt.Errorf("cuda: unknown kernel %q", name)
	}
	a := &k.args
	if a.Len() != len(fn.sig) {
		return fmt.Errorf("cuda: kernel %s launched with %d args, signature has %d", name, a.Len(), len(fn.sig))
	}
	for i, want := range fn.sig {
		if got := kindOf[a.Kind(i)]; got != want {
			return fmt.Errorf("cuda: kernel %s arg %d is %s, signature says %s", name, i, got, want)
		}
	}
	if k.Hook != nil {
		return k.Hook(name, grid, block, a)
	}
	if err := k.drv.Launch(fn.f, grid, block, 0, s, a); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Block sizes. Element loops are grid-stride, so the grid is capped.
const (
	elemBlock = 256
	maxGrid   = 8192
	redX      = 32 // bn.cu's TX
	redY      = 8  // bn.cu's TY
)

func elemGrid(n int) driver.Dim3 {
	return driver.Dim3{X: max(1, min((n+elemBlock-1)/elemBlock, maxGrid))}
}

// elem launches a 1-D elementwise kernel over n elements.
func (k *Kernels) elem(s driver.Stream, name string, n int) error {
	return k.launch(s, name, elemGrid(n), driver.Dim3{X: elemBlock})
}

// reduce launches a per-(group, chunk, channel) reduction kernel.
func (k *Kernels) reduce(s driver.Stream, name string, G, S, C int) error {
	return k.launch(s, name, driver.Dim3{X: (C + redX - 1) / redX, Y: G, Z: S}, driver.Dim3{X: redX, Y: redY})
}

// pick returns the kernel name for precision p.
func pick(names [2]string, p Prec) string { return names[p] }

// Fill sets y[0:n] = v.
func (k *Kernels) Fill(s driver.Stream, y driver.DevicePtr, v float32, n int) error {
	k.args.Reset().Ptr(y).F32(v).I32(n)
	return k.elem(s, "fill_f32", n)
}

// Add sets y = a + b over n elements of precision p.
func (k *Kernels) Add(s driver.Stream, p Prec, y, a, b driver.DevicePtr, n int) error {
	k.args.Reset().Ptr(y).Ptr(a).Ptr(b).I32(n)
	return k.elem(s, pick([2]string{"add_f32", "add_bf16"}, p), n)
}

// CastF32BF16 rounds x (fp32) into y (bf16), nearest even.
func (k *Kernels) CastF32BF16(s driver.Stream, y, x driver.DevicePtr, n int) error {
	k.args.Reset().Ptr(y).Ptr(x).I32(n)
	return k.elem(s, "cast_f32_bf16", n)
}

// CastBF16F32 widens x (bf16) into y (fp32).
func (k *Kernels) CastBF16F32(s driver.Stream, y, x driver.DevicePtr, n int) error {
	k.args.Reset().Ptr(y).Ptr(x).I32(n)
	return k.elem(s, "cast_bf16_f32", n)
}

// Sum sets out[0] = sum of x[0:n] (one block; for per-batch sums).
func (k *Kernels) Sum(s driver.Stream, out, x driver.DevicePtr, n int) error {
	k.args.Reset().Ptr(out).Ptr(x).I32(n)
	return k.launch(s, "sum_f32", driver.Dim3{X: 1}, driver.Dim3{X: 256})
}

// BNShape is a (ghost) batch-norm input: G groups of R rows of C channels,
// NHWC (R = samples per group * H * W).
type BNShape struct{ G, R, C int }

// N is the element count.
func (b BNShape) N() int { return b.G * b.R * b.C }

// BNAct is the activation fused into batch norm: Kind is a kernels.Act*
// code, Alpha CELU's alpha.
type BNAct struct {
	Kind  int
	Alpha float32
}

// BN reductions split each group's rows into chunks so that the grid has
// about bnTargetBlocks blocks (an H100 holds 132 SMs x 8 blocks of 256
// threads), with at least bnMinChunk rows per chunk.
const (
	bnTargetBlocks = 1024
	bnMinChunk     = 64
)

// BNChunks is how BNStats and BNActBwd split b's rows: S chunks of chunk
// rows (the last may be shorter). k.BNMaxChunks > 0 caps S (1: one block
// row per group, the unsplit reduction that gpucheck bench compares).
func (k *Kernels) BNChunks(b BNShape) (S, chunk int) {
	blocks := max(1, (b.C+redX-1)/redX*b.G)
	minChunk := bnMinChunk
	if k.BNMinChunk > 0 {
		minChunk = k.BNMinChunk
	}
	S = max(1, min((bnTargetBlocks+blocks-1)/blocks, b.R/minChunk))
	if k.BNMaxChunks > 0 {
		S = min(S, k.BNMaxChunks)
	}
	chunk = (b.R + S - 1) / S
	return (b.R + chunk - 1) / chunk, chunk
}

// BNPartFloats is the fp32 scratch BNStats and BNActBwd need for b.
func (k *Kernels) BNPartFloats(b BNShape) int {
	S, _ := k.BNChunks(b)
	return 2 * b.G * S * b.C
}

// BNStats writes per-(group, channel) mean and biased variance (G*C
// fp32), through per-chunk partials in part (BNPartFloats(b) floats).
func (k *Kernels) BNStats(s driver.Stream, p Prec, b BNShape, x, mean, variance, part driver.DevicePtr) error {
	S, chunk := k.BNChunks(b)
	pm, pm2 := part, part.Add(4*b.G*S*b.C)
	k.args.Reset().Ptr(x).Ptr(pm).Ptr(pm2).I32(b.R).I32(b.C).I32(chunk)
	if err := k.reduce(s, pick([2]string{"bn_stats_part_f32", "bn_stats_part_bf16"}, p), b.G, S, b.C); err != nil {
		return err
	}
	k.args.Reset().Ptr(mean).Ptr(variance).Ptr(pm).Ptr(pm2).I32(b.G).I32(S).I32(b.R).I32(b.C).I32(chunk)
	return k.elem(s, "bn_stats_combine", b.G*b.C)
}

// BNActFwd writes y = act(gamma*(x-mean)/sqrt(var+eps) + beta). For eval,
// pass running statistics with b.G = 1.
func (k *Kernels) BNActFwd(s driver.Stream, p Prec, b BNShape, x, y, mean, variance, gamma, beta driver.DevicePtr, eps float32, a BNAct) error {
	k.args.Reset().Ptr(x).Ptr(y).Ptr(mean).Ptr(variance).Ptr(gamma).Ptr(beta).I32(b.R).I32(b.C).I32(b.N()).F32(eps).I32(a.Kind).F32(a.Alpha)
	return k.elem(s, pick([2]string{"bn_act_fwd_f32", "bn_act_fwd_bf16"}, p), b.N())
}

// BNActBwd writes dx and the per-(group, channel) sums sdz, sdzx (G*C
// fp32; BNParamGrad turns them into dgamma, dbeta), through per-chunk
// partials in part (BNPartFloats(b) floats).
func (k *Kernels) BNActBwd(s driver.Stream, p Prec, b BNShape, x, dy, dx, mean, variance, gamma, beta, sdz, sdzx, part driver.DevicePtr, eps float32, a BNAct) error {
	S, chunk := k.BNChunks(b)
	pa, pb := part, part.Add(4*b.G*S*b.C)
	k.args.Reset().Ptr(x).Ptr(dy).Ptr(mean).Ptr(variance).Ptr(gamma).Ptr(beta).Ptr(pa).Ptr(pb).I32(b.R).I32(b.C).I32(chunk).F32(eps).I32(a.Kind).F32(a.Alpha)
	if err := k.reduce(s, pick([2]string{"bn_act_bwd_part_f32", "bn_act_bwd_part_bf16"}, p), b.G, S, b.C); err != nil {
		return err
	}
	k.args.Reset().Ptr(sdz).Ptr(sdzx).Ptr(pa).Ptr(pb).I32(b.G).I32(S).I32(b.C)
	if err := k.elem(s, "bn_act_bwd_combine", b.G*b.C); err != nil {
		return err
	}
	k.args.Reset().Ptr(x).Ptr(dy).Ptr(dx).Ptr(mean).Ptr(variance).Ptr(gamma).Ptr(beta).Ptr(sdz).Ptr(sdzx).I32(b.R).I32(b.C).I32(b.N()).F32(eps).I32(a.Kind).F32(a.Alpha)
	return k.elem(s, pick([2]string{"bn_act_bwd_dx_f32", "bn_act_bwd_dx_bf16"}, p), b.N())
}

// BNParamGrad writes dgamma, dbeta (C each) from BNActBwd's sums.
func (k *Kernels) BNParamGrad(s driver.Stream, dgamma, dbeta, sdz, sdzx driver.DevicePtr, G, C int) error {
	k.args.Reset().Ptr(dgamma).Ptr(dbeta).Ptr(sdz).Ptr(sdzx).I32(G).I32(C)
	return k.elem(s, "bn_param_grad", C)
}

// BNRunningUpdate applies PyTorch's running-stat rule to n = G*C stats;
// unbias = R/(R-1).
func (k *Kernels) BNRunningUpdate(s driver.Stream, runMean, runVar, mean, variance driver.DevicePtr, n int, momentum, unbias float32) error {
	k.args.Reset().Ptr(runMean).Ptr(runVar).Ptr(mean).Ptr(variance).I32(n).F32(momentum).F32(unbias)
	return k.elem(s, "bn_running_update", n)
}

// BNSplitAverage averages ghost-BN running stats over G splits.
func (k *Kernels) BNSplitAverage(s driver.Stream, mean, variance, runMean, runVar driver.DevicePtr, G, C int) error {
	k.args.Reset().Ptr(mean).Ptr(variance).Ptr(runMean).Ptr(runVar).I32(G).I32(C)
	return k.elem(s, "bn_split_average", C)
}

// MaxPoolFwd pools K x K windows with stride K: x is N x H x W x C, H and
// W multiples of K.
func (k *Kernels) MaxPoolFwd(s driver.Stream, p Prec, x, y driver.DevicePtr, N, H, W, C, K int) error {
	k.args.Reset().Ptr(x).Ptr(y).I32(N).I32(H).I32(W).I32(C).I32(K)
	return k.elem(s, pick([2]string{"maxpool_fwd_f32", "maxpool_fwd_bf16"}, p), N*(H/K)*(W/K)*C)
}

// MaxPoolBwd writes every element of dx (no clearing needed).
func (k *Kernels) MaxPoolBwd(s driver.Stream, p Prec, x, dy, dx driver.DevicePtr, N, H, W, C, K int) error {
	k.args.Reset().Ptr(x).Ptr(dy).Ptr(dx).I32(N).I32(H).I32(W).I32(C).I32(K)
	return k.elem(s, pick([2]string{"maxpool_bwd_f32", "maxpool_bwd_bf16"}, p), N*(H/K)*(W/K)*C)
}

// GAvgPoolFwd is the mean over HW positions per (n, c).
func (k *Kernels) GAvgPoolFwd(s driver.Stream, p Prec, x, y driver.DevicePtr, N, HW, C int) error {
	k.args.Reset().Ptr(x).Ptr(y).I32(N).I32(HW).I32(C)
	return k.elem(s, pick([2]string{"gavgpool_fwd_f32", "gavgpool_fwd_bf16"}, p), N*C)
}

// GAvgPoolBwd writes every element of dx.
func (k *Kernels) GAvgPoolBwd(s driver.Stream, p Prec, dy, dx driver.DevicePtr, N, HW, C int) error {
	k.args.Reset().Ptr(dy).Ptr(dx).I32(N).I32(HW).I32(C)
	return k.elem(s, pick([2]string{"gavgpool_bwd_f32", "gavgpool_bwd_bf16"}, p), N*HW*C)
}

// ActFwd applies a standalone activation over n elements.
func (k *Kernels) ActFwd(s driver.Stream, p Prec, x, y driver.DevicePtr, n int, a BNAct) error {
	k.args.Reset().Ptr(x).Ptr(y).I32(n).I32(a.Kind).F32(a.Alpha)
	return k.elem(s, pick([2]string{"act_fwd_f32", "act_fwd_bf16"}, p), n)
}

// ActBwd writes dx = dy * act'(x) over n elements.
func (k *Kernels) ActBwd(s driver.Stream, p Prec, x, dy, dx driver.DevicePtr, n int, a BNAct) error {
	k.args.Reset().Ptr(x).Ptr(dy).Ptr(dx).I32(n).I32(a.Kind).F32(a.Alpha)
	return k.elem(s, pick([2]string{"act_bwd_f32", "act_bwd_bf16"}, p), n)
}

// Scale sets y = a*x over n elements, x of precision px and y of py.
func (k *Kernels) Scale(s driver.Stream, py Prec, y driver.DevicePtr, px Prec, x driver.DevicePtr, a float32, n int) error {
	k.args.Reset().Ptr(y).Ptr(x).F32(a).I32(n)
	return k.elem(s, scaleKernels[px][py], n)
}

// scaleKernels names scale_<x>_<y> by [px][py].
var scaleKernels = [2][2]string{F32: {F32: "scale_f32_f32", BF16: "scale_f32_bf16"}, BF16: {F32: "scale_bf16_f32", BF16: "scale_bf16_bf16"}}

// ColsCopy copies columns [sc0, sc0+width) of src's rows (sC wide) to
// columns [dc0, dc0+width) of dst's (dC wide): one input of a channel
// concat, or its share of the gradient.
func (k *Kernels) ColsCopy(s driver.Stream, p Prec, dst, src driver.DevicePtr, rows, dC, dc0, sC, sc0, width int) error {
	k.args.Reset().Ptr(dst).Ptr(src).I32(rows).I32(dC).I32(dc0).I32(sC).I32(sc0).I32(width)
	return k.elem(s, pick([2]string{"cols_copy_f32", "cols_copy_bf16"}, p), rows*width)
}

// BiasRows adds b (C, fp32) to every row of y (rows x C, precision p).
func (k *Kernels) BiasRows(s driver.Stream, p Prec, y, b driver.DevicePtr, rows, C int) error {
	k.args.Reset().Ptr(y).Ptr(b).I32(rows).I32(C)
	return k.elem(s, pick([2]string{"bias_rows_f32", "bias_rows_bf16"}, p), rows*C)
}

// ColSum sets out[c] = the sum over rows of x[r, c] (fp32).
func (k *Kernels) ColSum(s driver.Stream, out, x driver.DevicePtr, rows, C int) error {
	k.args.Reset().Ptr(out).Ptr(x).I32(rows).I32(C)
	return k.elem(s, "col_sum_f32", C)
}

// GMaxPoolFwd is the max over HW positions per (n, c).
func (k *Kernels) GMaxPoolFwd(s driver.Stream, p Prec, x, y driver.DevicePtr, N, HW, C int) error {
	k.args.Reset().Ptr(x).Ptr(y).I32(N).I32(HW).I32(C)
	return k.elem(s, pick([2]string{"gmaxpool_fwd_f32", "gmaxpool_fwd_bf16"}, p), N*C)
}

// GMaxPoolBwd writes every element of dx.
func (k *Kernels) GMaxPoolBwd(s driver.Stream, p Prec, x, dy, dx driver.DevicePtr, N, HW, C int) error {
	k.args.Reset().Ptr(x).Ptr(dy).Ptr(dx).I32(N).I32(HW).I32(C)
	return k.elem(s, pick([2]string{"gmaxpool_bwd_f32", "gmaxpool_bwd_bf16"}, p), N*C)
}

// XentLS computes per-example smoothed losses, 0/1 correctness and (if
// dlogits != 0) scale * dloss/dlogits; labels are int32.
func (k *Kernels) XentLS(s driver.Stream, logits, labels, dlogits, loss, correct driver.DevicePtr, N, K int, eps, scale float32) error {
	k.args.Reset().Ptr(logits).Ptr(labels).Ptr(dlogits).Ptr(loss).Ptr(correct).I32(N).I32(K).F32(eps).F32(scale)
	return k.elem(s, "xent_ls_f32", N)
}

// SGD updates one parameter group of n floats in place with the CPU
// engine's rule (PyTorch's SGD, coupled L2, heavy-ball or Nesterov).
func (k *Kernels) SGD(s driver.Stream, w, g, v driver.DevicePtr, n int, lr, wd, mom float32, nesterov bool) error {
	nest := 0
	if nesterov {
		nest = 1
	}
	k.args.Reset().Ptr(w).Ptr(g).Ptr(v).I32(n).F32(lr).F32(wd).F32(mom).I32(nest)
	return k.elem(s, "sgd_f32", n)
}

// RowNorms sets out[r] = |x_r - y_r| for rows of n floats (y 0: |x_r|).
func (k *Kernels) RowNorms(s driver.Stream, out, x, y driver.DevicePtr, rows, n int) error {
	k.args.Reset().Ptr(out).Ptr(x).Ptr(y).I32(rows).I32(n)
	return k.elem(s, "row_norms_f32", rows)
}

// SGDLARS is SGD with each row's (rowLen floats) learning rate scaled by
// wn[r] / (gn[r] + 0.01): per-filter LARS.
func (k *Kernels) SGDLARS(s driver.Stream, w, g, v, wn, gn driver.DevicePtr, n, rowLen int, lr, wd, mom float32, nesterov bool) error {
	nest := 0
	if nesterov {
		nest = 1
	}
	k.args.Reset().Ptr(w).Ptr(g).Ptr(v).Ptr(wn).Ptr(gn).I32(n).I32(rowLen).F32(lr).F32(wd).F32(mom).I32(nest)
	return k.elem(s, "sgd_lars_f32", n)
}

// MuonMomentum sets v = mom*v + g and u = g + mom*v (Nesterov) or v
// over n floats.
func (k *Kernels) MuonMomentum(s driver.Stream, g, v, u driver.DevicePtr, n int, mom float32, nesterov bool) error {
	nest := 0
	if nesterov {
		nest = 1
	}
	k.args.Reset().Ptr(g).Ptr(v).Ptr(u).I32(n).F32(mom).I32(nest)
	return k.elem(s, "muon_momentum_f32", n)
}

// MuonNorms sets sc[0] = sqrt(rows)/|w| and sc[1] = 1/(|u|+eps) from the
// rows' norms wn and un (one thread).
func (k *Kernels) MuonNorms(s driver.Stream, sc, wn, un driver.DevicePtr, rows int, eps float32) error {
	k.args.Reset().Ptr(sc).Ptr(wn).Ptr(un).I32(rows).F32(eps)
	return k.launch(s, "muon_norms", driver.Dim3{X: 1}, driver.Dim3{X: 1})
}

// MuonScale sets w *= sc[0] and X = u*sc[1] (X of precision p) over n
// floats.
func (k *Kernels) MuonScale(s driver.Stream, p Prec, w, u, X, sc driver.DevicePtr, n int) error {
	k.args.Reset().Ptr(w).Ptr(u).Ptr(X).Ptr(sc).I32(n)
	return k.elem(s, pick([2]string{"muon_scale_f32", "muon_scale_bf16"}, p), n)
}

// MuonUpdate sets w -= lr*X (X of precision p) over n floats.
func (k *Kernels) MuonUpdate(s driver.Stream, p Prec, w, X driver.DevicePtr, n int, lr float32) error {
	k.args.Reset().Ptr(w).Ptr(X).I32(n).F32(lr)
	return k.elem(s, pick([2]string{"muon_update_f32", "muon_update_bf16"}, p), n)
}

// EMA sets ema = rho*ema + (1-rho)*w over n floats.
func (k *Kernels) EMA(s driver.Stream, ema, w driver.DevicePtr, n int, rho float32) error {
	k.args.Reset().Ptr(ema).Ptr(w).I32(n).F32(rho)
	return k.elem(s, "ema_f32", n)
}

// AugShape is the geometry of an augmentation: N outputs of H x W x C
// cropped from padded PH x PW images.
type AugShape struct{ N, PH, PW, H, W, C int }

// Augment gathers images idx (int32, N) from src (fp32, padded NHWC),
// applying par (int32, N*kernels.AugParams) into y of precision p.
func (k *Kernels) Augment(s driver.Stream, p Prec, a AugShape, src, idx, par, y driver.DevicePtr) error {
	k.args.Reset().Ptr(src).Ptr(idx).Ptr(par).Ptr(y).I32(a.N).I32(a.PH).I32(a.PW).I32(a.H).I32(a.W).I32(a.C)
	return k.elem(s, pick([2]string{"augment_f32", "augment_bf16"}, p), a.N*a.H*a.W*a.C)
}

// WhitenPatches writes the (33-kk)^2 kk x kk patches of each of n
// prepared images (imgs: side x side x 3 fp32, padded by pad) as rows of
// 3kk^2 fp64 in X.
func (k *Kernels) WhitenPatches(s driver.Stream, imgs, X driver.DevicePtr, n, side, pad, kk int) error {
	k.args.Reset().Ptr(imgs).Ptr(X).I32(n).I32(side).I32(pad).I32(kk)
	return k.elem(s, "whiten_patches_f64", n*(33-kk)*(33-kk)*3*kk*kk)
}

// PrepNHWC normalises and reflect-pads n uint8 CHW images (src) into
// fp32 NHWC dst through lut (3 x 256 fp32): data.Prepare on the device.
func (k *Kernels) PrepNHWC(s driver.Stream, src, lut, dst driver.DevicePtr, n, pad int) error {
	k.args.Reset().Ptr(src).Ptr(lut).Ptr(dst).I32(n).I32(pad)
	side := 32 + 2*pad
	return k.elem(s, "prep_nhwc", n*side*side*3)
}
