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

// axpby_f32: y = a*x + b*y; b = 0 never reads y (so y may hold NaN).
KERNEL axpby_f32(float *y, const float *x, float a, float b, int n) {
	for (long i = gtid(); i < n; i += gstride()) y[i] = b == 0 ? a * x[i] : a * x[i] + b * y[i];
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
