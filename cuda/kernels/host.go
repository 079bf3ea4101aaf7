package kernels

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"

	"github.com/ebitengine/purego"
)

// Host is the kernels' CUDA C compiled for the CPU (prelude.h's
// SPEEDRUN_HOST build) and bound with purego: what the host-exec tests of
// this package and the cuda package's engine tests run instead of a GPU.
// Test support; nothing on the device path uses it.
type Host struct {
	// Fns holds every kernel of Signatures, typed by its parameter kinds
	// (Ptr: uintptr, I32: int32, F32: float32).
	Fns map[string]reflect.Value
	// Block sets the grid geometry and the block being run (and arms the
	// block barrier); SetThread sets threadIdx for the calling OS thread.
	Block     func(bx, by, bz, dx, dy, dz, gx, gy, gz uint32)
	SetThread func(x, y, z uint32)
}

// BuildHost compiles srcDir's *.cu files and internal/host.cc with
// clang-16 into a shared library in outDir and binds every kernel.
func BuildHost(srcDir, outDir string) (*Host, error) {
	srcs, err := filepath.Glob(filepath.Join(srcDir, "*.cu"))
	if err != nil || len(srcs) == 0 {
		return nil, fmt.Errorf("kernels: no .cu sources in %s (%v)", srcDir, err)
	}
	so := filepath.Join(outDir, "kernels.so")
	args := append([]string{"-x", "c++", "-std=c++17", "-O1", "-fPIC", "-shared", "-DSPEEDRUN_HOST", "-Wall", "-Werror", "-o", so}, srcs...)
	args = append(args, filepath.Join(srcDir, "internal", "host.cc"), "-lpthread")
	if out, err := exec.Command("clang-16", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("clang-16 host build: %v\n%s", err, out)
	}
	lib, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, err
	}
	h := &Host{Fns: map[string]reflect.Value{}}
	kind := map[Kind]reflect.Type{Ptr: reflect.TypeOf(uintptr(0)), I32: reflect.TypeOf(int32(0)), F32: reflect.TypeOf(float32(0))}
	for _, s := range Signatures {
		var in []reflect.Type
		for _, p := range s.Params {
			in = append(in, kind[p.Kind])
		}
		fn := reflect.New(reflect.FuncOf(in, nil, false))
		sym, err := purego.Dlsym(lib, s.Name)
		if err != nil {
			return nil, fmt.Errorf("host build lacks %s: %w", s.Name, err)
		}
		purego.RegisterFunc(fn.Interface(), sym)
		h.Fns[s.Name] = fn.Elem()
	}
	purego.RegisterLibFunc(&h.Block, lib, "speedrun_host_block")
	purego.RegisterLibFunc(&h.SetThread, lib, "speedrun_host_thread")
	return h, nil
}
