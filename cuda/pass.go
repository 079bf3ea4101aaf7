package cuda

import (
	"fmt"

	"speedrun/cuda/cublas"
	"speedrun/cuda/driver"
	"speedrun/cuda/launch"
	"speedrun/train"
)

// Pointers into the engine's buffers.

func (e *engine) out(j int) driver.DevicePtr  { return e.arena.Add(int(e.plan.Layers[j].Out)) }
func (e *engine) grad(j int) driver.DevicePtr { return e.arena.Add(int(e.plan.Layers[j].Grad)) }

// param is parameter p's fp32 slot in a flat buffer (params, grads, ema).
func (e *engine) param(base driver.DevicePtr, p int) driver.DevicePtr {
	return base.Add(4 * e.plan.Params[p].Off)
}

// elems is layer j's output element count at batch n.
func (e *engine) elems(j, n int) int {
	s := e.plan.Layers[j].Shape
	return n * s[1] * s[2] * s[3]
}

// precOf is the element type of layer j's output: the linear head's and
// the logits are fp32 (Plan's F32).
func (e *engine) precOf(j int) launch.Prec {
	if e.plan.Layers[j].F32 {
		return launch.F32
	}
	return e.prec
}

// actOf is the kernel code of what layer i applies (model.Lowering.Act):
// an activation layer's, or the one a BN fuses.
func (e *engine) actOf(i int) launch.BNAct {
	a := e.plan.Low.Layers[i].Act
	return launch.BNAct{Kind: actCode(a), Alpha: float32(a.Alpha)}
}

// concatParts calls f for each input j of concat layer i at batch n:
// rows (N*H*W) of the concat's C channels, of which j holds cj from off.
func (e *engine) concatParts(i, n int, f func(j, rows, C, off, cj int) error) error {
	s := e.plan.Layers[i].Shape
	rows, off := n*s[1]*s[2], 0
	for _, j := range e.spec.Layers[i].Inputs {
		cj := e.plan.Layers[j].Shape[3]
		if err := f(j, rows, s[3], off, cj); err != nil {
			return err
		}
		off += cj
	}
	return nil
}

// bnAct is the activation fused into BN layer i (identity if none).
func (e *engine) bnAct(i int) launch.BNAct { return e.actOf(i) }

// bnShape is BN layer i's input at batch n in training mode (per ghost
// split) or eval mode (one group).
func (e *engine) bnShape(i, n int, train bool) launch.BNShape {
	l := e.spec.Layers[i]
	hw := l.Out[1] * l.Out[2]
	g := 1
	if train && l.BN.Ghost > 0 {
		g = n / l.BN.Ghost
	}
	return launch.BNShape{G: g, R: n / g * hw, C: l.BN.C}
}

// convW is the weight conv layer i reads: the bf16 copy (cast from the
// fp32 weights w at the start of a pass) or w itself.
func (e *engine) convW(w driver.DevicePtr, i int) driver.DevicePtr {
	p := e.spec.Layers[i].Params[0]
	if e.prec == launch.BF16 {
		return e.bf16Params.Add(2 * e.plan.Params[p].Off)
	}
	return e.param(w, p)
}

// castWeights refreshes the bf16 weights from w (BF16 only).
func (e *engine) castWeights(w driver.DevicePtr) error {
	if e.prec != launch.BF16 {
		return nil
	}
	return e.kern.CastF32BF16(e.stream, e.bf16Params, w, e.plan.ParamLen)
}

