package main

import (
	"errors"
	"fmt"
	"math"

	"speedrun/cuda"
	"speedrun/cuda/cublas"
	"speedrun/cuda/cudnn"
	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
)

// fp32 tolerances allow for k-term fp32 sums in any order (a sequential
// sum over k = 576 is off by about 3e-5 relative).
//
// runBLASChecks compares cuBLAS GEMMs (fp32 pedantic, TF32, bf16 inputs)
// with the Go reference on the linear layer's shape and a conv-sized one.
func runBLASChecks(c *checker, b *cuda.Backend) {
	bl := b.BLAS
	h, err := bl.Create()
	if err != nil {
		c.fail(Line{Check: "blas", Name: "cublasCreate"}, err)
		return
	}
	defer bl.Destroy(h)
	for _, s := range []struct{ m, n, k int }{{512, 10, 512}, {2048, 64, 576}} {
		A, B := c.randn(s.m*s.k), c.randn(s.k*s.n)
		desc := fmt.Sprintf("m=%d n=%d k=%d", s.m, s.n, s.k)
		want := kernels.GemmRef(s.m, s.n, s.k, A, B)
		pa, _ := c.up(A, launch.F32)
		pb, _ := c.up(B, launch.F32)
		pc, _ := c.zeros(s.m*s.n, launch.F32)
		// Row-major C = A B is column-major C^T = B^T A^T.
		run := func(name string, mode int, tol float64, f func() error) {
			if err := bl.SetMathMode(h, mode); err != nil {
				c.fail(Line{Check: "blas", Name: name, Shape: desc}, err)
				return
			}
			ms, err := c.timed(f)
			if err != nil {
				c.fail(Line{Check: "blas", Name: name, Shape: desc}, err)
				return
			}
			got, err := c.down(pc, s.m*s.n, launch.F32)
			if err != nil {
				c.fail(Line{Check: "blas", Name: name, Shape: desc}, err)
				return
			}
			c.compare(Line{Check: "blas", Name: name, Shape: desc, Tol: tol, MS: ms}, got, want)
		}
		run("sgemm_pedantic", cublas.PedanticMath, 1e-4, func() error {
			return bl.Sgemm(h, cublas.OpN, cublas.OpN, s.n, s.m, s.k, 1, pb, s.n, pa, s.k, 0, pc, s.n)
		})
		run("gemmex_f32", cublas.DefaultMath, 1e-4, func() error {
			return bl.GemmEx(h, cublas.OpN, cublas.OpN, s.n, s.m, s.k, 1, pb, cublas.DataF32, s.n, pa, cublas.DataF32, s.k, 0, pc, cublas.DataF32, s.n, cublas.ComputeF32, cublas.GemmDefault)
		})
		// TF32 keeps 10 of fp32's 23 mantissa bits, so each product is off
		// by up to about 2^-10 and a k-term sum by about 2^-10 sqrt(k)
		// (0.018 and 0.026 measured on an H200 at k = 512 and 576).
		run("gemmex_tf32", cublas.TF32Math, 3*math.Exp2(-10)*math.Sqrt(float64(s.k)), func() error {
			return bl.GemmEx(h, cublas.OpN, cublas.OpN, s.n, s.m, s.k, 1, pb, cublas.DataF32, s.n, pa, cublas.DataF32, s.k, 0, pc, cublas.DataF32, s.n, cublas.ComputeF32FastTF32, cublas.GemmDefault)
		})
		// bf16 inputs: the reference uses the same rounded inputs.
		rA, rB := round(A, launch.BF16), round(B, launch.BF16)
		want = kernels.GemmRef(s.m, s.n, s.k, rA, rB)
		qa, _ := c.up(rA, launch.BF16)
		qb, _ := c.up(rB, launch.BF16)
		run("gemmex_bf16_in_f32_out", cublas.DefaultMath, 1e-4, func() error {
			return bl.GemmEx(h, cublas.OpN, cublas.OpN, s.n, s.m, s.k, 1, qb, cublas.DataBF16, s.n, qa, cublas.DataBF16, s.k, 0, pc, cublas.DataF32, s.n, cublas.ComputeF32, cublas.GemmDefault)
		})
		c.freeAll()
	}
	// Dgemm as the whitening uses it: the 27x27 sum of 57,600 patch rows'
	// outer products (64 images), column-major X (27 x rows) times X^T.
	const P, rows = 27, 57600
	X := make([]float64, P*rows)
	for i := range X {
		X[i] = c.rng.NormFloat64()
	}
	want := make([]float32, P*P)
	for a := range P {
		for b := range P {
			var s float64
			for r := range rows {
				s += X[r*P+a] * X[r*P+b]
			}
			want[a+b*P] = float32(s / rows)
		}
	}
	px, err1 := c.alloc(8 * len(X))
	pc, err2 := c.alloc(8 * P * P)
	if err := errors.Join(err1, err2, c.note(driver.CopyHtoD(c.d, px, X))); err != nil {
		c.fail(Line{Check: "blas", Name: "dgemm"}, err)
	} else {
		ms, err := c.timed(func() error { return bl.Dgemm(h, cublas.OpN, cublas.OpT, P, P, rows, 1, px, P, px, P, 0, pc, P) })
		got := make([]float64, P*P)
		if err == nil {
			err = driver.CopyDtoH(c.d, got, pc)
		}
		if err != nil {
			c.fail(Line{Check: "blas", Name: "dgemm"}, err)
		} else {
			g32 := make([]float32, len(got))
			for i, v := range got {
				g32[i] = float32(v / rows) // per-row scale, as the covariance
			}
			c.compare(Line{Check: "blas", Name: "dgemm", Shape: fmt.Sprintf("27x27 from %d rows", rows), Tol: 1e-6, MS: ms}, g32, want)
		}
	}
	c.freeAll()
	if c.err != nil {
		c.fail(Line{Check: "blas", Name: "setup"}, c.err)
		c.err = nil
	}
}

