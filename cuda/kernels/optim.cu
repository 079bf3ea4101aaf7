// Optimizer and EMA over flat fp32 parameter buffers. The launch helpers
// run one launch per parameter group (weights; BN biases with their own lr
// and wd multipliers), each over a contiguous range of the flat buffer.
#include "prelude.h"

// sgd_f32 is PyTorch's SGD with coupled L2, the CPU engine's rule:
//   g' = g + wd*w; v = mom*v + g'; w -= lr*(nesterov ? g' + mom*v : v).
KERNEL sgd_f32(float *w, const float *g, float *v, int n, float lr, float wd, float mom, int nesterov) {
	for (long i = gtid(); i < n; i += gstride()) {
		float gi = g[i] + wd * w[i];
		float vi = mom * v[i] + gi;
		v[i] = vi;
		w[i] -= lr * (nesterov ? gi + mom * vi : vi);
	}
}

// ema_f32: ema = rho*ema + (1-rho)*w.
KERNEL ema_f32(float *ema, const float *w, int n, float rho) {
	for (long i = gtid(); i < n; i += gstride()) ema[i] = rho * ema[i] + (1 - rho) * w[i];
}

// row_norms_f32: out[r] = |x_r - y_r| over rows of n floats (y null: |x_r|),
// summed in double in row order, one thread per row: the per-filter norms
// of LARS and the per-layer statistics of post 6 (rows = 1).
KERNEL row_norms_f32(float *out, const float *x, const float *y, int rows, int n) {
	for (long r = gtid(); r < rows; r += gstride()) {
		const float *xr = x + r * n;
		double s = 0;
		for (int j = 0; j < n; j++) {
			double d = (double)xr[j] - (y ? (double)y[r * n + j] : 0.0);
			s += d * d;
		}
		out[r] = (float)__builtin_sqrt(s);
	}
}

// sgd_lars_f32 is sgd_f32 with each row's (output channel's) learning rate
// scaled by |w_r| / (|g_r| + 0.01), the norms from row_norms_f32 (post 6,
// E6.2; g is the loss gradient before weight decay).
KERNEL sgd_lars_f32(float *w, const float *g, float *v, const float *wn, const float *gn, int n, int rowLen, float lr, float wd,
		    float mom, int nesterov) {
	for (long i = gtid(); i < n; i += gstride()) {
		long r = i / rowLen;
		float ratio = (float)((double)wn[r] / ((double)gn[r] + 0.01));
		float gi = g[i] + wd * w[i];
		float vi = mom * v[i] + gi;
		v[i] = vi;
		w[i] -= lr * ratio * (nesterov ? gi + mom * vi : vi);
	}
}
