package kernels

import (
	"fmt"
	"math"
)

// BNShape is the shape of a batch-norm input: M = N*HW rows of C channels
// (NHWC). Ghost > 0 splits the batch into N/Ghost groups of Ghost samples,
// each normalised with its own statistics; Ghost == 0 means one group.
type BNShape struct{ N, HW, C, Ghost int }

// BNAct is a fused batch norm (optionally ghost) followed by an activation.
// It keeps the batch mean and 1/std from ForwardTrain for Backward, which
// recomputes xhat from the forward input rather than storing it (an
// activation-sized buffer per layer), so one BNAct serves one layer
// instance.
type BNAct struct {
	s      BNShape
	eps    float32
	act    Activation
	splits int
	rows   int // rows per split: Ghost*HW (or N*HW)
	bps    int // blocks of statBlock rows per split

	mean   []float32 // splits x C, saved by ForwardTrain
	gammaF []float32 // gamma and beta of the last ForwardTrain: Backward
	betaF  []float32 // needs z = gamma*xhat + beta for act'(z)
	invstd []float32 // splits x C
	valid  bool      // ForwardTrain ran since construction
	closed bool

	sum, sumsq []float64 // per-channel accumulators, len C
	ps, pq     []float32 // per-channel partial sums of a block of rows
	k3         []float32 // forward: the shift of the sums; backward: mean of dz*xhat
	scale      []float32 // eval: gamma/sqrt(var+eps); train backward: gamma*invstd
	shift      []float32 // eval: beta - mean*scale; train backward: mean of dz
	kk         []float32 // the row split's backward k1, k2, k3: splits x 3 x C

	tk  bnTask
	dn  *dnnlBN // oneDNN training passes; nil: the Go or C loops
	isa ISA     // the C loops' instruction set; ISANone: the Go loops
}

// NewBNAct allocates the saved state and workspaces for shape s; its
// passes run the vectorised C loops where the CPU has AVX2 or AVX-512 and
// the Go loops elsewhere (BNAuto; NewBNActLib picks another).
func NewBNAct(s BNShape, eps float32, a Activation) (*BNAct, error) {
	return NewBNActLib(s, eps, a, BNAuto)
}

// BNLib selects the implementation of BNAct's training passes.
type BNLib int

const (
	// BNGo runs the Go loops for every activation: the reference of the C
	// loops, which match it bit for bit.
	BNGo BNLib = iota
	// BNOneDNN runs oneDNN's batch-norm primitive for identity and ReLU
	// (the activations it fuses) and the Go loops for the others. It needs
	// 4 to 6 times less CPU (package doc) but rounds differently: about
	// 1e-6 relative to the float64 reference where the Go loops, which
	// accumulate in float64, reach 1e-7; badly conditioned nets notice.
	BNOneDNN
	// BNAuto runs the Go loops compiled as vectorised C (bn_simd.c) for
	// the best instruction set of this CPU, AVX-512 or AVX2; the Go loops
	// where it has neither.
	BNAuto
	// BNAVX2 and BNAVX512 force one instruction set of the C loops (an
	// error where the CPU lacks it): the tests run both.
	BNAVX2
	BNAVX512
)

// NewBNActLib is NewBNAct with the training-pass implementation chosen.
func NewBNActLib(s BNShape, eps float32, a Activation, lib BNLib) (*BNAct, error) {
	if lib < BNGo || lib > BNAVX512 {
		return nil, fmt.Errorf("kernels: NewBNActLib: unknown library %d", int(lib))
	}
	return newBNAct(s, eps, a, lib)
}