// convShapes are N3's (post-8 final net) convolutions at a small batch.
var convShapes = []struct {
	name string
	s    kernels.ConvShape
}{
	{"whiten 3->27", kernels.ConvShape{N: 4, H: 32, W: 32, C: 3, K: 27, R: 3, Stride: 1, Pad: 1}},
	{"prep 1x1 27->64", kernels.ConvShape{N: 4, H: 32, W: 32, C: 27, K: 64, R: 1, Stride: 1, Pad: 0}},
	{"layer1 64->128", kernels.ConvShape{N: 4, H: 32, W: 32, C: 64, K: 128, R: 3, Stride: 1, Pad: 1}},
	{"res1 128->128", kernels.ConvShape{N: 4, H: 16, W: 16, C: 128, K: 128, R: 3, Stride: 1, Pad: 1}},
	{"layer2 128->256", kernels.ConvShape{N: 4, H: 16, W: 16, C: 128, K: 256, R: 3, Stride: 1, Pad: 1}},
	{"layer3 256->512", kernels.ConvShape{N: 4, H: 8, W: 8, C: 256, K: 512, R: 3, Stride: 1, Pad: 1}},
	{"res3 512->512", kernels.ConvShape{N: 4, H: 4, W: 4, C: 512, K: 512, R: 3, Stride: 1, Pad: 1}},
}

// convVariant is one way of calling cuDNN on NHWC activations.
type convVariant struct {
	name       string
	prec       launch.Prec
	dtype      int
	filterNHWC bool // KRSC weights instead of OIHW
	math       int
	tol        float64 // bf16: of the result's scale (scaleRel); 0: fp32's, by sum length
}

