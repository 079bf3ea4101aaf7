package cuda

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
// call each and must run on the OS thread that holds the current context
// (see Backend.Do).
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

// OpenDriver loads and binds libcuda. It does not call cuInit. Any failure
// wraps ErrNoDriver.
func OpenDriver(o Options) (*Driver, error) {
	lib, err := openLibrary(o, libcudaNames)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDriver, err)
	}
	d := &Driver{Path: lib.path}
	err = lib.bind([]symbol{
		{&d.cuInit, []string{"cuInit"}, false},
		{&d.cuDriverGetVersion, []string{"cuDriverGetVersion"}, false},
		{&d.cuGetErrorName, []string{"cuGetErrorName"}, true},
		{&d.cuGetErrorString, []string{"cuGetErrorString"}, true},
		{&d.cuDeviceGetCount, []string{"cuDeviceGetCount"}, false},
		{&d.cuDeviceGet, []string{"cuDeviceGet"}, false},
		{&d.cuDeviceGetName, []string{"cuDeviceGetName"}, false},
		{&d.cuDeviceGetAttribute, []string{"cuDeviceGetAttribute"}, false},
		{&d.cuDeviceTotalMem, []string{"cuDeviceTotalMem_v2"}, false},
		{&d.cuDevicePrimaryCtxRetain, []string{"cuDevicePrimaryCtxRetain"}, false},
		{&d.cuDevicePrimaryCtxRelease, []string{"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"}, false},
		{&d.cuCtxSetCurrent, []string{"cuCtxSetCurrent"}, false},
		{&d.cuCtxSynchronize, []string{"cuCtxSynchronize"}, false},
		{&d.cuMemGetInfo, []string{"cuMemGetInfo_v2"}, false},
		{&d.cuMemAlloc, []string{"cuMemAlloc_v2"}, false},
		{&d.cuMemFree, []string{"cuMemFree_v2"}, false},
		{&d.cuMemcpyHtoD, []string{"cuMemcpyHtoD_v2"}, false},
		{&d.cuMemcpyDtoH, []string{"cuMemcpyDtoH_v2"}, false},
		{&d.cuMemcpyDtoD, []string{"cuMemcpyDtoD_v2"}, false},
		{&d.cuMemsetD8, []string{"cuMemsetD8_v2"}, false},
		{&d.cuMemsetD32, []string{"cuMemsetD32_v2"}, false},
		{&d.cuModuleLoadData, []string{"cuModuleLoadData"}, false},
		{&d.cuModuleUnload, []string{"cuModuleUnload"}, false},
		{&d.cuModuleGetFunction, []string{"cuModuleGetFunction"}, false},
		{&d.cuLaunchKernel, []string{"cuLaunchKernel"}, false},
		{&d.cuEventCreate, []string{"cuEventCreate"}, false},
		{&d.cuEventDestroy, []string{"cuEventDestroy_v2"}, false},
		{&d.cuEventRecord, []string{"cuEventRecord"}, false},
		{&d.cuEventSynchronize, []string{"cuEventSynchronize"}, false},
		// CUDA 12.8 added _v2 (and CUDA 13 headers map the plain name to
		// it); the plain symbol stays exported for older binaries.
		{&d.cuEventElapsedTime, []string{"cuEventElapsedTime_v2", "cuEventElapsedTime"}, false},
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
			e.Name = cstr(p)
		}
	}
	if d.cuGetErrorString != 0 {
		var p *byte
		if purego.SyscallN(d.cuGetErrorString, uintptr(code), uintptr(unsafe.Pointer(&p))); p != nil {
			e.Detail = cstr(p)
		}
	}
	return e
}

// cstr copies a NUL-terminated C string owned by the library.
func cstr(p *byte) string {
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
	return goString(buf[:]), d.check("cuDeviceGetName", r)
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