// forward runs layers 1.. on the batch of n images already in layer 0's
// output, with the fp32 parameters w; train uses batch statistics (and
// updates the running stats), eval the split-averaged stats in evalStats.
func (e *engine) forward(n int, train bool, w driver.DevicePtr) error {
	k, s := e.kern, e.stream
	for i := 1; i < len(e.spec.Layers); i++ {
		l := e.spec.Layers[i]
		lp := e.plan.Layers[i]
		in := 0
		if len(l.Inputs) > 0 {
			in = l.Inputs[0]
		}
		var err error
		switch lp.Kernel {
		case KConv:
			c := e.convs[[2]int{i, n}]
			if c == nil {
				return fmt.Errorf("cuda: layer %s: no descriptors for batch %d", l.Name, n)
			}
			err = e.dnn.Forward(e.dnnHandle, 1, c.xDesc, e.out(in), c.wDesc, e.convW(w, i), c.convDesc, c.fwd, 0, c.yDesc, e.out(i))
			if err == nil && l.Conv.Bias {
				err = k.BiasRows(s, e.prec, e.out(i), e.param(w, l.Params[1]), n*l.Out[1]*l.Out[2], l.Conv.Out)
			}
		case KBNAct, KBN:
			b := e.bnShape(i, n, train)
			gamma, beta := e.param(w, l.Params[0]), e.param(w, l.Params[1])
			eps := float32(l.BN.Eps)
			if train {
				mean := e.batchStats.Add(4 * lp.Stats)
				vr := mean.Add(4 * lp.Splits * l.BN.C)
				if err = k.BNStats(s, e.prec, b, e.out(in), mean, vr, e.bnPartials); err != nil {
					break
				}
				if err = k.BNActFwd(s, e.prec, b, e.out(in), e.out(i), mean, vr, gamma, beta, eps, e.bnAct(i)); err != nil {
					break
				}
				rm := e.runStats.Add(4 * lp.Stats)
				rv := rm.Add(4 * lp.Splits * l.BN.C)
				err = k.BNRunningUpdate(s, rm, rv, mean, vr, b.G*b.C, float32(l.BN.Momentum), float32(b.R)/float32(b.R-1))
			} else {
				mean := e.evalStats.Add(4 * e.evalStatsOff[i])
				err = k.BNActFwd(s, e.prec, b, e.out(in), e.out(i), mean, mean.Add(4*l.BN.C), gamma, beta, eps, e.bnAct(i))
			}
		case KFused, KView, KIdentityBN:
		case KAct:
			err = k.ActFwd(s, e.precOf(i), e.out(in), e.out(i), e.elems(i, n), e.actOf(i))
		case KMaxPool:
			x := e.plan.Layers[in].Shape
			err = k.MaxPoolFwd(s, e.prec, e.out(in), e.out(i), n, x[1], x[2], x[3], l.Pool.K)
		case KGlobalMax:
			x := e.plan.Layers[in].Shape
			err = k.GMaxPoolFwd(s, e.prec, e.out(in), e.out(i), n, x[1]*x[2], x[3])
		case KGlobalAvg:
			x := e.plan.Layers[in].Shape
			err = k.GAvgPoolFwd(s, e.prec, e.out(in), e.out(i), n, x[1]*x[2], x[3])
		case KConcat:
			err = e.concatParts(i, n, func(j, rows, C, off, cj int) error {
				return k.ColsCopy(s, e.precOf(i), e.out(i), e.out(j), rows, C, off, cj, 0, cj)
			})
		case KAdd:
			err = k.Add(s, e.prec, e.out(i), e.out(l.Inputs[0]), e.out(l.Inputs[1]), e.elems(i, n))
		case KLinear:
			x := e.out(in)
			if e.precOf(in) == launch.BF16 {
				if err = k.CastBF16F32(s, e.headIn, x, n*l.Linear.In); err != nil {
					break
				}
				x = e.headIn
			}
			// Row-major Y (n x out) = X (n x in) W^T; column-major that is
			// Y^T = op(W) X^T with W's buffer read as (in x out), transposed.
			err = e.blas.Sgemm(e.blasHandle, cublas.OpT, cublas.OpN, l.Linear.Out, n, l.Linear.In, 1, e.param(w, l.Params[0]), l.Linear.In, x, l.Linear.In, 0, e.out(i), l.Linear.Out)
			if err == nil && l.Linear.Bias {
				err = k.BiasRows(s, launch.F32, e.out(i), e.param(w, l.Params[1]), n, l.Linear.Out)
			}
		case KScale:
			err = k.Scale(s, e.precOf(i), e.out(i), e.precOf(in), e.out(in), float32(l.Scale), e.elems(i, n))
		default:
			err = fmt.Errorf("no GPU path for %s", lp.Kernel)
		}
		if err != nil {
			return fmt.Errorf("cuda: forward %s: %w", l.Name, err)
		}
	}
	return nil
}

