// Batch norm (plain and ghost) fused with the activation, NHWC: the input
// is G groups of R rows of C channels (R = ghost batch * H * W). Statistics
// and accumulation are fp32 whatever the activation type.
//
// Reductions use blocks of 32 x 8 threads: x runs over 32 adjacent
// channels (coalesced in NHWC), y strides over a chunk of the group's
// rows; grid is (ceil(C/32), G, S chunks).
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

// Reductions over a group's R rows are split into S chunks of `chunk`
// rows (the last may be shorter), one block row per chunk (blockIdx.z), so
// that a layer with few channels and groups still fills the GPU; the
// *_combine kernels then merge the S partials per (group, channel) in
// chunk order, so results are deterministic.

// chunk_rows is block (.., .., s)'s row range [r0, r1) of R.
DEV void chunk_rows(int R, int chunk, int &r0, int &r1) {
	r0 = blockIdx.z * chunk;
	r1 = r0 + chunk < R ? r0 + chunk : R;
}

// stats_part writes, for its chunk of group g, the chunk mean and the sum
// of squared deviations from it (two passes over the chunk for accuracy)
// at pm/pm2[(g*S + s)*C + c].
template <typename T> DEV void stats_part(const T *x, float *pm, float *pm2, int R, int C, int chunk) {
	__shared__ float sa[TY][TX], sb[TY][TX];
	int c = blockIdx.x * TX + threadIdx.x, g = blockIdx.y, r0, r1;
	chunk_rows(R, chunk, r0, r1);
	const T *xg = x + (long)g * R * C;
	float s = 0, z = 0;
	if (c < C)
		for (int r = r0 + threadIdx.y; r < r1; r += TY) s += ld(xg, (long)r * C + c);
	reduce2(sa, sb, s, z);
	float m = s / (r1 - r0), q = 0;
	if (c < C)
		for (int r = r0 + threadIdx.y; r < r1; r += TY) {
			float d = ld(xg, (long)r * C + c) - m;
			q += d * d;
		}
	reduce2(sa, sb, q, z);
	if (threadIdx.y == 0 && c < C) {
		long o = ((long)g * gridDim.z + blockIdx.z) * C + c;
		pm[o] = m;
		pm2[o] = q;
	}
}
KERNEL bn_stats_part_f32(const float *x, float *pm, float *pm2, int R, int C, int chunk) { stats_part(x, pm, pm2, R, C, chunk); }
KERNEL bn_stats_part_bf16(const bf16 *x, float *pm, float *pm2, int R, int C, int chunk) { stats_part(x, pm, pm2, R, C, chunk); }

// bn_stats_combine merges the S chunk (mean, M2) pairs of each (g, c) with
// Chan et al.'s pairwise update in double, in chunk order, into the mean
// and the biased variance M2/R. One thread per (g, c).
KERNEL bn_stats_combine(float *mean, float *var, const float *pm, const float *pm2, int G, int S, int R, int C, int chunk) {
	for (long i = gtid(); i < (long)G * C; i += gstride()) {
		long g = i / C;
		int c = i % C;
		double n = 0, m = 0, m2 = 0;
		for (int s = 0; s < S; s++) {
			int r0 = s * chunk, nb = (r0 + chunk < R ? r0 + chunk : R) - r0;
			long o = (g * S + s) * C + c;
			double d = (double)pm[o] - m, nn = n + nb;
			m += d * nb / nn;
			m2 += (double)pm2[o] + d * d * n * nb / nn;
			n = nn;
		}
		mean[i] = (float)m;
		var[i] = (float)(m2 / R);
	}
}

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

// bwd_part: per (g, c) and chunk, the partial sums of dz and dz*xhat,
// where dz = dy * act'(gamma*xhat + beta) is the gradient at the BN
// output, at pa/pb[(g*S + s)*C + c]; bn_act_bwd_combine adds them up.
template <typename T>
DEV void bwd_part(const T *x, const T *dy, const float *mean, const float *var, const float *gamma, const float *beta,
		  float *pa, float *pb, int R, int C, int chunk, float eps, int act, float alpha) {
	__shared__ float sa[TY][TX], sb[TY][TX];
	int c = blockIdx.x * TX + threadIdx.x, g = blockIdx.y, r0, r1;
	chunk_rows(R, chunk, r0, r1);
	long off = (long)g * R * C;
	float a = 0, b = 0;
	if (c < C) {
		float m = mean[g * C + c], is = 1 / sqrt_(var[g * C + c] + eps), ga = gamma[c], be = beta[c];
		for (int r = r0 + threadIdx.y; r < r1; r += TY) {
			long i = off + (long)r * C + c;
			float xh = (ld(x, i) - m) * is;
			float dz = ld(dy, i) * act_grad(act, alpha, ga * xh + be);
			a += dz;
			b += dz * xh;
		}
	}
	reduce2(sa, sb, a, b);
	if (threadIdx.y == 0 && c < C) {
		long o = ((long)g * gridDim.z + blockIdx.z) * C + c;
		pa[o] = a;
		pb[o] = b;
	}
}
KERNEL bn_act_bwd_part_f32(const float *x, const float *dy, const float *mean, const float *var, const float *gamma,
			   const float *beta, float *pa, float *pb, int R, int C, int chunk, float eps, int act, float alpha) {
	bwd_part(x, dy, mean, var, gamma, beta, pa, pb, R, C, chunk, eps, act, alpha);
}
KERNEL bn_act_bwd_part_bf16(const bf16 *x, const bf16 *dy, const float *mean, const float *var, const float *gamma,
			    const float *beta, float *pa, float *pb, int R, int C, int chunk, float eps, int act, float alpha) {
	bwd_part(x, dy, mean, var, gamma, beta, pa, pb, R, C, chunk, eps, act, alpha);
}

// bn_act_bwd_combine: sdz, sdzx[g*C+c] = the sums of the S partials, in
// chunk order. One thread per (g, c).
KERNEL bn_act_bwd_combine(float *sdz, float *sdzx, const float *pa, const float *pb, int G, int S, int C) {
	for (long i = gtid(); i < (long)G * C; i += gstride()) {
		long g = i / C;
		int c = i % C;
		float a = 0, b = 0;
		for (int s = 0; s < S; s++) {
			long o = (g * S + s) * C + c;
			a += pa[o];
			b += pb[o];
		}
		sdz[i] = a;
		sdzx[i] = b;
	}
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
