// Package cublas binds the few cuBLAS calls the GPU engine and gpucheck
// make (handles, math modes, Sgemm, Dgemm, GemmEx) at run time with
// purego, on top of package driver's library search and errors.
package cublas

import (
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"

	"speedrun/cuda/driver"
)

// BLAS is the bound cuBLAS library (libcublas.so.13 or .12).
type BLAS struct {
	Path string

	create, destroy, setStream, getVersion, setMathMode, sgemm, dgemm, gemmEx uintptr
}

// cuBLAS enum values (public cuBLAS and library_types documentation;
// checked on the device by gpu-check.sh's header probe).
const (
	OpN = 0 // CUBLAS_OP_N
	OpT = 1 // CUBLAS_OP_T

	DataF32  = 0  // CUDA_R_32F
	DataF16  = 2  // CUDA_R_16F
	DataBF16 = 14 // CUDA_R_16BF

	ComputeF32         = 68 // CUBLAS_COMPUTE_32F
	ComputeF32Pedantic = 69 // CUBLAS_COMPUTE_32F_PEDANTIC
	ComputeF32FastBF16 = 75 // CUBLAS_COMPUTE_32F_FAST_16BF
	ComputeF32FastTF32 = 77 // CUBLAS_COMPUTE_32F_FAST_TF32

	GemmDefault = -1 // CUBLAS_GEMM_DEFAULT

	DefaultMath  = 0 // CUBLAS_DEFAULT_MATH
	PedanticMath = 2 // CUBLAS_PEDANTIC_MATH
	TF32Math     = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// Sonames, newest first. libcublasLt comes from the same release.
var (
	libcublasNames = []string{"libcublas.so.13", "libcublas.so.12"}
	libLtNames     = []string{"libcublasLt.so.13", "libcublasLt.so.12"}
)

var statusNames = map[int32]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// Open loads and binds cuBLAS from the folders s names. libcublasLt is
// opened first (RTLD_GLOBAL) so that cuBLAS finds it in the same folder
// even without LD_LIBRARY_PATH.
func Open(s driver.Search) (*BLAS, error) {
	if _, err := driver.OpenLibrary(s, libLtNames); err != nil {
		return nil, fmt.Errorf("cuBLASLt: %w", err)
	}
	lib, err := driver.OpenLibrary(s, libcublasNames)
	if err != nil {
		return nil, fmt.Errorf("cuBLAS: %w", err)
	}
	b := &BLAS{Path: lib.Path}
	err = lib.Bind([]driver.Symbol{
		{Dst: &b.create, Names: []string{"cublasCreate_v2"}},
		{Dst: &b.destroy, Names: []string{"cublasDestroy_v2"}},
		{Dst: &b.setStream, Names: []string{"cublasSetStream_v2"}},
		{Dst: &b.getVersion, Names: []string{"cublasGetVersion_v2"}},
		{Dst: &b.setMathMode, Names: []string{"cublasSetMathMode"}},
		{Dst: &b.sgemm, Names: []string{"cublasSgemm_v2"}},
		{Dst: &b.dgemm, Names: []string{"cublasDgemm_v2"}},
		{Dst: &b.gemmEx, Names: []string{"cublasGemmEx"}},
	})
	if err != nil {
		return nil, fmt.Errorf("cuBLAS: %w", err)
	}
	return b, nil
}

func (b *BLAS) check(fn string, r uintptr) error {
	if e := driver.StatusError(fn, r, statusNames, "cublasStatus"); e != nil {
		return e
	}
	return nil
}

// Handle is a cublasHandle_t.
type Handle uintptr

// Create makes a handle in the current context.
func (b *BLAS) Create() (Handle, error) {
	var h uintptr
	r, _, _ := purego.SyscallN(b.create, uintptr(unsafe.Pointer(&h)))
	return Handle(h), b.check("cublasCreate_v2", r)
}

// Destroy releases h.
func (b *BLAS) Destroy(h Handle) error {
	r, _, _ := purego.SyscallN(b.destroy, uintptr(h))
	return b.check("cublasDestroy_v2", r)
}

// SetStream makes h queue its work on s.
func (b *BLAS) SetStream(h Handle, s driver.Stream) error {
	r, _, _ := purego.SyscallN(b.setStream, uintptr(h), uintptr(s))
	return b.check("cublasSetStream_v2", r)
}

// SetMathMode sets h's math mode (PedanticMath for fp32 parity).
func (b *BLAS) SetMathMode(h Handle, mode int) error {
	r, _, _ := purego.SyscallN(b.setMathMode, uintptr(h), uintptr(mode))
	return b.check("cublasSetMathMode", r)
}

// Version is cuBLAS's version number, e.g. 130101.
func (b *BLAS) Version(h Handle) (int, error) {
	var v int32
	r, _, _ := purego.SyscallN(b.getVersion, uintptr(h), uintptr(unsafe.Pointer(&v)))
	return int(v), b.check("cublasGetVersion_v2", r)
}

// Sgemm is column-major C = alpha*op(A)*op(B) + beta*C in fp32, with op
// OpN or OpT; row-major callers swap A and B.
func (b *BLAS) Sgemm(h Handle, transA, transB, m, n, k int, alpha float32, A driver.DevicePtr, lda int,
	B driver.DevicePtr, ldb int, beta float32, C driver.DevicePtr, ldc int) error {
	return b.check("cublasSgemm_v2", gemm(b.sgemm, h, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
}

// Dgemm is Sgemm in fp64: the whitening patches' covariance sum, which
// the CPU path also sums in float64.
func (b *BLAS) Dgemm(h Handle, transA, transB, m, n, k int, alpha float64, A driver.DevicePtr, lda int,
	B driver.DevicePtr, ldb int, beta float64, C driver.DevicePtr, ldc int) error {
	return b.check("cublasDgemm_v2", gemm(b.dgemm, h, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
}

// gemm calls cublas[SD]gemm_v2, whose alpha and beta are host pointers.
func gemm[T float32 | float64](fn uintptr, h Handle, transA, transB, m, n, k int, alpha T, A driver.DevicePtr, lda int,
	B driver.DevicePtr, ldb int, beta T, C driver.DevicePtr, ldc int) uintptr {
	r, _, _ := purego.SyscallN(fn, uintptr(h), uintptr(transA), uintptr(transB),
		uintptr(m), uintptr(n), uintptr(k), uintptr(unsafe.Pointer(&alpha)), uintptr(A), uintptr(lda),
		uintptr(B), uintptr(ldb), uintptr(unsafe.Pointer(&beta)), uintptr(C), uintptr(ldc))
	return r
}

// GemmEx is cublasGemmEx with fp32 alpha/beta (compute types 68..77), data
// types DataF32/DataF16/DataBF16 and algo GemmDefault.
func (b *BLAS) GemmEx(h Handle, transA, transB, m, n, k int, alpha float32,
	A driver.DevicePtr, aType, lda int, B driver.DevicePtr, bType, ldb int, beta float32,
	C driver.DevicePtr, cType, ldc int, compute, algo int) error {
	r, _, _ := purego.SyscallN(b.gemmEx, uintptr(h), uintptr(transA), uintptr(transB),
		uintptr(m), uintptr(n), uintptr(k), uintptr(unsafe.Pointer(&alpha)),
		uintptr(A), uintptr(aType), uintptr(lda), uintptr(B), uintptr(bType), uintptr(ldb),
		uintptr(unsafe.Pointer(&beta)), uintptr(C), uintptr(cType), uintptr(ldc),
		uintptr(compute), uintptr(int32(algo)))
	return b.check("cublasGemmEx", r)
}

// Constants lists the cuBLAS and library-type values this package
// assumes, in the header probe's order (see driver.Constant).
func Constants() []driver.Constant {
	return []driver.Constant{
		{Name: "CUBLAS_OP_N", Value: OpN},
		{Name: "CUBLAS_OP_T", Value: OpT},
		{Name: "CUDA_R_32F", Value: DataF32},
		{Name: "CUDA_R_16F", Value: DataF16},
		{Name: "CUDA_R_16BF", Value: DataBF16},
		{Name: "CUBLAS_COMPUTE_32F", Value: ComputeF32},
		{Name: "CUBLAS_COMPUTE_32F_PEDANTIC", Value: ComputeF32Pedantic},
		{Name: "CUBLAS_COMPUTE_32F_FAST_16BF", Value: ComputeF32FastBF16},
		{Name: "CUBLAS_COMPUTE_32F_FAST_TF32", Value: ComputeF32FastTF32},
		{Name: "CUBLAS_GEMM_DEFAULT", Value: GemmDefault},
		{Name: "CUBLAS_DEFAULT_MATH", Value: DefaultMath},
		{Name: "CUBLAS_PEDANTIC_MATH", Value: PedanticMath},
		{Name: "CUBLAS_TF32_TENSOR_OP_MATH", Value: TF32Math},
		{Name: "CUBLAS_STATUS_NOT_SUPPORTED", Value: 15},
		{Name: "CUBLAS_STATUS_INVALID_VALUE", Value: 7},
	}
}
