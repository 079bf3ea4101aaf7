// Pooling, NHWC: K x K max with stride K, and global max or mean over
// H*W. Max backward passes send each gradient to the first maximum in
// window order (row major), matching the CPU references.
#include "prelude.h"

// mp_fwd pools K x K windows with stride K (H and W multiples of K). KK is
// K when known at compile time (the 2x2 pools of every ResNet), else 0.
template <int KK, typename T> DEV void mp_fwd(const T *x, T *y, int N, int H, int W, int C, int K) {
	if (KK) K = KK;
	int P = H / K, Q = W / K;
	long n = (long)N * P * Q * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int q = t % Q, p = (t / Q) % P;
		long b = t / ((long)P * Q);
		long base = ((b * H + K * p) * W + K * q) * C + c;
		float m = ld(x, base);
		for (int u = 0; u < K; u++)
			for (int v = 0; v < K; v++) m = fmax_(m, ld(x, base + ((long)u * W + v) * C));
		st(y, i, m);
	}
}
template <typename T> DEV void mp_fwd_any(const T *x, T *y, int N, int H, int W, int C, int K) {
	if (K == 2) mp_fwd<2>(x, y, N, H, W, C, K);
	else mp_fwd<0>(x, y, N, H, W, C, K);
}
KERNEL maxpool_fwd_f32(const float *x, float *y, int N, int H, int W, int C, int K) { mp_fwd_any(x, y, N, H, W, C, K); }
KERNEL maxpool_fwd_bf16(const bf16 *x, bf16 *y, int N, int H, int W, int C, int K) { mp_fwd_any(x, y, N, H, W, C, K); }

// One thread per output writes every input of its window, so dx needs no
// clearing and there are no races.
template <int KK, typename T> DEV void mp_bwd(const T *x, const T *dy, T *dx, int N, int H, int W, int C, int K) {
	if (KK) K = KK;
	int P = H / K, Q = W / K;
	long n = (long)N * P * Q * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int q = t % Q, p = (t / Q) % P;
		long b = t / ((long)P * Q);
		long base = ((b * H + K * p) * W + K * q) * C + c;
		long best = base;
		float m = ld(x, base);
		for (int u = 0; u < K; u++)
			for (int v = 0; v < K; v++) {
				long o = base + ((long)u * W + v) * C;
				float xv = ld(x, o);
				if (xv > m) {
					m = xv;
					best = o;
				}
			}
		float g = ld(dy, i);
		for (int u = 0; u < K; u++)
			for (int v = 0; v < K; v++) {
				long o = base + ((long)u * W + v) * C;
				st(dx, o, o == best ? g : 0.0f);
			}
	}
}
template <typename T> DEV void mp_bwd_any(const T *x, const T *dy, T *dx, int N, int H, int W, int C, int K) {
	if (K == 2) mp_bwd<2>(x, dy, dx, N, H, W, C, K);
	else mp_bwd<0>(x, dy, dx, N, H, W, C, K);
}
KERNEL maxpool_bwd_f32(const float *x, const float *dy, float *dx, int N, int H, int W, int C, int K) { mp_bwd_any(x, dy, dx, N, H, W, C, K); }
KERNEL maxpool_bwd_bf16(const bf16 *x, const bf16 *dy, bf16 *dx, int N, int H, int W, int C, int K) { mp_bwd_any(x, dy, dx, N, H, W, C, K); }

template <typename T> DEV void gmp_fwd(const T *x, T *y, int N, int HW, int C) {
	long n = (long)N * C;
	for (long i = gtid(); i < n; i += gstride()) {
		long b = i / C;
		int c = i % C;
		float m = ld(x, b * HW * C + c);
		for (int k = 1; k < HW; k++) m = fmax_(m, ld(x, (b * HW + k) * C + c));
		st(y, i, m);
	}
}
KERNEL gmaxpool_fwd_f32(const float *x, float *y, int N, int HW, int C) { gmp_fwd(x, y, N, HW, C); }
KERNEL gmaxpool_fwd_bf16(const bf16 *x, bf16 *y, int N, int HW, int C) { gmp_fwd(x, y, N, HW, C); }

template <typename T> DEV void gmp_bwd(const T *x, const T *dy, T *dx, int N, int HW, int C) {
	long n = (long)N * C;
	for (long i = gtid(); i < n; i += gstride()) {
		long b = i / C;
		int c = i % C, best = 0;
		float m = ld(x, b * HW * C + c);
		for (int k = 1; k < HW; k++) {
			float v = ld(x, (b * HW + k) * C + c);
			if (v > m) {
				m = v;
				best = k;
			}
		}
		float g = ld(dy, i);
		for (int k = 0; k < HW; k++) st(dx, (b * HW + k) * C + c, k == best ? g : 0.0f);
	}
}
KERNEL gmaxpool_bwd_f32(const float *x, const float *dy, float *dx, int N, int HW, int C) { gmp_bwd(x, dy, dx, N, HW, C); }
KERNEL gmaxpool_bwd_bf16(const bf16 *x, const bf16 *dy, bf16 *dx, int N, int HW, int C) { gmp_bwd(x, dy, dx, N, HW, C); }

// gap_fwd: y[n,c] = mean over the HW positions of x[n,:,c] (fp32 sum).
template <typename T> DEV void gap_fwd(const T *x, T *y, int N, int HW, int C) {
	long n = (long)N * C;
	for (long i = gtid(); i < n; i += gstride()) {
		long b = i / C;
		int c = i % C;
		float s = 0;
		for (int k = 0; k < HW; k++) s += ld(x, (b * HW + k) * C + c);
		st(y, i, s / HW);
	}
}
KERNEL gavgpool_fwd_f32(const float *x, float *y, int N, int HW, int C) { gap_fwd(x, y, N, HW, C); }
KERNEL gavgpool_fwd_bf16(const bf16 *x, bf16 *y, int N, int HW, int C) { gap_fwd(x, y, N, HW, C); }

// gap_bwd writes every element of dx: dy[n,c] / HW.
template <typename T> DEV void gap_bwd(const T *dy, T *dx, int N, int HW, int C) {
	long n = (long)N * HW * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long b = i / ((long)HW * C);
		st(dx, i, ld(dy, b * C + c) / HW);
	}
}
KERNEL gavgpool_bwd_f32(const float *dy, float *dx, int N, int HW, int C) { gap_bwd(dy, dx, N, HW, C); }
KERNEL gavgpool_bwd_bf16(const bf16 *dy, bf16 *dx, int N, int HW, int C) { gap_bwd(dy, dx, N, HW, C); }
