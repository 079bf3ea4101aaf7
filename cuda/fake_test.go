package cuda

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
)

// fakeDir builds the fake libraries of testdata/ once per test binary.
var fakeOnce struct {
	sync.Once
	dir string
	err error
}

// fakeLibs returns a folder with libcuda.so.1, libcublas.so.13,
// libcublasLt.so.13 and libcudnn.so.9 built from testdata/*.c, and a
// libcuda missing cuEventElapsedTime in sub folder "broken".
func fakeLibs(t *testing.T) string { return fakeLibsB(t) }

// fakeLibsB is fakeLibs for tests and benchmarks.
func fakeLibsB(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: cannot build the fake CUDA libraries")
	}
	fakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakecuda")
		if err != nil {
			fakeOnce.err = err
			return
		}
		builds := []struct {
			src, out string
			flags    []string
		}{
			{"fakecuda.c", "libcuda.so.1", nil},
			{"fakecublas.c", "libcublas.so.13", nil},
			{"fakecublasLt.c", "libcublasLt.so.13", nil},
			{"fakecudnn.c", "libcudnn.so.9", nil},
			{"fakecuda.c", "broken/libcuda.so.1", []string{"-DOMIT_ELAPSED"}},
			{"fakecudnn.c", "split/libcudnn.so.9", []string{"-DCORE_ONLY"}},
			{"fakecudnn.c", "split/libcudnn_cnn.so.9", nil},
		}
		os.Mkdir(filepath.Join(dir, "broken"), 0o755)
		os.Mkdir(filepath.Join(dir, "split"), 0o755)
		for _, b := range builds {
			args := append([]string{"-shared", "-fPIC", "-O1", "-o", filepath.Join(dir, b.out), filepath.Join("testdata", b.src)}, b.flags...)
			if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
				fakeOnce.err = errors.New("gcc " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(out))
				return
			}
		}
		fakeOnce.dir = dir
	})
	if fakeOnce.err != nil {
		t.Fatal(fakeOnce.err)
	}
	return fakeOnce.dir
}

// fakeOpts searches only dir.
func fakeOpts(dir string) Options {
	return Options{LibPaths: []string{dir}, NoEnv: true, NoPip: true, NoSystem: true, Checks: true}
}

func TestNoDriverError(t *testing.T) {
	empty := t.TempDir()
	_, err := New(fakeOpts(empty))
	if err == nil {
		t.Fatal("New with no libcuda: got nil error")
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Errorf("error %v does not wrap ErrNoDriver", err)
	}
	for _, want := range []string{"no CUDA driver found", filepath.Join(empty, "libcuda.so.1") + " (absent)", EnvLibPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := Available(fakeOpts(empty)); !errors.Is(err, ErrNoDriver) {
		t.Errorf("Available: got %v, want ErrNoDriver", err)
	}
}

func TestMissingSymbol(t *testing.T) {
	dir := fakeLibs(t)
	_, err := OpenDriver(fakeOpts(filepath.Join(dir, "broken")))
	if err == nil || !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "cuEventElapsedTime_v2|cuEventElapsedTime") {
		t.Fatalf("got %v, want ErrNoDriver naming cuEventElapsedTime", err)
	}
}

// A cuDNN front library without the convolution API is completed from
// libcudnn_cnn.so.9 beside it; without that, the error names the symbols.
func TestDNNSubLibraries(t *testing.T) {
	dir := filepath.Join(fakeLibs(t), "split")
	d, err := OpenDNN(fakeOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if d.fwd == 0 || d.bwdFilter == 0 || d.Version() != 92400 {
		t.Errorf("convolutions not bound from libcudnn_cnn.so.9")
	}
	alone := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "libcudnn.so.9"), filepath.Join(alone, "libcudnn.so.9")); err != nil {
		t.Fatal(err)
	}
	_, err = OpenDNN(fakeOpts(alone))
	if err == nil || !strings.Contains(err.Error(), "missing symbols") || !strings.Contains(err.Error(), "cudnnConvolutionForward") {
		t.Errorf("front library alone: got %v", err)
	}
}

func TestNoDevice(t *testing.T) {
	dir := fakeLibs(t)
	t.Setenv("FAKECUDA_DEVICES", "0")
	_, err := New(fakeOpts(dir))
	if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "device 0 requested, 0 present") {
		t.Fatalf("got %v, want ErrNoDriver with 'device 0 requested, 0 present'", err)
	}
}

