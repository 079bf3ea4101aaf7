package cuda

import (
	"fmt"
	"math"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
)

// The engine tests run the training engine end to end without a GPU: the
// fake libcuda, cuBLAS and cuDNN (testdata/) do memory, GEMMs and
// convolutions on the host, and every kernel launch goes, through
// launch.Kernels.Hook, to the kernels' own CUDA C compiled for the CPU (the
// SPEEDRUN_HOST build that cuda/kernels' host-exec tests use). So the
// engine's launch sequence, offsets and arithmetic are all exercised; the
// PTX, the JIT and real cuDNN algorithms are not.

type hostRun struct {
	*kernels.Host
	mu            sync.Mutex
	launches      map[string]int
	barrierKernel map[string]bool
}

var hostRunOnce struct {
	sync.Once
	h   *hostRun
	err error
}

func loadHostRun(t *testing.T) *hostRun {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the host build of the kernels (clang-16)")
	}
	if _, err := exec.LookPath("clang-16"); err != nil {
		t.Skip("clang-16 not found: cannot build the host version of the kernels")
	}
	hostRunOnce.Do(func() {
		k, err := kernels.BuildHost("kernels", t.TempDir())
		hostRunOnce.h, hostRunOnce.err = &hostRun{Host: k, launches: map[string]int{},
			barrierKernel: map[string]bool{"sum_f32": true, "bn_stats_part_f32": true, "bn_stats_part_bf16": true,
				"bn_act_bwd_part_f32": true, "bn_act_bwd_part_bf16": true}}, err
	})
	if hostRunOnce.err != nil {
		t.Fatal(hostRunOnce.err)
	}
	return hostRunOnce.h
}

// elemSizes gives, for the kernels whose every pointer addresses n
// elements, each pointer's element size: the hook checks their extents.
var elemSizes = map[string][]int{
	"fill_f32": {4}, "add_f32": {4, 4, 4}, "add_bf16": {2, 2, 2}, "scale_f32_f32": {4, 4},
	"cast_f32_bf16": {2, 4}, "cast_bf16_f32": {4, 2}, "sgd_f32": {4, 4, 4}, "ema_f32": {4, 4},
}

