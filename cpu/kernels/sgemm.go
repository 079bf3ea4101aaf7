package kernels

// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

import (
	"fmt"
	"unsafe"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C with row-major matrices,
// op(A) m x k, op(B) k x n, through OpenBLAS's cblas_sgemm.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("kernels: Sgemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	ar, ac := m, k // stored rows and columns of A
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := checkMat("Sgemm", "a", len(a), ar, ac, lda); err != nil {
		return err
	}
	if err := checkMat("Sgemm", "b", len(b), br, bc, ldb); err != nil {
		return err
	}
	if err := checkMat("Sgemm", "c", len(c), m, n, ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// checkMat checks that a row-major rows x cols matrix with leading
// dimension ld fits in a slice of length l.
func checkMat(fn, name string, l, rows, cols, ld int) error {
	if ld < max(cols, 1) {
		return fmt.Errorf("kernels: %s: ld%s=%d < %d columns", fn, name, ld, cols)
	}
	if rows > 0 && cols > 0 && l < (rows-1)*ld+cols {
		return fmt.Errorf("kernels: %s: len(%s)=%d, want >= %d for %d x %d with ld %d", fn, name, l, (rows-1)*ld+cols, rows, cols, ld)
	}
	return nil
}

// sgemm is Sgemm without checks; every slice must be non-empty when
// k > 0 (a zero k only scales C).
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans), C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	var pa, pb *float32
	if len(a) > 0 {
		pa = &a[0]
	}
	if len(b) > 0 {
		pb = &b[0]
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(pa)), C.blasint(lda),
		(*C.float)(unsafe.Pointer(pb)), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}
