// Max pooling, NHWC: 2x2 with stride 2, and global max over H*W. Backward
// passes send each gradient to the first maximum in window order (row
// major), matching the CPU references.
#include "prelude.h"

template <typename T> DEV void mp2_fwd(const T *x, T *y, int N, int H, int W, int C) {
	int P = H / 2, Q = W / 2;
	long n = (long)N * P * Q * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int q = t % Q, p = (t / Q) % P;
		long b = t / ((long)P * Q);
		long base = ((b * H + 2 * p) * W + 2 * q) * C + c;
		float m = ld(x, base);
		m = fmax_(m, ld(x, base + C));
		m = fmax_(m, ld(x, base + (long)W * C));
		m = fmax_(m, ld(x, base + (long)W * C + C));
		st(y, i, m);
	}
}
KERNEL maxpool2_fwd_f32(const float *x, float *y, int N, int H, int W, int C) { mp2_fwd(x, y, N, H, W, C); }
KERNEL maxpool2_fwd_bf16(const bf16 *x, bf16 *y, int N, int H, int W, int C) { mp2_fwd(x, y, N, H, W, C); }

// One thread per output writes all four inputs of its window, so dx needs
// no clearing and there are no races.
template <typename T> DEV void mp2_bwd(const T *x, const T *dy, T *dx, int N, int H, int W, int C) {
	int P = H / 2, Q = W / 2;
	long n = (long)N * P * Q * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int q = t % Q, p = (t / Q) % P;
		long b = t / ((long)P * Q);
		long base = ((b * H + 2 * p) * W + 2 * q) * C + c;
		long off[4] = {base, base + C, base + (long)W * C, base + (long)W * C + C};
		int best = 0;
		float m = ld(x, off[0]);
		for (int k = 1; k < 4; k++) {
			float v = ld(x, off[k]);
			if (v > m) {
				m = v;
				best = k;
			}
		}
		float g = ld(dy, i);
		for (int k = 0; k < 4; k++) st(dx, off[k], k == best ? g : 0.0f);
	}
}
KERNEL maxpool2_bwd_f32(const float *x, const float *dy, float *dx, int N, int H, int W, int C) { mp2_bwd(x, dy, dx, N, H, W, C); }
KERNEL maxpool2_bwd_bf16(const bf16 *x, const bf16 *dy, bf16 *dx, int N, int H, int W, int C) { mp2_bwd(x, dy, dx, N, H, W, C); }

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

// flip_w: y[n,h,w,c] = x[n,h,W-1-w,c], the horizontal flip for TTA.
template <typename T> DEV void flip(const T *x, T *y, int N, int H, int W, int C) {
	long n = (long)N * H * W * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int w = t % W;
		long row = t / W;
		st(y, i, ld(x, (row * W + (W - 1 - w)) * C + c));
	}
}
KERNEL flip_w_f32(const float *x, float *y, int N, int H, int W, int C) { flip(x, y, N, H, W, C); }
KERNEL flip_w_bf16(const bf16 *x, bf16 *y, int N, int H, int W, int C) { flip(x, y, N, H, W, C); }
