// A fake libcuda.so.1 for binding tests: "device" memory is host memory,
// modules are PTX text, and launches record their arguments. Only the
// behaviour the Go tests check is implemented.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

static const char *err_name(CUresult r) {
	switch (r) {
	case 0: return "CUDA_SUCCESS";
	case 1: return "CUDA_ERROR_INVALID_VALUE";
	case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
	case 100: return "CUDA_ERROR_NO_DEVICE";
	case 218: return "CUDA_ERROR_INVALID_PTX";
	case 500: return "CUDA_ERROR_NOT_FOUND";
	}
	return 0;
}

CUresult cuGetErrorName(CUresult r, const char **s) { *s = err_name(r); return *s ? 0 : 1; }
CUresult cuGetErrorString(CUresult r, const char **s) {
	*s = r == 2 ? "fake: out of memory" : err_name(r);
	return *s ? 0 : 1;
}

static int inited;
CUresult cuInit(unsigned flags) { if (flags != 0) return 1; inited = 1; return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) {
	const char *e = getenv("FAKECUDA_DEVICES");
	if (!inited) return 3;
	*n = e ? atoi(e) : 1;
	return 0;
}
CUresult cuDeviceGet(int *d, int ord) { *d = 100 + ord; return 0; }
CUresult cuDeviceGetName(char *buf, int n, int dev) {
	if (dev != 100) return 101;
	strncpy(buf, "Fake GPU", n);
	return 0;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
	switch (attr) {
	case 75: *v = 9; return 0;
	case 76: *v = 0; return 0;
	case 16: *v = 132; return 0;
	}
	*v = attr * 1000 + dev;
	return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int dev) { *b = (size_t)80 << 30; return 0; }
static int ctxref;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { ctxref++; *ctx = (void *)0xC0; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { ctxref--; return 0; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == (void *)0xC0 ? 0 : 201; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 1 << 20; *t = 2 << 20; return 0; }
int fake_ctx_refs(void) { return ctxref; }

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	if (n > ((size_t)1 << 40)) return 2;
	void *m = calloc(1, n);
	if (!m) return 2;
	*p = (CUdeviceptr)(uintptr_t)m;
	return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return 0; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { memcpy((void *)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { memcpy(d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)(uintptr_t)d, v, n); return 0; }
CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) {
	unsigned *p = (unsigned *)(uintptr_t)d;
	for (size_t i = 0; i < n; i++) p[i] = v;
	return 0;
}

struct module { char *text; };
struct function { char name[64]; int nparams; };

CUresult cuModuleLoadData(void **m, const void *image) {
	const char *t = image;
	if (!strstr(t, ".entry")) return 218;
	struct module *mod = malloc(sizeof *mod);
	mod->text = strdup(t);
	*m = mod;
	return 0;
}
CUresult cuModuleUnload(void *m) { struct module *mod = m; free(mod->text); free(mod); return 0; }

// The parameter count comes from the PTX text: the ".param" lines between
// ".entry NAME(" and the closing ")".
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
	struct module *mod = m;
	char key[96];
	snprintf(key, sizeof key, ".entry %s(", name);
	char *at = strstr(mod->text, key);
	if (!at) return 500;
	struct function *fn = calloc(1, sizeof *fn);
	strncpy(fn->name, name, sizeof fn->name - 1);
	char *end = strchr(at + strlen(key), ')');
	for (char *p = at; (p = strstr(p, ".param")) && p < end; p += 6) fn->nparams++;
	*f = fn;
	return 0;
}

// The last launch, for the test to read back.
static unsigned long long last[10];
static unsigned long long lastparams[32];
static int lastn;
static char lastname[64];

CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
			unsigned shared, void *stream, void **params, void **extra) {
	struct function *fn = f;
	if (!fn) return 400;
	if (gx == 0 || bx * by * bz > 1024) return 1;
	unsigned long long l[10] = {gx, gy, gz, bx, by, bz, shared, (uintptr_t)stream, (uintptr_t)extra, (uintptr_t)params};
	memcpy(last, l, sizeof l);
	lastn = fn->nparams;
	memcpy(lastname, fn->name, sizeof lastname);
	for (int i = 0; i < fn->nparams && i < 32; i++) memcpy(&lastparams[i], params[i], 8);
	if (strcmp(fn->name, "fake_axpy") == 0) { // (float a, float *x, float *y, int n): y += a*x
		float a = *(float *)params[0];
		float *x = *(float **)params[1], *y = *(float **)params[2];
		int n = *(int *)params[3];
		for (int i = 0; i < n; i++) y[i] += a * x[i];
	}
	return 0;
}
int fake_last_launch(unsigned long long *out) { memcpy(out, last, sizeof last); return lastn; }
unsigned long long fake_last_param(int i) { return lastparams[i]; }
const char *fake_last_name(void) { return lastname; }

static unsigned long long clock;
CUresult cuEventCreate(void **e, unsigned flags) { *e = calloc(1, 8); return 0; }
CUresult cuEventDestroy_v2(void *e) { free(e); return 0; }
CUresult cuEventRecord(void *e, void *s) { *(unsigned long long *)e = ++clock; return 0; }
CUresult cuEventSynchronize(void *e) { return 0; }
#ifndef OMIT_ELAPSED
CUresult cuEventElapsedTime(float *ms, void *a, void *b) {
	*ms = 1.5f * (float)(*(unsigned long long *)b - *(unsigned long long *)a);
	return 0;
}
#endif