// backward runs the gradient of the summed loss, already in the last
// layer's gradient, back through the network at batch n (training mode),
// leaving every trainable parameter's gradient in e.grads.
func (e *engine) backward(n int) error {
	k, s := e.kern, e.stream
	clear(e.gradWritten)
	last := len(e.spec.Layers) - 1
	e.gradWritten[e.bufferOwner[last]] = true
	for i := last; i >= 1; i-- {
		l := e.spec.Layers[i]
		lp := e.plan.Layers[i]
		if !e.needsGrad[i] || e.bufferOwner[i] != i {
			continue
		}
		if !e.gradWritten[e.bufferOwner[i]] {
			return fmt.Errorf("cuda: backward %s: no gradient reached it", l.Name)
		}
		in := l.Inputs[0]
		var err error
		switch lp.Kernel {
		case KScale:
			err = e.writeGrad(in, n, func(dst driver.DevicePtr) error {
				return k.Scale(s, e.precOf(in), dst, e.precOf(i), e.grad(i), float32(l.Scale), e.elems(i, n))
			})
		case KAct:
			err = e.writeGrad(in, n, func(dst driver.DevicePtr) error {
				return k.ActBwd(s, e.precOf(i), e.out(in), e.grad(i), dst, e.elems(i, n), e.actOf(i))
			})
		case KGlobalAvg:
			x := e.plan.Layers[in].Shape
			err = e.writeGrad(in, n, func(dst driver.DevicePtr) error {
				return k.GAvgPoolBwd(s, e.prec, e.grad(i), dst, n, x[1]*x[2], x[3])
			})
		case KConcat:
			err = e.concatParts(i, n, func(j, rows, C, off, cj int) error {
				return e.writeGrad(j, n, func(dst driver.DevicePtr) error {
					return k.ColsCopy(s, e.precOf(i), dst, e.grad(i), rows, cj, 0, C, off, cj)
				})
			})
		case KLinear:
			err = e.linearBackward(i, n)
		case KGlobalMax:
			x := e.plan.Layers[in].Shape
			err = e.writeGrad(in, n, func(dst driver.DevicePtr) error {
				return k.GMaxPoolBwd(s, e.prec, e.out(in), e.grad(i), dst, n, x[1]*x[2], x[3])
			})
		case KMaxPool:
			x := e.plan.Layers[in].Shape
			err = e.writeGrad(in, n, func(dst driver.DevicePtr) error {
				// A floored pool's windows miss the last rows or columns,
				// which the kernel does not write: their gradient is 0.
				if x[1]%l.Pool.K != 0 || x[2]%l.Pool.K != 0 {
					if err := e.drv.MemsetD8(dst, 0, e.elems(in, n)*e.prec.Bytes()); err != nil {
						return err
					}
				}
				return k.MaxPoolBwd(s, e.prec, e.out(in), e.grad(i), dst, n, x[1], x[2], x[3], l.Pool.K)
			})
		case KAdd:
			for _, j := range l.Inputs {
				if err == nil && e.needsGrad[j] {
					err = e.addGrad(j, e.grad(i), n)
				}
			}
		case KBNAct, KBN:
			err = e.bnBackward(i, n)
		case KConv:
			err = e.convBackward(i, n)
		default:
			err = fmt.Errorf("no GPU path for %s", lp.Kernel)
		}
		if err != nil {
			return fmt.Errorf("cuda: backward %s: %w", l.Name, err)
		}
	}
	return nil
}

// writeGrad has f write a gradient for layer j's output: straight into
// j's gradient when it is the first this pass, else into gradScratch, then
// added.
func (e *engine) writeGrad(j, n int, f func(dst driver.DevicePtr) error) error {
	if !e.needsGrad[j] {
		return nil
	}
	o := e.bufferOwner[j]
	if !e.gradWritten[o] {
		e.gradWritten[o] = true
		return f(e.grad(j))
	}
	if err := f(e.gradScratch); err != nil {
		return err
	}
	return e.kern.Add(e.stream, e.precOf(j), e.grad(j), e.grad(j), e.gradScratch, e.elems(j, n))
}

