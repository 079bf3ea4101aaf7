// Fused augmentation: gather a batch from the padded, normalised training
// set on the device, crop, flip and cut out in one pass. The per-sample
// choices are drawn in Go from the run's seed (data.Augmenter), so the CPU
// and GPU backends see the same images.
#include "prelude.h"

// Per-sample parameters, 7 ints each.
enum { P_OY, P_OX, P_FLIP, P_CY, P_CX, P_CH, P_CW, P_LEN };

// augment: y[n,h,w,c] = 0 inside the cutout box [cy,cy+ch) x [cx,cx+cw)
// of the output, else src[idx[n], oy+h, ox+(flip ? W-1-w : w), c], with
// src of shape [*, PH, PW, C] (NHWC) and y of shape [N, H, W, C].
template <typename T>
DEV void augment(const float *src, const int *idx, const int *par, T *y, int N, int PH, int PW, int H, int W, int C) {
	long n = (long)N * H * W * C;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % C;
		long t = i / C;
		int w = t % W, h = (t / W) % H;
		int b = t / ((long)W * H);
		const int *p = par + b * P_LEN;
		float v = 0;
		if (!(h >= p[P_CY] && h < p[P_CY] + p[P_CH] && w >= p[P_CX] && w < p[P_CX] + p[P_CW])) {
			int sw = p[P_FLIP] ? W - 1 - w : w;
			v = src[(((long)idx[b] * PH + p[P_OY] + h) * PW + p[P_OX] + sw) * C + c];
		}
		st(y, i, v);
	}
}
KERNEL augment_f32(const float *src, const int *idx, const int *par, float *y, int N, int PH, int PW, int H, int W,
		   int C) {
	augment(src, idx, par, y, N, PH, PW, H, W, C);
}
KERNEL augment_bf16(const float *src, const int *idx, const int *par, bf16 *y, int N, int PH, int PW, int H, int W,
		    int C) {
	augment(src, idx, par, y, N, PH, PW, H, W, C);
}

// refl mirrors i into [0, n) about the edges without repeating them
// (numpy's "reflect"): -1 -> 1, n -> n-2.
DEV int refl(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

// prep_nhwc is data.Prepare on the device: N CIFAR images, uint8 CHW
// 3x32x32, become normalised fp32 NHWC images reflect-padded by pad on
// every side, through lut (3 x 256: channel c's value of byte v).
KERNEL prep_nhwc(const unsigned char *src, const float *lut, float *dst, int N, int pad) {
	int side = 32 + 2 * pad;
	long n = (long)N * side * side * 3;
	for (long i = gtid(); i < n; i += gstride()) {
		int c = i % 3;
		long t = i / 3;
		int x = t % side, y = (t / side) % side;
		long b = t / ((long)side * side);
		int sy = refl(y - pad, 32), sx = refl(x - pad, 32);
		dst[i] = lut[c * 256 + src[b * 3072 + c * 1024 + sy * 32 + sx]];
	}
}

// whiten_patches_f64 writes the K x K patches of N prepared images (side x
// side x 3 NHWC fp32, padded by pad; patches of the unpadded 32x32 image
// that fit in it, (33-K)^2 per image) as rows of X (N*(33-K)^2 x 3K^2,
// fp64), each row ordered channel, then dy, then dx as
// data.WhiteningFiltersK's are: X^T X (one Dgemm) is then their
// covariance sum.
KERNEL whiten_patches_f64(const float *imgs, double *X, int N, int side, int pad, int K) {
	int Q = 33 - K, P = 3 * K * K;
	long n = (long)N * Q * Q * P;
	for (long i = gtid(); i < n; i += gstride()) {
		int j = i % P;
		long r = i / P;
		int x = r % Q, y = (r / Q) % Q;
		long b = r / ((long)Q * Q);
		int ch = j / (K * K), dy = (j / K) % K, dx = j % K;
		X[i] = imgs[b * side * side * 3 + ((long)(pad + y + dy) * side + pad + x + dx) * 3 + ch];
	}
}
