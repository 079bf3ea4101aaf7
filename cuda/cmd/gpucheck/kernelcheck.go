package main

import (
	"fmt"

	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
)

// Tolerances on max |got-want| / max(1, |want|). fp32 kernels accumulate
// in fp32 (tree reductions) against float64 references; bf16 outputs carry
// a half-ulp rounding of 2^-9.
const (
	tolExact = 0
	tolF32   = 1e-5
	tolRed   = 1e-4 // reductions over thousands of rows
	tolBF16  = 1e-2
)

func tolFor(p launch.Prec, f32 float64) float64 {
	if p == launch.BF16 {
		return tolBF16
	}
	return f32
}

// runKernelChecks compares every kernel with its Go reference.
func runKernelChecks(c *checker, k *launch.Kernels) {
	checks := []struct {
		name string
		f    func(c *checker, k *launch.Kernels) error
	}{
		{"elementwise", checkElementwise},
		{"bn", checkBN},
		{"pool", checkPool},
		{"layers", checkLayers},
		{"loss", checkLoss},
		{"optim", checkOptim},
		{"augment", checkAugment},
	}
	for _, ch := range checks {
		err := ch.f(c, k)
		if err == nil {
			err = c.err
		}
		if err != nil {
			c.fail(Line{Check: "kernel", Name: ch.name}, err)
		}
		c.err = nil
		c.freeAll()
	}
}

func checkElementwise(c *checker, k *launch.Kernels) error {
	n := c.size(1<<20+3, 5000)
	a, b := c.randn(n), c.randn(n)
	y, _ := c.zeros(n, launch.F32)
	ms, err := c.timed(func() error { return k.Fill(0, y, 2.5, n) })
	if err != nil {
		return err
	}
	got, err := c.down(y, n, launch.F32)
	if err != nil {
		return err
	}
	want := make([]float32, n)
	for i := range want {
		want[i] = 2.5
	}
	c.compare(Line{Check: "kernel", Name: "fill_f32", Shape: fmt.Sprint(n), Tol: tolExact, MS: ms}, got, want)

	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		ra, rb := round(a, p), round(b, p)
		pa, _ := c.up(ra, p)
		pb, _ := c.up(rb, p)
		py, _ := c.zeros(n, p)
		ms, err := c.timed(func() error { return k.Add(0, p, py, pa, pb, n) })
		if err != nil {
			return err
		}
		got, err := c.down(py, n, p)
		if err != nil {
			return err
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = ra[i] + rb[i]
		}
		c.compare(Line{Check: "kernel", Name: "add_" + p.String(), Prec: p.String(), Shape: fmt.Sprint(n), Tol: tolFor(p, tolExact), MS: ms}, got, round(want, p))
	}

	// Casts: exact, including ties, NaN-free specials.
	special := append([]float32{1 + 1.0/256, 1 + 3.0/256, -0, 65504, 3.4e38, 1e-40}, a[:1000]...)
	px, _ := c.up(special, launch.F32)
	pb, _ := c.alloc(2 * len(special))
	if err := k.CastF32BF16(0, pb, px, len(special)); err != nil {
		return err
	}
	got, err = c.down(pb, len(special), launch.BF16)
	if err != nil {
		return err
	}
	c.compare(Line{Check: "kernel", Name: "cast_f32_bf16", Shape: fmt.Sprint(len(special)), Tol: tolExact}, got, round(special, launch.BF16))
	pf, _ := c.zeros(len(special), launch.F32)
	if err := k.CastBF16F32(0, pf, pb, len(special)); err != nil {
		return err
	}
	got, err = c.down(pf, len(special), launch.F32)
	if err != nil {
		return err
	}
	c.compare(Line{Check: "kernel", Name: "cast_bf16_f32", Shape: fmt.Sprint(len(special)), Tol: tolExact}, got, round(special, launch.BF16))

	m := 1000
	ps, _ := c.up(a[:m], launch.F32)
	po, _ := c.zeros(1, launch.F32)
	if err := k.Sum(0, po, ps, m); err != nil {
		return err
	}
	got, err = c.down(po, 1, launch.F32)
	if err != nil {
		return err
	}
	var s float64
	for _, v := range a[:m] {
		s += float64(v)
	}
	c.compare(Line{Check: "kernel", Name: "sum_f32", Shape: fmt.Sprint(m), Tol: tolF32}, got, []float32{float32(s)})
	return nil
}

