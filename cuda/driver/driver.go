// Package driver binds the CUDA driver API (libcuda) at run time with
// purego: no cgo and no NVIDIA headers at build time, so a machine without
// a GPU builds and tests the binary. It also finds and opens NVIDIA's
// shared libraries (Search, OpenLibrary), which packages cublas and cudnn
// share, and reports every failed library call as an *Error.
//
// Each Driver method makes one C call and must run on the OS thread that
// holds the current context; speedrun/cuda's Backend owns that thread.
package driver

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// DevicePtr is a CUdeviceptr: an address in device memory.
type DevicePtr uintptr

// Add offsets p by n bytes.
func (p DevicePtr) Add(n int) DevicePtr { return p + DevicePtr(n) }

// Stream is a CUstream; 0 is the legacy default stream.
type Stream uintptr

// Event is a CUevent.
type Event uintptr

// Module is a loaded CUmodule.
type Module uintptr

// Function is a CUfunction from a Module.
type Function uintptr

// DeviceAttr is a CUdevice_attribute.
type DeviceAttr int32

// Device attributes (public driver API values; verified on the device by
// gpu-check.sh's header probe).
const (
	AttrMaxThreadsPerBlock      DeviceAttr = 1
	AttrMaxSharedMemoryPerBlock DeviceAttr = 8
	AttrClockRate               DeviceAttr = 13
	AttrMultiprocessorCount     DeviceAttr = 16
	AttrL2CacheSize             DeviceAttr = 38
	AttrComputeCapabilityMajor  DeviceAttr = 75
	AttrComputeCapabilityMinor  DeviceAttr = 76
)

// Driver is the bound driver API (libcuda.so.1). Its methods make one C
// call each and must run on the OS thread that holds the current context.
type Driver struct {
	Path string // the library that was loaded

	cuInit, cuDriverGetVersion, cuGetErrorName, cuGetErrorString          uintptr
	cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute  uintptr
	cuDeviceTotalMem, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease uintptr
	cuCtxSetCurrent, cuCtxSynchronize, cuMemGetInfo                       uintptr
	cuMemAlloc, cuMemFree, cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD       uintptr
	cuMemsetD8, cuMemsetD32                                               uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel uintptr
	cuEventCreate, cuEventDestroy, cuEventRecord, cuEventSynchronize      uintptr
	cuEventElapsedTime                                                    uintptr
}

// libcudaNames are the driver's sonames.
var libcudaNames = []string{"libcuda.so.1", "libcuda.so"}

// Open loads and binds libcuda from the folders s names. It does not call
// cuInit. Any failure wraps ErrNoDriver.
func Open(s Search) (*Driver, error) {
	lib, err := OpenLibrary(s, libcudaNames)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDriver, err)
	}
	d := &Driver{Path: lib.Path}
	err = lib.Bind([]Symbol{
		{Dst: &d.cuInit, Names: []string{"cuInit"}},
		{Dst: &d.cuDriverGetVersion, Names: []string{"cuDriverGetVersion"}},
		{Dst: &d.cuGetErrorName, Names: []string{"cuGetErrorName"}, Optional: true},
		{Dst: &d.cuGetErrorString, Names: []string{"cuGetErrorString"}, Optional: true},
		{Dst: &d.cuDeviceGetCount, Names: []string{"cuDeviceGetCount"}},
		{Dst: &d.cuDeviceGet, Names: []string{"cuDeviceGet"}},
		{Dst: &d.cuDeviceGetName, Names: []string{"cuDeviceGetName"}},
		{Dst: &d.cuDeviceGetAttribute, Names: []string{"cuDeviceGetAttribute"}},
		{Dst: &d.cuDeviceTotalMem, Names: []string{"cuDeviceTotalMem_v2"}},
		{Dst: &d.cuDevicePrimaryCtxRetain, Names: []string{"cuDevicePrimaryCtxRetain"}},
		{Dst: &d.cuDevicePrimaryCtxRelease, Names: []string{"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"}},
		{Dst: &d.cuCtxSetCurrent, Names: []string{"cuCtxSetCurrent"}},
		{Dst: &d.cuCtxSynchronize, Names: []string{"cuCtxSynchronize"}},
		{Dst: &d.cuMemGetInfo, Names: []string{"cuMemGetInfo_v2"}},
		{Dst: &d.cuMemAlloc, Names: []string{"cuMemAlloc_v2"}},
		{Dst: &d.cuMemFree, Names: []string{"cuMemFree_v2"}},
		{Dst: &d.cuMemcpyHtoD, Names: []string{"cuMemcpyHtoD_v2"}},
		{Dst: &d.cuMemcpyDtoH, Names: []string{"cuMemcpyDtoH_v2"}},
		{Dst: &d.cuMemcpyDtoD, Names: []string{"cuMemcpyDtoD_v2"}},
		{Dst: &d.cuMemsetD8, Names: []string{"cuMemsetD8_v2"}},
		{Dst: &d.cuMemsetD32, Names: []string{"cuMemsetD32_v2"}},
		{Dst: &d.cuModuleLoadData, Names: []string{"cuModuleLoadData"}},
		{Dst: &d.cuModuleUnload, Names: []string{"cuModuleUnload"}},
		{Dst: &d.cuModuleGetFunction, Names: []string{"cuModuleGetFunction"}},
		{Dst: &d.cuLaunchKernel, Names: []string{"cuLaunchKernel"}},
		{Dst: &d.cuEventCreate, Names: []string{"cuEventCreate"}},
		{Dst: &d.cuEventDestroy, Names: []string{"cuEventDestroy_v2"}},
		{Dst: &d.cuEventRecord, Names: []string{"cuEventRecord"}},
		{Dst: &d.cuEventSynchronize, Names: []string{"cuEventSynchronize"}},
		// CUDA 12.8 added _v2 (and CUDA 13 headers map the plain name to
		// it); the plain symbol stays exported for older binaries.
		{Dst: &d.cuEventElapsedTime, Names: []string{"cuEventElapsedTime_v2", "cuEventElapsedTime"}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDriver, err)
	}
	return d, nil
}

