package cuda

import (
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
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

	BLASDefaultMath  = 0  // CUBLAS_DEFAULT_MATH
	BLASPedanticMath = 2  // CUBLAS_PEDANTIC_MATH
	BLASTF32Math     = 3  // CUBLAS_TF32_TENSOR_OP_MATH
	blasMathNoReduce = 16 // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
)

var blasStatusNames = map[int32]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// OpenBLAS loads and binds cuBLAS. libcublasLt is opened first (RTLD_GLOBAL)
// so that cuBLAS finds it in the same folder even without LD_LIBRARY_PATH.
func OpenBLAS(o Options) (*BLAS, error) {
	if _, err := openLibrary(o, libLtNames); err != nil {
		return nil, fmt.Errorf("cuBLASLt: %w", err)
	}
	lib, err := openLibrary(o, libcublasNames)
	if err != nil {
		return nil, fmt.Errorf("cuBLAS: %w", err)
	}
	b := &BLAS{Path: lib.path}
	err = lib.bind([]symbol{
		{&b.create, []string{"cublasCreate_v2"}, false},
		{&b.destroy, []string{"cublasDestroy_v2"}, false},
		{&b.setStream, []string{"cublasSetStream_v2"}, false},
		{&b.getVersion, []string{"cublasGetVersion_v2"}, false},
		{&b.setMathMode, []string{"cublasSetMathMode"}, false},
		{&b.sgemm, []string{"cublasSgemm_v2"}, false},
		{&b.dgemm, []string{"cublasDgemm_v2"}, false},
		{&b.gemmEx, []string{"cublasGemmEx"}, false},
	})
	if err != nil {
		return nil, fmt.Errorf("cuBLAS: %w", err)
	}
	return b, nil
}

func (b *BLAS) check(fn string, r uintptr) error {
	if e := statusError(fn, r, blasStatusNames, "cublasStatus"); e != nil {
		return e
	}
	return nil
}

// BLASHandle is a cublasHandle_t.
type BLASHandle uintptr

// Create makes a handle in the current context.
func (b *BLAS) Create() (BLASHandle, error) {
	var h uintptr
	r, _, _ := purego.SyscallN(b.create, uintptr(unsafe.Pointer(&h)))
	return BLASHandle(h), b.check("cublasCreate_v2", r)
}

// Destroy releases h.
func (b *BLAS) Destroy(h BLASHandle) error {
	r, _, _ := purego.SyscallN(b.destroy, uintptr(h))
	return b.check("cublasDestroy_v2", r)
}

// SetStream makes h queue its work on s.
func (b *BLAS) SetStream(h BLASHandle, s Stream) error {
	r, _, _ := purego.SyscallN(b.setStream, uintptr(h), uintptr(s))
	return b.check("cublasSetStream_v2", r)
}

// SetMathMode sets h's math mode (BLASPedanticMath for fp32 parity).
func (b *BLAS) SetMathMode(h BLASHandle, mode int) error {
	r, _, _ := purego.SyscallN(b.setMathMode, uintptr(h), uintptr(mode))
	return b.check("cublasSetMathMode", r)
}

// Version is cuBLAS's version number, e.g. 130101.
func (b *BLAS) Version(h BLASHandle) (int, error) {
	var v int32
	r, _, _ := purego.SyscallN(b.getVersion, uintptr(h), uintptr(unsafe.Pointer(&v)))
	return int(v), b.check("cublasGetVersion_v2", r)
}

// Sgemm is column-major C = alpha*op(A)*op(B) + beta*C in fp32, with op
// OpN or OpT; row-major callers swap A and B.
func (b *BLAS) Sgemm(h BLASHandle, transA, transB, m, n, k int, alpha float32, A DevicePtr, lda int,
	B DevicePtr, ldb int, beta float32, C DevicePtr, ldc int) error {
	return b.check("cublasSgemm_v2", gemm(b.sgemm, h, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
}

// Dgemm is Sgemm in fp64: the whitening patches' covariance sum, which
// the CPU path also sums in float64.
func (b *BLAS) Dgemm(h BLASHandle, transA, transB, m, n, k int, alpha float64, A DevicePtr, lda int,
	B DevicePtr, ldb int, beta float64, C DevicePtr, ldc int) error {
	return b.check("cublasDgemm_v2", gemm(b.dgemm, h, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
}

// gemm calls cublas[SD]gemm_v2, whose alpha and beta are host pointers.
func gemm[T float32 | float64](fn uintptr, h BLASHandle, transA, transB, m, n, k int, alpha T, A DevicePtr, lda int,
	B DevicePtr, ldb int, beta T, C DevicePtr, ldc int) uintptr {
	r, _, _ := purego.SyscallN(fn, uintptr(h), uintptr(transA), uintptr(transB),
		uintptr(m), uintptr(n), uintptr(k), uintptr(unsafe.Pointer(&alpha)), uintptr(A), uintptr(lda),
		uintptr(B), uintptr(ldb), uintptr(unsafe.Pointer(&beta)), uintptr(C), uintptr(ldc))
	return r
}

// GemmEx is cublasGemmEx with fp32 alpha/beta (compute types 68..77), data
// types DataF32/DataF16/DataBF16 and algo GemmDefault.
func (b *BLAS) GemmEx(h BLASHandle, transA, transB, m, n, k int, alpha float32,
	A DevicePtr, aType, lda int, B DevicePtr, bType, ldb int, beta float32,
	C DevicePtr, cType, ldc int, compute, algo int) error {
	r, _, _ := purego.SyscallN(b.gemmEx, uintptr(h), uintptr(transA), uintptr(transB),
		uintptr(m), uintptr(n), uintptr(k), uintptr(unsafe.Pointer(&alpha)),
		uintptr(A), uintptr(aType), uintptr(lda), uintptr(B), uintptr(bType), uintptr(ldb),
		uintptr(unsafe.Pointer(&beta)), uintptr(C), uintptr(cType), uintptr(ldc),
		uintptr(compute), uintptr(int32(algo)))
	return b.check("cublasGemmEx", r)
}