// checkLayers covers the kernels of the layers beyond ResNet-9's: the
// standalone activation, scales between precisions, channel concat and
// split, and the linear head's bias.
func checkLayers(c *checker, k *launch.Kernels) error {
	n := c.size(1<<20+3, 5000)
	x, dy := c.randn(n), c.randn(n)
	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		rx, rdy := round(x, p), round(dy, p)
		px, _ := c.up(rx, p)
		pdy, _ := c.up(rdy, p)
		py, _ := c.zeros(n, p)
		for _, a := range []launch.BNAct{{Kind: kernels.ActReLU}, {Kind: kernels.ActCELU, Alpha: 0.3}, {Kind: kernels.ActShiftScaleReLU}} {
			adesc := fmt.Sprintf("%d act=%d", n, a.Kind)
			ms, err := c.timed(func() error { return k.ActFwd(0, p, px, py, n, a) })
			if err != nil {
				return err
			}
			got, _ := c.down(py, n, p)
			c.compare(Line{Check: "kernel", Name: "act_fwd_" + p.String(), Prec: p.String(), Shape: adesc, Tol: tolFor(p, tolF32), MS: ms}, got, kernels.ActFwdRef(rx, a.Kind, float64(a.Alpha)))
			ms, err = c.timed(func() error { return k.ActBwd(0, p, px, pdy, py, n, a) })
			if err != nil {
				return err
			}
			got, _ = c.down(py, n, p)
			c.compare(Line{Check: "kernel", Name: "act_bwd_" + p.String(), Prec: p.String(), Shape: adesc, Tol: tolFor(p, tolF32), MS: ms}, got, kernels.ActBwdRef(rx, rdy, a.Kind, float64(a.Alpha)))
		}

		// Concat (rows x ca) and (rows x cb), then split the second back.
		rows, ca, cb := c.size(512*64, 64), 256, 128
		a, b := round(c.randn(rows*ca), p), round(c.randn(rows*cb), p)
		pa, _ := c.up(a, p)
		pb, _ := c.up(b, p)
		pcat, _ := c.zeros(rows*(ca+cb), p)
		if err := k.ColsCopy(0, p, pcat, pa, rows, ca+cb, 0, ca, 0, ca); err != nil {
			return err
		}
		if err := k.ColsCopy(0, p, pcat, pb, rows, ca+cb, ca, cb, 0, cb); err != nil {
			return err
		}
		got, _ := c.down(pcat, rows*(ca+cb), p)
		want := kernels.ColsCopyRef(kernels.ColsCopyRef(make([]float32, rows*(ca+cb)), a, rows, ca+cb, 0, ca, 0, ca), b, rows, ca+cb, ca, cb, 0, cb)
		cdesc := fmt.Sprintf("rows=%d %d+%d", rows, ca, cb)
		c.compare(Line{Check: "kernel", Name: "cols_copy_" + p.String(), Prec: p.String(), Shape: cdesc + " concat", Tol: tolExact}, got, want)
		pback, _ := c.zeros(rows*cb, p)
		if err := k.ColsCopy(0, p, pback, pcat, rows, cb, 0, ca+cb, ca, cb); err != nil {
			return err
		}
		got, _ = c.down(pback, rows*cb, p)
		c.compare(Line{Check: "kernel", Name: "cols_copy_" + p.String(), Prec: p.String(), Shape: cdesc + " split", Tol: tolExact}, got, b)
	}

	// Scales within and between precisions: the result is a*x rounded
	// once, and y (NaN bits from zeros) is never read.
	for _, sc := range []struct{ px, py launch.Prec }{{launch.F32, launch.F32}, {launch.BF16, launch.BF16}, {launch.BF16, launch.F32}, {launch.F32, launch.BF16}} {
		rx := round(x, sc.px)
		px, _ := c.up(rx, sc.px)
		py, _ := c.zeros(n, sc.py)
		if err := k.Scale(0, sc.py, py, sc.px, px, -0.7, n); err != nil {
			return err
		}
		got, _ := c.down(py, n, sc.py)
		c.compare(Line{Check: "kernel", Name: "scale_" + sc.px.String() + "_" + sc.py.String(), Shape: fmt.Sprint(n), Tol: tolExact}, got, round(kernels.ScaleRef(rx, -0.7), sc.py))
	}

	rows, K := c.size(512, 16), 10
	logits, bias := c.randn(rows*K), c.randn(K)
	pl, _ := c.up(logits, launch.F32)
	pbias, _ := c.up(bias, launch.F32)
	if err := k.BiasRows(0, launch.F32, pl, pbias, rows, K); err != nil {
		return err
	}
	got, _ := c.down(pl, rows*K, launch.F32)
	c.compare(Line{Check: "kernel", Name: "bias_rows_f32", Shape: fmt.Sprintf("%dx%d", rows, K), Tol: tolF32}, got, kernels.BiasRowsRef(logits, bias, rows, K))
	// The bf16 rows (a conv bias on bf16 activations): fp32 sums of the
	// bf16 inputs, rounded once.
	rl := round(logits, launch.BF16)
	pl16, _ := c.up(rl, launch.BF16)
	if err := k.BiasRows(0, launch.BF16, pl16, pbias, rows, K); err != nil {
		return err
	}
	got16, _ := c.down(pl16, rows*K, launch.BF16)
	c.compare(Line{Check: "kernel", Name: "bias_rows_bf16", Prec: "bf16", Shape: fmt.Sprintf("%dx%d", rows, K), Tol: tolBF16}, got16, round(kernels.BiasRowsRef(rl, bias, rows, K), launch.BF16))
	pcs, _ := c.zeros(K, launch.F32)
	if err := k.ColSum(0, pcs, pl, rows, K); err != nil {
		return err
	}
	got, _ = c.down(pcs, K, launch.F32)
	c.compare(Line{Check: "kernel", Name: "col_sum_f32", Shape: fmt.Sprintf("%dx%d", rows, K), Tol: tolF32}, scaleDown(got, rows), scaleDown(kernels.ColSumRef(kernels.BiasRowsRef(logits, bias, rows, K), rows, K), rows))
	return nil
}

