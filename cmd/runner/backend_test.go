package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"speedrun/backend"
	"speedrun/cuda"
	"speedrun/cuda/driver"

	"speedrun/model"
	"speedrun/stages"
)

// auto's chooser: every registered variant whose network the GPU engine
// runs goes to it, except the analyses that run the CPU engine.
func TestGPUSupports(t *testing.T) {
	reg, err := stages.Load("../../experiments.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stage   int
		variant string
		gpu     bool
	}{
		{8, "p8.s10", true},
		{1, "p1.s0", true},
		{7, "p7.e1.nobn", true}, // LR stress trains through the backend
		{7, "p7.e2", false},     // histograms of a CPU forward pass
		{6, "p6.e1", true},      // per-layer statistics through the Observer
		{6, "p6.e2", true},      // LARS
		{7, "p7.e3", false},
	} {
		c, err := reg.Resolve(tc.stage, tc.variant, "smoke")
		if err != nil {
			t.Fatal(err)
		}
		spec, err := model.Build(c.Net)
		if err != nil {
			t.Fatal(err)
		}
		err = gpuSupports(c, spec)
		if (err == nil) != tc.gpu {
			t.Errorf("%s: gpuSupports = %v, want GPU %v", tc.variant, err, tc.gpu)
		}
		if err != nil && !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("%s: %v does not wrap backend.ErrUnsupported", tc.variant, err)
		}
	}
}

// engine is a stand-in engine that counts its Close calls.
type engine struct {
	name   string
	closed int
}

func (e *engine) Name() string   { return e.name }
func (e *engine) Device() string { return e.name + " device" }
func (e *engine) Train(context.Context, backend.Request) (backend.Result, error) {
	return backend.Result{}, nil
}
func (e *engine) Close() error {
	e.closed++
	return nil
}

// testEnv is a cmdEnv whose engines are gpu and cpu, or fail with gerr
// and cerr, and whose log lands in the returned buffer.
func testEnv(gpu, cpu *engine, gerr, cerr error) (*cmdEnv, *bytes.Buffer) {
	var log bytes.Buffer
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(&log, nil)),
		engines: engines{
			cpu: func() (backend.Backend, error) {
				if cerr != nil {
					return nil, cerr
				}
				return cpu, nil
			},
			cuda: func(*slog.Logger) (backend.Backend, error) {
				if gerr != nil {
					return nil, gerr
				}
				return gpu, nil
			},
		}}
	return env, &log
}

