package driver

// Constant is one enum value or struct layout fact a binding assumes from
// NVIDIA's public documentation. gpu-check.sh compiles a probe against the
// GPU machine's own headers and diffs its output with the lists of this
// package, cublas and cudnn (gpucheck constants prints them in order).
type Constant struct {
	Name  string
	Value int64
}

// Constants lists the driver API values this package assumes, in the
// probe's order.
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
	}
}
