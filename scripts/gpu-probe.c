/* gpu-probe.c: prints, from the GPU machine's own CUDA, cuBLAS and cuDNN
 * headers, the constants and struct layouts that package cuda writes down
 * from public documentation (cuda.Constants), in the same "NAME VALUE"
 * format as `gpucheck constants`, so gpu-check.sh can diff the two. A
 * header that is absent prints "NAME absent" lines instead. Compiled on
 * the device only; no NVIDIA header is ever committed. */
#include <stddef.h>
#include <stdio.h>

#define P(name) printf("%s %lld\n", #name, (long long)(name))
#define A(name) printf("%s absent\n", #name)

#if __has_include(<cuda.h>)
#include <cuda.h>
#define HAVE_CUDA 1
#endif
#if __has_include(<cublas_api.h>)
#include <cublas_api.h>
#define HAVE_CUBLAS 1
#endif
#if __has_include(<cudnn.h>)
#include <cudnn.h>
#define HAVE_CUDNN 1
#endif

int main(void) {
#ifdef HAVE_CUDA
	P(CUDA_SUCCESS); P(CUDA_ERROR_INVALID_VALUE); P(CUDA_ERROR_OUT_OF_MEMORY); P(CUDA_ERROR_NOT_INITIALIZED);
	P(CUDA_ERROR_NO_DEVICE); P(CUDA_ERROR_INVALID_PTX); P(CUDA_ERROR_NOT_FOUND); P(CUDA_ERROR_NOT_READY);
	P(CUDA_ERROR_LAUNCH_FAILED);
	P(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK); P(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
	P(CU_DEVICE_ATTRIBUTE_CLOCK_RATE); P(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT); P(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
	P(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR); P(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
	P(CU_EVENT_DEFAULT);
#else
	A(cuda.h);
#endif
#ifdef HAVE_CUBLAS
	P(CUBLAS_OP_N); P(CUBLAS_OP_T); P(CUDA_R_32F); P(CUDA_R_16F); P(CUDA_R_16BF);
	P(CUBLAS_COMPUTE_32F); P(CUBLAS_COMPUTE_32F_PEDANTIC); P(CUBLAS_COMPUTE_32F_FAST_16BF); P(CUBLAS_COMPUTE_32F_FAST_TF32);
	P(CUBLAS_GEMM_DEFAULT); P(CUBLAS_DEFAULT_MATH); P(CUBLAS_PEDANTIC_MATH); P(CUBLAS_TF32_TENSOR_OP_MATH);
	P(CUBLAS_STATUS_NOT_SUPPORTED); P(CUBLAS_STATUS_INVALID_VALUE);
#else
	A(cublas_api.h);
#endif
#ifdef HAVE_CUDNN
	P(CUDNN_TENSOR_NCHW); P(CUDNN_TENSOR_NHWC); P(CUDNN_DATA_FLOAT); P(CUDNN_DATA_HALF); P(CUDNN_DATA_BFLOAT16);
	P(CUDNN_CROSS_CORRELATION); P(CUDNN_DEFAULT_MATH); P(CUDNN_TENSOR_OP_MATH); P(CUDNN_FMA_MATH);
	P(CUDNN_STATUS_BAD_PARAM); P(CUDNN_STATUS_NOT_SUPPORTED); P(CUDNN_STATUS_EXECUTION_FAILED);
	printf("sizeof(cudnnConvolutionFwdAlgoPerf_t) %zu\n", sizeof(cudnnConvolutionFwdAlgoPerf_t));
	printf("sizeof(cudnnConvolutionBwdDataAlgoPerf_t) %zu\n", sizeof(cudnnConvolutionBwdDataAlgoPerf_t));
	printf("sizeof(cudnnConvolutionBwdFilterAlgoPerf_t) %zu\n", sizeof(cudnnConvolutionBwdFilterAlgoPerf_t));
	printf("offsetof(cudnnConvolutionFwdAlgoPerf_t,time) %zu\n", offsetof(cudnnConvolutionFwdAlgoPerf_t, time));
	printf("offsetof(cudnnConvolutionFwdAlgoPerf_t,memory) %zu\n", offsetof(cudnnConvolutionFwdAlgoPerf_t, memory));
	printf("offsetof(cudnnConvolutionFwdAlgoPerf_t,mathType) %zu\n", offsetof(cudnnConvolutionFwdAlgoPerf_t, mathType));
#else
	A(cudnn.h);
#endif
	return 0;
}