// addGrad adds g (shaped like layer j's output) into j's gradient.
func (e *engine) addGrad(j int, g driver.DevicePtr, n int) error {
	o := e.bufferOwner[j]
	if !e.gradWritten[o] {
		e.gradWritten[o] = true
		return e.drv.CopyDtoD(e.grad(j), g, e.elems(j, n)*e.precOf(j).Bytes())
	}
	return e.kern.Add(e.stream, e.precOf(j), e.grad(j), e.grad(j), g, e.elems(j, n))
}

func (e *engine) linearBackward(i, n int) error {
	l := e.spec.Layers[i]
	in, li := l.Inputs[0], l.Linear
	x := e.out(in)
	if e.precOf(in) == launch.BF16 {
		x = e.headIn // cast in the forward pass
	}
	dy := e.grad(i)
	// dW (out x in) = dY^T X: column-major dW^T (in x out) = X^T dY.
	if e.plan.Params[l.Params[0]].Group != e.plan.Frozen() {
		if err := e.blas.Sgemm(e.blasHandle, cublas.OpN, cublas.OpT, li.In, li.Out, n, 1, x, li.In, dy, li.Out, 0, e.param(e.grads, l.Params[0]), li.In); err != nil {
			return err
		}
	}
	if li.Bias && e.plan.Params[l.Params[1]].Group != e.plan.Frozen() {
		if err := e.kern.ColSum(e.stream, e.param(e.grads, l.Params[1]), dy, n, li.Out); err != nil {
			return err
		}
	}
	// dX (n x in) = dY W: column-major dX^T (in x n) = W^T dY^T.
	return e.writeGrad(in, n, func(dst driver.DevicePtr) error {
		out := dst
		if e.precOf(in) == launch.BF16 {
			out = e.headInGrad
		}
		if err := e.blas.Sgemm(e.blasHandle, cublas.OpN, cublas.OpN, li.In, n, li.Out, 1, e.param(e.params, l.Params[0]), li.In, dy, li.Out, 0, out, li.In); err != nil {
			return err
		}
		if out != dst {
			return e.kern.CastF32BF16(e.stream, dst, out, n*li.In)
		}
		return nil
	})
}

func (e *engine) bnBackward(i, n int) error {
	l := e.spec.Layers[i]
	lp := e.plan.Layers[i]
	in := l.Inputs[0]
	b := e.bnShape(i, n, true)
	mean := e.batchStats.Add(4 * lp.Stats)
	vr := mean.Add(4 * lp.Splits * l.BN.C)
	gamma, beta := e.param(e.params, l.Params[0]), e.param(e.params, l.Params[1])
	sdz, sdzx := e.bnSums, e.bnSums.Add(4*e.bnSumsLen)
	bwd := func(dst driver.DevicePtr) error {
		return e.kern.BNActBwd(e.stream, e.prec, b, e.out(in), e.grad(i), dst, mean, vr, gamma, beta, sdz, sdzx, e.bnPartials, float32(l.BN.Eps), e.bnAct(i))
	}
	var err error
	if e.needsGrad[in] {
		err = e.writeGrad(in, n, bwd)
	} else {
		err = bwd(e.gradScratch) // the sums are still needed for the parameters
	}
	if err != nil {
		return err
	}
	return e.kern.BNParamGrad(e.stream, e.param(e.grads, l.Params[0]), e.param(e.grads, l.Params[1]), sdz, sdzx, b.G, b.C)
}

