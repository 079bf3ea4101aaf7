package main

import (
	"errors"
	"fmt"

	"speedrun/backend"
)

// errNoCUDA is what --backend cuda says on a machine without a driver.
var errNoCUDA = errors.New("no CUDA driver found (libcuda.so.1 not loadable)")

// openBackend selects the training engine: "cpu", "cuda", or "auto" (cuda
// when a driver loads, else cpu). "fake" is a test double for the runner's
// own tests (see backend_fake.go): it trains nothing and is never chosen
// unless named.
func openBackend(name string) (backend.Backend, error) {
	switch name {
	case "cpu":
		b, err := newCPU()
		if err != nil {
			return nil, fmt.Errorf("cpu backend: %w", err)
		}
		return b, nil
	case "cuda":
		b, err := newCUDA()
		if err != nil {
			return nil, fmt.Errorf("cuda backend: %w", err)
		}
		return b, nil
	case "auto", "":
		if b, err := newCUDA(); err == nil {
			return b, nil
		}
		return openBackend("cpu")
	case "fake":
		return newFakeBackend()
	default:
		return nil, usageErr(fmt.Errorf("--backend %q: want auto, cpu or cuda", name))
	}
}

// newCPU opens the CPU engine.
func newCPU() (backend.Backend, error) {
	// TODO(runner): return cpu.New(cpu.Options{}) once package cpu has it.
	return nil, errors.New("the cpu backend is not built into this runner yet")
}

// newCUDA opens the CUDA engine.
func newCUDA() (backend.Backend, error) {
	// TODO(runner): return cuda.New(...) once package cuda has it.
	return nil, errNoCUDA
}