// The engine uses KRSC (ohwi) filters, so only those are checked. With
// OIHW filters on NHWC data, cuDNN 9 on an H200 and an H100 offered no
// backward-data algorithm that runs ("no usable algorithm among 6"), and
// its fastest fp32 forward was Winograd (algo 7), off by up to 3e-3
// (2026-11-26).
var convVariants = []convVariant{
	{"f32 nhwc, ohwi filter, fma", launch.F32, cudnn.Float, true, cudnn.FMAMath, 0},
	{"bf16 nhwc, ohwi filter, tensor op", launch.BF16, cudnn.BF16, true, cudnn.TensorOpMath, 2e-2},
}

// convTol is v's tolerance for sums of n products: an fp32 sum of n terms
// of size m in any order is off by about 2^-24 n m, relative to a result
// of size sqrt(n) m that is about 2^-24 sqrt(n) for typical elements but
// up to 2^-24 n for the smallest (1.7e-4 measured at n = 4,608).
func convTol(v convVariant, n int) float64 {
	if v.tol > 0 {
		return v.tol
	}
	return max(1e-4, 4*math.Exp2(-24)*float64(n))
}

// runConvChecks compares cuDNN's forward, backward-data and
// backward-filter convolutions with the Go references.
func runConvChecks(c *checker, b *cuda.Backend) {
	dnn := b.DNN
	h, err := dnn.Create()
	if err != nil {
		c.fail(Line{Check: "conv", Name: "cudnnCreate"}, err)
		return
	}
	defer dnn.Destroy(h)
	for _, cs := range convShapes {
		s := cs.s
		x, w, dy := c.randn(s.N*s.H*s.W*s.C), c.randn(s.K*s.C*s.R*s.R), c.randn(s.N*s.P()*s.Q()*s.K)
		for _, v := range convVariants {
			rx, rw, rdy := round(x, v.prec), round(w, v.prec), round(dy, v.prec)
			if err := convCheck(c, dnn, h, cs.name, s, v, rx, rw, rdy); err != nil {
				c.fail(Line{Check: "conv", Name: cs.name, Prec: v.prec.String(), Note: v.name}, err)
			}
			c.err = nil
			c.freeAll()
		}
	}
}