func (e *engine) convBackward(i, n int) error {
	l := e.spec.Layers[i]
	in := l.Inputs[0]
	c := e.convs[[2]int{i, n}]
	if c == nil {
		return fmt.Errorf("no descriptors for batch %d", n)
	}
	if l.Conv.Bias && e.plan.Params[l.Params[1]].Group != e.plan.Frozen() {
		// The bias gradient: the sum of dY's rows, onesᵀ dY (column-major
		// dY is C x rows).
		rows := n * l.Out[1] * l.Out[2]
		if err := e.gemm(cublas.OpN, cublas.OpN, l.Conv.Out, 1, rows, 1, e.grad(i), l.Conv.Out, e.ones, rows, 0, e.param(e.grads, l.Params[1]), launch.F32, l.Conv.Out); err != nil {
			return fmt.Errorf("bias gradient: %w", err)
		}
	}
	p := l.Params[0]
	if slot := e.plan.Params[p]; slot.Group != e.plan.Frozen() {
		dw := e.param(e.grads, p)
		if e.prec == launch.BF16 {
			dw = e.bf16ConvGrads.Add(2 * slot.Off)
		}
		if err := e.dnn.BackwardFilter(e.dnnHandle, 1, c.xDesc, e.out(in), c.yDesc, e.grad(i), c.convDesc, c.bwdFilter, 0, c.wDesc, dw); err != nil {
			return err
		}
		if e.prec == launch.BF16 {
			if err := e.kern.CastBF16F32(e.stream, e.param(e.grads, p), dw, slot.Len); err != nil {
				return err
			}
		}
	}
	if !e.needsGrad[in] {
		return nil
	}
	// cuDNN accumulates itself: beta 1 adds to a gradient already there.
	o := e.bufferOwner[in]
	beta := float32(0)
	if e.gradWritten[o] {
		beta = 1
	}
	e.gradWritten[o] = true
	return e.dnn.BackwardData(e.dnnHandle, 1, c.wDesc, e.convW(e.params, i), c.yDesc, e.grad(i), c.convDesc, c.bwdData, beta, c.xDesc, e.grad(in))
}

// update applies one optimizer step with the per-group rates: one SGD
// launch over each SGD group's range of the flat buffers, Muon filter
// bank by filter bank; with LARS, one step per parameter with per-filter
// rates.
func (e *engine) update(rates []train.Rate) error {
	o := e.setup.Optimizer
	if o.LARS {
		return e.updateLARS(rates)
	}
	for g, r := range rates {
		rg, grp := e.plan.Groups[g], o.Groups[g]
		if rg.Len == 0 {
			continue
		}
		if grp.Rule == train.RuleMuon {
			if r.LR == 0 { // a stopped group keeps its weights
				continue
			}
			for p, slot := range e.plan.Params {
				if slot.Group != g {
					continue
				}
				if err := e.muon(p, r.LR, float32(grp.Momentum), grp.Nesterov); err != nil {
					return fmt.Errorf("cuda: muon %s: %w", slot.Name, err)
				}
			}
			continue
		}
		off := 4 * rg.Off
		if err := e.kern.SGD(e.stream, e.params.Add(off), e.grads.Add(off), e.momentum.Add(off), rg.Len,
			r.LR, r.WD, float32(grp.Momentum), grp.Nesterov); err != nil {
			return fmt.Errorf("cuda: sgd: %w", err)
		}
	}
	return nil
}

