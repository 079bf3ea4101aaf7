package driver

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LoadModule JIT-loads PTX (or a cubin) held in memory.
func (d *Driver) LoadModule(image []byte) (Module, error) {
	if len(image) == 0 || image[len(image)-1] != 0 {
		// The driver reads PTX as a C string.
		image = append(append([]byte(nil), image...), 0)
	}
	var m uintptr
	r, _, _ := purego.SyscallN(d.cuModuleLoadData, uintptr(unsafe.Pointer(&m)), uintptr(unsafe.Pointer(&image[0])))
	keep(image)
	if err := d.check("cuModuleLoadData", r); err != nil {
		return 0, fmt.Errorf("load module (%d bytes): %w", len(image), err)
	}
	return Module(m), nil
}

// UnloadModule unloads m.
func (d *Driver) UnloadModule(m Module) error {
	r, _, _ := purego.SyscallN(d.cuModuleUnload, uintptr(m))
	return d.check("cuModuleUnload", r)
}

// Function looks up a kernel by its (extern "C") name.
func (d *Driver) Function(m Module, name string) (Function, error) {
	var f uintptr
	cs := cString(name)
	r, _, _ := purego.SyscallN(d.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), uintptr(m), uintptr(unsafe.Pointer(&cs[0])))
	keep(cs)
	if err := d.check("cuModuleGetFunction", r); err != nil {
		return 0, fmt.Errorf("kernel %q: %w", name, err)
	}
	return Function(f), nil
}

// MaxKernelArgs bounds the parameters of one launch.
const MaxKernelArgs = 24

// Args is a reusable, pinned kernel parameter block: each argument lives in
// an 8-byte slot (the kernel reads only the bytes its type needs; x86-64
// and the GPU are both little-endian) and ptrs is the void** array that
// cuLaunchKernel wants. Reusing one Args keeps launches allocation-free.
type Args struct {
	slots  [MaxKernelArgs]uint64
	ptrs   [MaxKernelArgs]unsafe.Pointer
	kinds  [MaxKernelArgs]ParamKind
	n      int
	pinner runtime.Pinner
	pinned bool
}

// ParamKind is the type of one kernel parameter as PTX declares it.
type ParamKind uint8

// Parameter kinds.
const (
	KPtr ParamKind = iota + 1 // .u64 holding a device pointer
	KI32                      // .u32 / .s32
	KF32                      // .f32
	KU64                      // .u64 holding an integer
)

func (k ParamKind) String() string {
	switch k {
	case KPtr:
		return "ptr"
	case KI32:
		return "i32"
	case KF32:
		return "f32"
	case KU64:
		return "u64"
	}
	return fmt.Sprintf("ParamKind(%d)", uint8(k))
}

// Reset empties a for the next launch.
func (a *Args) Reset() *Args { a.n = 0; return a }

func (a *Args) push(k ParamKind, v uint64) *Args {
	if a.n < MaxKernelArgs {
		a.slots[a.n] = v
		a.kinds[a.n] = k
	}
	a.n++
	return a
}

// Ptr appends a device pointer.
func (a *Args) Ptr(p DevicePtr) *Args { return a.push(KPtr, uint64(p)) }

// I32 appends a 32-bit integer.
func (a *Args) I32(v int) *Args { return a.push(KI32, uint64(uint32(int32(v)))) }

// F32 appends a float.
func (a *Args) F32(v float32) *Args { return a.push(KF32, uint64(math.Float32bits(v))) }

// U64 appends a 64-bit integer.
func (a *Args) U64(v uint64) *Args { return a.push(KU64, v) }

// Len is the number of arguments pushed since Reset (more than
// MaxKernelArgs when too many were: Launch refuses those).
func (a *Args) Len() int { return a.n }

// Kind is the kind of argument i: signature checks compare it with the
// kernel's declaration.
func (a *Args) Kind(i int) ParamKind { return a.kinds[i] }

// Slot is argument i's 8-byte slot as the kernel reads it: a launch hook
// that runs kernels elsewhere (the host build in tests) decodes it by
// Kind.
func (a *Args) Slot(i int) uint64 { return a.slots[i] }

// Release unpins a; call it once a is no longer used.
func (a *Args) Release() {
	if a.pinned {
		a.pinner.Unpin()
		a.pinned = false
	}
}

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z int }

// Launch queues f on s with grid, block, dynamic shared memory bytes and
// the parameters in a.
func (d *Driver) Launch(f Function, grid, block Dim3, shared int, s Stream, a *Args) error {
	if a.n > MaxKernelArgs {
		return fmt.Errorf("cuda: launch with %d args: at most %d", a.n, MaxKernelArgs)
	}
	if !a.pinned {
		// The driver reads the params array and the slots it points at;
		// pinning the Args object covers both.
		a.pinner.Pin(a)
		a.pinned = true
	}
	for i := 0; i < a.n; i++ {
		a.ptrs[i] = unsafe.Pointer(&a.slots[i])
	}
	var params uintptr
	if a.n > 0 {
		params = uintptr(unsafe.Pointer(&a.ptrs[0]))
	}
	g, b := grid.Norm(), block.Norm()
	r, _, _ := purego.SyscallN(d.cuLaunchKernel, uintptr(f),
		uintptr(g.X), uintptr(g.Y), uintptr(g.Z),
		uintptr(b.X), uintptr(b.Y), uintptr(b.Z),
		uintptr(shared), uintptr(s), params, 0)
	return d.check("cuLaunchKernel", r)
}

// Norm is v as the driver launches it: a dimension below 1 counts as 1.
func (v Dim3) Norm() Dim3 {
	if v.X < 1 {
		v.X = 1
	}
	if v.Y < 1 {
		v.Y = 1
	}
	if v.Z < 1 {
		v.Z = 1
	}
	return v
}