// check turns a CUresult into an *Error (nil on success).
func (d *Driver) check(fn string, r uintptr) error {
	code := Result(int32(r))
	if code == Success {
		return nil
	}
	e := &Error{Func: fn, Code: int32(code), Name: code.String()}
	if d.cuGetErrorName != 0 {
		var p *byte
		if purego.SyscallN(d.cuGetErrorName, uintptr(code), uintptr(unsafe.Pointer(&p))); p != nil {
			e.Name = GoString(p)
		}
	}
	if d.cuGetErrorString != 0 {
		var p *byte
		if purego.SyscallN(d.cuGetErrorString, uintptr(code), uintptr(unsafe.Pointer(&p))); p != nil {
			e.Detail = GoString(p)
		}
	}
	return e
}

// GoString copies a NUL-terminated C string owned by a library.
func GoString(p *byte) string {
	var n int
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// Init calls cuInit(0).
func (d *Driver) Init() error {
	r, _, _ := purego.SyscallN(d.cuInit, 0)
	return d.check("cuInit", r)
}

// Version is the driver's CUDA version, e.g. 13000 for 13.0.
func (d *Driver) Version() (int, error) {
	var v int32
	r, _, _ := purego.SyscallN(d.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))
	return int(v), d.check("cuDriverGetVersion", r)
}

// DeviceCount is the number of visible GPUs.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	r, _, _ := purego.SyscallN(d.cuDeviceGetCount, uintptr(unsafe.Pointer(&n)))
	return int(n), d.check("cuDeviceGetCount", r)
}

// Device returns the CUdevice handle of ordinal i.
func (d *Driver) Device(i int) (int32, error) {
	var dev int32
	r, _, _ := purego.SyscallN(d.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(i))
	return dev, d.check("cuDeviceGet", r)
}

// DeviceName is the marketing name of dev.
func (d *Driver) DeviceName(dev int32) (string, error) {
	var buf [256]byte
	r, _, _ := purego.SyscallN(d.cuDeviceGetName, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(dev))
	return trimNUL(buf[:]), d.check("cuDeviceGetName", r)
}

// Attribute reads one device attribute.
func (d *Driver) Attribute(dev int32, a DeviceAttr) (int, error) {
	var v int32
	r, _, _ := purego.SyscallN(d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a), uintptr(dev))
	return int(v), d.check(fmt.Sprintf("cuDeviceGetAttribute(%d)", a), r)
}

// TotalMem is dev's memory in bytes.
func (d *Driver) TotalMem(dev int32) (int64, error) {
	var v uint64
	r, _, _ := purego.SyscallN(d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&v)), uintptr(dev))
	return int64(v), d.check("cuDeviceTotalMem_v2", r)
}

// RetainPrimary retains dev's primary context (shared with cuBLAS and
// cuDNN, which use the runtime API) and makes it current on this thread.
func (d *Driver) RetainPrimary(dev int32) (uintptr, error) {
	var ctx uintptr
	r, _, _ := purego.SyscallN(d.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&ctx)), uintptr(dev))
	if err := d.check("cuDevicePrimaryCtxRetain", r); err != nil {
		return 0, err
	}
	r, _, _ = purego.SyscallN(d.cuCtxSetCurrent, ctx)
	return ctx, d.check("cuCtxSetCurrent", r)
}

// ReleasePrimary releases dev's primary context.
func (d *Driver) ReleasePrimary(dev int32) error {
	r, _, _ := purego.SyscallN(d.cuDevicePrimaryCtxRelease, uintptr(dev))
	return d.check("cuDevicePrimaryCtxRelease", r)
}

// Synchronize waits for all work in the current context.
func (d *Driver) Synchronize() error {
	r, _, _ := purego.SyscallN(d.cuCtxSynchronize)
	return d.check("cuCtxSynchronize", r)
}

// MemInfo gives free and total device memory in bytes.
func (d *Driver) MemInfo() (free, total int64, err error) {
	var f, t uint64
	r, _, _ := purego.SyscallN(d.cuMemGetInfo, uintptr(unsafe.Pointer(&f)), uintptr(unsafe.Pointer(&t)))
	return int64(f), int64(t), d.check("cuMemGetInfo_v2", r)
}

// keep marks v as live until here; used after calls that take Go pointers.
func keep(v any) { runtime.KeepAlive(v) }
