// prelude.h: the few CUDA declarations our kernels need, written for
// clang's freestanding CUDA mode (-nocudainc -nocudalib). No NVIDIA headers.
#pragma once
#ifndef SPEEDRUN_HOST
#include <__clang_cuda_builtin_vars.h>

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define DEV static __device__ __attribute__((always_inline)) inline
#define KERNEL extern "C" __global__ void
#else
// SPEEDRUN_HOST compiles the same kernels as plain C++ for the CPU, so a
// test can run their logic without a GPU (hostexec_test.go): each CUDA
// thread is one call on an OS thread that first sets threadIdx; blocks run
// one at a time, so function-static "shared" memory is per block.
#include <math.h>
struct speedrun_dim3 { unsigned x, y, z; };
inline thread_local speedrun_dim3 threadIdx;
inline speedrun_dim3 blockIdx, blockDim, gridDim;
extern "C" void speedrun_host_sync(void);
#define __shared__ static
#define __syncthreads() speedrun_host_sync()
#define __nvvm_ex2_approx_f(x) exp2f(x)
#define __nvvm_lg2_approx_f(x) log2f(x)
#define __nvvm_sqrt_rn_f(x) sqrtf(x)
#define DEV static inline
#define KERNEL extern "C" void
#endif

// bf16 is stored as its upper 16 float bits; a struct keeps the overloads
// of ld/st apart from plain integers.
struct bf16 { unsigned short bits; };

DEV float bits_f32(unsigned u) { return __builtin_bit_cast(float, u); }
DEV unsigned f32_bits(float f) { return __builtin_bit_cast(unsigned, f); }

// bf16_round rounds to nearest even; NaN stays a (quiet) NaN.
DEV bf16 bf16_round(float f) {
	unsigned u = f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{(unsigned short)((u >> 16) | 0x40)};
	u += 0x7fffu + ((u >> 16) & 1u);
	return bf16{(unsigned short)(u >> 16)};
}

DEV float ld(const float *p, long i) { return p[i]; }
DEV float ld(const bf16 *p, long i) { return bits_f32((unsigned)p[i].bits << 16); }
DEV void st(float *p, long i, float v) { p[i] = v; }
DEV void st(bf16 *p, long i, float v) { p[i] = bf16_round(v); }

DEV void sync_threads() { __syncthreads(); }
DEV float fmax_(float a, float b) { return a > b ? a : b; }
// exp and log through the hardware approximations (ex2.approx, lg2.approx:
// about 2 ulp), enough for training and for 1e-5 parity checks.
DEV float exp_(float x) { return __nvvm_ex2_approx_f(x * 1.4426950408889634f); }
DEV float log_(float x) { return __nvvm_lg2_approx_f(x) * 0.6931471805599453f; }
DEV float sqrt_(float x) { return __nvvm_sqrt_rn_f(x); }

// Global linear thread index and grid stride for 1-D element loops.
DEV long gtid() { return (long)blockIdx.x * blockDim.x + threadIdx.x; }
DEV long gstride() { return (long)gridDim.x * blockDim.x; }

// Activation codes shared with the Go launch helpers.
enum { ACT_IDENTITY = 0, ACT_RELU = 1, ACT_CELU = 2, ACT_SHIFTSCALE_RELU = 3, ACT_GELU = 4 };

// gelu_phi is Phi(x), the standard normal CDF, by Abramowitz and Stegun
// 7.1.26 (erfc to 1.5e-7; freestanding CUDA has no erff), as the CPU
// engine's kernels compute it, and e^(-x^2/2) in *e.
DEV float gelu_phi(float x, float *e) {
	float z = x * 0.7071067811865476f;
	float a = z < 0 ? -z : z;
	float t = 1.0f / (1.0f + 0.3275911f * a);
	float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
	*e = exp_(-(a * a));
	float c = 0.5f * p * *e;
	return z > 0 ? 1 - c : c;
}

// (relu(z) - sqrt(1/pi)) / sqrt(1 - 1/pi), post 7's normalised ReLU.
#define SSR_SHIFT 0.5641895835477563f
#define SSR_SCALE 1.2111738962363168f

DEV float act_f(int act, float alpha, float z) {
	if (act == ACT_RELU) return z > 0 ? z : 0;
	if (act == ACT_CELU) return z > 0 ? z : alpha * (exp_(z / alpha) - 1);
	if (act == ACT_SHIFTSCALE_RELU) return ((z > 0 ? z : 0) - SSR_SHIFT) * SSR_SCALE;
	if (act == ACT_GELU) {
		float e;
		return z * gelu_phi(z, &e);
	}
	return z;
}
// act_grad is d act / dz at z.
DEV float act_grad(int act, float alpha, float z) {
	if (act == ACT_RELU) return z > 0 ? 1 : 0;
	if (act == ACT_CELU) return z > 0 ? 1 : exp_(z / alpha);
	if (act == ACT_SHIFTSCALE_RELU) return z > 0 ? SSR_SCALE : 0;
	if (act == ACT_GELU) {
		float e, phi = gelu_phi(z, &e);
		return phi + z * e * 0.3989422804014327f;
	}
	return 1;
}