func checkBN(c *checker, k *launch.Kernels) error {
	const N, C, ghost, eps = 64, 64, 32, 1e-5
	HW := c.size(256, 4)
	G, R := N/ghost, ghost*HW
	shape := launch.BNShape{G: G, R: R, C: C}
	desc := fmt.Sprintf("N=%d HW=%d C=%d ghost=%d", N, HW, C, ghost)
	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		x := round(c.randn(N*HW*C), p)
		for i := range x {
			x[i] = x[i]*1.5 + 0.25 // a non-trivial mean and variance
		}
		x = round(x, p)
		dy := round(c.randn(len(x)), p)
		gamma, beta := c.randn(C), c.randn(C)
		px, _ := c.up(x, p)
		pdy, _ := c.up(dy, p)
		pg, _ := c.up(gamma, launch.F32)
		pb, _ := c.up(beta, launch.F32)
		pm, _ := c.zeros(G*C, launch.F32)
		pv, _ := c.zeros(G*C, launch.F32)
		part, _ := c.zeros(k.BNPartFloats(shape), launch.F32)
		S, chunk := k.BNChunks(shape)
		cdesc := fmt.Sprintf("%s S=%d chunk=%d", desc, S, chunk)
		ms, err := c.timed(func() error { return k.BNStats(0, p, shape, px, pm, pv, part) })
		if err != nil {
			return err
		}
		mean, variance := kernels.BNStatsRef(x, G, R, C)
		gm, err := c.down(pm, G*C, launch.F32)
		if err != nil {
			return err
		}
		gv, _ := c.down(pv, G*C, launch.F32)
		gparts, _ := c.down(part, 2*G*S*C, launch.F32)
		wpm, wpm2 := kernels.BNStatsPartRef(x, G, R, C, chunk)
		name := "bn_stats_part_" + p.String()
		c.compare(Line{Check: "kernel", Name: name, Prec: p.String(), Shape: cdesc + " chunk means", Tol: tolRed, MS: ms}, gparts[:G*S*C], wpm)
		c.compare(Line{Check: "kernel", Name: name, Prec: p.String(), Shape: cdesc + " chunk M2 / chunk", Tol: tolRed}, scaleDown(gparts[G*S*C:], chunk), scaleDown(wpm2, chunk))
		c.compare(Line{Check: "kernel", Name: "bn_stats_combine", Prec: p.String(), Shape: cdesc + " mean", Tol: tolRed}, gm, mean)
		c.compare(Line{Check: "kernel", Name: "bn_stats_combine", Prec: p.String(), Shape: cdesc + " var", Tol: tolRed}, gv, variance)
		// Feed the reference statistics so each kernel is checked alone.
		rm, _ := c.up(mean, launch.F32)
		rv, _ := c.up(variance, launch.F32)
		for _, act := range []launch.BNAct{{Kind: kernels.ActIdentity}, {Kind: kernels.ActReLU}, {Kind: kernels.ActCELU, Alpha: 0.3}, {Kind: kernels.ActShiftScaleReLU}} {
			a := fmt.Sprintf(" act=%d alpha=%g", act.Kind, act.Alpha)
			py, _ := c.zeros(len(x), p)
			ms, err := c.timed(func() error { return k.BNActFwd(0, p, shape, px, py, rm, rv, pg, pb, eps, act) })
			if err != nil {
				return err
			}
			got, err := c.down(py, len(x), p)
			if err != nil {
				return err
			}
			want := kernels.BNActFwdRef(x, mean, variance, gamma, beta, R, C, eps, act.Kind, float64(act.Alpha))
			c.compare(Line{Check: "kernel", Name: "bn_act_fwd_" + p.String(), Prec: p.String(), Shape: desc + a, Tol: tolFor(p, tolF32), MS: ms}, got, round(want, p))

			pdx, _ := c.zeros(len(x), p)
			psdz, _ := c.zeros(G*C, launch.F32)
			psdzx, _ := c.zeros(G*C, launch.F32)
			ms, err = c.timed(func() error {
				return k.BNActBwd(0, p, shape, px, pdy, pdx, rm, rv, pg, pb, psdz, psdzx, part, eps, act)
			})
			if err != nil {
				return err
			}
			wdx, wsdz, wsdzx := kernels.BNActBwdRef(x, dy, mean, variance, gamma, beta, R, C, eps, act.Kind, float64(act.Alpha))
			gdx, err := c.down(pdx, len(x), p)
			if err != nil {
				return err
			}
			gsdz, _ := c.down(psdz, G*C, launch.F32)
			gsdzx, _ := c.down(psdzx, G*C, launch.F32)
			c.compare(Line{Check: "kernel", Name: "bn_act_bwd_dx_" + p.String(), Prec: p.String(), Shape: desc + a, Tol: tolFor(p, tolRed), MS: ms}, gdx, round(wdx, p))
			// Sums over chunks and R = 8192 rows: compare relative to their scale.
			gp, _ := c.down(part, 2*G*S*C, launch.F32)
			wpa, wpb := kernels.BNActBwdPartRef(x, dy, mean, variance, gamma, beta, R, C, chunk, eps, act.Kind, float64(act.Alpha))
			c.compare(Line{Check: "kernel", Name: "bn_act_bwd_part_" + p.String(), Prec: p.String(), Shape: cdesc + a + " chunk sums of dz", Tol: tolRed * 10}, scaleDown(gp[:G*S*C], chunk), scaleDown(wpa, chunk))
			c.compare(Line{Check: "kernel", Name: "bn_act_bwd_part_" + p.String(), Prec: p.String(), Shape: cdesc + a + " chunk sums of dz*xhat", Tol: tolRed * 10}, scaleDown(gp[G*S*C:], chunk), scaleDown(wpb, chunk))
			c.compare(Line{Check: "kernel", Name: "bn_act_bwd_combine", Prec: p.String(), Shape: cdesc + a + " sum dz", Tol: tolRed * 10}, scaleDown(gsdz, R), scaleDown(wsdz, R))
			c.compare(Line{Check: "kernel", Name: "bn_act_bwd_combine", Prec: p.String(), Shape: cdesc + a + " sum dz*xhat", Tol: tolRed * 10}, scaleDown(gsdzx, R), scaleDown(wsdzx, R))
			if p == launch.F32 && act.Kind == kernels.ActCELU {
				pdg, _ := c.zeros(C, launch.F32)
				pdb, _ := c.zeros(C, launch.F32)
				if err := k.BNParamGrad(0, pdg, pdb, psdz, psdzx, G, C); err != nil {
					return err
				}
				wdg, wdb := kernels.BNParamGradRef(gsdz, gsdzx, G, C)
				gdg, _ := c.down(pdg, C, launch.F32)
				gdb, _ := c.down(pdb, C, launch.F32)
				c.compare(Line{Check: "kernel", Name: "bn_param_grad", Shape: fmt.Sprintf("G=%d C=%d dgamma", G, C), Tol: tolF32}, gdg, wdg)
				c.compare(Line{Check: "kernel", Name: "bn_param_grad", Shape: fmt.Sprintf("G=%d C=%d dbeta", G, C), Tol: tolF32}, gdb, wdb)
			}
		}
	}
	// Running statistics and the split average.
	n := G * C
	runM, runV, bm, bv := c.randn(n), c.randn(n), c.randn(n), c.randn(n)
	for i := range runV {
		runV[i], bv[i] = runV[i]*runV[i], bv[i]*bv[i]
	}
	prm, _ := c.up(runM, launch.F32)
	prv, _ := c.up(runV, launch.F32)
	pbm, _ := c.up(bm, launch.F32)
	pbv, _ := c.up(bv, launch.F32)
	unbias := float32(R) / float32(R-1)
	if err := k.BNRunningUpdate(0, prm, prv, pbm, pbv, n, 0.1, unbias); err != nil {
		return err
	}
	kernels.BNRunningUpdateRef(runM, runV, bm, bv, 0.1, float64(unbias))
	gm, err := c.down(prm, n, launch.F32)
	if err != nil {
		return err
	}
	gv, _ := c.down(prv, n, launch.F32)
	c.compare(Line{Check: "kernel", Name: "bn_running_update", Shape: fmt.Sprintf("n=%d mean", n), Tol: tolF32}, gm, runM)
	c.compare(Line{Check: "kernel", Name: "bn_running_update", Shape: fmt.Sprintf("n=%d var", n), Tol: tolF32}, gv, runV)
	pam, _ := c.zeros(C, launch.F32)
	pav, _ := c.zeros(C, launch.F32)
	if err := k.BNSplitAverage(0, pam, pav, prm, prv, G, C); err != nil {
		return err
	}
	wm, wv := kernels.BNSplitAverageRef(gm, gv, G, C)
	am, _ := c.down(pam, C, launch.F32)
	av, _ := c.down(pav, C, launch.F32)
	c.compare(Line{Check: "kernel", Name: "bn_split_average", Shape: fmt.Sprintf("G=%d C=%d mean", G, C), Tol: tolF32}, am, wm)
	c.compare(Line{Check: "kernel", Name: "bn_split_average", Shape: fmt.Sprintf("G=%d C=%d var", G, C), Tol: tolF32}, av, wv)
	return nil
}

