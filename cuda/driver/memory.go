package driver

import (
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Alloc allocates n bytes of device memory.
func (d *Driver) Alloc(n int) (DevicePtr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("cuda: alloc of %d bytes: want > 0", n)
	}
	var p uint64
	r, _, _ := purego.SyscallN(d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n))
	if err := d.check("cuMemAlloc_v2", r); err != nil {
		return 0, fmt.Errorf("alloc %d bytes: %w", n, err)
	}
	return DevicePtr(p), nil
}

// Free releases device memory from Alloc.
func (d *Driver) Free(p DevicePtr) error {
	r, _, _ := purego.SyscallN(d.cuMemFree, uintptr(p))
	return d.check("cuMemFree_v2", r)
}

// bytesOf views a slice of plain numbers as bytes without copying.
func bytesOf[T any](s []T) (unsafe.Pointer, int) {
	if len(s) == 0 {
		return nil, 0
	}
	var z T
	return unsafe.Pointer(&s[0]), len(s) * int(unsafe.Sizeof(z))
}

// CopyHtoD copies src to device memory at dst (synchronous).
func CopyHtoD[T any](d *Driver, dst DevicePtr, src []T) error {
	p, n := bytesOf(src)
	if n == 0 {
		return nil
	}
	r, _, _ := purego.SyscallN(d.cuMemcpyHtoD, uintptr(dst), uintptr(p), uintptr(n))
	keep(src)
	return d.check("cuMemcpyHtoD_v2", r)
}

// CopyDtoH copies len(dst) elements from device memory at src into dst
// (synchronous).
func CopyDtoH[T any](d *Driver, dst []T, src DevicePtr) error {
	p, n := bytesOf(dst)
	if n == 0 {
		return nil
	}
	r, _, _ := purego.SyscallN(d.cuMemcpyDtoH, uintptr(p), uintptr(src), uintptr(n))
	keep(dst)
	return d.check("cuMemcpyDtoH_v2", r)
}

// CopyDtoD copies n bytes between device buffers.
func (d *Driver) CopyDtoD(dst, src DevicePtr, n int) error {
	r, _, _ := purego.SyscallN(d.cuMemcpyDtoD, uintptr(dst), uintptr(src), uintptr(n))
	return d.check("cuMemcpyDtoD_v2", r)
}

// MemsetD8 sets n bytes at p to v.
func (d *Driver) MemsetD8(p DevicePtr, v byte, n int) error {
	r, _, _ := purego.SyscallN(d.cuMemsetD8, uintptr(p), uintptr(v), uintptr(n))
	return d.check("cuMemsetD8_v2", r)
}

// MemsetD32 sets n 32-bit words at p to v.
func (d *Driver) MemsetD32(p DevicePtr, v uint32, n int) error {
	r, _, _ := purego.SyscallN(d.cuMemsetD32, uintptr(p), uintptr(v), uintptr(n))
	return d.check("cuMemsetD32_v2", r)
}
