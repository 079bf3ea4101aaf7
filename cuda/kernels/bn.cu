// Batch norm (plain and ghost) fused with the activation, NHWC: the input
// is G groups of R rows of C channels (R = ghost batch * H * W). Statistics
// and accumulation are fp32 whatever the activation type.
//
// Reductions use blocks of 32 x 8 threads: x runs over 32 adjacent
// channels (coalesced in NHWC), y strides over the group's rows; grid is
// (ceil(C/32), G).
#include "prelude.h"

enum { TX = 32, TY = 8 };

// reduce2 sums a and b over threadIdx.y; the results are valid in row 0.
DEV void reduce2(float (*sa)[TX], float (*sb)[TX], float &a, float &b) {
	sa[threadIdx.y][threadIdx.x] = a;
	sb[threadIdx.y][threadIdx.x] = b;
	sync_threads();
	for (int w = TY / 2; w > 0; w /= 2) {
		if ((int)threadIdx.y < w) {
			sa[threadIdx.y][threadIdx.x] += sa[threadIdx.y + w][threadIdx.x];
			sb[threadIdx.y][threadIdx.x] += sb[threadIdx.y + w][threadIdx.x];
		}
		sync_threads();
	}
	a = sa[0][threadIdx.x];
	b = sb[0][threadIdx.x];
	sync_threads();
}

// stats writes mean[g*C+c] and the biased variance var[g*C+c] (two passes
// over x for accuracy).
template <typename T> DEV void stats(const T *x, float *mean, float *var, int R, int C) {
	__shared__ float sa[TY][TX], sb[TY][TX];
	int c = blockIdx.x * TX + threadIdx.x, g = blockIdx.y;
	const T *xg = x + (long)g * R * C;
	float s = 0, z = 0;
	if (c < C)
		for (int r = threadIdx.y; r < R; r += TY) s += ld(xg, (long)r * C + c);
	reduce2(sa, sb, s, z);
	float m = s / R, q = 0;
	if (c < C)
		for (int r = threadIdx.y; r < R; r += TY) {
			float d = ld(xg, (long)r * C + c) - m;
			q += d * d;
		}
	reduce2(sa, sb, q, z);
	if (threadIdx.y == 0 && c < C) {
		mean[g * C + c] = m;
		var[g * C + c] = q / R;
	}
}
KERNEL bn_stats_f32(const float *x, float *mean, float *var, int R, int C) { stats(x, mean, var, R, C); }
KERNEL bn_stats_bf16(const bf16 *x, float *mean, float *var, int R, int C) { stats(x, mean, var, R, C); }

// fwd: y = act(gamma*(x-mean)/sqrt(var+eps) + beta), one thread per
// element; n = G*R*C. For eval, pass the running stats with G = 1, R = rows.
template <typename T>
DEV void fwd(const T *x, T *y, const float *mean, const float *var, const float *gamma, const float *beta, int R, int C,
	     int n, float eps, int act, float alpha) {
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C, gc = (int)(i / ((long)R * C)) * C + c;
		float xh = (ld(x, i) - mean[gc]) / sqrt_(var[gc] + eps);
		st(y, i, act_f(act, alpha, gamma[c] * xh + beta[c]));
	}
}
KERNEL bn_act_fwd_f32(const float *x, float *y, const float *mean, const float *var, const float *gamma,
		      const float *beta, int R, int C, int n, float eps, int act, float alpha) {
	fwd(x, y, mean, var, gamma, beta, R, C, n, eps, act, alpha);
}
KERNEL bn_act_fwd_bf16(const bf16 *x, bf16 *y, const float *mean, const float *var, const float *gamma,
		       const float *beta, int R, int C, int n, float eps, int act, float alpha) {
	fwd(x, y, mean, var, gamma, beta, R, C, n, eps, act, alpha);
}

