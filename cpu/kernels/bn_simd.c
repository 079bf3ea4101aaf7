// Vectorised batch norm + activation: bn_simd.h compiled for AVX-512 and
// for AVX2, picked at run time by the CPU's instruction sets.


#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bn_simd_api.h"

// dx16_rows_hw is bn_simd.h's dx16_rows on a CPU with avx512_bf16: the
// same float32 operations in the same order (no fused multiply-adds),
// then VCVTNEPS2BF16, the conversion to_bf16 spells out in scalar code
// (and which GCC leaves to a scalar remainder below 32 channels).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#include <immintrin.h>
static __attribute__((noinline)) void dx16_rows_hw(int rows, int stride, int w, const float *restrict x,
                                                  const float *restrict dz, uint16_t *restrict dx16,
                                                  const float *restrict mean, const float *restrict inv,
                                                  const float *restrict k1, const float *restrict k2,
                                                  const float *restrict k3) {
	for (int r = 0; r < rows; r++) {
		const float *xr = x + (size_t)r * stride, *dzr = dz + (size_t)r * stride;
		uint16_t *dr = dx16 + (size_t)r * stride;
		int j = 0;
		for (; j + 16 <= w; j += 16) {
			__m512 h = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + j), _mm512_loadu_ps(mean + j)),
			                         _mm512_loadu_ps(inv + j));
			__m512 t = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(dzr + j), _mm512_loadu_ps(k2 + j)),
			                         _mm512_mul_ps(h, _mm512_loadu_ps(k3 + j)));
			__m256bh b = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(k1 + j), t));
			_mm256_storeu_si256((__m256i *)(dr + j), (__m256i)b);
		}
		if (j < w) {
			__mmask16 m = (__mmask16)((1u << (w - j)) - 1);
			__m512 h = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + j), _mm512_maskz_loadu_ps(m, mean + j)),
			                         _mm512_maskz_loadu_ps(m, inv + j));
			__m512 t = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, dzr + j), _mm512_maskz_loadu_ps(m, k2 + j)),
			                         _mm512_mul_ps(h, _mm512_maskz_loadu_ps(m, k3 + j)));
			__m256bh b = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, k1 + j), t));
			_mm256_mask_storeu_epi16(dr + j, m, (__m256i)b);
		}
	}
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
#define SR_SUFFIX _avx512
#define SR_HW_BF16 1
#include "bn_simd.h"
#undef SR_HW_BF16
#undef SR_SUFFIX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define SR_SUFFIX _avx2
#define SR_HW_BF16 0
#include "bn_simd.h"
#undef SR_HW_BF16
#undef SR_SUFFIX
#pragma GCC pop_options

int sr_bn_isa(void) {
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
		return SR_ISA_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SR_ISA_AVX2;
	return SR_ISA_NONE;
}

int sr_has_bf16(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512bf16");
}

int sr_bn_run(int isa, int op, const sr_bn_args *a) {
	switch (isa) {
	case SR_ISA_AVX512:
		switch (op) {
		case SR_BN_FWD_TRAIN: bn_fwd_train_avx512(a); return 0;
		case SR_BN_BWD_TRAIN: bn_bwd_train_avx512(a); return 0;
		case SR_BN_FWD_EVAL: bn_fwd_eval_avx512(a); return 0;
		case SR_ACT_FWD: act_fwd_avx512(a); return 0;
		case SR_ACT_BWD: act_bwd_avx512(a); return 0;
		case SR_BN_FWD_STATS: blocks_avx512(op, a); return 0;
		case SR_BN_FWD_REDUCE: fwd_reduce_avx512(a); return 0;
		case SR_BN_FWD_NORM: blocks_avx512(op, a); return 0;
		case SR_BN_BWD_DZ: blocks_avx512(op, a); return 0;
		case SR_BN_BWD_REDUCE: bwd_reduce_avx512(a); return 0;
		case SR_BN_BWD_DX: blocks_avx512(op, a); return 0;
		case SR_BN_BWD_DX16: blocks_avx512(op, a); return 0;
		case SR_BN_EVAL_SPLIT: eval_split_avx512(a); return 0;
		}
		break;
	case SR_ISA_AVX2:
		switch (op) {
		case SR_BN_FWD_TRAIN: bn_fwd_train_avx2(a); return 0;
		case SR_BN_BWD_TRAIN: bn_bwd_train_avx2(a); return 0;
		case SR_BN_FWD_EVAL: bn_fwd_eval_avx2(a); return 0;
		case SR_ACT_FWD: act_fwd_avx2(a); return 0;
		case SR_ACT_BWD: act_bwd_avx2(a); return 0;
		case SR_BN_FWD_STATS: blocks_avx2(op, a); return 0;
		case SR_BN_FWD_REDUCE: fwd_reduce_avx2(a); return 0;
		case SR_BN_FWD_NORM: blocks_avx2(op, a); return 0;
		case SR_BN_BWD_DZ: blocks_avx2(op, a); return 0;
		case SR_BN_BWD_REDUCE: bwd_reduce_avx2(a); return 0;
		case SR_BN_BWD_DX: blocks_avx2(op, a); return 0;
		case SR_BN_BWD_DX16: blocks_avx2(op, a); return 0;
		case SR_BN_EVAL_SPLIT: eval_split_avx2(a); return 0;
		}
		break;
	}
	return -1;
}

