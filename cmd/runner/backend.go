package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"speedrun/backend"
	"speedrun/cpu"
	"speedrun/cuda"
	"speedrun/cuda/driver"
	"speedrun/model"
	"speedrun/stages"
)

// errNoCUDA is what --backend cuda says on a machine without a driver.
var errNoCUDA = errors.New("no CUDA driver found (libcuda.so.1 not loadable)")

// engines opens the real training engines. main uses realEngines; tests
// substitute engines that fail or count their Close calls.
type engines struct {
	cpu  func() (backend.Backend, error)
	cuda func(log *slog.Logger) (backend.Backend, error)
}

func realEngines() engines { return engines{cpu: newCPU, cuda: newCUDA} }

// openBackend selects the training engine: "cpu", "cuda", or "auto" (cuda
// when a driver and its libraries load, for the configs it supports, and
// cpu for the rest). env.extraBackends names further backends; only the
// test binary passes any (a test double, backend_fake_test.go). Under
// auto it logs once, at info level, which engine it chose and why, or at
// warn level when a CUDA driver or library was found but failed.
func openBackend(name string, env *cmdEnv) (backend.Backend, error) {
	if open, ok := env.extraBackends[name]; ok {
		return open()
	}
	switch name {
	case "cpu":
		b, err := env.engines.cpu()
		if err != nil {
			return nil, fmt.Errorf("cpu backend: %w", err)
		}
		return b, nil
	case "cuda":
		b, err := env.engines.cuda(env.log)
		if err != nil {
			return nil, fmt.Errorf("cuda backend: %w", err)
		}
		return b, nil
	case "auto", "":
		g, gerr := env.engines.cuda(env.log)
		c, err := env.engines.cpu()
		if err != nil {
			err = fmt.Errorf("cpu backend: %w", err)
			if gerr == nil {
				err = errors.Join(err, closeBackend(g))
			}
			return nil, err
		}
		if gerr != nil {
			level, why, where := whyNoGPU(gerr)
			env.log.Log(context.Background(), level, "backend auto: GPU engine not used: "+why+"; the CPU engine trains every run", "searched", where, "cpu", c.Device())
			return c, nil
		}
		env.log.Info("backend auto: GPU engine for the runs it supports, CPU engine for the rest", "gpu", g.Device(), "cpu", c.Device())
		return &backend.Fallback{Primary: g, Secondary: c}, nil
	default:
		return nil, usageErr(fmt.Errorf("--backend %q: want auto, cpu or cuda", name))
	}
}

// closeBackend closes b when it holds resources.
func closeBackend(b backend.Backend) error {
	if c, ok := b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// libName is an NVIDIA library's soname by the name a user knows it.
func libName(soname string) string {
	switch base, _, _ := strings.Cut(soname, "."); base {
	case "libcublas":
		return "cuBLAS"
	case "libcublasLt":
		return "cuBLASLt"
	case "libcudnn":
		return "cuDNN"
	}
	return soname
}

// whyNoGPU says why the GPU engine could not open, where its library was
// looked for, and at which level auto logs it: info when a library is
// simply not on this machine (no driver, no cuDNN), warn for a CUDA error
// from a driver or library that is there (no device, a failed cuInit, a
// missing symbol).
func whyNoGPU(err error) (level slog.Level, why, where string) {
	var le *driver.LoadError
	if !errors.As(err, &le) || len(le.Names) == 0 {
		return slog.LevelWarn, err.Error(), ""
	}
	lib := le.Names[0]
	if errors.Is(err, cuda.ErrNoDriver) || errors.Is(err, errNoCUDA) {
		return slog.LevelInfo, errNoCUDA.Error(), searched(le)
	}
	return slog.LevelInfo, fmt.Sprintf("%s not found (%s not loadable)", libName(lib), lib), searched(le)
}

// searched names the places a LoadError tried: its folders, and the
// dynamic loader's own search path for a bare soname.
func searched(le *driver.LoadError) string {
	var where []string
	seen := map[string]bool{}
	for _, t := range le.Tried {
		p, _, _ := strings.Cut(t, " (")
		d := "the loader's path"
		if strings.Contains(p, "/") {
			d = filepath.Dir(p)
		}
		if !seen[d] {
			seen[d] = true
			where = append(where, d)
		}
	}
	if len(where) == 0 {
		return "nowhere"
	}
	return strings.Join(where, ", ")
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
// Debug (SPEEDRUN_DEBUG=1). A machine whose driver library does not load
// gets errNoCUDA with the loader's reason; every other error is cuda's
// own.
func newCUDA(log *slog.Logger) (backend.Backend, error) {
	b, err := cuda.New(cuda.Options{Log: log})
	var le *driver.LoadError
	if errors.Is(err, cuda.ErrNoDriver) && errors.As(err, &le) {
		return nil, fmt.Errorf("%w: %w", errNoCUDA, le)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