// scaleDown divides sums by their count so the tolerance is per element.
func scaleDown(x []float32, n int) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v / float32(n)
	}
	return out
}

func checkPool(c *checker, k *launch.Kernels) error {
	const H, W, C = 16, 16, 64
	N := c.size(32, 2)
	desc := fmt.Sprintf("N=%d H=%d W=%d C=%d", N, H, W, C)
	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		x := round(c.randn(N*H*W*C), p)
		px, _ := c.up(x, p)
		// 2x2 is every ResNet's pool (compile-time K); 4x4 is post 7's.
		for _, K := range []int{2, 4} {
			dy := round(c.randn(N*H/K*W/K*C), p)
			pdy, _ := c.up(dy, p)
			py, _ := c.zeros(len(dy), p)
			kdesc := fmt.Sprintf("%s K=%d", desc, K)
			ms, err := c.timed(func() error { return k.MaxPoolFwd(0, p, px, py, N, H, W, C, K) })
			if err != nil {
				return err
			}
			got, err := c.down(py, len(dy), p)
			if err != nil {
				return err
			}
			c.compare(Line{Check: "kernel", Name: "maxpool_fwd_" + p.String(), Prec: p.String(), Shape: kdesc, Tol: tolExact, MS: ms}, got, kernels.MaxPoolFwdRef(x, N, H, W, C, K))
			pdx, _ := c.zeros(len(x), p)
			ms, err = c.timed(func() error { return k.MaxPoolBwd(0, p, px, pdy, pdx, N, H, W, C, K) })
			if err != nil {
				return err
			}
			got, _ = c.down(pdx, len(x), p)
			c.compare(Line{Check: "kernel", Name: "maxpool_bwd_" + p.String(), Prec: p.String(), Shape: kdesc, Tol: tolExact, MS: ms}, got, kernels.MaxPoolBwdRef(x, dy, N, H, W, C, K))
		}

		gN, HW, gC := c.size(64, 2), 16, 512
		gx := round(c.randn(gN*HW*gC), p)
		gdy := round(c.randn(gN*gC), p)
		pgx, _ := c.up(gx, p)
		pgdy, _ := c.up(gdy, p)
		pgy, _ := c.zeros(gN*gC, p)
		gdesc := fmt.Sprintf("N=%d HW=%d C=%d", gN, HW, gC)
		if err := k.GMaxPoolFwd(0, p, pgx, pgy, gN, HW, gC); err != nil {
			return err
		}
		got, _ := c.down(pgy, gN*gC, p)
		c.compare(Line{Check: "kernel", Name: "gmaxpool_fwd_" + p.String(), Prec: p.String(), Shape: gdesc, Tol: tolExact}, got, kernels.GMaxPoolFwdRef(gx, gN, HW, gC))
		pgdx, _ := c.zeros(len(gx), p)
		if err := k.GMaxPoolBwd(0, p, pgx, pgdy, pgdx, gN, HW, gC); err != nil {
			return err
		}
		got, _ = c.down(pgdx, len(gx), p)
		c.compare(Line{Check: "kernel", Name: "gmaxpool_bwd_" + p.String(), Prec: p.String(), Shape: gdesc, Tol: tolExact}, got, kernels.GMaxPoolBwdRef(gx, gdy, gN, HW, gC))

		pay, _ := c.zeros(gN*gC, p)
		if err := k.GAvgPoolFwd(0, p, pgx, pay, gN, HW, gC); err != nil {
			return err
		}
		got, _ = c.down(pay, gN*gC, p)
		c.compare(Line{Check: "kernel", Name: "gavgpool_fwd_" + p.String(), Prec: p.String(), Shape: gdesc, Tol: tolFor(p, tolF32)}, got, kernels.GAvgPoolFwdRef(gx, gN, HW, gC))
		if err := k.GAvgPoolBwd(0, p, pgdy, pgdx, gN, HW, gC); err != nil {
			return err
		}
		got, _ = c.down(pgdx, len(gx), p)
		c.compare(Line{Check: "kernel", Name: "gavgpool_bwd_" + p.String(), Prec: p.String(), Shape: gdesc, Tol: tolFor(p, tolF32)}, got, kernels.GAvgPoolBwdRef(gdy, gN, HW, gC))
	}
	return nil
}