// sr_bn_call takes the arguments one by one: cgo may pass Go pointers as
// arguments, but not inside a struct.
int sr_bn_call(int isa, int op, const float *x, const float *dy, float *y, float *dx,
               const float *gamma, const float *beta, const float *gamma_f, const float *beta_f,
               float *mean, float *var, float *invstd, float *dgamma, float *dbeta,
               double *sum, double *sumsq, float *ps, float *pq, float *k, float *k1, float *k2,
               int splits, int rows, int c, int c0, int c1, int act,
               float eps, float alpha, float ssr_shift, float ssr_scale) {
	sr_bn_args a = {
	    .x = x, .dy = dy, .y = y, .dx = dx,
	    .gamma = gamma, .beta = beta, .gamma_f = gamma_f, .beta_f = beta_f,
	    .mean = mean, .var = var, .invstd = invstd, .dgamma = dgamma, .dbeta = dbeta,
	    .sum = sum, .sumsq = sumsq, .ps = ps, .pq = pq, .k = k, .k1 = k1, .k2 = k2,
	    .splits = splits, .rows = rows, .c = c, .c0 = c0, .c1 = c1, .act = act,
	    .eps = eps, .alpha = alpha, .ssr_shift = ssr_shift, .ssr_scale = ssr_scale,
	};
	return sr_bn_run(isa, op, &a);
}

int sr_max_pool(int isa, const float *x, float *y, uint8_t *argmax, int h, int w, int c, int k, int oh, int ow,
                int lo, int hi, int32_t *best) {
	switch (isa) {
	case SR_ISA_AVX512: max_pool_rows_avx512(x, y, argmax, h, w, c, k, oh, ow, lo, hi, best); return 0;
	case SR_ISA_AVX2: max_pool_rows_avx2(x, y, argmax, h, w, c, k, oh, ow, lo, hi, best); return 0;
	}
	return -1;
}

long sr_max_pool_bwd(int isa, const float *dy, const uint8_t *argmax, float *dx, int h, int w, int c, int k,
                     int oh, int ow, int lo, int hi) {
	switch (isa) {
	case SR_ISA_AVX512: return max_pool_bwd_rows_avx512(dy, argmax, dx, h, w, c, k, oh, ow, lo, hi);
	case SR_ISA_AVX2: return max_pool_bwd_rows_avx2(dy, argmax, dx, h, w, c, k, oh, ow, lo, hi);
	}
	return -2;
}

// sr_bn_split_call is sr_bn_call for the row-split steps.
int sr_bn_split_call(int isa, int op, const float *x, const float *dy, float *y, float *dx,
                     const float *gamma, const float *beta, const float *gamma_f, const float *beta_f,
                     float *mean, float *var, float *invstd, float *dgamma, float *dbeta,
                     double *sum, double *sumsq, float *k1, float *k2, float *part, float *kk, uint16_t *dx16,
                     int splits, int rows, int c, int c0, int c1, int b0, int b1, int bps, int act,
                     float eps, float alpha, float ssr_shift, float ssr_scale) {
	sr_bn_args a = {
	    .x = x, .dy = dy, .y = y, .dx = dx,
	    .gamma = gamma, .beta = beta, .gamma_f = gamma_f, .beta_f = beta_f,
	    .mean = mean, .var = var, .invstd = invstd, .dgamma = dgamma, .dbeta = dbeta,
	    .sum = sum, .sumsq = sumsq, .k1 = k1, .k2 = k2, .part = part, .kk = kk, .dx16 = dx16,
	    .splits = splits, .rows = rows, .c = c, .c0 = c0, .c1 = c1, .b0 = b0, .b1 = b1, .bps = bps, .act = act,
	    .eps = eps, .alpha = alpha, .ssr_shift = ssr_shift, .ssr_scale = ssr_scale,
	};
	return sr_bn_run(isa, op, &a);
}
