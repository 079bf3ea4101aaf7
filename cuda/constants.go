package cuda

// Constant is one enum value or struct layout fact this package assumes
// from NVIDIA's public documentation. gpu-check.sh compiles a probe against
// the GPU machine's own headers and diffs its output with this list.
type Constant struct {
	Name  string
	Value int64
}

// Constants lists every assumed value, in the probe's order.
func Constants() []Constant {
	return []Constant{
		{"CUDA_SUCCESS", int64(Success)},
		{"CUDA_ERROR_INVALID_VALUE", int64(ErrInvalidValue)},
		{"CUDA_ERROR_OUT_OF_MEMORY", int64(ErrOutOfMemory)},
		{"CUDA_ERROR_NOT_INITIALIZED", int64(ErrNotInit)},
		{"CUDA_ERROR_NO_DEVICE", int64(ErrNoDevice)},
		{"CUDA_ERROR_INVALID_PTX", int64(ErrInvalidPTX)},
		{"CUDA_ERROR_NOT_FOUND", int64(ErrNotFound)},
		{"CUDA_ERROR_NOT_READY", int64(ErrNotReady)},
		{"CUDA_ERROR_LAUNCH_FAILED", int64(ErrLaunchFailed)},
		{"CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK", int64(AttrMaxThreadsPerBlock)},
		{"CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK", int64(AttrMaxSharedMemoryPerBlock)},
		{"CU_DEVICE_ATTRIBUTE_CLOCK_RATE", int64(AttrClockRate)},
		{"CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT", int64(AttrMultiprocessorCount)},
		{"CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE", int64(AttrL2CacheSize)},
		{"CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR", int64(AttrComputeCapabilityMajor)},
		{"CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR", int64(AttrComputeCapabilityMinor)},
		{"CU_EVENT_DEFAULT", 0},
		{"CUBLAS_OP_N", OpN},
		{"CUBLAS_OP_T", OpT},
		{"CUDA_R_32F", DataF32},
		{"CUDA_R_16F", DataF16},
		{"CUDA_R_16BF", DataBF16},
		{"CUBLAS_COMPUTE_32F", ComputeF32},
		{"CUBLAS_COMPUTE_32F_PEDANTIC", ComputeF32Pedantic},
		{"CUBLAS_COMPUTE_32F_FAST_16BF", ComputeF32FastBF16},
		{"CUBLAS_COMPUTE_32F_FAST_TF32", ComputeF32FastTF32},
		{"CUBLAS_GEMM_DEFAULT", GemmDefault},
		{"CUBLAS_DEFAULT_MATH", BLASDefaultMath},
		{"CUBLAS_PEDANTIC_MATH", BLASPedanticMath},
		{"CUBLAS_TF32_TENSOR_OP_MATH", BLASTF32Math},
		{"CUBLAS_STATUS_NOT_SUPPORTED", 15},
		{"CUBLAS_STATUS_INVALID_VALUE", 7},
		{"CUDNN_TENSOR_NCHW", DNNTensorNCHW},
		{"CUDNN_TENSOR_NHWC", DNNTensorNHWC},
		{"CUDNN_DATA_FLOAT", DNNFloat},
		{"CUDNN_DATA_HALF", DNNHalf},
		{"CUDNN_DATA_BFLOAT16", DNNBF16},
		{"CUDNN_CROSS_CORRELATION", DNNCrossCorrelation},
		{"CUDNN_DEFAULT_MATH", DNNDefaultMath},
		{"CUDNN_TENSOR_OP_MATH", DNNTensorOp},
		{"CUDNN_FMA_MATH", DNNFMAMath},
		{"CUDNN_STATUS_BAD_PARAM", 2000},
		{"CUDNN_STATUS_NOT_SUPPORTED", 3000},
		{"CUDNN_STATUS_EXECUTION_FAILED", 5000},
		{"sizeof(cudnnConvolutionFwdAlgoPerf_t)", convPerfSize},
		{"sizeof(cudnnConvolutionBwdDataAlgoPerf_t)", convPerfSize},
		{"sizeof(cudnnConvolutionBwdFilterAlgoPerf_t)", convPerfSize},
		{"offsetof(cudnnConvolutionFwdAlgoPerf_t,time)", 8},
		{"offsetof(cudnnConvolutionFwdAlgoPerf_t,memory)", 16},
		{"offsetof(cudnnConvolutionFwdAlgoPerf_t,mathType)", 28},
	}
}