func checkLoss(c *checker, k *launch.Kernels) error {
	const N, K, eps = 512, 10, 0.2
	scale := float32(1) / N
	logits := c.randn(N * K)
	for i := range logits {
		logits[i] *= 3
	}
	labels := make([]int32, N)
	for i := range labels {
		labels[i] = int32(c.rng.IntN(K))
	}
	pl, _ := c.up(logits, launch.F32)
	plab, _ := c.upI(labels)
	pd, _ := c.zeros(N*K, launch.F32)
	ploss, _ := c.zeros(N, launch.F32)
	pcor, _ := c.zeros(N, launch.F32)
	ms, err := c.timed(func() error { return k.XentLS(0, pl, plab, pd, ploss, pcor, N, K, eps, scale) })
	if err != nil {
		return err
	}
	wd, wl, wc := kernels.XentLSRef(logits, labels, N, K, eps, float64(scale))
	desc := fmt.Sprintf("N=%d K=%d eps=%g", N, K, eps)
	gd, err := c.down(pd, N*K, launch.F32)
	if err != nil {
		return err
	}
	gl, _ := c.down(ploss, N, launch.F32)
	gc, _ := c.down(pcor, N, launch.F32)
	c.compare(Line{Check: "kernel", Name: "xent_ls_f32", Shape: desc + " dlogits*N", Tol: tolF32, MS: ms}, scaleUp(gd, N), scaleUp(wd, N))
	c.compare(Line{Check: "kernel", Name: "xent_ls_f32", Shape: desc + " loss", Tol: tolF32}, gl, wl)
	c.compare(Line{Check: "kernel", Name: "xent_ls_f32", Shape: desc + " correct", Tol: tolExact}, gc, wc)
	// Eval mode: no dlogits.
	if err := k.XentLS(0, pl, plab, 0, ploss, pcor, N, K, eps, scale); err != nil {
		return err
	}
	gl, _ = c.down(ploss, N, launch.F32)
	c.compare(Line{Check: "kernel", Name: "xent_ls_f32", Shape: desc + " loss (no dlogits)", Tol: tolF32}, gl, wl)
	return nil
}