func newBNAct(s BNShape, eps float32, a Activation, impl BNLib) (*BNAct, error) {
	if s.N < 1 || s.HW < 1 || s.C < 1 || s.Ghost < 0 {
		return nil, fmt.Errorf("kernels: NewBNAct: bad shape %+v: N, HW, C must be >= 1 and Ghost >= 0", s)
	}
	if !(eps > 0) {
		return nil, fmt.Errorf("kernels: NewBNAct: eps %v: must be > 0", eps)
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("kernels: NewBNAct: %w", err)
	}
	splits := 1
	if s.Ghost > 0 {
		if s.N%s.Ghost != 0 {
			return nil, fmt.Errorf("kernels: NewBNAct: ghost batch %d does not divide batch %d", s.Ghost, s.N)
		}
		splits = s.N / s.Ghost
	}
	m := s.N * s.HW
	b := &BNAct{
		s: s, eps: eps, act: a, splits: splits, rows: m / splits, bps: (m/splits + statBlock - 1) / statBlock,
		invstd: make([]float32, splits*s.C),
		mean:   make([]float32, splits*s.C),
		gammaF: make([]float32, s.C),
		betaF:  make([]float32, s.C),
		sum:    make([]float64, s.C),
		sumsq:  make([]float64, s.C),
		ps:     make([]float32, s.C),
		pq:     make([]float32, s.C),
		k3:     make([]float32, s.C),
		scale:  make([]float32, s.C),
		shift:  make([]float32, s.C),
		kk:     make([]float32, 3*splits*s.C),
	}
	b.tk.b = b
	var err error
	if b.isa, err = pickISA(impl); err != nil {
		return nil, fmt.Errorf("kernels: NewBNActLib: %w", err)
	}
	if impl == BNOneDNN {
		// A primitive oneDNN cannot build (an old ISA, say), or an activation
		// it does not fuse, leaves the Go path.
		b.dn, _ = newDnnlBN(s, splits, eps, a)
	}
	return b, nil
}

// Impl names the implementation of the training passes.
func (b *BNAct) Impl() string {
	if b.dn != nil {
		return b.dn.impl()
	}
	if b.isa != ISANone {
		return "c/" + b.isa.String()
	}
	return "go"
}

// Close frees oneDNN's resources; b must not be used afterwards. A BNAct
// that is never closed leaks a little C memory, nothing else.
func (b *BNAct) Close() error {
	if b.dn != nil {
		b.dn.close()
		b.dn = nil
		b.valid = false
		b.closed = true
	}
	return nil
}

// Shape returns the shape b was built for.
func (b *BNAct) Shape() BNShape { return b.s }

// Splits returns the number of ghost groups (1 without ghost BN).
func (b *BNAct) Splits() int { return b.splits }

// ForwardTrain normalises x with batch statistics and writes
// y = act(gamma*xhat + beta). It writes the per-split batch mean and
// unbiased variance (len Splits()*C, split-major) for the caller's
// running-stat update (PyTorch convention), and saves what Backward needs.
// y may not alias x.
func (b *BNAct) ForwardTrain(x, gamma, beta, y, mean, varUnbiased []float32) error {
	m, c, sc := b.s.N*b.s.HW*b.s.C, b.s.C, b.splits*b.s.C
	if err := checkLens("BNAct.ForwardTrain", []lenCheck{
		{"x", len(x), m}, {"y", len(y), m}, {"gamma", len(gamma), c}, {"beta", len(beta), c}, {"mean", len(mean), sc}, {"varUnbiased", len(varUnbiased), sc}}); err != nil {
		return err
	}
	if b.closed {
		return fmt.Errorf("kernels: BNAct.ForwardTrain: used after Close")
	}
	copy(b.gammaF, gamma)
	copy(b.betaF, beta)
	if b.dn != nil {
		if err := b.dn.forwardTrain(b, x, gamma, beta, y, mean, varUnbiased); err != nil {
			return err
		}
		b.valid = true
		return nil
	}
	b.tk = bnTask{b: b, op: bnFwdTrain, x: x, y: y, gamma: gamma, beta: beta, mean: mean, vr: varUnbiased}
	b.runTrain()
	b.tk = bnTask{b: b}
	b.valid = true
	return nil
}

// Backward, after ForwardTrain, writes dx (overwritten, len M*C) and
// dgamma, dbeta (overwritten, len C). x must be the ForwardTrain input,
// unchanged since. dx may alias dy but not x.
func (b *BNAct) Backward(x, dy, gamma, dx, dgamma, dbeta []float32) error {
	m, c := b.s.N*b.s.HW*b.s.C, b.s.C
	if err := checkLens("BNAct.Backward", []lenCheck{
		{"x", len(x), m}, {"dy", len(dy), m}, {"dx", len(dx), m}, {"gamma", len(gamma), c}, {"dgamma", len(dgamma), c}, {"dbeta", len(dbeta), c}}); err != nil {
		return err
	}
	if !b.valid {
		return fmt.Errorf("kernels: BNAct.Backward: no ForwardTrain ran before")
	}
	if b.dn != nil {
		return b.dn.backward(b, x, dy, dx, dgamma, dbeta)
	}
	b.tk = bnTask{b: b, op: bnBwdTrain, x: x, dy: dy, dx: dx, gamma: gamma, dgamma: dgamma, dbeta: dbeta}
	b.runTrain()
	b.tk = bnTask{b: b}
	return nil
}

