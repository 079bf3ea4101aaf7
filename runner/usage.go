package runner

import (
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processCPU is this process's CPU time so far, user plus system, over all
// threads, in seconds; NaN where getrusage fails. A sweep runs one cell at a
// time, so the difference across a run is that run's CPU time (its
// prefetching loader and kernel threads included).
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// loadAverage is the machine's 1-minute load average, read from path (on
// Linux /proc/loadavg); NaN where it cannot be read, e.g. on other systems.
func loadAverage(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return math.NaN()
	}
	return v
}
