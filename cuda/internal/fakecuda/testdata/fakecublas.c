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

cublasStatus_t cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at_,
			    int lda, const void *B, int bt, int ldb, const void *beta, void *C, int ct, int ldc,
			    int compute, int algo) {
	if (at_ != 0 || bt != 0 || ct != 0) return 15;
	if ((compute != 68 && compute != 77) || algo != -1) return 7;
	gemm(ta, tb, m, n, k, *(const float *)alpha, A, lda, B, ldb, *(const float *)beta, C, ldc);
	return 0;
}