// hook returns the launch hook for engine e: it checks every pointer
// argument against e's allocations (and the extents of elementwise
// kernels), then runs the host build as one thread (the loops are
// grid-stride, so any grid is correct). The three kernels with
// __syncthreads would need 256 OS threads per block, which makes a run
// take minutes on a loaded machine; they run as their Go references
// instead (cuda/kernels' host-exec tests hold the C to those).
//
// minChunk > 0 sets the BN reductions' least chunk (rows): 5 splits the
// tiny test batches' reductions as a real batch's are, with short last
// chunks; 0 keeps the engine's (64), which leaves them whole.
func (h *hostRun) hook(t *testing.T, minChunk int) func(e *engine) func(string, driver.Dim3, driver.Dim3, *driver.Args) error {
	return func(e *engine) func(string, driver.Dim3, driver.Dim3, *driver.Args) error {
		e.kern.BNMinChunk = minChunk
		return func(name string, grid, block driver.Dim3, a *driver.Args) error {
			sig, _ := kernels.Lookup(name)
			in := make([]reflect.Value, a.Len())
			nArg := -1
			for i := range a.Len() {
				switch a.Kind(i) {
				case driver.KPtr:
					in[i] = reflect.ValueOf(uintptr(a.Slot(i)))
				case driver.KI32:
					in[i] = reflect.ValueOf(int32(uint32(a.Slot(i))))
					if sig.Params[i].Name == "n" {
						nArg = int(int32(uint32(a.Slot(i))))
					}
				case driver.KF32:
					in[i] = reflect.ValueOf(math.Float32frombits(uint32(a.Slot(i))))
				default:
					return fmt.Errorf("%s: arg %d of kind %v", name, i, a.Kind(i))
				}
			}
			sizes := elemSizes[name]
			np := 0
			for i := range a.Len() {
				if a.Kind(i) != driver.KPtr {
					continue
				}
				p := driver.DevicePtr(a.Slot(i))
				extent := 1
				if sizes != nil && nArg >= 0 {
					extent = max(nArg*sizes[np], 1)
				}
				np++
				if p == 0 && (name == "xent_ls_f32" && sig.Params[i].Name == "dlogits" || name == "row_norms_f32" && sig.Params[i].Name == "y") {
					continue // optional arguments
				}
				if !e.inAlloc(p, extent) {
					return fmt.Errorf("%s arg %d (%s): [%#x, +%d) is outside every engine allocation", name, i, sig.Params[i].Name, p, extent)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.launches[name]++
			if grid.Norm().Z > 1 {
				h.launches[name+"/chunked"]++
			}
			if h.barrierKernel[name] {
				return barrierRef(name, grid.Norm().Y, grid.Norm().Z, a)
			}
			h.Block(0, 0, 0, 1, 1, 1, 1, 1, 1)
			h.SetThread(0, 0, 0)
			h.Fns[name].Call(in)
			return nil
		}
	}
}

// barrierRef runs sum_f32, bn_stats_part_* or bn_act_bwd_part_* (G
// groups of S chunks) as its Go reference on the fake's host-memory
// "device" buffers.
func barrierRef(name string, G, S int, a *driver.Args) error {
	ptr := func(i int) uintptr { return uintptr(a.Slot(i)) }
	i32 := func(i int) int { return int(int32(uint32(a.Slot(i)))) }
	f32 := func(i int) float64 { return float64(math.Float32frombits(uint32(a.Slot(i)))) }
	bf16 := strings.HasSuffix(name, "_bf16")
	act := func(i, n int) []float32 { // an activation buffer as fp32
		if !bf16 {
			return hostF32(ptr(i), n)
		}
		out := make([]float32, n)
		for j, b := range hostU16(ptr(i), n) {
			out[j] = kernels.BF16ToF32(b)
		}
		return out
	}
	switch {
	case name == "sum_f32":
		var s float32
		for _, v := range hostF32(ptr(1), i32(2)) {
			s += v
		}
		hostF32(ptr(0), 1)[0] = s
	case strings.HasPrefix(name, "bn_stats_part_"):
		R, C, chunk := i32(3), i32(4), i32(5)
		pm, pm2 := kernels.BNStatsPartRef(act(0, G*R*C), G, R, C, chunk)
		if len(pm) != G*S*C {
			return fmt.Errorf("%s: grid has %d chunks, chunk %d of %d rows makes %d", name, S, chunk, R, len(pm)/(G*C))
		}
		copy(hostF32(ptr(1), G*S*C), pm)
		copy(hostF32(ptr(2), G*S*C), pm2)
	case strings.HasPrefix(name, "bn_act_bwd_part_"):
		R, C, chunk := i32(8), i32(9), i32(10)
		n := G * R * C
		pa, pb := kernels.BNActBwdPartRef(act(0, n), act(1, n), hostF32(ptr(2), G*C), hostF32(ptr(3), G*C),
			hostF32(ptr(4), C), hostF32(ptr(5), C), R, C, chunk, f32(11), i32(12), f32(13))
		if len(pa) != G*S*C {
			return fmt.Errorf("%s: grid has %d chunks, chunk %d of %d rows makes %d", name, S, chunk, R, len(pa)/(G*C))
		}
		copy(hostF32(ptr(6), G*S*C), pa)
		copy(hostF32(ptr(7), G*S*C), pb)
	default:
		return fmt.Errorf("no reference for barrier kernel %s", name)
	}
	return nil
}

// hostF32 and hostU16 view fake device memory (host memory) as slices.
func hostF32(p uintptr, n int) []float32 {
	return unsafe.Slice(*(**float32)(unsafe.Pointer(&p)), n)
}

func hostU16(p uintptr, n int) []uint16 {
	return unsafe.Slice(*(**uint16)(unsafe.Pointer(&p)), n)
}
