package kernels

// #cgo CFLAGS: -O3 -std=c11
// #cgo LDFLAGS: -lm
// #include "bn_simd_api.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// ISA is the vector instruction set BNAct's C loops (bn_simd.c) run on.
type ISA int

// The instruction sets bn_simd.c is built for.
const (
	ISANone   ISA = C.SR_ISA_NONE
	ISAAVX2   ISA = C.SR_ISA_AVX2
	ISAAVX512 ISA = C.SR_ISA_AVX512
)

func (i ISA) String() string {
	switch i {
	case ISAAVX2:
		return "avx2"
	case ISAAVX512:
		return "avx512"
	}
	return "none"
}

// HasBF16 reports whether this CPU has avx512_bf16.
func HasBF16() bool { return C.sr_has_bf16() != 0 }

// HostISA is the best instruction set of this CPU that the C loops have.
func HostISA() ISA { return ISA(C.sr_bn_isa()) }

// The C loops' passes.
const (
	simdFwdTrain = C.SR_BN_FWD_TRAIN
	simdBwdTrain = C.SR_BN_BWD_TRAIN
	simdFwdEval  = C.SR_BN_FWD_EVAL
)

func f32p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func f64p(s []float64) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&s[0]))
}

// simd runs one worker's share (channels [c0, c1)) of t on the C loops.
func (b *BNAct) simd(op C.int, t *bnTask, c0, c1 int) {
	rows := b.rows
	if op == simdFwdEval {
		rows = len(t.x) / b.s.C
	}
	// The operations exist for every ISA the constructor accepts.
	C.sr_bn_call(C.int(b.isa), op, f32p(t.x), f32p(t.dy), f32p(t.y), f32p(t.dx),
		f32p(t.gamma), f32p(t.beta), f32p(b.gammaF), f32p(b.betaF),
		f32p(b.mean), f32p(t.vr), f32p(b.invstd), f32p(t.dgamma), f32p(t.dbeta),
		f64p(b.sum[c0:]), f64p(b.sumsq[c0:]), f32p(b.ps[c0:]), f32p(b.pq[c0:]),
		f32p(b.k3[c0:]), f32p(b.scale[c0:]), f32p(b.shift[c0:]),
		C.int(b.splits), C.int(rows), C.int(b.s.C), C.int(c0), C.int(c1), C.int(b.act.Kind),
		C.float(b.eps), C.float(b.act.Alpha), C.float(float32(ssrShift)), C.float(float32(ssrScale)))
}

// actSIMD runs elements [c0, c1) of an activation task on the C loops.
func actSIMD(t *actTask, c0, c1 int) {
	op := C.int(C.SR_ACT_FWD)
	if !t.fwd {
		op = C.SR_ACT_BWD
	}
	C.sr_bn_call(C.int(t.isa), op, f32p(t.x), f32p(t.dy), f32p(t.y), f32p(t.dx),
		nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
		0, 0, 0, C.int(c0), C.int(c1), C.int(t.a.Kind),
		0, C.float(t.a.Alpha), C.float(float32(ssrShift)), C.float(float32(ssrScale)))
}

// pickISA resolves a BNLib to the ISA its training passes run on.
func pickISA(lib BNLib) (ISA, error) {
	host := HostISA()
	switch lib {
	case BNAuto:
		return host, nil
	case BNAVX2:
		if host < ISAAVX2 {
			return ISANone, fmt.Errorf("kernels: this CPU lacks AVX2 and FMA")
		}
		return ISAAVX2, nil
	case BNAVX512:
		if host < ISAAVX512 {
			return ISANone, fmt.Errorf("kernels: this CPU lacks AVX-512 (F, BW, VL, DQ)")
		}
		return ISAAVX512, nil
	}
	return ISANone, nil
}

// simd runs output rows [lo, hi) of t on the C loop, with c ints of
// scratch.
func (t *maxPoolTask) simd(lo, hi int, best []int32) {
	if len(best) < 2*t.c {
		// The C loop would write past its part's scratch, into another's.
		panic(fmt.Sprintf("kernels: max pool scratch %d < 2c = %d", len(best), 2*t.c))
	}
	var am *C.uint8_t
	if t.argmax != nil {
		am = (*C.uint8_t)(unsafe.Pointer(&t.argmax[0]))
	}
	C.sr_max_pool(C.int(t.isa), f32p(t.x), f32p(t.y), am,
		C.int(t.h), C.int(t.w), C.int(t.c), C.int(t.k), C.int(t.oh), C.int(t.ow), C.int(lo), C.int(hi),
		(*C.int32_t)(unsafe.Pointer(&best[0])))
}

// simd runs output rows [lo, hi) of t on the C loop: the first output
// whose argmax is outside its window, or -1.
func (t *maxPoolBwdTask) simd(lo, hi int) int {
	return int(C.sr_max_pool_bwd(C.int(t.isa), f32p(t.dy), (*C.uint8_t)(unsafe.Pointer(&t.argmax[0])), f32p(t.dx),
		C.int(t.h), C.int(t.w), C.int(t.c), C.int(t.k), C.int(t.oh), C.int(t.ow), C.int(lo), C.int(hi)))
}
