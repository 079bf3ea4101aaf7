// A fake libcudnn.so.9 for binding and engine tests: convolutions on host
// memory, NCHW (KCRS filters) or NHWC (KRSC filters), fp32 or bf16 (fp32
// accumulation, rounded to nearest even) with one data type throughout;
// anything else answers CUDNN_STATUS_NOT_SUPPORTED. Every call checks that
// the workspace it gets is the size its Get*WorkspaceSize reported.
// FAKECUDNN_REFUSE_ALGO=N makes every call with algorithm N answer
// CUDNN_STATUS_NOT_SUPPORTED, as real cuDNN can for a ranked algorithm.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int st;
struct tensor { int fmt, dt, n, c, h, w; };
struct conv { int ph, pw, u, v, dh, dw, mode, dt, math; };

size_t cudnnGetVersion(void) { return 92400; }
const char *cudnnGetErrorString(st s) {
	switch (s) {
	case 0: return "CUDNN_STATUS_SUCCESS";
	case 2000: return "fake: bad param";
	case 3000: return "fake: only float or bfloat16 throughout is implemented";
	}
	return "fake: unknown";
}
st cudnnCreate(void **h) { *h = calloc(1, 8); return 0; }
st cudnnDestroy(void *h) { free(h); return 0; }
st cudnnSetStream(void *h, void *s) { return 0; }
st cudnnCreateTensorDescriptor(void **t) { *t = calloc(1, sizeof(struct tensor)); return 0; }
st cudnnDestroyTensorDescriptor(void *t) { free(t); return 0; }
st cudnnSetTensor4dDescriptor(struct tensor *t, int fmt, int dt, int n, int c, int h, int w) {
	if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return 2000;
	*t = (struct tensor){fmt, dt, n, c, h, w};
	return 0;
}
st cudnnCreateFilterDescriptor(void **t) { *t = calloc(1, sizeof(struct tensor)); return 0; }
st cudnnDestroyFilterDescriptor(void *t) { free(t); return 0; }
st cudnnSetFilter4dDescriptor(struct tensor *t, int dt, int fmt, int k, int c, int h, int w) {
	if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return 2000;
	*t = (struct tensor){fmt, dt, k, c, h, w};
	return 0;
}
st cudnnCreateConvolutionDescriptor(void **c) { *c = calloc(1, sizeof(struct conv)); return 0; }
st cudnnDestroyConvolutionDescriptor(void *c) { free(c); return 0; }
st cudnnSetConvolution2dDescriptor(struct conv *c, int ph, int pw, int u, int v, int dh, int dw, int mode, int dt) {
	if (u <= 0 || v <= 0 || dh != 1 || dw != 1 || mode != 1) return 2000;
	*c = (struct conv){ph, pw, u, v, dh, dw, mode, dt, 0};
	return 0;
}
st cudnnSetConvolutionMathType(struct conv *c, int m) { c->math = m; return m > 3 ? 2000 : 0; }

#ifndef CORE_ONLY // -DCORE_ONLY: a front library without the convolutions (they live in libcudnn_cnn.so.9)
// perf rows: algo, status, time, memory (offset 16), determinism, mathType.
struct perf { int algo, status; float time; size_t memory; int det, math, reserved[3]; };
static st algos(int want, int *got, struct perf *p) {
	if (want < 2) return 2000;
	p[0] = (struct perf){1, 0, 0.25f, 4096, 1, 3, {0}};
	p[1] = (struct perf){0, 0, 0.5f, 0, 1, 0, {0}};
	*got = 2;
	return 0;
}
st cudnnGetConvolutionForwardAlgorithm_v7(void *h, void *x, void *w, void *c, void *y, int want, int *got, struct perf *p) { return algos(want, got, p); }
st cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, void *w, void *dy, void *c, void *dx, int want, int *got, struct perf *p) { return algos(want, got, p); }
st cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, void *x, void *dy, void *c, void *dw, int want, int *got, struct perf *p) { return algos(want, got, p); }
static st ws(int algo, size_t *n) { *n = 4096 * (size_t)algo; return 0; }
st cudnnGetConvolutionForwardWorkspaceSize(void *h, void *x, void *w, void *c, void *y, int algo, size_t *n) { return ws(algo, n); }
st cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, void *w, void *dy, void *c, void *dx, int algo, size_t *n) { return ws(algo, n); }
st cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, void *x, void *dy, void *c, void *dw, int algo, size_t *n) { return ws(algo, n); }

static int refused(int algo) {
	const char *e = getenv("FAKECUDNN_REFUSE_ALGO");
	return e && atoi(e) == algo;
}

