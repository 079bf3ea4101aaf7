package cuda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"speedrun/backend"
	"speedrun/cuda/cublas"
	"speedrun/cuda/cudnn"
	"speedrun/cuda/driver"
)

// Options say where to find the NVIDIA libraries and how to run.
type Options struct {
	// Search says where to look for libcuda, cuBLAS and cuDNN; the zero
	// value searches $SPEEDRUN_CUDA_LIB_PATH, PyTorch's pip folders, then
	// the system's.
	driver.Search
	// Device is the ordinal of the GPU to use.
	Device int
	// DriverOnly skips cuBLAS and cuDNN (driver and our kernels only).
	DriverOnly bool
	// Checks marks a caller that only checks the bindings and kernels
	// (gpucheck); New behaves the same either way.
	Checks bool
	// Precision forces the training engine's activation type: "bf16" or
	// "f32"; empty picks bf16 unless the config asks for fp32.
	Precision string
	// Log receives the training engine's choices (each conv's cuDNN
	// algorithms, at Debug); nil discards them.
	Log *slog.Logger
}

// ErrNoDriver wraps every failure to find or start the CUDA driver, so
// that callers can fall back to the CPU with errors.Is. It is the driver
// package's error, named here for the engine's callers.
var ErrNoDriver = driver.ErrNoDriver

// Backend is one GPU with its libraries and a worker goroutine locked to
// one OS thread, which holds the primary context: CUDA's current context
// is per thread, so every device call goes through Do.
type Backend struct {
	Driver *driver.Driver
	BLAS   *cublas.BLAS // nil when Options.DriverOnly
	DNN    *cudnn.DNN   // nil when Options.DriverOnly

	Ordinal int
	Dev     int32
	GPU     string // the device's name
	CC      [2]int // compute capability
	Memory  int64  // bytes

	prec string // Options.Precision
	log  *slog.Logger
	// hook, set only by tests, gives each training engine a launch hook
	// (launch.Kernels.Hook): the engine tests run the kernels' host build.
	hook func(e *engine) func(name string, grid, block driver.Dim3, a *driver.Args) error

	work chan func()
	done chan struct{}
}

// ErrNoLibrary wraps a failure to load cuBLAS or cuDNN.
var ErrNoLibrary = errors.New("CUDA library missing")

// Available reports whether New would find a usable driver and device
// (and libraries, unless DriverOnly). It starts and stops a Backend.
func Available(o Options) error {
	o.Checks = true
	b, err := New(o)
	if err != nil {
		return err
	}
	return b.Close()
}

// New loads the libraries, picks device o.Device and retains its primary
// context on a dedicated locked thread.
func New(o Options) (*Backend, error) {
	d, err := driver.Open(o.Search)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{Driver: d, Ordinal: o.Device, prec: o.Precision, log: log, work: make(chan func()), done: make(chan struct{})}
	started := make(chan error)
	go b.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	if !o.DriverOnly {
		if b.BLAS, err = cublas.Open(o.Search); err != nil {
			b.Close()
			return nil, fmt.Errorf("%w: %w", ErrNoLibrary, err)
		}
		if b.DNN, err = cudnn.Open(o.Search); err != nil {
			b.Close()
			return nil, fmt.Errorf("%w: %w", ErrNoLibrary, err)
		}
	}
	return b, nil
}

// loop owns the OS thread and the context until Close.
func (b *Backend) loop(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.open(); err != nil {
		started <- err
		return
	}
	close(started)
	for f := range b.work {
		f()
	}
	b.Driver.ReleasePrimary(b.Dev)
	close(b.done)
}

func (b *Backend) open() error {
	d := b.Driver
	if err := d.Init(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoDriver, d.Path, err)
	}
	n, err := d.DeviceCount()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoDriver, d.Path, err)
	}
	if b.Ordinal < 0 || b.Ordinal >= n {
		return fmt.Errorf("%w: %s: device %d requested, %d present", ErrNoDriver, d.Path, b.Ordinal, n)
	}
	if b.Dev, err = d.Device(b.Ordinal); err != nil {
		return err
	}
	if b.GPU, err = d.DeviceName(b.Dev); err != nil {
		return err
	}
	if b.CC[0], err = d.Attribute(b.Dev, driver.AttrComputeCapabilityMajor); err != nil {
		return err
	}
	if b.CC[1], err = d.Attribute(b.Dev, driver.AttrComputeCapabilityMinor); err != nil {
		return err
	}
	if b.Memory, err = d.TotalMem(b.Dev); err != nil {
		return err
	}
	if _, err := d.RetainPrimary(b.Dev); err != nil {
		return fmt.Errorf("device %d (%s): %w", b.Ordinal, b.GPU, err)
	}
	return nil
}

// Do runs f on the device thread and waits for it. f may use every Driver,
// BLAS and DNN method. Do returns ctx.Err() if ctx ends before f starts.
func (b *Backend) Do(ctx context.Context, f func() error) error {
	errc := make(chan error, 1)
	run := func() {
		// A panic in f must not kill the device thread and hang every
		// later Do; report it as this call's error instead.
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("cuda: panic on the device thread: %v", r)
			}
		}()
		errc <- f()
	}
	select {
	case b.work <- run:
	case <-ctx.Done():
		return fmt.Errorf("cuda: %w", ctx.Err())
	case <-b.done:
		return errors.New("cuda: backend closed")
	}
	return <-errc
}

// Close releases the context and stops the device thread.
func (b *Backend) Close() error {
	select {
	case <-b.done:
		return nil
	default:
	}
	close(b.work)
	<-b.done
	return nil
}

// Name is "cuda".
func (b *Backend) Name() string { return "cuda" }

// Device describes the GPU, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
func (b *Backend) Device() string {
	return fmt.Sprintf("%s (sm_%d%d, %.1f GiB)", b.GPU, b.CC[0], b.CC[1], float64(b.Memory)/(1<<30))
}

var _ backend.Backend = (*Backend)(nil)

// ErrTrainUnsupported is wrapped by Train's error for a config the GPU
// engine does not cover (see Supports); the caller may fall back to cpu.
var ErrTrainUnsupported = fmt.Errorf("cuda: this config is not supported by the GPU engine; use --backend cpu (%w)", backend.ErrUnsupported)

// EngineCaps is what the GPU engine runs: the configs Supports covers,
// and no probes (post 7's forward-only analyses stay on the CPU).
func EngineCaps() backend.Caps {
	return backend.Caps{Name: "cuda", Supports: Supports}
}

// Caps is EngineCaps (backend.Capable).
func (b *Backend) Caps() backend.Caps { return EngineCaps() }

// Versions names the driver and libraries loaded (runner.Versioner),
// recorded in every run's provenance, e.g. "CUDA driver 13000 (libcuda.so.1);
// cuBLAS 130101 (...); cuDNN 92400 (...)".
func (b *Backend) Versions() string {
	var parts []string
	_ = b.Do(context.Background(), func() error {
		if v, err := b.Driver.Version(); err == nil {
			parts = append(parts, fmt.Sprintf("CUDA driver %d (%s)", v, b.Driver.Path))
		}
		if b.BLAS != nil {
			if h, err := b.BLAS.Create(); err == nil {
				if v, err := b.BLAS.Version(h); err == nil {
					parts = append(parts, fmt.Sprintf("cuBLAS %d (%s)", v, b.BLAS.Path))
				}
				b.BLAS.Destroy(h)
			}
		}
		if b.DNN != nil {
			parts = append(parts, fmt.Sprintf("cuDNN %d (%s)", b.DNN.Version(), b.DNN.Path))
		}
		return nil
	})
	return strings.Join(parts, "; ")
}