// muon is one Muon step of filter bank p (train.RuleMuon, the CPU
// engine's muonStep): the Nesterov update u of its momentum, w scaled to
// norm sqrt(rows), X = u/(|u|+eps), train.MuonNS's Newton-Schulz
// iterations on X as GEMMs in the activation precision (bf16 in, fp32
// accumulation: cuBLAS GemmEx), then w -= lr X. The KRSC weight is a
// rows x (k·k·in) matrix whose columns are OIHW's permuted, which the
// iteration commutes with; Supports admits only banks no taller than
// wide, whose iteration needs no transpose.
func (e *engine) muon(p int, lr, mom float32, nesterov bool) error {
	k, s := e.kern, e.stream
	slot := e.plan.Params[p]
	r := e.spec.Params[p].Shape[0]
	c := slot.Len / r
	w, g, v := e.param(e.params, p), e.param(e.grads, p), e.param(e.momentum, p)
	wn, un, sc := e.muonNorms, e.muonNorms.Add(4*r), e.muonNorms.Add(8*r)
	if err := k.MuonMomentum(s, g, v, e.muonU, slot.Len, mom, nesterov); err != nil {
		return err
	}
	if err := k.RowNorms(s, wn, w, 0, r, c); err != nil {
		return err
	}
	if err := k.RowNorms(s, un, e.muonU, 0, r, c); err != nil {
		return err
	}
	if err := k.MuonNorms(s, sc, wn, un, r, float32(train.MuonNS.Eps)); err != nil {
		return err
	}
	x, next := e.muonX, e.muonNext
	if err := k.MuonScale(s, e.prec, w, e.muonU, x, sc, slot.Len); err != nil {
		return err
	}
	eb := e.prec.Bytes()
	ns := train.MuonNS
	for range ns.Steps {
		// Row-major X (r x c) is column-major Xᵀ (c x r, ld c): A = X Xᵀ is
		// (Xᵀ)ᵀ Xᵀ; B = b A + c A A (symmetric); X' = a X + B X, column-major
		// Xᵀ B + a Xᵀ.
		if err := e.gemm(cublas.OpT, cublas.OpN, r, r, c, 1, x, c, x, c, 0, e.muonA, e.prec, r); err != nil {
			return err
		}
		if err := e.drv.CopyDtoD(e.muonB, e.muonA, eb*r*r); err != nil {
			return err
		}
		if err := e.gemm(cublas.OpN, cublas.OpN, r, r, r, float32(ns.C), e.muonA, r, e.muonA, r, float32(ns.B), e.muonB, e.prec, r); err != nil {
			return err
		}
		if err := e.drv.CopyDtoD(next, x, eb*slot.Len); err != nil {
			return err
		}
		if err := e.gemm(cublas.OpN, cublas.OpN, c, r, r, 1, x, c, e.muonB, r, float32(ns.A), next, e.prec, c); err != nil {
			return err
		}
		x, next = next, x
	}
	return k.MuonUpdate(s, e.prec, w, x, slot.Len, lr)
}

// gemm is column-major C = alpha op(A) op(B) + beta C with A and B in the
// activation precision and C in cPrec, fp32 accumulation: Sgemm in fp32,
// GemmEx with bf16 operands otherwise.
func (e *engine) gemm(transA, transB, m, n, kk int, alpha float32, A driver.DevicePtr, lda int, B driver.DevicePtr, ldb int,
	beta float32, C driver.DevicePtr, cPrec launch.Prec, ldc int) error {
	if e.prec == launch.F32 && cPrec == launch.F32 {
		return e.blas.Sgemm(e.blasHandle, transA, transB, m, n, kk, alpha, A, lda, B, ldb, beta, C, ldc)
	}
	in, out := cublas.DataF32, cublas.DataF32
	if e.prec == launch.BF16 {
		in = cublas.DataBF16
	}
	if cPrec == launch.BF16 {
		out = cublas.DataBF16
	}
	return e.blas.GemmEx(e.blasHandle, transA, transB, m, n, kk, alpha, A, in, lda, B, in, ldb, beta, C, out, ldc, cublas.ComputeF32, cublas.GemmDefault)
}

// updateLARS steps each trainable parameter with its rows' (output
// channels') rates scaled by |w_r| / (|g_r| + 0.01), as the CPU engine's
// LARS does: the norms of every row of one parameter, then its step.
func (e *engine) updateLARS(rates []train.Rate) error {
	o := e.setup.Optimizer
	for p, prm := range e.spec.Params {
		slot := e.plan.Params[p]
		if slot.Group == e.plan.Frozen() || slot.Len == 0 {
			continue
		}
		rows := prm.Shape[0]
		w, g, v := e.param(e.params, p), e.param(e.grads, p), e.param(e.momentum, p)
		wn, gn := e.larsNorms, e.larsNorms.Add(4*e.larsMaxRows)
		if err := e.kern.RowNorms(e.stream, wn, w, 0, rows, slot.Len/rows); err != nil {
			return err
		}
		if err := e.kern.RowNorms(e.stream, gn, g, 0, rows, slot.Len/rows); err != nil {
			return err
		}
		r := rates[slot.Group]
		if err := e.kern.SGDLARS(e.stream, w, g, v, wn, gn, slot.Len, slot.Len/rows, r.LR, r.WD, float32(o.Momentum), o.Nesterov); err != nil {
			return fmt.Errorf("cuda: lars %s: %w", prm.Name, err)
		}
	}
	return nil
}

