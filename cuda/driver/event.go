package driver

import (
	"unsafe"

	"github.com/ebitengine/purego"
)

// NewEvent creates a timing event (CU_EVENT_DEFAULT = 0).
func (d *Driver) NewEvent() (Event, error) {
	var e uintptr
	r, _, _ := purego.SyscallN(d.cuEventCreate, uintptr(unsafe.Pointer(&e)), 0)
	return Event(e), d.check("cuEventCreate", r)
}

// DestroyEvent destroys e.
func (d *Driver) DestroyEvent(e Event) error {
	r, _, _ := purego.SyscallN(d.cuEventDestroy, uintptr(e))
	return d.check("cuEventDestroy_v2", r)
}

// Record records e on s.
func (d *Driver) Record(e Event, s Stream) error {
	r, _, _ := purego.SyscallN(d.cuEventRecord, uintptr(e), uintptr(s))
	return d.check("cuEventRecord", r)
}

// SyncEvent waits for e.
func (d *Driver) SyncEvent(e Event) error {
	r, _, _ := purego.SyscallN(d.cuEventSynchronize, uintptr(e))
	return d.check("cuEventSynchronize", r)
}

// Elapsed is the time between two recorded events in milliseconds.
func (d *Driver) Elapsed(start, end Event) (float32, error) {
	var ms float32
	r, _, _ := purego.SyscallN(d.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), uintptr(start), uintptr(end))
	return ms, d.check("cuEventElapsedTime", r)
}
