package kernels

// #include "peak.h"
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// FMAPeak measures this machine's fp32 FMA throughput in GFLOP/s with
// threads goroutines (each on its own OS thread) running independent FMA
// chains on 512-bit (bits 512, AVX-512) or 256-bit (AVX2) vectors for
// about d: the peak a kernel's FLOP rate is a fraction of. It takes the
// best of three rounds.
func FMAPeak(threads, bits int, d time.Duration) (float64, error) {
	if threads < 1 {
		return 0, fmt.Errorf("kernels: FMAPeak: %d threads", threads)
	}
	var run func(int64)
	var flopPerIter float64
	switch bits {
	case 512:
		if HostISA() < ISAAVX512 {
			return 0, fmt.Errorf("kernels: FMAPeak: this CPU has no AVX-512")
		}
		run, flopPerIter = func(n int64) { C.sr_fma512(C.int64_t(n)) }, 16*16*2
	case 256:
		if HostISA() < ISAAVX2 {
			return 0, fmt.Errorf("kernels: FMAPeak: this CPU has no AVX2 with FMA")
		}
		run, flopPerIter = func(n int64) { C.sr_fma256(C.int64_t(n)) }, C.SR_FMA256_ACC*8*2
	default:
		return 0, fmt.Errorf("kernels: FMAPeak: %d-bit vectors: want 512 or 256", bits)
	}
	// Calibrate the rounds to about d/3 on one thread.
	iters := int64(1 << 16)
	for {
		t0 := time.Now()
		run(iters)
		if el := time.Since(t0); el > d/30 || iters > 1<<40 {
			iters = int64(float64(iters) * float64(d/3) / float64(max(el, time.Microsecond)))
			break
		}
		iters *= 4
	}
	best := 0.0
	for range 3 {
		var wg sync.WaitGroup
		t0 := time.Now()
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				run(iters)
			}()
		}
		wg.Wait()
		gf := float64(threads) * float64(iters) * flopPerIter / time.Since(t0).Seconds() / 1e9
		best = max(best, gf)
	}
	return best, nil
}
