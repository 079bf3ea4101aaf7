#ifndef SR_BN_SIMD_API_H
#define SR_BN_SIMD_API_H

#include <stdint.h>

// Activation kinds, in kernels.ActKind's order.
enum { SR_ACT_IDENTITY = 0, SR_ACT_RELU = 1, SR_ACT_CELU = 2, SR_ACT_SSRELU = 3, SR_ACT_GELU = 4 };
enum { SR_ISA_NONE = 0, SR_ISA_AVX2 = 1, SR_ISA_AVX512 = 2 };
// The passes; the standalone activation's work on elements [c0, c1) of
// x, y (forward) and x, dy, dx (backward).
enum { SR_BN_FWD_TRAIN = 0, SR_BN_BWD_TRAIN = 1, SR_BN_FWD_EVAL = 2, SR_ACT_FWD = 3, SR_ACT_BWD = 4 };
// The row-split passes' steps (bn_simd.h): blocks [b0, b1), channels
// [c0, c1) for the reductions, rows [b0, b1) for the eval pass.
enum {
	SR_BN_FWD_STATS = 5,
	SR_BN_FWD_REDUCE = 6,
	SR_BN_FWD_NORM = 7,
	SR_BN_BWD_DZ = 8,
	SR_BN_BWD_REDUCE = 9,
	SR_BN_BWD_DX = 10,
	SR_BN_EVAL_SPLIT = 11,
	SR_BN_BWD_DX16 = 12
};

// The rows a float32 partial sum takes before it is flushed into the
// float64 totals: bn.go's statBlock.
#define SR_STAT_BLOCK 32

// sr_bn_args is one worker's share of a BNAct call: channels [c0, c1) of
// every split of rows x c (NHWC) values. x, dy, y, dx, gamma, beta,
// gamma_f, beta_f, dgamma and dbeta point at channel 0 of their arrays;
// mean, var and invstd are splits x c, also from channel 0. The scratch
// arrays (sum, sumsq, ps, pq, k, k1, k2) point at the worker's first
// channel and hold c1-c0 entries; the eval pass reads its scale in k1 and
// shift in k2. The row-split steps read and write from channel 0: part
// holds each block's two partial sums (blocks x 2 x c), kk each split's
// backward coefficients (splits x 3 x c), and bps is the blocks per split.
typedef struct {
	const float *x, *dy;
	float *y, *dx;
	const float *gamma, *beta, *gamma_f, *beta_f;
	float *mean, *var, *invstd;
	float *dgamma, *dbeta;
	double *sum, *sumsq;
	float *ps, *pq, *k, *k1, *k2;
	float *part, *kk;
	uint16_t *dx16; // SR_BN_BWD_DX16's output: dx in bf16 (dz read from dx)
	int splits, rows, c, c0, c1, b0, b1, bps;
	int act;
	float eps, alpha, ssr_shift, ssr_scale;
} sr_bn_args;

int sr_bn_isa(void);
// sr_has_bf16 reports whether the CPU has avx512_bf16 (native bf16 dot
// products, which oneDNN's bf16 convolutions need to run fast).
int sr_has_bf16(void);
int sr_bn_run(int isa, int op, const sr_bn_args *a);
int sr_bn_call(int isa, int op, const float *x, const float *dy, float *y, float *dx,
               const float *gamma, const float *beta, const float *gamma_f, const float *beta_f,
               float *mean, float *var, float *invstd, float *dgamma, float *dbeta,
               double *sum, double *sumsq, float *ps, float *pq, float *k, float *k1, float *k2,
               int splits, int rows, int c, int c0, int c1, int act,
               float eps, float alpha, float ssr_shift, float ssr_scale);
int sr_bn_split_call(int isa, int op, const float *x, const float *dy, float *y, float *dx,
                     const float *gamma, const float *beta, const float *gamma_f, const float *beta_f,
                     float *mean, float *var, float *invstd, float *dgamma, float *dbeta,
                     double *sum, double *sumsq, float *k1, float *k2, float *part, float *kk, uint16_t *dx16,
                     int splits, int rows, int c, int c0, int c1, int b0, int b1, int bps, int act,
                     float eps, float alpha, float ssr_shift, float ssr_scale);

// sr_max_pool is MaxPoolForward's output rows [lo, hi) of n x oh; best is
// 2c ints of scratch; argmax may be NULL.
int sr_max_pool(int isa, const float *x, float *y, uint8_t *argmax, int h, int w, int c, int k, int oh, int ow,
                int lo, int hi, int32_t *best);
// sr_max_pool_bwd is MaxPoolBackward's output rows [lo, hi): the first
// output whose argmax is outside its window, or -1 (-2: no such isa).
long sr_max_pool_bwd(int isa, const float *dy, const uint8_t *argmax, float *dx, int h, int w, int c, int k,
                     int oh, int ow, int lo, int hi);

#endif