// --backend auto logs its choice once, at info level with the reason
// when the GPU stack is absent and at warn level for a CUDA error, and
// closes the GPU engine when the CPU engine fails to open.
func TestOpenBackendAuto(t *testing.T) {
	noDriver := fmt.Errorf("%w: %w", errNoCUDA, &driver.LoadError{Names: []string{"libcuda.so.1", "libcuda.so"},
		Tried: []string{"libcuda.so.1 (No such file or directory)", "libcuda.so (No such file or directory)"}})
	noCuDNN := fmt.Errorf("%w: %w", cuda.ErrNoLibrary, &driver.LoadError{Names: []string{"libcudnn.so.9"},
		Tried: []string{"/opt/nv/cudnn/lib/libcudnn.so.9 (absent)", "/opt/nv/cu13/lib/libcudnn.so.9 (absent)", "libcudnn.so.9 (No such file or directory)"}})
	noDevice := fmt.Errorf("%w: /usr/lib/libcuda.so.1: device 0 requested, 0 present", cuda.ErrNoDriver)
	errCPU := errors.New("oneDNN refused")
	tests := []struct {
		name       string
		gerr, cerr error
		want       string // the chosen backend's Name, "" for an error
		wantLog    string // the one log line, "" for none
		wantClosed int    // the GPU engine's Close calls
	}{
		{"no driver", noDriver, nil, "cpu",
			`level=INFO msg="backend auto: GPU engine not used: no CUDA driver found (libcuda.so.1 not loadable); the CPU engine trains every run" searched="the loader's path" cpu="cpu device"`, 0},
		{"no cuDNN", noCuDNN, nil, "cpu",
			`level=INFO msg="backend auto: GPU engine not used: cuDNN not found (libcudnn.so.9 not loadable); the CPU engine trains every run" searched="/opt/nv/cudnn/lib, /opt/nv/cu13/lib, the loader's path" cpu="cpu device"`, 0},
		{"CUDA error", noDevice, nil, "cpu",
			`level=WARN msg="backend auto: GPU engine not used: no CUDA driver found: /usr/lib/libcuda.so.1: device 0 requested, 0 present; the CPU engine trains every run" searched="" cpu="cpu device"`, 0},
		{"both engines", nil, nil, "cuda",
			`level=INFO msg="backend auto: GPU engine for the runs it supports, CPU engine for the rest" gpu="cuda device" cpu="cpu device"`, 0},
		{"cpu fails", nil, errCPU, "", "", 1},
		{"cpu fails without a GPU", noDriver, errCPU, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gpu, cpu := &engine{name: "cuda"}, &engine{name: "cpu"}
			env, log := testEnv(gpu, cpu, tt.gerr, tt.cerr)
			b, err := openBackend("auto", env)
			if tt.want == "" {
				if !errors.Is(err, tt.cerr) || !strings.Contains(err.Error(), "cpu backend: ") {
					t.Errorf("openBackend = %v, want the CPU engine's error", err)
				}
			} else if err != nil || b.Name() != tt.want {
				t.Fatalf("openBackend = %v, %v; want %s", b, err, tt.want)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
				if l != "" {
					_, l, _ = strings.Cut(l, " ") // the time
					lines = append(lines, l)
				}
			}
			if tt.wantLog == "" && len(lines) != 0 || tt.wantLog != "" && (len(lines) != 1 || lines[0] != tt.wantLog) {
				t.Errorf("log:\n%s\nwant one line:\n%s", strings.Join(lines, "\n"), tt.wantLog)
			}
			if gpu.closed != tt.wantClosed {
				t.Errorf("GPU engine closed %d times, want %d", gpu.closed, tt.wantClosed)
			}
			if b != nil {
				if err := closeBackend(b); err != nil {
					t.Fatal(err)
				}
				if want := map[string]int{"cuda": 1, "cpu": 0}[tt.want]; gpu.closed != want || cpu.closed != 1 {
					t.Errorf("Close closed the GPU engine %d and the CPU engine %d times; want %d and 1", gpu.closed, cpu.closed, want)
				}
			}
		})
	}
}

// --backend cpu and cuda open their engine or fail naming it; an unknown
// name is a usage error.
func TestOpenBackendNamed(t *testing.T) {
	noDriver := fmt.Errorf("%w: %w", errNoCUDA, &driver.LoadError{Names: []string{"libcuda.so.1"}, Tried: []string{"libcuda.so.1 (No such file or directory)"}})
	tests := []struct {
		name    string
		gerr    error
		want    string
		wantErr string
	}{
		{"cpu", noDriver, "cpu", ""},
		{"cuda", nil, "cuda", ""},
		{"cuda", noDriver, "", "cuda backend: no CUDA driver found (libcuda.so.1 not loadable): "},
		{"gpu", nil, "", `--backend "gpu": want auto, cpu or cuda`},
	}
	for _, tt := range tests {
		env, log := testEnv(&engine{name: "cuda"}, &engine{name: "cpu"}, tt.gerr, nil)
		b, err := openBackend(tt.name, env)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("--backend %s: error %v, want %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || b.Name() != tt.want):
			t.Errorf("--backend %s: %v, %v; want %s", tt.name, b, err, tt.want)
		}
		if log.Len() != 0 {
			t.Errorf("--backend %s logged %s", tt.name, log)
		}
	}
}

// openSession closes the backend it opened when the database does not
// open.
func TestOpenSessionClosesBackend(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	gpu, cpu := &engine{name: "cuda"}, &engine{name: "cpu"}
	env, _ := testEnv(gpu, cpu, nil, nil)
	g := globalOptions{config: "../../experiments.toml", db: filepath.Join(notDir, "r.sqlite")}
	tf := trainFlags{profile: "smoke", backend: "auto", lease: time.Minute, heartbeat: time.Second}
	if s, err := openSession(context.Background(), env, g, tf); err == nil {
		s.Close()
		t.Fatal("openSession with a database under a file succeeded")
	}
	if gpu.closed != 1 || cpu.closed != 1 {
		t.Errorf("after the failed open: GPU engine closed %d times, CPU engine %d; want 1 and 1", gpu.closed, cpu.closed)
	}
}
