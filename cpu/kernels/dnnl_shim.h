// C shim over oneDNN's C API for the Go conv kernels: it keeps every
// oneDNN object behind one opaque handle, so the Go side makes one cgo
// call per pass.
#ifndef SPEEDRUN_DNNL_SHIM_H
#define SPEEDRUN_DNNL_SHIM_H

typedef struct sr_conv sr_conv;

// sr_conv_create plans forward, backward-data and backward-weights
// convolutions for NHWC activations and OIHW user weights. alg: 0 direct,
// 1 Winograd, 2 let oneDNN choose. On failure it returns NULL and writes a
// message into err.
sr_conv *sr_conv_create(int n, int h, int w, int c, int k, int r, int s,
                        int stride, int pad, int alg, char *err, int errlen);
// The passes return 0 on success, or a dnnl_status_t.
int sr_conv_forward(sr_conv *cv, float *x, float *w, float *y);
int sr_conv_backward_data(sr_conv *cv, float *dy, float *w, float *dx);
int sr_conv_backward_weights(sr_conv *cv, float *x, float *dy, float *dw);
// sr_conv_impl names the implementation oneDNN chose for pass 0 (forward),
// 1 (backward data) or 2 (backward weights).
const char *sr_conv_impl(sr_conv *cv, int pass);
void sr_conv_destroy(sr_conv *cv);

#endif