// BackwardBF16 is Backward writing dx in bf16 (dx16, bf16Bits of
// Backward's dx) for a bf16 convolution's backward passes, which read
// their dy so: the convolution's own conversion of a float32 dx is saved.
// dz (len M*C) is float32 scratch and may alias dy, not x.
func (b *BNAct) BackwardBF16(x, dy, gamma, dz []float32, dx16 []uint16, dgamma, dbeta []float32) error {
	m := b.s.N * b.s.HW * b.s.C
	if err := checkLens("BNAct.BackwardBF16", []lenCheck{{"dz", len(dz), m}, {"dx16", len(dx16), m}}); err != nil {
		return err
	}
	if b.dn != nil { // oneDNN's BN writes float32; the Go loops go through runTrain
		if err := b.Backward(x, dy, gamma, dz, dgamma, dbeta); err != nil {
			return err
		}
		ToBF16(dx16, dz)
		return nil
	}
	c := b.s.C
	if err := checkLens("BNAct.BackwardBF16", []lenCheck{
		{"x", len(x), m}, {"dy", len(dy), m}, {"gamma", len(gamma), c}, {"dgamma", len(dgamma), c}, {"dbeta", len(dbeta), c}}); err != nil {
		return err
	}
	if !b.valid {
		return fmt.Errorf("kernels: BNAct.BackwardBF16: no ForwardTrain ran before")
	}
	b.tk = bnTask{b: b, op: bnBwdTrain, x: x, dy: dy, dx: dz, dx16: dx16, gamma: gamma, dgamma: dgamma, dbeta: dbeta}
	b.runTrain()
	b.tk = bnTask{b: b}
	return nil
}

// ForwardEval writes y = act(gamma*(x-runMean)/sqrt(runVar+eps) + beta).
// Rows are independent in eval mode, so x may hold any whole number of
// rows of C channels (a short last batch, say); y matches x. y may alias x.
func (b *BNAct) ForwardEval(x, gamma, beta, runMean, runVar, y []float32) error {
	c := b.s.C
	if len(x)%c != 0 {
		return fmt.Errorf("kernels: BNAct.ForwardEval: len(x)=%d is not a multiple of C=%d", len(x), c)
	}
	if err := checkLens("BNAct.ForwardEval", []lenCheck{
		{"y", len(y), len(x)}, {"gamma", len(gamma), c}, {"beta", len(beta), c}, {"runMean", len(runMean), c}, {"runVar", len(runVar), c}}); err != nil {
		return err
	}
	b.evalAffine(gamma, beta, runMean, runVar)
	b.tk = bnTask{b: b, op: bnFwdEval, x: x, y: y}
	if b.isa != ISANone {
		b.tk.step = bnEvalRows // rows are independent: no reduction
	}
	pool().do(&b.tk)
	b.tk = bnTask{b: b}
	return nil
}

// BackwardEval is the eval-mode backward: the gradient through fixed
// running statistics. x is the ForwardEval input; dx (overwritten) matches
// x, dgamma and dbeta (overwritten) have len C. dx may alias dy.
func (b *BNAct) BackwardEval(x, dy, gamma, beta, runMean, runVar, dx, dgamma, dbeta []float32) error {
	c := b.s.C
	if len(x)%c != 0 {
		return fmt.Errorf("kernels: BNAct.BackwardEval: len(x)=%d is not a multiple of C=%d", len(x), c)
	}
	if err := checkLens("BNAct.BackwardEval", []lenCheck{
		{"dy", len(dy), len(x)}, {"dx", len(dx), len(x)}, {"gamma", len(gamma), c}, {"beta", len(beta), c}, {"runMean", len(runMean), c}, {"runVar", len(runVar), c}, {"dgamma", len(dgamma), c}, {"dbeta", len(dbeta), c}}); err != nil {
		return err
	}
	b.evalAffine(gamma, beta, runMean, runVar)
	b.tk = bnTask{b: b, op: bnBwdEval, x: x, dy: dy, dx: dx, gamma: gamma, runMean: runMean, runVar: runVar, dgamma: dgamma, dbeta: dbeta}
	pool().do(&b.tk)
	b.tk = bnTask{b: b}
	return nil
}

func (b *BNAct) evalAffine(gamma, beta, runMean, runVar []float32) {
	for j := range b.scale {
		is := 1 / math.Sqrt(float64(runVar[j])+float64(b.eps))
		b.scale[j] = float32(float64(gamma[j]) * is)
		b.shift[j] = float32(float64(beta[j]) - float64(runMean[j])*float64(gamma[j])*is)
	}
}