func TestDiscovery(t *testing.T) {
	dir := fakeLibs(t)
	link := func(t *testing.T, to string, names ...string) {
		t.Helper()
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.Symlink(filepath.Join(dir, n), filepath.Join(to, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv(EnvLibPath, "/nonexistent:"+dir)
		d, err := OpenDriver(Options{NoPip: true, NoSystem: true})
		if err != nil {
			t.Fatal(err)
		}
		if d.Path != filepath.Join(dir, "libcuda.so.1") {
			t.Errorf("loaded %s", d.Path)
		}
	})
	t.Run("pip", func(t *testing.T) {
		site := t.TempDir()
		link(t, filepath.Join(site, "nvidia", "cu13", "lib"), "libcublas.so.13", "libcublasLt.so.13")
		link(t, filepath.Join(site, "nvidia", "cudnn", "lib"), "libcudnn.so.9")
		o := Options{NoEnv: true, NoSystem: true, SitePackages: []string{site}}
		b, err := OpenBLAS(o)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(site, "nvidia", "cu13", "lib", "libcublas.so.13"); b.Path != want {
			t.Errorf("cuBLAS from %s, want %s", b.Path, want)
		}
		d, err := OpenDNN(o)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(site, "nvidia", "cudnn", "lib", "libcudnn.so.9"); d.Path != want {
			t.Errorf("cuDNN from %s, want %s", d.Path, want)
		}
		if v := d.Version(); v != 92400 {
			t.Errorf("cuDNN version %d, want 92400", v)
		}
	})
	t.Run("order", func(t *testing.T) {
		o := Options{LibPaths: []string{"a", "b"}, NoPip: true}
		t.Setenv(EnvLibPath, "b:c")
		if got := strings.Join(o.searchDirs(), ":"); got != "a:b:c" {
			t.Errorf("search order %s, want a:b:c", got)
		}
	})
}

// fakeBackend starts a Backend on the fake libraries.
func fakeBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(fakeOpts(fakeLibs(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBackendFake(t *testing.T) {
	b := fakeBackend(t)
	if b.Name() != "cuda" || b.Device() != "Fake GPU (sm_90, 80.0 GiB)" {
		t.Errorf("Name %q Device %q", b.Name(), b.Device())
	}
	ctx := context.Background()
	err := b.Do(ctx, func() error {
		d := b.Driver
		x := []float32{1, 2, 3, 4, 5}
		p, err := d.Alloc(4 * len(x))
		if err != nil {
			return err
		}
		defer d.Free(p)
		if err := CopyHtoD(d, p, x); err != nil {
			return err
		}
		q, err := d.Alloc(4 * len(x))
		if err != nil {
			return err
		}
		defer d.Free(q)
		if err := d.CopyDtoD(q, p, 4*len(x)); err != nil {
			return err
		}
		if err := d.MemsetD32(q.Add(4), math.Float32bits(-1), 2); err != nil {
			return err
		}
		got := make([]float32, len(x))
		if err := CopyDtoH(d, got, q); err != nil {
			return err
		}
		if want := []float32{1, -1, -1, 4, 5}; !equal(got, want) {
			t.Errorf("round trip: got %v, want %v", got, want)
		}
		_, err = d.Alloc(1 << 41)
		if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): fake: out of memory") {
			t.Errorf("huge alloc: got %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const fakePTX = `// fake module
.visible .entry fake_axpy(
	.param .f32 a,
	.param .u64 x,
	.param .u64 y,
	.param .u32 n
)
{
}
.visible .entry fake_sig(
	.param .u32 a, .param .f32 b, .param .u64 c, .param .u64 d, .param .u32 e, .param .f32 f
)
`

func TestLaunchFake(t *testing.T) {
	b := fakeBackend(t)
	h, err := purego.Dlopen(b.Driver.Path, purego.RTLD_NOW)
	if err != nil {
		t.Fatal(err)
	}
	lastLaunch, _ := purego.Dlsym(h, "fake_last_launch")
	lastParam, _ := purego.Dlsym(h, "fake_last_param")
	err = b.Do(context.Background(), func() error {
		d := b.Driver
		if _, err := d.LoadModule([]byte("no entries")); !errors.Is(err, ErrInvalidPTX) {
			t.Errorf("bad PTX: got %v, want CUDA_ERROR_INVALID_PTX", err)
		}
		m, err := d.LoadModule([]byte(fakePTX))
		if err != nil {
			return err
		}
		defer d.UnloadModule(m)
		if _, err := d.Function(m, "missing"); err == nil || !strings.Contains(err.Error(), `kernel "missing": cuModuleGetFunction: CUDA_ERROR_NOT_FOUND (500)`) {
			t.Errorf("missing kernel: got %v", err)
		}
		axpy, err := d.Function(m, "fake_axpy")
		if err != nil {
			return err
		}
		n := 1000
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = float32(i), 1
		}
		px, _ := d.Alloc(4 * n)
		py, _ := d.Alloc(4 * n)
		CopyHtoD(d, px, x)
		CopyHtoD(d, py, y)
		// The engine queues on the legacy default stream; any handle goes
		// through to cuLaunchKernel, which the fake records.
		s := Stream(0x5001)
		var a Args
		defer a.Release()
		if err := d.Launch(axpy, Dim3{X: 4}, Dim3{X: 256}, 128, s, a.Reset().F32(0.5).Ptr(px).Ptr(py).I32(n)); err != nil {
			return err
		}
		CopyDtoH(d, y, py)
		for i := range y {
			if y[i] != 1+0.5*float32(i) {
				t.Fatalf("axpy y[%d] = %v, want %v", i, y[i], 1+0.5*float32(i))
			}
		}
		var rec [10]uint64
		np, _, _ := purego.SyscallN(lastLaunch, uintptrOf(&rec[0]))
		if np != 4 || rec[0] != 4 || rec[1] != 1 || rec[3] != 256 || rec[4] != 1 || rec[6] != 128 || rec[7] != uint64(s) || rec[8] != 0 {
			t.Errorf("launch record %v (params %d)", rec, np)
		}
		sig, _ := d.Function(m, "fake_sig")
		if err := d.Launch(sig, Dim3{X: 1}, Dim3{X: 1}, 0, 0, a.Reset().I32(-7).F32(2.5).U64(1<<40+3).Ptr(0xdead0).I32(1<<31-1).F32(-0)); err != nil {
			return err
		}
		want := []uint64{uint64(uint32(0xfffffff9)), uint64(math.Float32bits(2.5)), 1<<40 + 3, 0xdead0, 1<<31 - 1, uint64(math.Float32bits(-0))}
		for i, w := range want {
			got, _, _ := purego.SyscallN(lastParam, uintptr(i))
			if uint64(got) != w {
				t.Errorf("param %d: got %#x, want %#x", i, got, w)
			}
		}
		if err := d.Launch(sig, Dim3{X: 1}, Dim3{X: 2048}, 0, 0, &a); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("oversized block: got %v", err)
		}
		e0, _ := d.NewEvent()
		e1, _ := d.NewEvent()
		d.Record(e0, s)
		d.Record(e1, s)
		d.SyncEvent(e1)
		if ms, err := d.Elapsed(e0, e1); err != nil || ms != 1.5 {
			t.Errorf("elapsed %v, %v; want 1.5 ms", ms, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBLASFake(t *testing.T) {
	b := fakeBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	m, n, k := 5, 3, 4
	A, B := randSlice(rng, m*k), randSlice(rng, k*n)
	err := b.Do(context.Background(), func() error {
		d, bl := b.Driver, b.BLAS
		h, err := bl.Create()
		if err != nil {
			return err
		}
		defer bl.Destroy(h)
		if v, err := bl.Version(h); err != nil || v != 130101 {
			t.Errorf("version %d %v", v, err)
		}
		pa, _ := d.Alloc(4 * len(A))
		pb, _ := d.Alloc(4 * len(B))
		pc, _ := d.Alloc(4 * m * n)
		CopyHtoD(d, pa, A)
		CopyHtoD(d, pb, B)
		// Row-major C(m,n) = A(m,k) B(k,n) is column-major C^T = B^T A^T.
		if err := bl.Sgemm(h, OpN, OpN, n, m, k, 1, pb, n, pa, k, 0, pc, n); err != nil {
			return err
		}
		got := make([]float32, m*n)
		CopyDtoH(d, got, pc)
		checkGemm(t, "Sgemm", got, A, B, m, n, k)
		if err := bl.GemmEx(h, OpN, OpN, n, m, k, 1, pb, DataF32, n, pa, DataF32, k, 0, pc, DataF32, n, ComputeF32, GemmDefault); err != nil {
			return err
		}
		CopyDtoH(d, got, pc)
		checkGemm(t, "GemmEx", got, A, B, m, n, k)
		err = bl.GemmEx(h, OpN, OpN, n, m, k, 1, pb, DataBF16, n, pa, DataBF16, k, 0, pc, DataF32, n, ComputeF32, GemmDefault)
		if err == nil || err.Error() != "cublasGemmEx: CUBLAS_STATUS_NOT_SUPPORTED (15)" {
			t.Errorf("bf16 on fake: got %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
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

func TestVersions(t *testing.T) {
	b := fakeBackend(t)
	dir := fakeLibs(t)
	want := "CUDA driver 13000 (" + filepath.Join(dir, "libcuda.so.1") + "); cuBLAS 130101 (" + filepath.Join(dir, "libcublas.so.13") +
		"); cuDNN 92400 (" + filepath.Join(dir, "libcudnn.so.9") + ")"
	if got := b.Versions(); got != want {
		t.Errorf("Versions() = %q, want %q", got, want)
	}
}
