package kernels

// #include "dnnl_shim.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// dnnlBN runs BNAct's training passes through oneDNN's batch-norm primitive
// (JIT, vectorised), one call per ghost split. It serves the activations
// oneDNN can fuse exactly, identity and ReLU; BNAct keeps the Go loops for
// CELU and shift-scale ReLU and for eval mode. oneDNN's backward needs the
// forward input, which the caller passes again to Backward.
type dnnlBN struct {
	bn     *C.sr_bn
	wsSize int
	mean   []float32 // splits x C batch means
	varB   []float32 // splits x C biased variances
	ws     []byte    // splits x wsSize: ReLU masks
	dg, db []float32 // one split's dgamma, dbeta
}

func newDnnlBN(s BNShape, splits int, eps float32, a Activation) (*dnnlBN, error) {
	relu := 0
	switch a.Kind {
	case ActReLU:
		relu = 1
	case ActIdentity:
	default:
		return nil, fmt.Errorf("oneDNN batch norm does not fuse %v", a.Kind)
	}
	var msg [256]C.char
	bn := C.sr_bn_create(C.int(s.N/splits), C.int(s.HW), C.int(s.C), C.float(eps), C.int(relu), &msg[0], C.int(len(msg)))
	if bn == nil {
		return nil, fmt.Errorf("oneDNN: %s", C.GoString(&msg[0]))
	}
	d := &dnnlBN{bn: bn, wsSize: int(C.sr_bn_workspace_size(bn))}
	d.mean = make([]float32, splits*s.C)
	d.varB = make([]float32, splits*s.C)
	d.ws = make([]byte, max(1, splits*d.wsSize))
	d.dg = make([]float32, s.C)
	d.db = make([]float32, s.C)
	return d, nil
}

func (d *dnnlBN) impl() string {
	return fmt.Sprintf("onednn fwd=%s bwd=%s", C.GoString(C.sr_bn_impl(d.bn, 0)), C.GoString(C.sr_bn_impl(d.bn, 1)))
}

func (d *dnnlBN) close() {
	if d.bn != nil {
		C.sr_bn_destroy(d.bn)
		d.bn = nil
	}
}

func (d *dnnlBN) forwardTrain(b *BNAct, x, gamma, beta, y, mean, varUnbiased []float32) error {
	c, per := b.s.C, b.rows*b.s.C
	for g := 0; g < b.splits; g++ {
		st := C.sr_bn_forward(d.bn, fp(x[g*per:]), fp(y[g*per:]), fp(gamma), fp(beta),
			fp(d.mean[g*c:]), fp(d.varB[g*c:]), unsafe.Pointer(&d.ws[g*d.wsSize]))
		if st != 0 {
			return fmt.Errorf("kernels: BNAct.ForwardTrain: oneDNN split %d: dnnl status %d", g, int(st))
		}
	}
	copy(mean, d.mean)
	k := float32(0)
	if b.rows > 1 {
		k = float32(float64(b.rows) / float64(b.rows-1))
	}
	for i, v := range d.varB {
		varUnbiased[i] = v * k
	}
	return nil
}

func (d *dnnlBN) backward(b *BNAct, x, dy, dx, dgamma, dbeta []float32) error {
	c, per := b.s.C, b.rows*b.s.C
	clear(dgamma)
	clear(dbeta)
	for g := 0; g < b.splits; g++ {
		st := C.sr_bn_backward(d.bn, fp(x[g*per:]), fp(dy[g*per:]), fp(b.gammaF), fp(b.betaF),
			fp(d.mean[g*c:]), fp(d.varB[g*c:]), unsafe.Pointer(&d.ws[g*d.wsSize]), fp(dx[g*per:]), fp(d.dg), fp(d.db))
		if st != 0 {
			return fmt.Errorf("kernels: BNAct.Backward: oneDNN split %d: dnnl status %d", g, int(st))
		}
		for j := range dgamma {
			dgamma[j] += d.dg[j]
			dbeta[j] += d.db[j]
		}
	}
	return nil
}