type bnOp int

const (
	bnFwdTrain bnOp = iota
	bnBwdTrain
	bnFwdEval
	bnBwdEval
)

// bnTask is one BNAct call, split across workers by channel ranges, so
// every worker owns its outputs and accumulators outright, or one step of
// the C loops' row split (bn_split.go).
type bnTask struct {
	b               *BNAct
	op              bnOp
	step            bnStep
	part            []float32 // the row split's block partials
	dx16            []uint16  // BackwardBF16's dx; dx then holds dz
	x, y, dy, dx    []float32
	gamma, beta     []float32
	mean, vr        []float32
	runMean, runVar []float32
	dgamma, dbeta   []float32
}

func (t *bnTask) run(i, n int) {
	if t.step != bnChannels {
		t.runSplit(i, n)
		return
	}
	c0, c1 := channelSpan(t.b.s.C, i, n)
	if c0 >= c1 {
		return
	}
	switch t.op {
	case bnFwdTrain:
		t.b.fwdTrain(t, c0, c1)
	case bnBwdTrain:
		t.b.bwdTrain(t, c0, c1)
	case bnFwdEval:
		t.b.fwdEval(t, c0, c1)
	case bnBwdEval:
		t.b.bwdEval(t, c0, c1)
	}
}

// channelSpan is part i of n of c channels, in ranges 16-aligned (a
// 64-byte cache line) when c allows, so workers never write the same line.
func channelSpan(c, i, n int) (c0, c1 int) {
	lo, hi := span((c+15)/16, i, n)
	return min(lo*16, c), min(hi*16, c)
}

// statBlock is how many rows the float32 partial sums take before they are
// flushed into the float64 totals: short enough that float32 rounding stays
// far below 1e-6 relative, long enough that the conversions are rare.
const statBlock = 32

func (b *BNAct) fwdTrain(t *bnTask, c0, c1 int) {
	c, rows := b.s.C, b.rows
	if b.isa != ISANone {
		b.simd(simdFwdTrain, t, c0, c1)
		for g := 0; g < b.splits; g++ {
			copy(t.mean[g*c+c0:g*c+c1], b.mean[g*c+c0:g*c+c1])
		}
		return
	}
	sum, sumsq := b.sum[c0:c1], b.sumsq[c0:c1]
	ps, pq := b.ps[c0:c1], b.pq[c0:c1]
	for g := 0; g < b.splits; g++ {
		clear(sum)
		clear(sumsq)
		k := b.k3[c0:c1] // the split's first row: the shift for the sums
		copy(k, t.x[g*rows*c+c0:g*rows*c+c1])
		for r0 := g * rows; r0 < (g+1)*rows; r0 += statBlock {
			clear(ps)
			clear(pq)
			for r := r0; r < min(r0+statBlock, (g+1)*rows); r++ {
				rowSums(t.x[r*c+c0:r*c+c1], k, ps, pq)
			}
			for j := range sum {
				sum[j] += float64(ps[j])
				sumsq[j] += float64(pq[j])
			}
		}
		mean, vr := b.mean[g*c+c0:g*c+c1], t.vr[g*c+c0:g*c+c1]
		invstd := b.invstd[g*c+c0 : g*c+c1]
		for j := range sum {
			d := sum[j] / float64(rows) // mean - k
			mu := float64(k[j]) + d
			v := max(sumsq[j]/float64(rows)-d*d, 0)
			mean[j] = float32(mu)
			if rows > 1 {
				vr[j] = float32(v * float64(rows) / float64(rows-1))
			} else {
				vr[j] = 0
			}
			invstd[j] = float32(1 / math.Sqrt(v+float64(b.eps)))
		}
		gamma, beta := t.gamma[c0:c1], t.beta[c0:c1]
		for r := g * rows; r < (g+1)*rows; r++ {
			normRow(b.act, t.x[r*c+c0:r*c+c1], t.y[r*c+c0:r*c+c1], mean, invstd, gamma, beta)
		}
		copy(t.mean[g*c+c0:g*c+c1], mean)
	}
}