static int ok(struct tensor *x, struct tensor *w, struct tensor *y) {
	return (x->dt == 0 || x->dt == 9) && w->dt == x->dt && y->dt == x->dt && x->fmt <= 1 && w->fmt <= 1 && y->fmt <= 1;
}

static float ld(struct tensor *t, const void *p, size_t i) {
	if (t->dt == 9) {
		unsigned u = (unsigned)((const uint16_t *)p)[i] << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	return ((const float *)p)[i];
}

static void stv(struct tensor *t, void *p, size_t i, float v) {
	if (t->dt == 9) {
		unsigned u;
		memcpy(&u, &v, 4);
		u += 0x7fffu + ((u >> 16) & 1u);
		((uint16_t *)p)[i] = (uint16_t)(u >> 16);
		return;
	}
	((float *)p)[i] = v;
}

// at is the offset of (n, c, h, w) in a tensor or (k, c, r, s) in a filter
// of format 0 (NCHW / KCRS) or 1 (NHWC / KRSC).
static size_t at(struct tensor *t, int n, int c, int h, int w) {
	if (t->fmt == 1) return (((size_t)n * t->h + h) * t->w + w) * t->c + c;
	return (((size_t)n * t->c + c) * t->h + h) * t->w + w;
}

// mode 0: y = conv(x, w); 1: dx = conv^T(dy, w); 2: dw = corr(x, dy).
static void run(int mode, struct tensor *xd, void *x, struct tensor *wd, void *w, struct conv *c, struct tensor *yd,
		void *y, float alpha, float beta) {
	int N = xd->n, C = xd->c, H = xd->h, W = xd->w, K = wd->n, R = wd->h, S = wd->w, P = yd->h, Q = yd->w;
	void *out = mode == 0 ? y : mode == 1 ? x : w;
	struct tensor *od = mode == 0 ? yd : mode == 1 ? xd : wd;
	size_t len = mode == 0 ? (size_t)N * K * P * Q : mode == 1 ? (size_t)N * C * H * W : (size_t)K * C * R * S;
	float *acc = calloc(len, sizeof(float));
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int p = 0; p < P; p++)
				for (int q = 0; q < Q; q++)
					for (int ci = 0; ci < C; ci++)
						for (int r = 0; r < R; r++)
							for (int s = 0; s < S; s++) {
								int ih = p * c->u - c->ph + r, iw = q * c->v - c->pw + s;
								if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
								size_t xi = at(xd, n, ci, ih, iw);
								size_t wi = at(wd, k, ci, r, s);
								size_t yi = at(yd, n, k, p, q);
								if (mode == 0) acc[yi] += ld(xd, x, xi) * ld(wd, w, wi);
								else if (mode == 1) acc[xi] += ld(yd, y, yi) * ld(wd, w, wi);
								else acc[wi] += ld(xd, x, xi) * ld(yd, y, yi);
							}
	for (size_t i = 0; i < len; i++) stv(od, out, i, alpha * acc[i] + (beta == 0 ? 0 : beta * ld(od, out, i)));
	free(acc);
}

st cudnnConvolutionForward(void *h, const float *alpha, struct tensor *xd, void *x, struct tensor *wd, void *w,
			   struct conv *c, int algo, void *ws, size_t wss, const float *beta, struct tensor *yd, float *y) {
	if (!ok(xd, wd, yd)) return 3000;
	if (refused(algo)) return 3000;
	if ((size_t)algo * 4096 > wss) return 2000;
	run(0, xd, x, wd, w, c, yd, y, *alpha, *beta);
	return 0;
}
st cudnnConvolutionBackwardData(void *h, const float *alpha, struct tensor *wd, float *w, struct tensor *dyd, float *dy,
				struct conv *c, int algo, void *ws, size_t wss, const float *beta, struct tensor *dxd, float *dx) {
	if (!ok(dxd, wd, dyd)) return 3000;
	if (refused(algo)) return 3000;
	if ((size_t)algo * 4096 > wss) return 2000;
	run(1, dxd, dx, wd, w, c, dyd, dy, *alpha, *beta);
	return 0;
}
st cudnnConvolutionBackwardFilter(void *h, const float *alpha, struct tensor *xd, float *x, struct tensor *dyd, float *dy,
				  struct conv *c, int algo, void *ws, size_t wss, const float *beta, struct tensor *dwd, float *dw) {
	if (!ok(xd, dwd, dyd)) return 3000;
	if (refused(algo)) return 3000;
	if ((size_t)algo * 4096 > wss) return 2000;
	run(2, xd, x, dwd, dw, c, dyd, dy, *alpha, *beta);
	return 0;
}
#endif
