// Package fakecuda builds the fake libcuda, cuBLAS and cuDNN of its
// testdata/ folder, so that the bindings (driver, cublas, cudnn), the
// kernel launchers (launch), the engine (cuda) and gpucheck are tested
// without a GPU: the fakes keep "device" memory in host memory, run GEMMs
// and NHWC convolutions (fp32 and bf16) on the host, and record launches
// instead of running them. It is for tests only.
package fakecuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"speedrun/cuda/driver"
)

// built is the folder of one test binary's fakes: the gcc builds take
// seconds, so they happen once per binary, not once per test.
var built struct {
	sync.Once
	dir string
	err error
}

// Dir returns a folder with libcuda.so.1, libcublas.so.13,
// libcublasLt.so.13 and libcudnn.so.9 built from testdata/*.c; sub folder
// "broken" holds a libcuda without cuEventElapsedTime, and "split" a
// libcudnn.so.9 without the convolution API beside the libcudnn_cnn.so.9
// that has it. It skips t when gcc is missing.
func Dir(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: cannot build the fake CUDA libraries")
	}
	built.Do(func() { built.dir, built.err = build() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

func build() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("fakecuda: cannot locate its own source folder")
	}
	src := filepath.Join(filepath.Dir(self), "testdata")
	dir, err := os.MkdirTemp("", "fakecuda")
	if err != nil {
		return "", err
	}
	builds := []struct {
		src, out string
		flags    []string
	}{
		{"fakecuda.c", "libcuda.so.1", nil},
		{"fakecublas.c", "libcublas.so.13", nil},
		{"fakecublasLt.c", "libcublasLt.so.13", nil},
		{"fakecudnn.c", "libcudnn.so.9", nil},
		{"fakecuda.c", "broken/libcuda.so.1", []string{"-DOMIT_ELAPSED"}},
		{"fakecudnn.c", "split/libcudnn.so.9", []string{"-DCORE_ONLY"}},
		{"fakecudnn.c", "split/libcudnn_cnn.so.9", nil},
	}
	for _, sub := range []string{"broken", "split"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	for _, b := range builds {
		args := append([]string{"-shared", "-fPIC", "-O1", "-o", filepath.Join(dir, b.out), filepath.Join(src, b.src)}, b.flags...)
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			return "", errors.New("gcc " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(out))
		}
	}
	return dir, nil
}

// Search finds the libraries in dir and nowhere else: not the machine's
// environment, pip folders or system libraries.
func Search(dir string) driver.Search {
	return driver.Search{LibPaths: []string{dir}, NoEnv: true, NoPip: true, NoSystem: true}
}

// Context opens the fake driver of Dir, locks the calling goroutine to its
// OS thread and makes device 0's primary context current there, as
// speedrun/cuda's Backend does on its device thread; the cleanup releases
// both. Tests of the bindings use it in place of a Backend, which would
// import them.
func Context(t testing.TB) *driver.Driver {
	t.Helper()
	d, err := driver.Open(Search(Dir(t)))
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	dev, err := d.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RetainPrimary(dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.ReleasePrimary(dev) })
	return d
}

// PipSite makes a site-packages folder laid out as NVIDIA's pip wheels
// are, with the named fake libraries linked into nvidia/<wheel>/lib, and
// returns it and that lib folder.
func PipSite(t testing.TB, wheel string, libs ...string) (site, lib string) {
	t.Helper()
	dir := Dir(t)
	site = t.TempDir()
	lib = filepath.Join(site, "nvidia", wheel, "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range libs {
		if err := os.Symlink(filepath.Join(dir, n), filepath.Join(lib, n)); err != nil {
			t.Fatal(err)
		}
	}
	return site, lib
}
