package cublas

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
)

func TestBLASFake(t *testing.T) {
	d := fakecuda.Context(t)
	bl, err := Open(fakecuda.Search(fakecuda.Dir(t)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m, n, k := 5, 3, 4
	A, B := randn(rng, m*k), randn(rng, k*n)
	h, err := bl.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Destroy(h)
	if v, err := bl.Version(h); err != nil || v != 130101 {
		t.Errorf("version %d %v", v, err)
	}
	pa, _ := d.Alloc(4 * len(A))
	pb, _ := d.Alloc(4 * len(B))
	pc, _ := d.Alloc(4 * m * n)
	driver.CopyHtoD(d, pa, A)
	driver.CopyHtoD(d, pb, B)
	// Row-major C(m,n) = A(m,k) B(k,n) is column-major C^T = B^T A^T.
	if err := bl.Sgemm(h, OpN, OpN, n, m, k, 1, pb, n, pa, k, 0, pc, n); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, m*n)
	driver.CopyDtoH(d, got, pc)
	checkGemm(t, "Sgemm", got, A, B, m, n, k)
	if err := bl.GemmEx(h, OpN, OpN, n, m, k, 1, pb, DataF32, n, pa, DataF32, k, 0, pc, DataF32, n, ComputeF32, GemmDefault); err != nil {
		t.Fatal(err)
	}
	driver.CopyDtoH(d, got, pc)
	checkGemm(t, "GemmEx", got, A, B, m, n, k)
	// bf16 operands (the fake keeps bf16 as the upper half of fp32), fp32
	// accumulation and result: the product of the rounded operands.
	ab, bb := bf16s(A), bf16s(B)
	qa, _ := d.Alloc(2 * len(A))
	qb, _ := d.Alloc(2 * len(B))
	driver.CopyHtoD(d, qa, ab)
	driver.CopyHtoD(d, qb, bb)
	if err := bl.GemmEx(h, OpN, OpN, n, m, k, 1, qb, DataBF16, n, qa, DataBF16, k, 0, pc, DataF32, n, ComputeF32, GemmDefault); err != nil {
		t.Fatal(err)
	}
	driver.CopyDtoH(d, got, pc)
	checkGemm(t, "GemmEx bf16", got, widen(ab), widen(bb), m, n, k)
	err = bl.GemmEx(h, OpN, OpN, n, m, k, 1, pb, DataF16, n, pa, DataF16, k, 0, pc, DataF32, n, ComputeF32, GemmDefault)
	if err == nil || err.Error() != "cublasGemmEx: CUBLAS_STATUS_NOT_SUPPORTED (15)" {
		t.Errorf("fp16 on fake: got %v", err)
	}
}

// bf16s truncates to bf16 bits (exact for the check: widen gives the
// values the fake multiplies); widen is its inverse.
func bf16s(x []float32) []uint16 {
	out := make([]uint16, len(x))
	for i, v := range x {
		out[i] = uint16(math.Float32bits(v) >> 16)
	}
	return out
}

func widen(x []uint16) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = math.Float32frombits(uint32(v) << 16)
	}
	return out
}

func randn(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func checkGemm(t *testing.T, name string, got, A, B []float32, m, n, k int) {
	t.Helper()
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(A[i*k+p]) * float64(B[p*n+j])
			}
			if math.Abs(float64(got[i*n+j])-s) > 1e-5 {
				t.Fatalf("%s C[%d,%d] = %v, want %v", name, i, j, got[i*n+j], s)
			}
		}
	}
}

// PyTorch's CUDA 13 wheels put cuBLAS and cuBLASLt in nvidia/cu13/lib.
func TestPipDiscovery(t *testing.T) {
	site, lib := fakecuda.PipSite(t, "cu13", "libcublas.so.13", "libcublasLt.so.13")
	b, err := Open(driver.Search{NoEnv: true, NoSystem: true, SitePackages: []string{site}})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lib, "libcublas.so.13"); b.Path != want {
		t.Errorf("cuBLAS from %s, want %s", b.Path, want)
	}
}
