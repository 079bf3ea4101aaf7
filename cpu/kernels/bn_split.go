package kernels

// #include "bn_simd_api.h"
import "C"

import "unsafe"

// The C loops split a training pass's rows, not its channels, over the
// workers, in three steps: the blocks of statBlock rows (partial sums),
// the channels (the sums reduced in block order), the blocks again (the
// outputs). The channel split gives each worker a slice of every row: at
// width 0.25 a 16-channel layer ran on one worker, and 32 channels gave
// each two vectors a row, where loop overhead, not memory, set the pace.
// Each block's float32 partials keep their own slot (in the pool) and the
// reduction adds them as bn_simd.h's channel split does, so the two
// splits give the same bits, whatever the number of workers.

// bnStep is a bnTask's step: bnChannels runs the whole pass split by
// channels; the others are the row split's.
type bnStep int

const (
	bnChannels bnStep = iota
	bnBlocks          // the first pass over the blocks: partial sums
	bnReduce          // the reduction, split by channels
	bnOutput          // the second pass over the blocks: y or dx
	bnEvalRows        // the eval forward, split by rows
)

// blocks is the number of statBlock-row blocks of a training pass.
func (b *BNAct) blocks() int { return b.splits * b.bps }

// runTrain runs b.tk, a training pass. The C loops take the row split
// when the pool is free; a concurrent caller runs the channel split
// serially, to the same bits.
func (b *BNAct) runTrain() {
	p := pool()
	if b.isa == ISANone || !p.acquire() {
		p.do(&b.tk)
		if b.tk.dx16 != nil {
			ToBF16(b.tk.dx16, b.tk.dx) // the channel split writes float32 dx
		}
		return
	}
	defer p.busy.Unlock()
	// The partials grow to the largest layer once; later calls allocate
	// nothing.
	if need := 2 * b.blocks() * b.s.C; len(p.bnPart) < need {
		p.bnPart = make([]float32, need)
	}
	b.tk.part = p.bnPart
	for _, st := range []bnStep{bnBlocks, bnReduce, bnOutput} {
		b.tk.step = st
		p.runHeld(&b.tk)
	}
}

func u16p(s []uint16) *C.uint16_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint16_t)(unsafe.Pointer(&s[0]))
}

// runSplit runs part i of n of a row-split step on the C loops.
func (t *bnTask) runSplit(i, n int) {
	b := t.b
	var op C.int
	b0, b1, c0, c1 := 0, 0, 0, 0
	switch t.step {
	case bnBlocks, bnOutput:
		b0, b1 = span(b.blocks(), i, n)
		if b0 >= b1 {
			return
		}
		switch fwd := t.op == bnFwdTrain; {
		case t.step == bnBlocks && fwd:
			op = C.SR_BN_FWD_STATS
		case t.step == bnBlocks:
			op = C.SR_BN_BWD_DZ
		case fwd:
			op = C.SR_BN_FWD_NORM
		case t.dx16 != nil:
			op = C.SR_BN_BWD_DX16
		default:
			op = C.SR_BN_BWD_DX
		}
	case bnReduce:
		if c0, c1 = channelSpan(b.s.C, i, n); c0 >= c1 {
			return
		}
		op = C.SR_BN_BWD_REDUCE
		if t.op == bnFwdTrain {
			op = C.SR_BN_FWD_REDUCE
		}
	case bnEvalRows:
		if b0, b1 = span(len(t.x)/b.s.C, i, n); b0 >= b1 {
			return
		}
		op = C.SR_BN_EVAL_SPLIT
	}
	C.sr_bn_split_call(C.int(b.isa), op, f32p(t.x), f32p(t.dy), f32p(t.y), f32p(t.dx),
		f32p(t.gamma), f32p(t.beta), f32p(b.gammaF), f32p(b.betaF),
		f32p(b.mean), f32p(t.vr), f32p(b.invstd), f32p(t.dgamma), f32p(t.dbeta),
		f64p(b.sum[c0:]), f64p(b.sumsq[c0:]), f32p(b.scale), f32p(b.shift), f32p(t.part), f32p(b.kk), u16p(t.dx16),
		C.int(b.splits), C.int(b.rows), C.int(b.s.C), C.int(c0), C.int(c1), C.int(b0), C.int(b1), C.int(b.bps),
		C.int(b.act.Kind), C.float(b.eps), C.float(b.act.Alpha), C.float(float32(ssrShift)), C.float(float32(ssrScale)))
	if t.step == bnReduce && t.op == bnFwdTrain {
		c := b.s.C
		for g := 0; g < b.splits; g++ {
			copy(t.mean[g*c+c0:g*c+c1], b.mean[g*c+c0:g*c+c1])
		}
	}
}