// step trains on batch k of the epoch plan (n images at offset k*Batch)
// and leaves its loss sum and correct count in stepSums[2*k], stepSums[2*k+1].
func (e *engine) step(k, n int, rates []train.Rate) error {
	off := k * e.plan.Batch
	if err := e.castWeights(e.params); err != nil {
		return err
	}
	a := launch.AugShape{N: n, PH: e.paddedSide, PW: e.paddedSide, H: data32, W: data32, C: 3}
	if err := e.kern.Augment(e.stream, e.prec, a, e.trainImages, e.epochOrder.Add(4*off), e.epochAug.Add(4*off*7), e.out(0)); err != nil {
		return err
	}
	if err := e.forward(n, true, e.params); err != nil {
		return err
	}
	last := len(e.spec.Layers) - 1
	K := e.spec.Classes
	if err := e.kern.XentLS(e.stream, e.out(last), e.epochLabels.Add(4*off), e.grad(last), e.losses, e.correct, n, K, float32(e.cfg.Train.LabelSmoothing), 1); err != nil {
		return err
	}
	if err := e.kern.Sum(e.stream, e.stepSums.Add(8*k), e.losses, n); err != nil {
		return err
	}
	if err := e.kern.Sum(e.stream, e.stepSums.Add(8*k+4), e.correct, n); err != nil {
		return err
	}
	if err := e.backward(n); err != nil {
		return err
	}
	return e.update(rates)
}

// emaUpdate blends parameters and running stats into their EMA copies.
func (e *engine) emaUpdate(rho float64) error {
	if err := e.kern.EMA(e.stream, e.emaParams, e.params, e.plan.ParamLen, float32(rho)); err != nil {
		return err
	}
	if e.plan.StatsLen == 0 {
		return nil
	}
	return e.kern.EMA(e.stream, e.emaRunStats, e.runStats, e.plan.StatsLen, float32(rho))
}

// emaReset makes the EMA copies equal to the live state (run start).
func (e *engine) emaReset() error {
	if err := e.drv.CopyDtoD(e.emaParams, e.params, 4*e.plan.ParamLen); err != nil {
		return err
	}
	if e.plan.StatsLen == 0 {
		return nil
	}
	return e.drv.CopyDtoD(e.emaRunStats, e.runStats, 4*e.plan.StatsLen)
}

// logits runs the test set in eval mode with parameters w and running
// stats st (the live ones or the EMA's) and augment parameters par (the
// plain or the mirrored view), leaving its fp32 logits in testLogits.
func (e *engine) logits(w, st, par driver.DevicePtr) error {
	k, s := e.kern, e.stream
	if err := e.castWeights(w); err != nil {
		return err
	}
	for i, l := range e.spec.Layers {
		if lp := e.plan.Layers[i]; lp.Splits > 0 {
			rm := st.Add(4 * lp.Stats)
			mean := e.evalStats.Add(4 * e.evalStatsOff[i])
			if err := k.BNSplitAverage(s, mean, mean.Add(4*l.BN.C), rm, rm.Add(4*lp.Splits*l.BN.C), lp.Splits, l.BN.C); err != nil {
				return err
			}
		}
	}
	B, K, last := e.plan.Batch, e.spec.Classes, len(e.spec.Layers)-1
	side := data32 + 2*e.testPad
	for lo := 0; lo < e.testN; lo += B {
		m := min(B, e.testN-lo)
		a := launch.AugShape{N: m, PH: side, PW: side, H: data32, W: data32, C: 3}
		if err := k.Augment(s, e.prec, a, e.testImages, e.testOrder.Add(4*lo), par, e.out(0)); err != nil {
			return err
		}
		if err := e.forward(m, false, w); err != nil {
			return err
		}
		if err := e.drv.CopyDtoD(e.testLogits.Add(4*lo*K), e.out(last), 4*m*K); err != nil {
			return err
		}
	}
	return nil
}
