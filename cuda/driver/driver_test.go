package driver_test

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
)

func TestMissingSymbol(t *testing.T) {
	dir := fakecuda.Dir(t)
	_, err := driver.Open(fakecuda.Search(filepath.Join(dir, "broken")))
	if err == nil || !errors.Is(err, driver.ErrNoDriver) || !strings.Contains(err.Error(), "cuEventElapsedTime_v2|cuEventElapsedTime") {
		t.Fatalf("got %v, want ErrNoDriver naming cuEventElapsedTime", err)
	}
}

func TestNoLibrary(t *testing.T) {
	empty := t.TempDir()
	_, err := driver.Open(fakecuda.Search(empty))
	if !errors.Is(err, driver.ErrNoDriver) {
		t.Fatalf("got %v, want ErrNoDriver", err)
	}
	var le *driver.LoadError
	if !errors.As(err, &le) || len(le.Tried) != 2 || le.Tried[0] != filepath.Join(empty, "libcuda.so.1")+" (absent)" {
		t.Errorf("load error %#v", le)
	}
}

func TestDiscovery(t *testing.T) {
	dir := fakecuda.Dir(t)
	t.Run("env", func(t *testing.T) {
		t.Setenv(driver.EnvLibPath, "/nonexistent:"+dir)
		d, err := driver.Open(driver.Search{NoPip: true, NoSystem: true})
		if err != nil {
			t.Fatal(err)
		}
		if d.Path != filepath.Join(dir, "libcuda.so.1") {
			t.Errorf("loaded %s", d.Path)
		}
	})
	t.Run("order", func(t *testing.T) {
		o := driver.Search{LibPaths: []string{"a", "b"}, NoPip: true}
		t.Setenv(driver.EnvLibPath, "b:c")
		if got := strings.Join(o.Dirs(), ":"); got != "a:b:c" {
			t.Errorf("search order %s, want a:b:c", got)
		}
	})
}

func TestMemoryFake(t *testing.T) {
	d := fakecuda.Context(t)
	x := []float32{1, 2, 3, 4, 5}
	p, err := d.Alloc(4 * len(x))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free(p)
	if err := driver.CopyHtoD(d, p, x); err != nil {
		t.Fatal(err)
	}
	q, err := d.Alloc(4 * len(x))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free(q)
	if err := d.CopyDtoD(q, p, 4*len(x)); err != nil {
		t.Fatal(err)
	}
	if err := d.MemsetD32(q.Add(4), math.Float32bits(-1), 2); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(x))
	if err := driver.CopyDtoH(d, got, q); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, -1, -1, 4, 5}; !equal(got, want) {
		t.Errorf("round trip: got %v, want %v", got, want)
	}
	_, err = d.Alloc(1 << 41)
	if !errors.Is(err, driver.ErrOutOfMemory) || !strings.Contains(err.Error(), "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): fake: out of memory") {
		t.Errorf("huge alloc: got %v", err)
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
	d := fakecuda.Context(t)
	h, err := purego.Dlopen(d.Path, purego.RTLD_NOW)
	if err != nil {
		t.Fatal(err)
	}
	lastLaunch, _ := purego.Dlsym(h, "fake_last_launch")
	lastParam, _ := purego.Dlsym(h, "fake_last_param")
	if _, err := d.LoadModule([]byte("no entries")); !errors.Is(err, driver.ErrInvalidPTX) {
		t.Errorf("bad PTX: got %v, want CUDA_ERROR_INVALID_PTX", err)
	}
	m, err := d.LoadModule([]byte(fakePTX))
	if err != nil {
		t.Fatal(err)
	}
	defer d.UnloadModule(m)
	if _, err := d.Function(m, "missing"); err == nil || !strings.Contains(err.Error(), `kernel "missing": cuModuleGetFunction: CUDA_ERROR_NOT_FOUND (500)`) {
		t.Errorf("missing kernel: got %v", err)
	}
	axpy, err := d.Function(m, "fake_axpy")
	if err != nil {
		t.Fatal(err)
	}
	n := 1000
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(i), 1
	}
	px, _ := d.Alloc(4 * n)
	py, _ := d.Alloc(4 * n)
	driver.CopyHtoD(d, px, x)
	driver.CopyHtoD(d, py, y)
	// The engine queues on the legacy default stream; any handle goes
	// through to cuLaunchKernel, which the fake records.
	s := driver.Stream(0x5001)
	var a driver.Args
	defer a.Release()
	if err := d.Launch(axpy, driver.Dim3{X: 4}, driver.Dim3{X: 256}, 128, s, a.Reset().F32(0.5).Ptr(px).Ptr(py).I32(n)); err != nil {
		t.Fatal(err)
	}
	driver.CopyDtoH(d, y, py)
	for i := range y {
		if y[i] != 1+0.5*float32(i) {
			t.Fatalf("axpy y[%d] = %v, want %v", i, y[i], 1+0.5*float32(i))
		}
	}
	var rec [10]uint64
	np, _, _ := purego.SyscallN(lastLaunch, uintptr(unsafe.Pointer(&rec[0])))
	if np != 4 || rec[0] != 4 || rec[1] != 1 || rec[3] != 256 || rec[4] != 1 || rec[6] != 128 || rec[7] != uint64(s) || rec[8] != 0 {
		t.Errorf("launch record %v (params %d)", rec, np)
	}
	sig, _ := d.Function(m, "fake_sig")
	if err := d.Launch(sig, driver.Dim3{X: 1}, driver.Dim3{X: 1}, 0, 0, a.Reset().I32(-7).F32(2.5).U64(1<<40+3).Ptr(0xdead0).I32(1<<31-1).F32(-0)); err != nil {
		t.Fatal(err)
	}
	want := []uint64{uint64(uint32(0xfffffff9)), uint64(math.Float32bits(2.5)), 1<<40 + 3, 0xdead0, 1<<31 - 1, uint64(math.Float32bits(-0))}
	for i, w := range want {
		got, _, _ := purego.SyscallN(lastParam, uintptr(i))
		if uint64(got) != w {
			t.Errorf("param %d: got %#x, want %#x", i, got, w)
		}
		if a.Slot(i) != w {
			t.Errorf("Args slot %d: %#x, want %#x", i, a.Slot(i), w)
		}
	}
	if a.Len() != 6 || a.Kind(0) != driver.KI32 || a.Kind(1) != driver.KF32 || a.Kind(2) != driver.KU64 || a.Kind(3) != driver.KPtr {
		t.Errorf("Args: %d arguments, kinds %v %v %v %v", a.Len(), a.Kind(0), a.Kind(1), a.Kind(2), a.Kind(3))
	}
	if err := d.Launch(sig, driver.Dim3{X: 1}, driver.Dim3{X: 2048}, 0, 0, &a); !errors.Is(err, driver.ErrInvalidValue) {
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
}