func scaleUp(x []float32, n int) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * float32(n)
	}
	return out
}

func checkOptim(c *checker, k *launch.Kernels) error {
	n := c.size(6573120, 65731) // ResNet-9's parameter count: one flat buffer
	w, v := c.randn(n), c.randn(n)
	pw, _ := c.up(w, launch.F32)
	pv, _ := c.up(v, launch.F32)
	// Two groups, as in p8: weights, then "BN biases" with lr x64, wd /64.
	split := n - c.size(4096, 1024)
	const lr, wd, mom = 1.0 / 512 * 0.4, 5e-4 * 512, 0.9
	// sgd_f32, the training engine's rule, with a changing lr as in a run.
	for step := 0; step < 3; step++ {
		g := c.randn(n)
		pg, _ := c.up(g, launch.F32)
		slr := float32(lr * float64(step+1))
		ms, err := c.timed(func() error {
			if err := k.SGD(0, pw, pg, pv, split, slr, wd, mom, true); err != nil {
				return err
			}
			return k.SGD(0, pw.Add(4*split), pg.Add(4*split), pv.Add(4*split), n-split, slr*64, wd/64, mom, true)
		})
		if err != nil {
			return err
		}
		kernels.SGDRef(w[:split], g[:split], v[:split], slr, wd, mom, true)
		kernels.SGDRef(w[split:], g[split:], v[split:], slr*64, wd/64, mom, true)
		if step == 2 {
			got, err := c.down(pw, n, launch.F32)
			if err != nil {
				return err
			}
			c.compare(Line{Check: "kernel", Name: "sgd_f32", Shape: fmt.Sprintf("n=%d, 2 groups, 3 steps, lr changing", n), Tol: tolF32, MS: ms}, got, w)
		}
	}
	ema := c.randn(n)
	pe, _ := c.up(ema, launch.F32)
	ms, err := c.timed(func() error { return k.EMA(0, pe, pw, n, 0.99*0.99*0.99*0.99*0.99) })
	if err != nil {
		return err
	}
	kernels.EMARef(ema, w, 0.99*0.99*0.99*0.99*0.99)
	got, err := c.down(pe, n, launch.F32)
	if err != nil {
		return err
	}
	c.compare(Line{Check: "kernel", Name: "ema_f32", Shape: fmt.Sprintf("n=%d", n), Tol: tolF32, MS: ms}, got, ema)

	// LARS on one 512 x 256 x 3 x 3 conv weight: filter norms of w and
	// g, then the per-filter scaled step; and a whole-tensor distance.
	rows, rowLen := c.size(512, 16), 256*9
	m := rows * rowLen
	lw, lg, lv := w[:m], c.randn(m), v[:m]
	plg, _ := c.up(lg, launch.F32)
	pwn, _ := c.zeros(rows, launch.F32)
	pgn, _ := c.zeros(rows, launch.F32)
	if err := k.RowNorms(0, pwn, pw, 0, rows, rowLen); err != nil {
		return err
	}
	if err := k.RowNorms(0, pgn, plg, 0, rows, rowLen); err != nil {
		return err
	}
	wn, _ := c.down(pwn, rows, launch.F32)
	gn, _ := c.down(pgn, rows, launch.F32)
	ndesc := fmt.Sprintf("%d rows of %d", rows, rowLen)
	c.compare(Line{Check: "kernel", Name: "row_norms_f32", Shape: ndesc + " |w|", Tol: tolF32}, wn, kernels.RowNormsRef(lw, nil, rows, rowLen))
	c.compare(Line{Check: "kernel", Name: "row_norms_f32", Shape: ndesc + " |g|", Tol: tolF32}, gn, kernels.RowNormsRef(lg, nil, rows, rowLen))
	pd, _ := c.zeros(1, launch.F32)
	if err := k.RowNorms(0, pd, pw, pe, 1, m); err != nil {
		return err
	}
	got, _ = c.down(pd, 1, launch.F32)
	c.compare(Line{Check: "kernel", Name: "row_norms_f32", Shape: fmt.Sprintf("1 row of %d, |w-ema|", m), Tol: tolF32}, got, kernels.RowNormsRef(lw, ema[:m], 1, m))
	ms, err = c.timed(func() error { return k.SGDLARS(0, pw, plg, pv, pwn, pgn, m, rowLen, lr, wd, mom, false) })
	if err != nil {
		return err
	}
	kernels.SGDLARSRef(lw, lg, lv, wn, gn, rowLen, lr, wd, mom, false)
	got, _ = c.down(pw, m, launch.F32)
	c.compare(Line{Check: "kernel", Name: "sgd_lars_f32", Shape: ndesc, Tol: tolF32, MS: ms}, got, lw)
	return checkMuon(c, k)
}

