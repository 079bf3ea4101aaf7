// C shim over oneDNN's C API for the Go conv kernels: it keeps every
// oneDNN object behind one opaque handle, so the Go side makes one cgo
// call per pass.
#ifndef SPEEDRUN_DNNL_SHIM_H
#define SPEEDRUN_DNNL_SHIM_H
#include <stdint.h>

typedef struct sr_conv sr_conv;

// sr_set_threads sets the OpenMP thread count of every later oneDNN call
// (0: OpenMP's default). It returns 0 when libgomp's omp_set_num_threads
// was not found.
int sr_set_threads(int n);

// sr_conv_create plans forward, backward-data and backward-weights
// convolutions for NHWC activations and OIHW user weights. alg: 0 direct,
// 1 Winograd, 2 let oneDNN choose. bf16: the convolutions read bf16
// copies of x, w and dy and accumulate in fp32; y, dx and dw stay fp32.
// On failure it returns NULL and writes a message into err.
sr_conv *sr_conv_create(int n, int h, int w, int c, int k, int r, int s,
                        int stride, int pad, int alg, int bf16, char *err, int errlen);
// The passes return 0 on success, or a dnnl_status_t. With bf16 they
// read x16 and dy16 (nhwc bf16) when those are not NULL, and bf16 copies
// of x and dy otherwise.
int sr_conv_forward(sr_conv *cv, float *x, const uint16_t *x16, float *w, float *y);
int sr_conv_backward_data(sr_conv *cv, float *dy, const uint16_t *dy16, float *w, float *dx);
int sr_conv_backward_weights(sr_conv *cv, float *x, const uint16_t *x16, float *dy, const uint16_t *dy16, float *dw);
// sr_conv_input16 writes into x16 the bf16 copy of x that a bf16 conv's
// passes read (the same reorder they would run).
int sr_conv_input16(sr_conv *cv, float *x, uint16_t *x16);
// sr_conv_impl names the implementation oneDNN chose for pass 0 (forward),
// 1 (backward data) or 2 (backward weights).
const char *sr_conv_impl(sr_conv *cv, int pass);
void sr_conv_destroy(sr_conv *cv);

#endif

#ifndef SPEEDRUN_DNNL_SHIM_BN_H
#define SPEEDRUN_DNNL_SHIM_BN_H
#include <stddef.h>

typedef struct sr_bn sr_bn;

// sr_bn_create plans training-mode batch norm with scale and shift over n
// images of hw pixels and c channels (nhwc), optionally with a fused ReLU.
// Every buffer is the caller's and is set per call.
sr_bn *sr_bn_create(int n, int hw, int c, float eps, int relu, char *err, int errlen);
// sr_bn_workspace_size is the workspace (bytes) one forward call leaves for
// its backward call: the ReLU mask, 0 without ReLU.
size_t sr_bn_workspace_size(sr_bn *bn);
// sr_bn_forward writes y, the batch mean and the biased variance.
int sr_bn_forward(sr_bn *bn, float *x, float *y, float *gamma, float *beta,
                  float *mean, float *var, void *ws);
// sr_bn_backward writes dx, dgamma and dbeta for the forward call that
// produced mean, var and ws from x.
int sr_bn_backward(sr_bn *bn, float *x, float *dy, float *gamma, float *beta,
                   float *mean, float *var, void *ws, float *dx,
                   float *dgamma, float *dbeta);
const char *sr_bn_impl(sr_bn *bn, int pass);
void sr_bn_destroy(sr_bn *bn);
#endif
