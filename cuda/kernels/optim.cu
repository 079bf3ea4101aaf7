// Optimizer and EMA over flat fp32 parameter buffers. The launch helpers
// run one launch per parameter group (weights; BN biases with their own lr
// and wd multipliers), each over a contiguous range of the flat buffer.
#include "prelude.h"

// sgd_nesterov_f32 is the hand-written update of cifar10-fast:
//   dw = -lr*(g + wd*w); v = mom*v + dw; w = w + dw + mom*v.
KERNEL sgd_nesterov_f32(float *w, const float *g, float *v, int n, float lr, float wd, float mom) {
	for (long i = gtid(); i < n; i += gstride()) {
		float dw = -lr * (g[i] + wd * w[i]);
		float vi = mom * v[i] + dw;
		v[i] = vi;
		w[i] = w[i] + dw + mom * vi;
	}
}

// ema_f32: ema = rho*ema + (1-rho)*w.
KERNEL ema_f32(float *ema, const float *w, int n, float rho) {
	for (long i = gtid(); i < n; i += gstride()) ema[i] = rho * ema[i] + (1 - rho) * w[i];
}