func (b *BNAct) bwdTrain(t *bnTask, c0, c1 int) {
	if b.isa != ISANone {
		b.simd(simdBwdTrain, t, c0, c1)
		return
	}
	c, rows := b.s.C, b.rows
	sdz, sdzx := b.sum[c0:c1], b.sumsq[c0:c1]
	ps, pq := b.ps[c0:c1], b.pq[c0:c1]
	gammaF, betaF := b.gammaF[c0:c1], b.betaF[c0:c1]
	k1, k2, k3 := b.scale[c0:c1], b.shift[c0:c1], b.k3[c0:c1]
	dgamma, dbeta := t.dgamma[c0:c1], t.dbeta[c0:c1]
	clear(dgamma)
	clear(dbeta)
	for g := 0; g < b.splits; g++ {
		clear(sdz)
		clear(sdzx)
		mean, invstd := b.mean[g*c+c0:g*c+c1], b.invstd[g*c+c0:g*c+c1]
		for r0 := g * rows; r0 < (g+1)*rows; r0 += statBlock {
			clear(ps)
			clear(pq)
			for r := r0; r < min(r0+statBlock, (g+1)*rows); r++ {
				// dx doubles as scratch for dz = dy * act'(gamma*xhat+beta).
				dzRow(b.act, t.x[r*c+c0:r*c+c1], t.dy[r*c+c0:r*c+c1], t.dx[r*c+c0:r*c+c1], mean, invstd, gammaF, betaF, ps, pq)
			}
			for j := range sdz {
				sdz[j] += float64(ps[j])
				sdzx[j] += float64(pq[j])
			}
		}
		gamma := t.gamma[c0:c1]
		for j := range sdz {
			dbeta[j] += float32(sdz[j])
			dgamma[j] += float32(sdzx[j])
			k1[j] = gamma[j] * invstd[j]
			k2[j] = float32(sdz[j] / float64(rows))
			k3[j] = float32(sdzx[j] / float64(rows))
		}
		for r := g * rows; r < (g+1)*rows; r++ {
			dxRow(t.x[r*c+c0:r*c+c1], t.dx[r*c+c0:r*c+c1], mean, invstd, k1, k2, k3)
		}
	}
}

func (b *BNAct) fwdEval(t *bnTask, c0, c1 int) {
	if b.isa != ISANone {
		b.simd(simdFwdEval, t, c0, c1)
		return
	}
	c := b.s.C
	scale, shift := b.scale[c0:c1], b.shift[c0:c1]
	for r := 0; r < len(t.x)/c; r++ {
		xr := t.x[r*c+c0 : r*c+c1]
		yr := t.y[r*c+c0 : r*c+c1]
		yr, scale, shift := yr[:len(xr)], scale[:len(xr)], shift[:len(xr)]
		for j, v := range xr {
			yr[j] = v*scale[j] + shift[j]
		}
		actForward(b.act, yr, yr)
	}
}

func (b *BNAct) bwdEval(t *bnTask, c0, c1 int) {
	c := b.s.C
	scale, shift := b.scale[c0:c1], b.shift[c0:c1]
	sdz, sdzx := b.sum[c0:c1], b.sumsq[c0:c1]
	clear(sdz)
	clear(sdzx)
	rm, rv := t.runMean[c0:c1], t.runVar[c0:c1]
	for r := 0; r < len(t.x)/c; r++ {
		xr := t.x[r*c+c0 : r*c+c1]
		dyr := t.dy[r*c+c0 : r*c+c1]
		dxr := t.dx[r*c+c0 : r*c+c1]
		dyr, dxr, scale, shift, rm := dyr[:len(xr)], dxr[:len(xr)], scale[:len(xr)], shift[:len(xr)], rm[:len(xr)]
		sdz, sdzx := sdz[:len(xr)], sdzx[:len(xr)]
		for j, v := range xr {
			z := v*scale[j] + shift[j]
			var d float32
			switch b.act.Kind {
			case ActIdentity:
				d = dyr[j]
			case ActReLU:
				if z > 0 {
					d = dyr[j]
				}
			case ActShiftScaleReLU:
				if z > 0 {
					d = dyr[j] * float32(ssrScale)
				}
			case ActCELU:
				if z > 0 {
					d = dyr[j]
				} else {
					d = dyr[j] * celuGrad(z, 1/b.act.Alpha)
				}
			case ActGELU:
				d = dyr[j] * geluGrad(z)
			}
			sdz[j] += float64(d)
			sdzx[j] += float64(d) * float64(v-rm[j])
			dxr[j] = d * scale[j]
		}
	}
	for j := range sdz {
		t.dbeta[c0+j] = float32(sdz[j])
		t.dgamma[c0+j] = float32(sdzx[j] / math.Sqrt(float64(rv[j])+float64(b.eps)))
	}
}
