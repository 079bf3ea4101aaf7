package kernels

// #cgo LDFLAGS: -ldnnl
// #include <stdlib.h>
// #include "dnnl_shim.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// defaultConvLib is the library ConvAuto picks (see the package doc for
// the measurement behind the choice).
const defaultConvLib = ConvOneDNN

// dnnlAlg selects oneDNN's algorithm.
type dnnlAlg int

const (
	dnnlDirect   dnnlAlg = 0
	dnnlWinograd dnnlAlg = 1
	dnnlAuto     dnnlAlg = 2
)

// dnnlConv is oneDNN's convolution on NHWC activations with weights in
// the layout oneDNN prefers; OIHW weights are reordered on every call,
// because the optimiser changes them between steps.
type dnnlConv struct {
	cv *C.sr_conv
}

func newDnnlConv(s ConvShape, bf16 bool) (convImpl, error) {
	return newDnnlConvAlg(s, dnnlDirect, bf16)
}

func newDnnlConvAlg(s ConvShape, alg dnnlAlg, bf16 bool) (*dnnlConv, error) {
	var msg [256]C.char
	b := 0
	if bf16 {
		b = 1
	}
	cv := C.sr_conv_create(C.int(s.N), C.int(s.H), C.int(s.W), C.int(s.C), C.int(s.K), C.int(s.R), C.int(s.S),
		C.int(s.Stride), C.int(s.Pad), C.int(alg), C.int(b), &msg[0], C.int(len(msg)))
	if cv == nil {
		return nil, fmt.Errorf("oneDNN: %s", C.GoString(&msg[0]))
	}
	return &dnnlConv{cv: cv}, nil
}

// setDnnlThreads makes every later oneDNN call use n OpenMP threads.
func setDnnlThreads(n int) bool { return C.sr_set_threads(C.int(n)) != 0 }

func fp(v []float32) *C.float { return (*C.float)(unsafe.Pointer(&v[0])) }

func dnnlErr(pass string, st C.int) error {
	if st == 0 {
		return nil
	}
	return fmt.Errorf("kernels: oneDNN conv %s: dnnl status %d", pass, int(st))
}

func (d *dnnlConv) forward(x, w, y []float32) error {
	return dnnlErr("forward", C.sr_conv_forward(d.cv, fp(x), nil, fp(w), fp(y)))
}

func (d *dnnlConv) backwardData(dy, w, dx []float32) error {
	return dnnlErr("backward data", C.sr_conv_backward_data(d.cv, fp(dy), nil, fp(w), fp(dx)))
}

func (d *dnnlConv) backwardWeights(x, dy, dw []float32) error {
	return dnnlErr("backward weights", C.sr_conv_backward_weights(d.cv, fp(x), nil, fp(dy), nil, fp(dw)))
}

func hp(v []uint16) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(&v[0])) }

func (d *dnnlConv) backwardData16(dy16 []uint16, w, dx []float32) error {
	return dnnlErr("backward data", C.sr_conv_backward_data(d.cv, nil, hp(dy16), fp(w), fp(dx)))
}

// fpn and hpn are fp and hp of an operand that may be absent (nil).
func fpn(v []float32) *C.float {
	if v == nil {
		return nil
	}
	return fp(v)
}

func hpn(v []uint16) *C.uint16_t {
	if v == nil {
		return nil
	}
	return hp(v)
}

func (d *dnnlConv) input16(x []float32, x16 []uint16) error {
	return dnnlErr("bf16 input", C.sr_conv_input16(d.cv, fp(x), hp(x16)))
}

func (d *dnnlConv) forward16(x16 []uint16, w, y []float32) error {
	return dnnlErr("forward", C.sr_conv_forward(d.cv, nil, hp(x16), fp(w), fp(y)))
}

// backwardWeights16 reads x16 and dy16 where they are not nil, and
// converts x and dy otherwise.
func (d *dnnlConv) backwardWeights16(x []float32, x16 []uint16, dy []float32, dy16 []uint16, dw []float32) error {
	return dnnlErr("backward weights", C.sr_conv_backward_weights(d.cv, fpn(x), hpn(x16), fpn(dy), hpn(dy16), fp(dw)))
}

// impl names oneDNN's implementation of pass 0 (forward), 1 (backward
// data) or 2 (backward weights), e.g. "brgconv:avx512_core".
func (d *dnnlConv) impl(pass int) string { return C.GoString(C.sr_conv_impl(d.cv, C.int(pass))) }

func (d *dnnlConv) close() error {
	if d.cv != nil {
		C.sr_conv_destroy(d.cv)
		d.cv = nil
	}
	return nil
}