// checkMuon runs Muon's kernels on one 256 x 128 x 3 x 3 filter bank
// against their Go references: the Nesterov momentum, the norms and
// scales (X in both precisions), and the step. The Newton-Schulz GEMMs
// between scale and step are cuBLAS's (checkBLAS).
func checkMuon(c *checker, k *launch.Kernels) error {
	rows, rowLen := c.size(256, 16), 128*9
	n := rows * rowLen
	desc := fmt.Sprintf("%d rows of %d", rows, rowLen)
	g, v, w := c.randn(n), c.randn(n), c.randn(n)
	pg, _ := c.up(g, launch.F32)
	pv, _ := c.up(v, launch.F32)
	pu, _ := c.zeros(n, launch.F32)
	ms, err := c.timed(func() error { return k.MuonMomentum(0, pg, pv, pu, n, 0.6, true) })
	if err != nil {
		return err
	}
	u := make([]float32, n)
	kernels.MuonMomentumRef(g, v, u, 0.6, true)
	gotV, _ := c.down(pv, n, launch.F32)
	gotU, _ := c.down(pu, n, launch.F32)
	c.compare(Line{Check: "kernel", Name: "muon_momentum_f32", Shape: desc + " v", Tol: tolF32, MS: ms}, gotV, v)
	c.compare(Line{Check: "kernel", Name: "muon_momentum_f32", Shape: desc + " u", Tol: tolF32}, gotU, u)

	// The norms from the device's row norms of w and u, so that
	// muon_norms alone is compared.
	pw, _ := c.up(w, launch.F32)
	pwn, _ := c.zeros(rows, launch.F32)
	pun, _ := c.zeros(rows, launch.F32)
	if err := k.RowNorms(0, pwn, pw, 0, rows, rowLen); err != nil {
		return err
	}
	if err := k.RowNorms(0, pun, pu, 0, rows, rowLen); err != nil {
		return err
	}
	wn, _ := c.down(pwn, rows, launch.F32)
	un, _ := c.down(pun, rows, launch.F32)
	psc, _ := c.zeros(2, launch.F32)
	if err := k.MuonNorms(0, psc, pwn, pun, rows, 1e-7); err != nil {
		return err
	}
	sc := kernels.MuonNormsRef(wn, un, 1e-7)
	got, _ := c.down(psc, 2, launch.F32)
	c.compare(Line{Check: "kernel", Name: "muon_norms", Shape: desc, Tol: tolRed}, got, sc[:])

	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		ww := append([]float32(nil), w...)
		pw, _ := c.up(ww, launch.F32)
		pX, _ := c.zeros(n, p)
		// The reference scales by the device's factors: each kernel is
		// compared alone.
		dsc := [2]float32{got[0], got[1]}
		ms, err := c.timed(func() error { return k.MuonScale(0, p, pw, pu, pX, psc, n) })
		if err != nil {
			return err
		}
		wantX := kernels.MuonScaleRef(ww, u, dsc)
		gotW, _ := c.down(pw, n, launch.F32)
		gotX, _ := c.down(pX, n, p)
		name := "muon_scale_" + p.String()
		c.compare(Line{Check: "kernel", Name: name, Prec: p.String(), Shape: desc + " w", Tol: tolF32, MS: ms}, gotW, ww)
		c.compare(Line{Check: "kernel", Name: name, Prec: p.String(), Shape: desc + " X", Tol: tolFor(p, tolF32)}, gotX, round(wantX, p))
		rX := round(wantX, p)
		pX2, _ := c.up(rX, p)
		ms, err = c.timed(func() error { return k.MuonUpdate(0, p, pw, pX2, n, 0.24) })
		if err != nil {
			return err
		}
		for i := range ww {
			ww[i] -= 0.24 * rX[i]
		}
		gotW, _ = c.down(pw, n, launch.F32)
		c.compare(Line{Check: "kernel", Name: "muon_update_" + p.String(), Prec: p.String(), Shape: desc, Tol: tolF32, MS: ms}, gotW, ww)
	}
	return nil
}

