package driver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// EnvLibPath names the environment variable with extra library folders,
// colon-separated, searched before the defaults.
const EnvLibPath = "SPEEDRUN_CUDA_LIB_PATH"

// Search says where to look for the NVIDIA libraries. The zero value
// searches EnvLibPath, PyTorch's pip-installed nvidia/*/lib folders and
// finally the dynamic loader's own search path.
type Search struct {
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
}

// Dirs returns the folders to try, in order, without duplicates.
func (o Search) Dirs() []string {
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

// Library is one dlopened shared object.
type Library struct {
	Path   string // the file that was opened
	handle uintptr
}

// OpenLibrary tries every name in every search folder, then (unless
// NoSystem) the bare names through the dynamic loader. The error lists
// every attempt so that a user can see what was tried.
func OpenLibrary(o Search, names []string) (*Library, error) {
	var tried []string
	try := func(p string) *Library {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", p, shortDlerr(err)))
			return nil
		}
		return &Library{Path: p, handle: h}
	}
	for _, d := range o.Dirs() {
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

// Symbol is one function to bind: the first of Names present wins.
type Symbol struct {
	Dst      *uintptr
	Names    []string
	Optional bool
}

// Bind resolves syms in l. Missing required symbols are all reported at
// once; missing optional ones leave *Dst zero.
func (l *Library) Bind(syms []Symbol) error { return BindAny([]*Library{l}, syms) }

// BindAny resolves each symbol in the first library of libs that has it.
func BindAny(libs []*Library, syms []Symbol) error {
	var missing []string
	for _, s := range syms {
		*s.Dst = 0
	search:
		for _, l := range libs {
			for _, n := range s.Names {
				if p, err := purego.Dlsym(l.handle, n); err == nil && p != 0 {
					*s.Dst = p
					break search
				}
			}
		}
		if *s.Dst == 0 && !s.Optional {
			missing = append(missing, strings.Join(s.Names, "|"))
		}
	}
	if len(missing) > 0 {
		var paths []string
		for _, l := range libs {
			paths = append(paths, l.Path)
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

// trimNUL reads the NUL-terminated C string in b.
func trimNUL(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
