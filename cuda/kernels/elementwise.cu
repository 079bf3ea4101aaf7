// Elementwise kernels: fills, sums, scaled sums and precision casts. All
// use a grid-stride loop, so any grid size is correct.
#include "prelude.h"

KERNEL fill_f32(float *y, float v, int n) {
	for (long i = gtid(); i < n; i += gstride()) y[i] = v;
}

// add_f32: y = a + b (y may alias a or b).
KERNEL add_f32(float *y, const float *a, const float *b, int n) {
	for (long i = gtid(); i < n; i += gstride()) y[i] = a[i] + b[i];
}

template <typename T> DEV void add(T *y, const T *a, const T *b, int n) {
	for (long i = gtid(); i < n; i += gstride()) st(y, i, ld(a, i) + ld(b, i));
}
// add_bf16: the residual sum on bf16 activations (fp32 arithmetic).
KERNEL add_bf16(bf16 *y, const bf16 *a, const bf16 *b, int n) { add(y, a, b, n); }

KERNEL cast_f32_bf16(bf16 *y, const float *x, int n) {
	for (long i = gtid(); i < n; i += gstride()) st(y, i, x[i]);
}

KERNEL cast_bf16_f32(float *y, const bf16 *x, int n) {
	for (long i = gtid(); i < n; i += gstride()) y[i] = ld(x, i);
}

// sum_f32: out[0] = sum of x[0:n] in one block of 256 threads (loss and
// accuracy sums over a batch; n is small).
KERNEL sum_f32(float *out, const float *x, int n) {
	__shared__ float part[256];
	float s = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
	part[threadIdx.x] = s;
	sync_threads();
	for (int w = blockDim.x / 2; w > 0; w /= 2) {
		if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
		sync_threads();
	}
	if (threadIdx.x == 0) out[0] = part[0];
}

// act_fwd, act_bwd: a standalone activation (one not fused into a BN, as
// where p8.s2a pools between BN and ReLU); act_bwd's dx = dy * act'(x).
template <typename T> DEV void actf(const T *x, T *y, int n, int act, float alpha) {
	for (long i = gtid(); i < n; i += gstride()) st(y, i, act_f(act, alpha, ld(x, i)));
}
template <typename T> DEV void actb(const T *x, const T *dy, T *dx, int n, int act, float alpha) {
	for (long i = gtid(); i < n; i += gstride()) st(dx, i, ld(dy, i) * act_grad(act, alpha, ld(x, i)));
}
KERNEL act_fwd_f32(const float *x, float *y, int n, int act, float alpha) { actf(x, y, n, act, alpha); }
KERNEL act_fwd_bf16(const bf16 *x, bf16 *y, int n, int act, float alpha) { actf(x, y, n, act, alpha); }
KERNEL act_bwd_f32(const float *x, const float *dy, float *dx, int n, int act, float alpha) { actb(x, dy, dx, n, act, alpha); }
KERNEL act_bwd_bf16(const bf16 *x, const bf16 *dy, bf16 *dx, int n, int act, float alpha) { actb(x, dy, dx, n, act, alpha); }

// scale_<x>_<y>: y = a*x, within or between precisions: fp32 to fp32 and
// bf16 to bf16 scale images or logits (post 7's input scale), bf16 to fp32
// makes fp32 logits of a conv head, and fp32 to bf16 is that scale's
// backward. y is only written, so it may hold NaN.
template <typename X, typename Y> DEV void scale(Y *y, const X *x, float a, int n) {
	for (long i = gtid(); i < n; i += gstride()) st(y, i, a * ld(x, i));
}
KERNEL scale_f32_f32(float *y, const float *x, float a, int n) { scale(y, x, a, n); }
KERNEL scale_bf16_bf16(bf16 *y, const bf16 *x, float a, int n) { scale(y, x, a, n); }
KERNEL scale_bf16_f32(float *y, const bf16 *x, float a, int n) { scale(y, x, a, n); }
KERNEL scale_f32_bf16(bf16 *y, const float *x, float a, int n) { scale(y, x, a, n); }

// cols_copy: dst[r, dc0+k] = src[r, sc0+k] for k < width over rows rows of
// row-major matrices dst (dC columns) and src (sC): a channel concat
// (forward) or its split (backward), NHWC rows being N*H*W.
template <typename T> DEV void colscopy(T *dst, const T *src, int rows, int dC, int dc0, int sC, int sc0, int width) {
	long n = (long)rows * width;
	for (long i = gtid(); i < n; i += gstride()) {
		long r = i / width;
		int k = i % width;
		st(dst, r * dC + dc0 + k, ld(src, r * sC + sc0 + k));
	}
}
KERNEL cols_copy_f32(float *dst, const float *src, int rows, int dC, int dc0, int sC, int sc0, int width) {
	colscopy(dst, src, rows, dC, dc0, sC, sc0, width);
}
KERNEL cols_copy_bf16(bf16 *dst, const bf16 *src, int rows, int dC, int dc0, int sC, int sc0, int width) {
	colscopy(dst, src, rows, dC, dc0, sC, sc0, width);
}

// bias_rows: y[r, c] += b[c] (b fp32): the linear head's bias, and a
// conv's (airbench94's whitening conv) on its NHWC rows.
template <typename T> DEV void biasrows(T *y, const float *b, int rows, int C) {
	long n = (long)rows * C;
	for (long i = gtid(); i < n; i += gstride()) st(y, i, ld(y, i) + b[i % C]);
}
KERNEL bias_rows_f32(float *y, const float *b, int rows, int C) { biasrows(y, b, rows, C); }
KERNEL bias_rows_bf16(bf16 *y, const float *b, int rows, int C) { biasrows(y, b, rows, C); }

// col_sum_f32: out[c] = sum over rows of x[r, c] (the bias gradient), one
// thread per column, rows in order.
KERNEL col_sum_f32(float *out, const float *x, int rows, int C) {
	for (long c = gtid(); c < C; c += gstride()) {
		float s = 0;
		for (int r = 0; r < rows; r++) s += x[(long)r * C + c];
		out[c] = s;
	}
}
