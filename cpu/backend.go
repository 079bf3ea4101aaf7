package cpu

import (
	"bufio"
	"fmt"
	"os"
	"speedrun/cpu/kernels"
	"strings"
	"syscall"
)

// Options configure the backend.
type Options struct {
	// Threads for the kernels (0: leave the kernels' default).
	Threads int
}

// Backend is the CPU backend.Backend.
type Backend struct {
	opts   Options
	device string
}

// New returns a CPU backend.
func New(opts Options) (*Backend, error) {
	if opts.Threads < 0 {
		return nil, fmt.Errorf("cpu: threads %d: must be >= 0", opts.Threads)
	}
	return &Backend{opts: opts, device: cpuModel()}, nil
}

// Name is "cpu".
func (b *Backend) Name() string { return "cpu" }

// Device is the CPU model from /proc/cpuinfo.
func (b *Backend) Device() string { return b.device }

// Versions names the kernel libraries loaded (runner.Versioner), recorded
// in every run's provenance.
func (b *Backend) Versions() string { return kernels.Versions() }

// cpuModel reads the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// PeakRSS is the process's peak resident set size in bytes.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
