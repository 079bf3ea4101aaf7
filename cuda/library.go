package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// EnvLibPath names the environment variable with extra library folders,
// colon-separated, searched before the defaults.
const EnvLibPath = "SPEEDRUN_CUDA_LIB_PATH"

// Options say where to look for the NVIDIA libraries. The zero value
// searches EnvLibPath, PyTorch's pip-installed nvidia/*/lib folders and
// finally the dynamic loader's own search path.
type Options struct {
	// LibPaths are folders searched first, in order.
	LibPaths []string
	// NoEnv ignores EnvLibPath (tests set it so the machine's environment
	// cannot leak in).
	NoEnv bool
	// NoPip skips probing Python site-packages for nvidia/*/lib folders.
	NoPip bool
	// NoSystem skips the bare soname (dynamic loader search path).
	NoSystem bool
	// SitePackages overrides the site-packages folders probed for pip
	// wheels; nil means the usual /usr/lib/python3*/... and /usr/local/...
	SitePackages []string
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

// Library sonames, newest first where several majors work.
var (
	libcudaNames   = []string{"libcuda.so.1", "libcuda.so"}
	libcublasNames = []string{"libcublas.so.13", "libcublas.so.12"}
	libLtNames     = []string{"libcublasLt.so.13", "libcublasLt.so.12"}
	libcudnnNames  = []string{"libcudnn.so.9"}
)

// searchDirs returns the folders to try, in order, without duplicates.
func (o Options) searchDirs() []string {
	var dirs []string
	dirs = append(dirs, o.LibPaths...)
	if !o.NoEnv {
		for _, d := range strings.Split(os.Getenv(EnvLibPath), ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	if !o.NoPip {
		dirs = append(dirs, pipLibDirs(o.SitePackages)...)
	}
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// pipLibDirs finds the lib folders of NVIDIA's pip wheels (what PyTorch
// installs): site-packages/nvidia/cu13/lib and site-packages/nvidia/*/lib.
func pipLibDirs(sites []string) []string {
	if sites == nil {
		for _, pat := range []string{
			"/usr/local/lib/python3*/dist-packages",
			"/usr/local/lib/python3*/site-packages",
			"/usr/lib/python3/dist-packages",
			"/usr/lib/python3*/site-packages",
			"/opt/conda/lib/python3*/site-packages",
			"/opt/*/.venv/lib/python3*/site-packages", // the GPU image's torch venv
			"/opt/*/lib/python3*/site-packages",
		} {
			m, _ := filepath.Glob(pat)
			sites = append(sites, m...)
		}
		if home, err := os.UserHomeDir(); err == nil {
			m, _ := filepath.Glob(filepath.Join(home, ".local/lib/python3*/site-packages"))
			sites = append(sites, m...)
		}
	}
	var dirs []string
	for _, s := range sites {
		// cu13 first: the CUDA 13 wheels put cublas, cudart and nvrtc there.
		if fi, err := os.Stat(filepath.Join(s, "nvidia", "cu13", "lib")); err == nil && fi.IsDir() {
			dirs = append(dirs, filepath.Join(s, "nvidia", "cu13", "lib"))
		}
		m, _ := filepath.Glob(filepath.Join(s, "nvidia", "*", "lib"))
		sort.Strings(m)
		dirs = append(dirs, m...)
	}
	return dirs
}

// library is one dlopened shared object.
type library struct {
	path   string
	handle uintptr
}

// openLibrary tries every name in every search folder, then (unless
// NoSystem) the bare names through the dynamic loader. The error lists
// every attempt so that a user can see what was tried.
func openLibrary(o Options, names []string) (*library, error) {
	var tried []string
	try := func(p string) *library {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", p, shortDlerr(err)))
			return nil
		}
		return &library{path: p, handle: h}
	}
	for _, d := range o.searchDirs() {
		for _, n := range names {
			p := filepath.Join(d, n)
			if _, err := os.Stat(p); err != nil {
				tried = append(tried, p+" (absent)")
				continue
			}
			if l := try(p); l != nil {
				return l, nil
			}
		}
	}
	if !o.NoSystem {
		for _, n := range names {
			if l := try(n); l != nil {
				return l, nil
			}
		}
	}
	return nil, &LoadError{Names: names, Tried: tried}
}

// shortDlerr trims dlerror's message, which repeats the path.
func shortDlerr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// LoadError reports a library that could not be opened.
type LoadError struct {
	Names []string // the sonames wanted
	Tried []string // every path tried, with why it failed
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("cannot load %s; tried: %s (set %s or Options.LibPaths)",
		strings.Join(e.Names, " or "), strings.Join(e.Tried, "; "), EnvLibPath)
}

// ErrNoDriver wraps every failure to find or start the CUDA driver, so that
// callers can fall back to the CPU with errors.Is.
var ErrNoDriver = errors.New("no CUDA driver found")

// symbol is one function to bind: the first name present wins.
type symbol struct {
	dst      *uintptr
	names    []string
	optional bool
}

// bind resolves syms in l. Missing required symbols are all reported at
// once; missing optional ones leave *dst zero.
func (l *library) bind(syms []symbol) error { return bindAny([]*library{l}, syms) }

// bindAny resolves each symbol in the first library of libs that has it.
func bindAny(libs []*library, syms []symbol) error {
	var missing []string
	for _, s := range syms {
		*s.dst = 0
	search:
		for _, l := range libs {
			for _, n := range s.names {
				if p, err := purego.Dlsym(l.handle, n); err == nil && p != 0 {
					*s.dst = p
					break search
				}
			}
		}
		if *s.dst == 0 && !s.optional {
			missing = append(missing, strings.Join(s.names, "|"))
		}
	}
	if len(missing) > 0 {
		var paths []string
		for _, l := range libs {
			paths = append(paths, l.path)
		}
		return fmt.Errorf("%s: missing symbols %s", strings.Join(paths, " + "), strings.Join(missing, ", "))
	}
	return nil
}

// cString returns a NUL-terminated copy of s for C.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString reads a NUL-terminated C string at p (nil gives "").
func goString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
