package driver

import "fmt"

// Result is a CUresult from the driver API.
type Result int32

// Result codes used by name (values from NVIDIA's public
// driver API reference; gpu-check.sh verifies them against the device's
// headers when they are present).
const (
	Success         Result = 0
	ErrInvalidValue Result = 1
	ErrOutOfMemory  Result = 2
	ErrNotInit      Result = 3
	ErrNoDevice     Result = 100
	ErrInvalidPTX   Result = 218
	ErrNotFound     Result = 500
	ErrNotReady     Result = 600
	ErrLaunchFailed Result = 719
)

var resultNames = map[Result]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY",
	3: "CUDA_ERROR_NOT_INITIALIZED", 4: "CUDA_ERROR_DEINITIALIZED", 5: "CUDA_ERROR_PROFILER_DISABLED",
	34: "CUDA_ERROR_STUB_LIBRARY", 46: "CUDA_ERROR_DEVICE_UNAVAILABLE",
	100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE", 102: "CUDA_ERROR_DEVICE_NOT_LICENSED",
	200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT", 202: "CUDA_ERROR_CONTEXT_ALREADY_CURRENT",
	205: "CUDA_ERROR_MAP_FAILED", 206: "CUDA_ERROR_UNMAP_FAILED", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	214: "CUDA_ERROR_ECC_UNCORRECTABLE", 215: "CUDA_ERROR_UNSUPPORTED_LIMIT", 216: "CUDA_ERROR_CONTEXT_ALREADY_IN_USE",
	218: "CUDA_ERROR_INVALID_PTX", 221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	223: "CUDA_ERROR_JIT_COMPILATION_DISABLED", 300: "CUDA_ERROR_INVALID_SOURCE", 301: "CUDA_ERROR_FILE_NOT_FOUND",
	302: "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND", 303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
	304: "CUDA_ERROR_OPERATING_SYSTEM", 400: "CUDA_ERROR_INVALID_HANDLE", 401: "CUDA_ERROR_ILLEGAL_STATE",
	500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY", 700: "CUDA_ERROR_ILLEGAL_ADDRESS",
	701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", 702: "CUDA_ERROR_LAUNCH_TIMEOUT", 708: "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
	709: "CUDA_ERROR_CONTEXT_IS_DESTROYED", 710: "CUDA_ERROR_ASSERT", 714: "CUDA_ERROR_HARDWARE_STACK_ERROR",
	715: "CUDA_ERROR_ILLEGAL_INSTRUCTION", 716: "CUDA_ERROR_MISALIGNED_ADDRESS", 717: "CUDA_ERROR_INVALID_ADDRESS_SPACE",
	718: "CUDA_ERROR_INVALID_PC", 719: "CUDA_ERROR_LAUNCH_FAILED", 720: "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE",
	800: "CUDA_ERROR_NOT_PERMITTED", 801: "CUDA_ERROR_NOT_SUPPORTED", 802: "CUDA_ERROR_SYSTEM_NOT_READY",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", 804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	999: "CUDA_ERROR_UNKNOWN",
}

// String gives the CUresult's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
func (r Result) String() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	return fmt.Sprintf("CUresult(%d)", int32(r))
}

// Error is a failed call into a CUDA library.
type Error struct {
	Func   string // the C function, e.g. "cuMemAlloc_v2"
	Code   int32  // its status code
	Name   string // the status name, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Detail string // the library's own description, when it has one
}

func (e *Error) Error() string {
	if e.Detail != "" && e.Detail != e.Name {
		return fmt.Sprintf("%s: %s (%d): %s", e.Func, e.Name, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s (%d)", e.Func, e.Name, e.Code)
}

// StatusError is the *Error for a library call that returned status r,
// its name looked up in names (kind(code) when unknown); nil when r is 0,
// the success status of every CUDA library. cuBLAS and cuDNN report
// their failures with it.
func StatusError(fn string, r uintptr, names map[int32]string, kind string) *Error {
	code := int32(r)
	if code == 0 {
		return nil
	}
	name, ok := names[code]
	if !ok {
		name = fmt.Sprintf("%s(%d)", kind, code)
	}
	return &Error{Func: fn, Code: code, Name: name}
}

// Is lets errors.Is(err, driver.ErrOutOfMemory) match driver errors.
func (e *Error) Is(target error) bool {
	r, ok := target.(Result)
	return ok && e.Func != "" && e.Code == int32(r) && e.Name == r.String()
}

// Error makes a Result usable as an errors.Is target.
func (r Result) Error() string { return r.String() }