func convCheck(c *checker, dnn *cudnn.DNN, h cudnn.Handle, name string, s kernels.ConvShape, v convVariant, x, w, dy []float32) error {
	xd, err := dnn.Tensor4d(cudnn.TensorNHWC, v.dtype, s.N, s.C, s.H, s.W)
	if err != nil {
		return err
	}
	defer dnn.DestroyTensor(xd)
	yd, err := dnn.Tensor4d(cudnn.TensorNHWC, v.dtype, s.N, s.K, s.P(), s.Q())
	if err != nil {
		return err
	}
	defer dnn.DestroyTensor(yd)
	ffmt, wdev := cudnn.TensorNCHW, w
	if v.filterNHWC {
		ffmt, wdev = cudnn.TensorNHWC, kernels.OIHWToOHWI(w, s.K, s.C, s.R)
	}
	wd, err := dnn.Filter4d(v.dtype, ffmt, s.K, s.C, s.R, s.R)
	if err != nil {
		return err
	}
	defer dnn.DestroyFilter(wd)
	cd, err := dnn.Conv2d(s.Pad, s.Stride, cudnn.Float, v.math)
	if err != nil {
		return err
	}
	defer dnn.DestroyConv(cd)
	px, _ := c.up(x, v.prec)
	pw, _ := c.up(wdev, v.prec)
	pdy, _ := c.up(dy, v.prec)
	py, _ := c.zeros(len(dy), v.prec)
	pdx, _ := c.zeros(len(x), v.prec)
	pdw, _ := c.zeros(len(w), v.prec)
	if c.err != nil {
		return c.err
	}
	desc := fmt.Sprintf("N=%d H=%d W=%d C=%d K=%d R=%d", s.N, s.H, s.W, s.C, s.K, s.R)
	// pass runs every algorithm that cuDNN ranks as supported, as the
	// engine's choose does, and writes an uncounted probe line for each;
	// the counted line is the fastest's, the one the engine would keep.
	pass := func(pname string, n int, perf []cudnn.ConvAlgoPerf, ws func(algo int) (int, error), run func(cudnn.ConvWork) error, out driver.DevicePtr, size int, want []float32) error {
		tol := convTol(v, n)
		var best Line
		tried := 0
		for _, p := range perf {
			if p.Status != 0 {
				continue
			}
			bytes, err := ws(p.Algo)
			if err != nil {
				continue
			}
			wk := cudnn.ConvWork{Algo: p.Algo, Bytes: bytes}
			if bytes > 0 {
				if wk.Space, err = c.alloc(bytes); err != nil {
					return err
				}
			}
			l := Line{Check: "conv-algo", Name: name + " " + pname, Prec: v.prec.String(), Shape: desc, Tol: tol,
				Note: fmt.Sprintf("%s; algo %d, workspace %d B", v.name, p.Algo, bytes)}
			if err := run(wk); err != nil { // a warm-up; an algorithm that fails is skipped, as the engine skips it
				l.Err = err.Error()
				c.write(l)
				continue
			}
			ms, err := c.timed(func() error { return run(wk) })
			if err != nil {
				return err
			}
			got, err := c.down(out, size, v.prec)
			if err != nil {
				return err
			}
			if v.prec == launch.BF16 {
				// bf16 outputs are judged against the result's scale;
				// the per-element figure is kept for the record.
				pe, _ := maxRel(got, want)
				l = judgeBy(scaleRel, l, got, want)
				l.Note += fmt.Sprintf("; error against max(|b|, rms), per element %.2g", pe)
			} else {
				l = judge(l, got, want)
			}
			l.MS = ms
			c.write(l)
			if tried == 0 || l.MS < best.MS {
				best = l
			}
			tried++
		}
		if tried == 0 {
			return fmt.Errorf("%s: no usable algorithm among %d", pname, len(perf))
		}
		best.Check = "conv"
		best.Note += fmt.Sprintf(" (fastest of %d)", tried)
		if best.Err != "" { // non-finite output: judged, so counted as failed
			best.Pass = false
		}
		c.emit(best)
		return nil
	}

	perf, err := dnn.ForwardAlgos(h, xd, wd, cd, yd)
	if err != nil {
		return err
	}
	if err := pass("fwd", s.C*s.R*s.R, perf, func(a int) (int, error) { return dnn.ForwardWorkspace(h, xd, wd, cd, yd, a) },
		func(wk cudnn.ConvWork) error { return dnn.Forward(h, 1, xd, px, wd, pw, cd, wk, 0, yd, py) }, py, len(dy), kernels.ConvFwdRef(s, x, w)); err != nil {
		return err
	}
	if perf, err = dnn.BackwardDataAlgos(h, wd, yd, cd, xd); err != nil {
		return err
	}
	if err := pass("bwd_data", s.K*s.R*s.R, perf, func(a int) (int, error) { return dnn.BackwardDataWorkspace(h, wd, yd, cd, xd, a) },
		func(wk cudnn.ConvWork) error { return dnn.BackwardData(h, 1, wd, pw, yd, pdy, cd, wk, 0, xd, pdx) }, pdx, len(x), kernels.ConvBwdDataRef(s, dy, w)); err != nil {
		return err
	}

	if perf, err = dnn.BackwardFilterAlgos(h, xd, yd, cd, wd); err != nil {
		return err
	}
	wantDW := kernels.ConvBwdFilterRef(s, x, dy)
	if v.filterNHWC {
		wantDW = kernels.OIHWToOHWI(wantDW, s.K, s.C, s.R)
	}
	return pass("bwd_filter", s.N*s.P()*s.Q(), perf, func(a int) (int, error) { return dnn.BackwardFilterWorkspace(h, xd, yd, cd, wd, a) },
		func(wk cudnn.ConvWork) error { return dnn.BackwardFilter(h, 1, xd, px, yd, pdy, cd, wk, 0, wd, pdw) }, pdw, len(w), wantDW)
}