// bwd_reduce: per (g, c), sdz = sum dz and sdzx = sum dz*xhat, where
// dz = dy * act'(gamma*xhat + beta) is the gradient at the BN output.
template <typename T>
DEV void bwd_reduce(const T *x, const T *dy, const float *mean, const float *var, const float *gamma, const float *beta,
		    float *sdz, float *sdzx, int R, int C, float eps, int act, float alpha) {
	__shared__ float sa[TY][TX], sb[TY][TX];
	int c = blockIdx.x * TX + threadIdx.x, g = blockIdx.y;
	long off = (long)g * R * C;
	float a = 0, b = 0;
	if (c < C) {
		float m = mean[g * C + c], is = 1 / sqrt_(var[g * C + c] + eps), ga = gamma[c], be = beta[c];
		for (int r = threadIdx.y; r < R; r += TY) {
			long i = off + (long)r * C + c;
			float xh = (ld(x, i) - m) * is;
			float dz = ld(dy, i) * act_grad(act, alpha, ga * xh + be);
			a += dz;
			b += dz * xh;
		}
	}
	reduce2(sa, sb, a, b);
	if (threadIdx.y == 0 && c < C) {
		sdz[g * C + c] = a;
		sdzx[g * C + c] = b;
	}
}
KERNEL bn_act_bwd_reduce_f32(const float *x, const float *dy, const float *mean, const float *var, const float *gamma,
			     const float *beta, float *sdz, float *sdzx, int R, int C, float eps, int act, float alpha) {
	bwd_reduce(x, dy, mean, var, gamma, beta, sdz, sdzx, R, C, eps, act, alpha);
}
KERNEL bn_act_bwd_reduce_bf16(const bf16 *x, const bf16 *dy, const float *mean, const float *var, const float *gamma,
			      const float *beta, float *sdz, float *sdzx, int R, int C, float eps, int act, float alpha) {
	bwd_reduce(x, dy, mean, var, gamma, beta, sdz, sdzx, R, C, eps, act, alpha);
}

// bwd_dx: dx = gamma/sqrt(var+eps) * (dz - sdz/R - xhat*sdzx/R).
template <typename T>
DEV void bwd_dx(const T *x, const T *dy, T *dx, const float *mean, const float *var, const float *gamma,
		const float *beta, const float *sdz, const float *sdzx, int R, int C, int n, float eps, int act,
		float alpha) {
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C, gc = (int)(i / ((long)R * C)) * C + c;
		float is = 1 / sqrt_(var[gc] + eps), xh = (ld(x, i) - mean[gc]) * is;
		float dz = ld(dy, i) * act_grad(act, alpha, gamma[c] * xh + beta[c]);
		st(dx, i, gamma[c] * is * (dz - sdz[gc] / R - xh * sdzx[gc] / R));
	}
}
KERNEL bn_act_bwd_dx_f32(const float *x, const float *dy, float *dx, const float *mean, const float *var,
			 const float *gamma, const float *beta, const float *sdz, const float *sdzx, int R, int C,
			 int n, float eps, int act, float alpha) {
	bwd_dx(x, dy, dx, mean, var, gamma, beta, sdz, sdzx, R, C, n, eps, act, alpha);
}
KERNEL bn_act_bwd_dx_bf16(const bf16 *x, const bf16 *dy, bf16 *dx, const float *mean, const float *var,
			  const float *gamma, const float *beta, const float *sdz, const float *sdzx, int R, int C,
			  int n, float eps, int act, float alpha) {
	bwd_dx(x, dy, dx, mean, var, gamma, beta, sdz, sdzx, R, C, n, eps, act, alpha);
}

// bn_param_grad: dgamma[c] = sum_g sdzx[g,c], dbeta[c] = sum_g sdz[g,c]
// (overwritten; fixed order, so deterministic).
KERNEL bn_param_grad(float *dgamma, float *dbeta, const float *sdz, const float *sdzx, int G, int C) {
	for (long c = gtid(); c < C; c += gstride()) {
		float a = 0, b = 0;
		for (int g = 0; g < G; g++) {
			a += sdzx[g * C + c];
			b += sdz[g * C + c];
		}
		dgamma[c] = a;
		dbeta[c] = b;
	}
}

// bn_running_update: PyTorch's rule per split: run = (1-m)*run + m*batch,
// with the batch variance made unbiased by unbias = R/(R-1).
KERNEL bn_running_update(float *run_mean, float *run_var, const float *mean, const float *var, int n, float momentum,
			 float unbias) {
	for (long i = gtid(); i < n; i += gstride()) {
		run_mean[i] = (1 - momentum) * run_mean[i] + momentum * mean[i];
		run_var[i] = (1 - momentum) * run_var[i] + momentum * var[i] * unbias;
	}
}

// bn_split_average: the eval statistics of ghost BN, the mean over the G
// splits of the per-split running stats.
KERNEL bn_split_average(float *mean, float *var, const float *run_mean, const float *run_var, int G, int C) {
	for (long c = gtid(); c < C; c += gstride()) {
		float a = 0, b = 0;
		for (int g = 0; g < G; g++) {
			a += run_mean[g * C + c];
			b += run_var[g * C + c];
		}
		mean[c] = a / G;
		var[c] = b / G;
	}
}
