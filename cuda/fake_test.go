package cuda

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
)

// The engine's tests run on the fake libcuda, cuBLAS and cuDNN of
// internal/fakecuda; the bindings' own tests are in driver, cublas, cudnn
// and launch.

// fakeOpts searches only dir.
func fakeOpts(dir string) Options {
	return Options{Search: fakecuda.Search(dir), Checks: true}
}

func TestNoDriverError(t *testing.T) {
	empty := t.TempDir()
	_, err := New(fakeOpts(empty))
	if err == nil {
		t.Fatal("New with no libcuda: got nil error")
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Errorf("error %v does not wrap ErrNoDriver", err)
	}
	for _, want := range []string{"no CUDA driver found", filepath.Join(empty, "libcuda.so.1") + " (absent)", driver.EnvLibPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := Available(fakeOpts(empty)); !errors.Is(err, ErrNoDriver) {
		t.Errorf("Available: got %v, want ErrNoDriver", err)
	}
}

func TestNoDevice(t *testing.T) {
	dir := fakecuda.Dir(t)
	t.Setenv("FAKECUDA_DEVICES", "0")
	_, err := New(fakeOpts(dir))
	if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "device 0 requested, 0 present") {
		t.Fatalf("got %v, want ErrNoDriver with 'device 0 requested, 0 present'", err)
	}
}

// fakeBackend starts a Backend on the fake libraries.
func fakeBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(fakeOpts(fakecuda.Dir(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBackendFake(t *testing.T) {
	b := fakeBackend(t)
	if b.Name() != "cuda" || b.Device() != "Fake GPU (sm_90, 80.0 GiB)" {
		t.Errorf("Name %q Device %q", b.Name(), b.Device())
	}
	if b.BLAS == nil || b.DNN == nil {
		t.Errorf("cuBLAS %v, cuDNN %v: want both loaded", b.BLAS, b.DNN)
	}
	// The device thread holds the context: memory works through Do.
	err := b.Do(context.Background(), func() error {
		p, err := b.Driver.Alloc(16)
		if err != nil {
			return err
		}
		return b.Driver.Free(p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDoRecoversPanic(t *testing.T) {
	b := fakeBackend(t)
	err := b.Do(context.Background(), func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic on the device thread: boom") {
		t.Fatalf("got %v", err)
	}
	if err := b.Do(context.Background(), func() error { return nil }); err != nil {
		t.Fatalf("device thread dead after a panic: %v", err)
	}
}

func TestVersions(t *testing.T) {
	b := fakeBackend(t)
	dir := fakecuda.Dir(t)
	want := "CUDA driver 13000 (" + filepath.Join(dir, "libcuda.so.1") + "); cuBLAS 130101 (" + filepath.Join(dir, "libcublas.so.13") +
		"); cuDNN 92400 (" + filepath.Join(dir, "libcudnn.so.9") + ")"
	if got := b.Versions(); got != want {
		t.Errorf("Versions() = %q, want %q", got, want)
	}
}
