package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/cuda"
	"speedrun/model"
	"speedrun/stages"
)

// errNoCUDA is what --backend cuda says on a machine without a driver.
var errNoCUDA = errors.New("no CUDA driver found (libcuda.so.1 not loadable)")

// openBackend selects the training engine: "cpu", "cuda", or "auto" (cuda
// when a driver loads, for the configs it supports, and cpu for the rest). extra names further backends; only the
// test binary passes any (a test double, backend_fake_test.go).
func openBackend(name string, log *slog.Logger, extra map[string]func() (backend.Backend, error)) (backend.Backend, error) {
	if open, ok := extra[name]; ok {
		return open()
	}
	switch name {
	case "cpu":
		b, err := newCPU()
		if err != nil {
			return nil, fmt.Errorf("cpu backend: %w", err)
		}
		return b, nil
	case "cuda":
		b, err := newCUDA(log)
		if err != nil {
			return nil, fmt.Errorf("cuda backend: %w", err)
		}
		return b, nil
	case "auto", "":
		g, err := newCUDA(log)
		if err != nil {
			return openBackend("cpu", log, nil)
		}
		c, err := openBackend("cpu", log, nil)
		if err != nil {
			return nil, err
		}
		return &backend.Fallback{Primary: g, Secondary: c}, nil
	default:
		return nil, usageErr(fmt.Errorf("--backend %q: want auto, cpu or cuda", name))
	}
}

// gpuSupports is auto's choice: whether the GPU engine runs cfg
// (backend.Check of its capabilities; no GPU needed to ask).
func gpuSupports(cfg stages.Config, spec *model.Spec) error {
	return backend.Check(cuda.EngineCaps(), cfg, spec)
}

// newCPU opens the CPU engine.
func newCPU() (backend.Backend, error) {
	b, err := cpu.New(cpu.Options{})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// newCUDA opens the CUDA engine, which logs its cuDNN choices to log at
// Debug (SPEEDRUN_DEBUG=1). A machine without a driver gets errNoCUDA
// with the loader's reason.
func newCUDA(log *slog.Logger) (backend.Backend, error) {
	b, err := cuda.New(cuda.Options{Log: log})
	if errors.Is(err, cuda.ErrNoDriver) {
		detail := strings.TrimPrefix(err.Error(), cuda.ErrNoDriver.Error()+": ")
		return nil, fmt.Errorf("%w: %s", errNoCUDA, detail)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
