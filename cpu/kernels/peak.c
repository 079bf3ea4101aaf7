// FMA throughput microbenchmark: runner bench measures this machine's
// peak instead of assuming one (Zen 4 double-pumps 512-bit FMAs, Zen 5
// does not: 233 against 454 GFLOP/s on 2 threads).

#include <immintrin.h>
#include <stdint.h>

#include "peak.h"

// 16 independent accumulators hide the FMA latency (4 cycles) on two
// pipes; the result is folded and returned so the loop is not dead code.
__attribute__((target("avx512f"))) float sr_fma512(int64_t iters) {
	__m512 a[16], m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
	for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
	for (int64_t k = 0; k < iters; k++)
		for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
	__m512 s = a[0];
	for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
	return _mm512_reduce_add_ps(s);
}

// AVX2 has 16 ymm registers: 16 accumulators and the two constants
// spilled to memory, and measured 126-133 GFLOP/s where Zen 5 peaks near
// 227. Twelve accumulators still hide the latency (8 needed) and fit.
__attribute__((target("avx2,fma"))) float sr_fma256(int64_t iters) {
	__m256 a[SR_FMA256_ACC], m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
	for (int i = 0; i < SR_FMA256_ACC; i++) a[i] = _mm256_set1_ps((float)i);
	for (int64_t k = 0; k < iters; k++)
		for (int i = 0; i < SR_FMA256_ACC; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
	__m256 s = a[0];
	for (int i = 1; i < SR_FMA256_ACC; i++) s = _mm256_add_ps(s, a[i]);
	float out[8];
	_mm256_storeu_ps(out, s);
	return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
