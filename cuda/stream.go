package cuda

import (
	"unsafe"

	"github.com/ebitengine/purego"
)

// NewStream creates a non-blocking stream (CU_STREAM_NON_BLOCKING = 1), so
// it never serialises with the legacy default stream.
func (d *Driver) NewStream() (Stream, error) {
	var s uintptr
	r, _, _ := purego.SyscallN(d.cuStreamCreate, uintptr(unsafe.Pointer(&s)), 1)
	return Stream(s), d.check("cuStreamCreate", r)
}

// DestroyStream destroys s.
func (d *Driver) DestroyStream(s Stream) error {
	r, _, _ := purego.SyscallN(d.cuStreamDestroy, uintptr(s))
	return d.check("cuStreamDestroy_v2", r)
}

// SyncStream waits for s.
func (d *Driver) SyncStream(s Stream) error {
	r, _, _ := purego.SyscallN(d.cuStreamSynchronize, uintptr(s))
	return d.check("cuStreamSynchronize", r)
}

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
