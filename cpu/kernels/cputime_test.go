package kernels

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user + system) of the whole process.
// The machine is shared, so wall time swings with other tenants' load; CPU
// time per op is the steadier figure for comparing kernel variants (it
// counts spinning worker threads too, so it is not a speed by itself).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timeLoop runs f b.N times after one warm-up call, reports cpu-ms/op and
// returns the CPU seconds per op.
func timeLoop(b *testing.B, f func() error) float64 {
	if err := f(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := processCPU(b)
	for range b.N {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := float64(processCPU(b)-c0) / 1e9 / float64(b.N)
	b.ReportMetric(cpu*1e3, "cpu-ms/op")
	return cpu
}
