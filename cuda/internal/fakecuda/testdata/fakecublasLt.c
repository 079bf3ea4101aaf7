// A fake libcublasLt: cuBLAS is loaded after it; nothing is bound from it yet.
int cublasLtGetVersion(void) { return 130101; }
