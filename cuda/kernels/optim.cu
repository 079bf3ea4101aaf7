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

// Muon (airbench94_muon) on one filter bank of n floats, rows output
// channels: muon_momentum_f32 makes the Nesterov update u, row_norms_f32
// the rows' norms of w and u, muon_norms the two scales, muon_scale_*
// renormalises w and writes X = u / (|u| + eps) in the GEMMs' precision,
// cuBLAS iterates Newton-Schulz on X, and muon_update_* steps w.

// muon_momentum_f32: v = mom*v + g; u = nesterov ? g + mom*v : v.
KERNEL muon_momentum_f32(const float *g, float *v, float *u, int n, float mom, int nesterov) {
	for (long i = gtid(); i < n; i += gstride()) {
		float vi = mom * v[i] + g[i];
		v[i] = vi;
		u[i] = nesterov ? g[i] + mom * vi : vi;
	}
}

// muon_norms (one thread): s[0] = sqrt(rows) / |w| and s[1] =
// 1 / (|u| + eps) from the rows' norms wn and un, summed in double.
KERNEL muon_norms(float *s, const float *wn, const float *un, int rows, float eps) {
	if (gtid() != 0) return;
	double a = 0, b = 0;
	for (int r = 0; r < rows; r++) {
		a += (double)wn[r] * wn[r];
		b += (double)un[r] * un[r];
	}
	s[0] = (float)(__builtin_sqrt((double)rows) / __builtin_sqrt(a));
	s[1] = (float)(1.0 / (__builtin_sqrt(b) + eps));
}

// muon_scale: w *= s[0]; X = u * s[1].
template <typename T> DEV void muonscale(float *w, const float *u, T *X, const float *s, int n) {
	for (long i = gtid(); i < n; i += gstride()) {
		w[i] *= s[0];
		st(X, i, u[i] * s[1]);
	}
}
KERNEL muon_scale_f32(float *w, const float *u, float *X, const float *s, int n) { muonscale(w, u, X, s, n); }
KERNEL muon_scale_bf16(float *w, const float *u, bf16 *X, const float *s, int n) { muonscale(w, u, X, s, n); }

// muon_update: w -= lr * X.
template <typename T> DEV void muonupdate(float *w, const T *X, int n, float lr) {
	for (long i = gtid(); i < n; i += gstride()) w[i] -= lr * ld(X, i);
}
KERNEL muon_update_f32(float *w, const float *X, int n, float lr) { muonupdate(w, X, n, lr); }
KERNEL muon_update_bf16(float *w, const bf16 *X, int n, float lr) { muonupdate(w, X, n, lr); }

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
