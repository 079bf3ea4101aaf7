// A fake libcublas for binding tests: host-memory Sgemm and Dgemm and an
// fp32-only GemmEx, column-major like the real one.
#include <stdint.h>
#include <stdlib.h>

typedef int cublasStatus_t;
static int handles;
cublasStatus_t cublasCreate_v2(void **h) { *h = calloc(1, 64); handles++; return 0; }
cublasStatus_t cublasDestroy_v2(void *h) { free(h); handles--; return 0; }
cublasStatus_t cublasSetStream_v2(void *h, void *s) { return h ? 0 : 1; }
cublasStatus_t cublasGetVersion_v2(void *h, int *v) { *v = 130101; return 0; }
cublasStatus_t cublasSetMathMode(void *h, int mode) { return mode > 32 ? 7 : 0; }

static float at(const float *a, int trans, int ld, int i, int j) { return trans ? a[j + i * ld] : a[i + j * ld]; }

static void gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
		 float beta, float *C, int ldc) {
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int p = 0; p < k; p++) s += at(A, ta, lda, i, p) * at(B, tb, ldb, p, j);
			C[i + j * ldc] = beta == 0 ? alpha * s : alpha * s + beta * C[i + j * ldc]; // beta 0 never reads C, like cuBLAS
		}
}

cublasStatus_t cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *A, int lda,
			      const float *B, int ldb, const float *beta, float *C, int ldc) {
	if (!h || m < 0 || n < 0 || k < 0) return 7;
	gemm(ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
	return 0;
}

static double atd(const double *a, int trans, int ld, int i, int j) { return trans ? a[j + i * ld] : a[i + j * ld]; }

cublasStatus_t cublasDgemm_v2(void *h, int ta, int tb, int m, int n, int k, const double *alpha, const double *A, int lda,
			      const double *B, int ldb, const double *beta, double *C, int ldc) {
	if (!h || m < 0 || n < 0 || k < 0) return 7;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int p = 0; p < k; p++) s += atd(A, ta, lda, i, p) * atd(B, tb, ldb, p, j);
			C[i + j * ldc] = *beta == 0 ? *alpha * s : *alpha * s + *beta * C[i + j * ldc];
		}
	return 0;
}

// GemmEx: fp32 or bf16 (CUDA_R_16BF, 14) operands and result, fp32
// accumulation (compute 32F or 32F_FAST_TF32), as the engine calls it.
static float ld_t(const void *p, int t, long i) {
	if (t == 14) {
		uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
		float f;
		__builtin_memcpy(&f, &u, 4);
		return f;
	}
	return ((const float *)p)[i];
}

static void st_t(void *p, int t, long i, float v) {
	if (t == 14) {
		uint32_t u;
		__builtin_memcpy(&u, &v, 4);
		u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even (no NaNs here)
		((uint16_t *)p)[i] = (uint16_t)(u >> 16);
		return;
	}
	((float *)p)[i] = v;
}

cublasStatus_t cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at_,
			    int lda, const void *B, int bt, int ldb, const void *beta, void *C, int ct, int ldc,
			    int compute, int algo) {
	if ((at_ != 0 && at_ != 14) || (bt != 0 && bt != 14) || (ct != 0 && ct != 14)) return 15;
	if ((compute != 68 && compute != 77) || algo != -1) return 7;
	float al = *(const float *)alpha, be = *(const float *)beta;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int p = 0; p < k; p++) {
				float a = ld_t(A, at_, ta ? p + (long)i * lda : i + (long)p * lda);
				float b = ld_t(B, bt, tb ? j + (long)p * ldb : p + (long)j * ldb);
				s += a * b;
			}
			long o = i + (long)j * ldc;
			st_t(C, ct, o, be == 0 ? al * s : al * s + be * ld_t(C, ct, o));
		}
	return 0;
}
