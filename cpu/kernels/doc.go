// Package kernels holds the CPU compute kernels of the speedrun CPU backend:
// convolution forward and backward, fused batch norm (with ghost splits) plus
// activation, pooling, softmax cross-entropy with label smoothing and SGEMM.
//
// Layout: activations are float32 NHWC, conv weights OIHW (K x C x R x S),
// linear weights Out x In. Callers provide every output buffer; workspaces
// are allocated once in constructors, so the hot calls allocate nothing.
// Every function checks its slice lengths and returns an error instead of
// panicking.
//
// ref.go holds plain, obviously correct reference implementations, generic
// over float32 and float64. They are the oracle for the fast kernels, for
// finite-difference gradient checks and for the GPU backend's checks.
package kernels