func checkAugment(c *checker, k *launch.Kernels) error {
	const M, PH, PW, H, W, C = 200, 40, 40, 32, 32, 3
	N := c.size(512, 16)
	src := c.randn(M * PH * PW * C)
	idx := make([]int32, N)
	par := make([]int32, N*kernels.AugParams)
	for i := range idx {
		idx[i] = int32(c.rng.IntN(M))
		p := par[i*kernels.AugParams:]
		p[0], p[1], p[2] = int32(c.rng.IntN(PH-H+1)), int32(c.rng.IntN(PW-W+1)), int32(c.rng.IntN(2))
		if i%2 == 0 { // 8x8 cutout on half the batch
			p[3], p[4], p[5], p[6] = int32(c.rng.IntN(H-8+1)), int32(c.rng.IntN(W-8+1)), 8, 8
		}
	}
	ps, _ := c.up(src, launch.F32)
	pi, _ := c.upI(idx)
	pp, _ := c.upI(par)
	want := kernels.AugmentRef(src, idx, par, N, PH, PW, H, W, C)
	for _, p := range []launch.Prec{launch.F32, launch.BF16} {
		py, _ := c.zeros(N*H*W*C, p)
		ms, err := c.timed(func() error {
			return k.Augment(0, p, launch.AugShape{N: N, PH: PH, PW: PW, H: H, W: W, C: C}, ps, pi, pp, py)
		})
		if err != nil {
			return err
		}
		got, err := c.down(py, N*H*W*C, p)
		if err != nil {
			return err
		}
		c.compare(Line{Check: "kernel", Name: "augment_" + p.String(), Prec: p.String(), Shape: fmt.Sprintf("N=%d from %dx%d", N, PH, PW), Tol: tolExact, MS: ms}, got, round(want, p))
	}
	return checkPrep(c, k)
}

// checkPrep checks prep_nhwc (normalise, NHWC, reflect pad) on random
// bytes and a random table; it must be exact.
func checkPrep(c *checker, k *launch.Kernels) error {
	n := c.size(2000, 3)
	raw := make([]uint8, n*3072)
	for i := range raw {
		raw[i] = uint8(c.rng.IntN(256))
	}
	lut := c.randn(3 * 256)
	pr, err := c.alloc(len(raw))
	if err != nil {
		return err
	}
	if err := c.note(driver.CopyHtoD(c.d, pr, raw)); err != nil {
		return err
	}
	pl, _ := c.up(lut, launch.F32)
	for _, pad := range []int{4, 0} {
		side := 32 + 2*pad
		py, _ := c.zeros(n*side*side*3, launch.F32)
		ms, err := c.timed(func() error { return k.PrepNHWC(0, pr, pl, py, n, pad) })
		if err != nil {
			return err
		}
		got, err := c.down(py, n*side*side*3, launch.F32)
		if err != nil {
			return err
		}
		c.compare(Line{Check: "kernel", Name: "prep_nhwc", Shape: fmt.Sprintf("N=%d pad %d", n, pad), Tol: tolExact, MS: ms}, got, kernels.PrepNHWCRef(raw, lut, n, pad))
		if pad != 4 {
			continue
		}
		// The whitening patches of the padded images: exact copies.
		m := min(n, 64)
		px, err := c.alloc(8 * m * 900 * 27)
		if err != nil {
			return err
		}
		ms, err = c.timed(func() error { return k.WhitenPatches(0, py, px, m, side, pad, 3) })
		if err != nil {
			return err
		}
		x := make([]float64, m*900*27)
		if err := c.note(driver.CopyDtoH(c.d, x, px)); err != nil {
			return err
		}
		want := kernels.WhitenPatchesRef(got, m, side, pad, 3)
		g32, w32 := make([]float32, len(x)), make([]float32, len(want))
		for i := range x {
			g32[i], w32[i] = float32(x[i]), float32(want[i])
		}
		c.compare(Line{Check: "kernel", Name: "whiten_patches_f64", Shape: fmt.Sprintf("N=%d side %d", m, side), Tol: tolExact, MS: ms}, g32, w32)
	}
	return nil
}
