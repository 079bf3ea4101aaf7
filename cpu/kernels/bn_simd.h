// The fused batch norm + activation loops of bn.go's Go path, in C so that
// the compiler vectorises them across channels (NHWC rows are contiguous
// channel runs). Every per-channel operation happens in the Go loops'
// order and with their float32/float64 types, and bn_simd.c builds with
// -ffp-contract=off (no fused multiply-adds, which Go does not emit on
// amd64 either), so the results are bit for bit the Go loops'.
//
// bn_simd.c includes this file twice, once per instruction set, with
// SR_SUFFIX naming the copy and a target pragma around it. Selections go
// through the bit patterns as integers, as the Go loops' do: GCC leaves a
// loop scalar when it selects floats next to a float-to-int conversion.

#define SR_CAT2(a, b) a##b
#define SR_CAT(a, b) SR_CAT2(a, b)
#define SR_FN(name) SR_CAT(name, SR_SUFFIX)

static inline float SR_FN(bits_f)(int32_t b) {
	float f;
	memcpy(&f, &b, 4);
	return f;
}

static inline int32_t SR_FN(f_bits)(float f) {
	int32_t b;
	memcpy(&b, &f, 4);
	return b;
}

// sel is c ? a : b on bit patterns by masks: a ternary lets GCC compute
// only the side it needs, behind a branch that keeps the loop scalar.
static inline int32_t SR_FN(sel)(int c, int32_t a, int32_t b) {
	int32_t m = -(int32_t)(c != 0);
	return (m & a) | (~m & b);
}

// relu is exp.go's reluBits: max(z, 0) on the bit pattern (-0 and
// negative NaNs give +0).
static inline float SR_FN(relu)(float z) {
	int32_t b = SR_FN(f_bits)(z);
	return SR_FN(bits_f)(b < 0 ? 0 : b);
}

// keep is keepIfPositive: d where z > 0, else 0.
static inline float SR_FN(keep)(float z, float d) {
	return SR_FN(bits_f)(SR_FN(f_bits)(z) <= 0 ? 0 : SR_FN(f_bits)(d));
}

// expneg is exp.go's expNeg (Cephes expf for t <= 0), operation for
// operation.
static inline float SR_FN(expneg)(float t) {
	// max(min(t, 0), -87.3) by the bit patterns, so the loops vectorise:
	// a positive t has a positive pattern, and below zero a larger
	// unsigned pattern is a more negative float (compared unsigned, so
	// that t = +0 stays 0: a signed compare clamped it, and CELU(0) came
	// out -alpha where the Go loops give 0).
	int32_t tb = SR_FN(f_bits)(t), lim = SR_FN(f_bits)(-87.3f);
	tb = tb > 0 ? 0 : tb;
	t = SR_FN(bits_f)((uint32_t)tb > (uint32_t)lim ? lim : tb);
	int32_t n = (int32_t)(t * 1.44269504088896340736f - 0.5f);
	float fn = (float)n;
	float r = t - fn * 0.693359375f - fn * (-2.12194440e-4f);
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1;
	return p * SR_FN(bits_f)((n + 127) << 23);
}

static inline float SR_FN(celu)(float z, float alpha, float ia) {
	float neg = alpha * (SR_FN(expneg)(z * ia) - 1);
	return SR_FN(bits_f)(SR_FN(sel)(SR_FN(f_bits)(z) <= 0, SR_FN(f_bits)(neg), SR_FN(f_bits)(z)));
}

static inline float SR_FN(celu_grad)(float z, float ia) {
	float e = SR_FN(expneg)(z * ia);
	return SR_FN(bits_f)(SR_FN(sel)(SR_FN(f_bits)(z) > 0, 0x3f800000, SR_FN(f_bits)(e)));
}

// gelu_phi is exp.go's geluParts: Phi(x) by Abramowitz and Stegun 7.1.26,
// and e^(-x^2/2) in *e, operation for operation.
static inline float SR_FN(gelu_phi)(float x, float *e) {
	float z = x * 0.7071067811865476f;
	float a = SR_FN(bits_f)(SR_FN(f_bits)(z) & 0x7fffffff);
	float t = 1 / (1 + 0.3275911f * a);
	float p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
	*e = SR_FN(expneg)(-(a * a));
	float c = 0.5f * p * *e;
	return SR_FN(bits_f)(SR_FN(sel)(SR_FN(f_bits)(z) > 0, SR_FN(f_bits)(1 - c), SR_FN(f_bits)(c)));
}

static inline float SR_FN(gelu)(float x) {
	float e;
	return x * SR_FN(gelu_phi)(x, &e);
}

static inline float SR_FN(gelu_grad)(float x) {
	float e;
	float phi = SR_FN(gelu_phi)(x, &e);
	return phi + x * e * 0.3989422804014327f;
}

// SR_ACT_ROWS writes y = act(Z) over rows rows (stride floats apart) of w
// channels, where Z is an expression of the row's xr and the channel j.
// One loop nest per activation (a switch inside the loop keeps it
// scalar), and the rows inside the function: at 64 channels and two
// workers a row is two vectors, too little to pay for a call.
#define SR_ACT_ROWS(Z, Y)                                                                        \
	switch (act) {                                                                               \
	case SR_ACT_RELU:                                                                            \
		for (int r = 0; r < rows; r++) {                                                         \
			const float *xr = x + (size_t)r * stride;                                            \
			float *yr = y + (size_t)r * stride;                                                  \
			for (int j = 0; j < w; j++) yr[j] = SR_FN(relu)(Z);                                  \
		}                                                                                        \
		break;                                                                                   \
	case SR_ACT_CELU:                                                                            \
		for (int r = 0; r < rows; r++) {                                                         \
			const float *xr = x + (size_t)r * stride;                                            \
			float *yr = y + (size_t)r * stride;                                                  \
			for (int j = 0; j < w; j++) yr[j] = SR_FN(celu)(Z, alpha, ia);                       \
		}                                                                                        \
		break;                                                                                   \
	case SR_ACT_SSRELU:                                                                          \
		for (int r = 0; r < rows; r++) {                                                         \
			const float *xr = x + (size_t)r * stride;                                            \
			float *yr = y + (size_t)r * stride;                                                  \
			for (int j = 0; j < w; j++) yr[j] = (SR_FN(relu)(Z) - ssr_shift) * ssr_scale;        \
		}                                                                                        \
		break;                                                                                   \
	case SR_ACT_GELU:                                                                            \
		for (int r = 0; r < rows; r++) {                                                         \
			const float *xr = x + (size_t)r * stride;                                            \
			float *yr = y + (size_t)r * stride;                                                  \
			for (int j = 0; j < w; j++) yr[j] = SR_FN(gelu)(Z);                                  \
		}                                                                                        \
		break;                                                                                   \
	default:                                                                                     \
		for (int r = 0; r < rows; r++) {                                                         \
			const float *xr = x + (size_t)r * stride;                                            \
			float *yr = y + (size_t)r * stride;                                                  \
			for (int j = 0; j < w; j++) yr[j] = Z;                                               \
		}                                                                                        \
	}

// norm_rows is bn_rows.go's normRow over rows: y = act(gamma*(x-mean)*inv
// + beta).
static __attribute__((noinline)) void SR_FN(norm_rows)(int act, int rows, int stride, int w, const float *restrict x,
                                                      float *restrict y, const float *restrict mean,
                                                      const float *restrict inv, const float *restrict gamma,
                                                      const float *restrict beta, float alpha, float ia,
                                                      float ssr_shift, float ssr_scale) {
	SR_ACT_ROWS(gamma[j] * ((xr[j] - mean[j]) * inv[j]) + beta[j], y)
}

// eval_rows is BNAct.fwdEval's rows: y = act(x*scale + shift); y may
// alias x.
static __attribute__((noinline)) void SR_FN(eval_rows)(int act, int rows, int stride, int w, const float *x, float *y,
                                                      const float *restrict scale, const float *restrict shift,
                                                      float alpha, float ia, float ssr_shift, float ssr_scale) {
	SR_ACT_ROWS(xr[j] * scale[j] + shift[j], y)
}

// blk_part returns block i's two partial sums (c floats each), zeroed.
static inline float *SR_FN(blk_part)(const sr_bn_args *a, int i) {
	float *s = a->part + (size_t)i * 2 * a->c;
	memset(s, 0, 2 * (size_t)a->c * sizeof(float));
	return s;
}

// stats_rows adds x-k into s and (x-k)^2 into q over rows rows of w
// channels, stride floats apart.
static __attribute__((noinline)) void SR_FN(stats_rows)(int rows, int stride, int w, const float *restrict x,
                                                       const float *restrict k, float *restrict s,
                                                       float *restrict q) {
	for (int r = 0; r < rows; r++) {
		const float *restrict xr = x + (size_t)r * stride;
		for (int j = 0; j < w; j++) {
			float d = xr[j] - k[j];
			s[j] += d;
			q[j] += d * d;
		}
	}
}

// dx_rows turns dz (in dx) into dx = k1*(dz - k2 - xh*k3) over rows rows.
static __attribute__((noinline)) void SR_FN(dx_rows)(int rows, int stride, int w, const float *restrict x,
                                                    float *restrict dx, const float *restrict mean,
                                                    const float *restrict inv, const float *restrict k1,
                                                    const float *restrict k2, const float *restrict k3) {
	for (int r = 0; r < rows; r++) {
		const float *restrict xr = x + (size_t)r * stride;
		float *restrict dxr = dx + (size_t)r * stride;
		for (int j = 0; j < w; j++) {
			float h = (xr[j] - mean[j]) * inv[j];
			dxr[j] = k1[j] * (dxr[j] - k2[j] - h * k3[j]);
		}
	}
}

// to_bf16 is bf16.go's bf16Bits: float32 to bfloat16 as VCVTNEPS2BF16
// (and so oneDNN's bf16 reorder) rounds it: to nearest even, denormals to
// signed zero, NaNs quiet.
static inline uint16_t SR_FN(to_bf16)(float f) {
	uint32_t b = (uint32_t)SR_FN(f_bits)(f);
	uint32_t e = b & 0x7f800000u, m = b & 0x007fffffu;
	uint32_t r = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
	r = e == 0 ? (b >> 16) & 0x8000u : r;
	r = e == 0x7f800000u ? (b >> 16) | (m ? 0x40u : 0) : r;
	return (uint16_t)r;
}

// dx16_rows is dx_rows writing dx in bf16 (dx16) from dz in dz.
static __attribute__((noinline)) void SR_FN(dx16_rows)(int rows, int stride, int w, const float *restrict x,
                                                      const float *restrict dz, uint16_t *restrict dx16,
                                                      const float *restrict mean, const float *restrict inv,
                                                      const float *restrict k1, const float *restrict k2,
                                                      const float *restrict k3) {
	for (int r = 0; r < rows; r++) {
		const float *restrict xr = x + (size_t)r * stride, *restrict dzr = dz + (size_t)r * stride;
		uint16_t *restrict dr = dx16 + (size_t)r * stride;
		for (int j = 0; j < w; j++) {
			float h = (xr[j] - mean[j]) * inv[j];
			dr[j] = SR_FN(to_bf16)(k1[j] * (dzr[j] - k2[j] - h * k3[j]));
		}
	}
}

// fwd_finish turns a split's float64 sums of x-k over rows rows into
// the mean, the unbiased variance and 1/std of w channels.
static inline void SR_FN(fwd_finish)(int w, int rows, float eps, const double *restrict sum,
                                     const double *restrict sumsq, const float *restrict k, float *restrict mean,
                                     float *restrict vr, float *restrict invstd) {
	for (int j = 0; j < w; j++) {
		double d = sum[j] / (double)rows;
		double mu = (double)k[j] + d;
		double v = sumsq[j] / (double)rows - d * d;
		if (v <= 0) v = 0; // Go's max(v, 0): +0 for -0, NaN stays NaN
		mean[j] = (float)mu;
		vr[j] = rows > 1 ? (float)(v * (double)rows / (double)(rows - 1)) : 0;
		invstd[j] = (float)(1 / sqrt(v + (double)eps));
	}
}

// bwd_finish adds a split's float64 sums of dz and dz*xh into dbeta and
// dgamma, and writes its k1 = gamma*invstd, k2 = mean(dz) and
// k3 = mean(dz*xh), for w channels.
static inline void SR_FN(bwd_finish)(int w, int rows, const double *restrict sdz, const double *restrict sdzx,
                                     const float *restrict gamma, const float *restrict inv,
                                     float *restrict dgamma, float *restrict dbeta, float *restrict k1,
                                     float *restrict k2, float *restrict k3) {
	for (int j = 0; j < w; j++) {
		dbeta[j] += (float)sdz[j];
		dgamma[j] += (float)sdzx[j];
		k1[j] = gamma[j] * inv[j];
		k2[j] = (float)(sdz[j] / (double)rows);
		k3[j] = (float)(sdzx[j] / (double)rows);
	}
}

// bn_fwd_train is BNAct.fwdTrain for channels [c0, c1) of every split.
static void SR_FN(bn_fwd_train)(const sr_bn_args *a) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0, rows = a->rows;
	double *restrict sum = a->sum, *restrict sumsq = a->sumsq;
	float *restrict ps = a->ps, *restrict pq = a->pq, *restrict k = a->k;
	const float *restrict gamma = a->gamma + c0, *restrict beta = a->beta + c0;
	const float ia = 1 / a->alpha;
	for (int g = 0; g < a->splits; g++) {
		const float *restrict xg = a->x + (size_t)g * rows * c + c0;
		float *restrict yg = a->y + (size_t)g * rows * c + c0;
		for (int j = 0; j < w; j++) {
			sum[j] = 0;
			sumsq[j] = 0;
			k[j] = xg[j];
		}
		for (int r0 = 0; r0 < rows; r0 += SR_STAT_BLOCK) {
			for (int j = 0; j < w; j++) {
				ps[j] = 0;
				pq[j] = 0;
			}
			int r1 = r0 + SR_STAT_BLOCK < rows ? r0 + SR_STAT_BLOCK : rows;
			SR_FN(stats_rows)(r1 - r0, c, w, xg + (size_t)r0 * c, k, ps, pq);
			for (int j = 0; j < w; j++) {
				sum[j] += (double)ps[j];
				sumsq[j] += (double)pq[j];
			}
		}
		float *restrict mean = a->mean + g * c + c0, *restrict invstd = a->invstd + g * c + c0;
		SR_FN(fwd_finish)(w, rows, a->eps, sum, sumsq, k, mean, a->var + g * c + c0, invstd);
		SR_FN(norm_rows)(a->act, rows, c, w, xg, yg, mean, invstd, gamma, beta, a->alpha, ia, a->ssr_shift,
		                 a->ssr_scale);
	}
}

// dz_rows is bn_rows.go's dzRow over rows (stride floats apart): dz =
// dy * act'(gamma*xh + beta), its sum into s and dz*xh into q. Each
// activation's loop nest is its own small function: GCC neither splits it
// (losing the target options) nor leaves it scalar. dz may alias dy.
#define SR_DZ_ROWS(expr)                                   \
	for (int r = 0; r < rows; r++) {                       \
		const float *xr = x + (size_t)r * stride;          \
		const float *dyr = dy + (size_t)r * stride;        \
		float *dzr = dz + (size_t)r * stride;              \
		for (int j = 0; j < w; j++) {                      \
			float h = (xr[j] - mean[j]) * inv[j];          \
			float d = (expr);                              \
			dzr[j] = d;                                    \
			s[j] += d;                                     \
			q[j] += d * h;                                 \
		}                                                  \
	}

#define SR_DZ_ARGS                                                                                     \
	int rows, int stride, int w, const float *restrict x, const float *dy, float *dz, const float *restrict mean, \
	    const float *restrict inv, const float *restrict gamma, const float *restrict beta, float *restrict s,    \
	    float *restrict q

static __attribute__((noinline)) void SR_FN(dz_identity)(SR_DZ_ARGS) { SR_DZ_ROWS(dyr[j]) }

static __attribute__((noinline)) void SR_FN(dz_relu)(SR_DZ_ARGS, float scale) {
	SR_DZ_ROWS(SR_FN(keep)(gamma[j] * h + beta[j], dyr[j] * scale))
}

static __attribute__((noinline)) void SR_FN(dz_celu)(SR_DZ_ARGS, float ia) {
	SR_DZ_ROWS(dyr[j] * SR_FN(celu_grad)(gamma[j] * h + beta[j], ia))
}

static __attribute__((noinline)) void SR_FN(dz_gelu)(SR_DZ_ARGS) {
	SR_DZ_ROWS(dyr[j] * SR_FN(gelu_grad)(gamma[j] * h + beta[j]))
}

static inline void SR_FN(dz_rows)(int act, SR_DZ_ARGS, float ia, float ssr_scale) {
	switch (act) {
	case SR_ACT_IDENTITY: SR_FN(dz_identity)(rows, stride, w, x, dy, dz, mean, inv, gamma, beta, s, q); break;
	case SR_ACT_RELU: SR_FN(dz_relu)(rows, stride, w, x, dy, dz, mean, inv, gamma, beta, s, q, 1); break;
	case SR_ACT_SSRELU: SR_FN(dz_relu)(rows, stride, w, x, dy, dz, mean, inv, gamma, beta, s, q, ssr_scale); break;
	case SR_ACT_CELU: SR_FN(dz_celu)(rows, stride, w, x, dy, dz, mean, inv, gamma, beta, s, q, ia); break;
	case SR_ACT_GELU: SR_FN(dz_gelu)(rows, stride, w, x, dy, dz, mean, inv, gamma, beta, s, q); break;
	}
}

// bn_bwd_train is BNAct.bwdTrain for channels [c0, c1) of every split;
// dx doubles as the scratch for dz.
static void SR_FN(bn_bwd_train)(const sr_bn_args *a) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0, rows = a->rows;
	double *restrict sdz = a->sum, *restrict sdzx = a->sumsq;
	float *restrict ps = a->ps, *restrict pq = a->pq;
	float *restrict k1 = a->k1, *restrict k2 = a->k2, *restrict k3 = a->k;
	const float *restrict gf = a->gamma_f + c0, *restrict bf = a->beta_f + c0, *restrict gamma = a->gamma + c0;
	float *restrict dgamma = a->dgamma + c0, *restrict dbeta = a->dbeta + c0;
	const float ia = 1 / a->alpha, sc = a->ssr_scale;
	for (int j = 0; j < w; j++) {
		dgamma[j] = 0;
		dbeta[j] = 0;
	}
	for (int g = 0; g < a->splits; g++) {
		const float *restrict xg = a->x + (size_t)g * rows * c + c0;
		const float *restrict dyg = a->dy + (size_t)g * rows * c + c0;
		float *restrict dxg = a->dx + (size_t)g * rows * c + c0;
		const float *restrict mean = a->mean + g * c + c0, *restrict inv = a->invstd + g * c + c0;
		for (int j = 0; j < w; j++) {
			sdz[j] = 0;
			sdzx[j] = 0;
		}
		for (int r0 = 0; r0 < rows; r0 += SR_STAT_BLOCK) {
			for (int j = 0; j < w; j++) {
				ps[j] = 0;
				pq[j] = 0;
			}
			int r1 = r0 + SR_STAT_BLOCK < rows ? r0 + SR_STAT_BLOCK : rows;
			SR_FN(dz_rows)(a->act, r1 - r0, c, w, xg + (size_t)r0 * c, dyg + (size_t)r0 * c, dxg + (size_t)r0 * c, mean,
			               inv, gf, bf, ps, pq, ia, sc);
			for (int j = 0; j < w; j++) {
				sdz[j] += (double)ps[j];
				sdzx[j] += (double)pq[j];
			}
		}
		SR_FN(bwd_finish)(w, rows, sdz, sdzx, gamma, inv, dgamma, dbeta, k1, k2, k3);
		SR_FN(dx_rows)(rows, c, w, xg, dxg, mean, inv, k1, k2, k3);
	}
}

// bn_fwd_eval is BNAct.fwdEval for channels [c0, c1) of rows rows: y may
// alias x.
static void SR_FN(bn_fwd_eval)(const sr_bn_args *a) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0;
	const float ia = 1 / a->alpha;
	SR_FN(eval_rows)(a->act, a->rows, c, w, a->x + c0, a->y + c0, a->k1, a->k2, a->alpha, ia, a->ssr_shift,
	                 a->ssr_scale);
}

// order_key is pool.go's orderKey: float bits mapped to an int32 of the
// same order (-0 below +0, NaNs beyond the infinities).
static inline int32_t SR_FN(order_key)(float v) {
	int32_t b = SR_FN(f_bits)(v);
	return b ^ (int32_t)((uint32_t)(b >> 31) >> 1);
}

// max_pool_rows is maxPoolTask.run for output rows [lo, hi) (over n x oh):
// each output channel's first maximum in window order, by order keys, and
// its position di*k+dj in the window (argmax may be NULL: no backward).
// The channel loop is innermost, so it vectorises; best holds 2c int32 of
// scratch, the keys and the positions.
static __attribute__((noinline)) void SR_FN(max_pool_rows)(const float *restrict x, float *restrict y,
                                                          uint8_t *restrict argmax, int h, int w, int c, int k,
                                                          int oh, int ow, int lo, int hi, int32_t *restrict best) {
	int32_t *restrict pos = best + c;
	for (int row = lo; row < hi; row++) {
		int b = row / oh, i = row % oh;
		for (int j = 0; j < ow; j++) {
			size_t o = ((size_t)(b * oh + i) * ow + j) * c;
			float *yr = y + o;
			size_t first = ((size_t)(b * h + i * k) * w + (size_t)j * k) * c;
			for (int ch = 0; ch < c; ch++) {
				best[ch] = SR_FN(order_key)(x[first + ch]);
				pos[ch] = 0;
			}
			for (int di = 0; di < k; di++) {
				for (int dj = 0; dj < k; dj++) {
					if (di == 0 && dj == 0) continue;
					size_t p = ((size_t)(b * h + i * k + di) * w + (size_t)(j * k + dj)) * c;
					int32_t at = di * k + dj;
					for (int ch = 0; ch < c; ch++) {
						int32_t kv = SR_FN(order_key)(x[p + ch]);
						int gt = kv > best[ch];
						best[ch] = gt ? kv : best[ch];
						pos[ch] = gt ? at : pos[ch];
					}
				}
			}
			for (int ch = 0; ch < c; ch++) {
				int32_t kk = best[ch];
				yr[ch] = SR_FN(bits_f)(kk ^ (int32_t)((uint32_t)(kk >> 31) >> 1));
			}
			if (argmax) {
				uint8_t *ar = argmax + o;
				for (int ch = 0; ch < c; ch++) ar[ch] = (uint8_t)pos[ch];
			}
		}
	}
}

// max_pool_bwd_rows is maxPoolBwdTask.run for output rows [lo, hi): it
// returns the first output (an index into argmax) whose argmax is outside
// its window, or -1. Each window position writes its dy where it holds
// the maximum and zero elsewhere, a select that vectorises, so every dx
// element is written once, in order, with no clearing first.
static __attribute__((noinline)) long SR_FN(max_pool_bwd_rows)(const float *restrict dy, const uint8_t *restrict argmax,
                                                              float *restrict dx, int h, int w, int c, int k,
                                                              int oh, int ow, int lo, int hi) {
	const size_t in = (size_t)w * c, out = (size_t)ow * c;
	const int kk = k * k;
	for (int r = lo; r < hi; r++) {
		int b = r / oh, i = r % oh;
		size_t r0 = (size_t)b * h + (size_t)i * k, rows = (size_t)k;
		if (i == oh - 1) rows = (size_t)(b + 1) * h - r0; // the rows below the last window get zeros
		float *d0 = dx + r0 * in;
		const float *g0 = dy + (size_t)r * out;
		const uint8_t *a0 = argmax + (size_t)r * out;
		uint8_t top = 0;
		for (size_t o = 0; o < out; o++) top = a0[o] > top ? a0[o] : top;
		if (top >= kk) {
			for (size_t o = 0; o < out; o++)
				if (a0[o] >= kk) return (long)((size_t)r * out + o);
		}
		for (int di = 0; di < k; di++) {
			for (int j = 0; j < ow; j++) {
				const float *g = g0 + (size_t)j * c;
				const uint8_t *a = a0 + (size_t)j * c;
				for (int dj = 0; dj < k; dj++) {
					const uint8_t at = (uint8_t)(di * k + dj);
					float *d = d0 + ((size_t)di * w + (size_t)j * k + dj) * c;
					for (int ch = 0; ch < c; ch++) d[ch] = a[ch] == at ? g[ch] : 0.0f;
				}
			}
			size_t rest = (size_t)(w - ow * k) * c; // right of the last window
			if (rest) memset(d0 + (size_t)di * in + in - rest, 0, rest * sizeof(float));
		}
		if (rows > (size_t)k) memset(d0 + (size_t)k * in, 0, (rows - k) * in * sizeof(float));
	}
	return -1;
}

// act_fwd is act.go's actForward over elements [c0, c1) of x: y = act(x)
// (y may alias x), as one row.
static void SR_FN(act_fwd)(const sr_bn_args *a) {
	const int w = a->c1 - a->c0, act = a->act, rows = 1, stride = 0;
	const float *x = a->x + a->c0;
	float *y = a->y + a->c0;
	const float alpha = a->alpha, ia = 1 / a->alpha, ssr_shift = a->ssr_shift, ssr_scale = a->ssr_scale;
	SR_ACT_ROWS(xr[j], y)
}

// act_bwd is act.go's actBackward over elements [c0, c1):
// dx = dy * act'(x) (dx may alias dy).
static void SR_FN(act_bwd)(const sr_bn_args *a) {
	const int w = a->c1 - a->c0;
	const float *restrict x = a->x + a->c0;
	const float *dy = a->dy + a->c0;
	float *dx = a->dx + a->c0;
	const float ia = 1 / a->alpha, sc = a->ssr_scale;
	switch (a->act) {
	case SR_ACT_RELU:
		for (int j = 0; j < w; j++) dx[j] = SR_FN(keep)(x[j], dy[j]);
		break;
	case SR_ACT_SSRELU:
		for (int j = 0; j < w; j++) dx[j] = SR_FN(keep)(x[j], dy[j] * sc);
		break;
	case SR_ACT_CELU:
		for (int j = 0; j < w; j++) dx[j] = dy[j] * SR_FN(celu_grad)(x[j], ia);
		break;
	case SR_ACT_GELU:
		for (int j = 0; j < w; j++) dx[j] = dy[j] * SR_FN(gelu_grad)(x[j]);
		break;
	default:
		for (int j = 0; j < w; j++) dx[j] = dy[j];
	}
}

// The row-split passes (bn_rows_split.go). A BNAct call runs in three
// steps, each split over the workers: the blocks of SR_STAT_BLOCK rows,
// then the channels (the reduction), then the blocks again. Every block's
// float32 partial sums go to their own slot of part, and the reduction
// adds them into float64 in block order: the arithmetic of bn_fwd_train
// and bn_bwd_train, operation for operation, whichever worker ran which
// block. Workers then stream whole rows of every channel, where the
// channel split gave a 16-channel layer to one worker, a row at a time.

// blk_rows returns block i's split and its rows [r0, r1) of the split.
static inline int SR_FN(blk_rows)(const sr_bn_args *a, int i, int *r0, int *r1) {
	int g = i / a->bps, b = i % a->bps;
	*r0 = b * SR_STAT_BLOCK;
	*r1 = *r0 + SR_STAT_BLOCK < a->rows ? *r0 + SR_STAT_BLOCK : a->rows;
	return g;
}

// blocks runs step op over blocks [b0, b1): the forward's partial sums
// of x-k (k the split's first row) or its output, or the backward's dz
// (into dx) with its partial sums of dz and dz*xh, or its dx.
static void SR_FN(blocks)(int op, const sr_bn_args *a) {
	const int c = a->c;
	const float ia = 1 / a->alpha;
	for (int i = a->b0; i < a->b1; i++) {
		int r0, r1;
		int g = SR_FN(blk_rows)(a, i, &r0, &r1);
		size_t o = ((size_t)g * a->rows + r0) * c;
		const float *mean = a->mean + g * c, *inv = a->invstd + g * c, *k1 = a->kk + (size_t)g * 3 * c;
		float *s = op == SR_BN_FWD_STATS || op == SR_BN_BWD_DZ ? SR_FN(blk_part)(a, i) : 0;
		switch (op) {
		case SR_BN_FWD_STATS:
			SR_FN(stats_rows)(r1 - r0, c, c, a->x + o, a->x + (size_t)g * a->rows * c, s, s + c);
			break;
		case SR_BN_FWD_NORM:
			SR_FN(norm_rows)(a->act, r1 - r0, c, c, a->x + o, a->y + o, mean, inv, a->gamma, a->beta, a->alpha, ia,
			                 a->ssr_shift, a->ssr_scale);
			break;
		case SR_BN_BWD_DZ:
			SR_FN(dz_rows)(a->act, r1 - r0, c, c, a->x + o, a->dy + o, a->dx + o, mean, inv, a->gamma_f, a->beta_f, s,
			               s + c, ia, a->ssr_scale);
			break;
		case SR_BN_BWD_DX:
			SR_FN(dx_rows)(r1 - r0, c, c, a->x + o, a->dx + o, mean, inv, k1, k1 + c, k1 + 2 * c);
			break;
		case SR_BN_BWD_DX16:
			// The AVX-512 build converts with VCVTNEPS2BF16 where the CPU
			// has it (the bf16 convolutions that read dx16 need it anyway).
			if (SR_HW_BF16 && __builtin_cpu_supports("avx512bf16"))
				dx16_rows_hw(r1 - r0, c, c, a->x + o, a->dx + o, a->dx16 + o, mean, inv, k1, k1 + c, k1 + 2 * c);
			else
				SR_FN(dx16_rows)(r1 - r0, c, c, a->x + o, a->dx + o, a->dx16 + o, mean, inv, k1, k1 + c,
				                 k1 + 2 * c);
			break;
		}
	}
}

// split_sums adds split g's block partials of channels [c0, c1) into
// float64 sums, in block order.
static inline void SR_FN(split_sums)(const sr_bn_args *a, int g, double *restrict sum, double *restrict sumsq) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0;
	for (int j = 0; j < w; j++) {
		sum[j] = 0;
		sumsq[j] = 0;
	}
	for (int i = g * a->bps; i < (g + 1) * a->bps; i++) {
		const float *restrict s = a->part + (size_t)i * 2 * c + c0, *restrict q = s + c;
		for (int j = 0; j < w; j++) {
			sum[j] += (double)s[j];
			sumsq[j] += (double)q[j];
		}
	}
}

// fwd_reduce is the forward's second step for channels [c0, c1) of every
// split: the block partials into the mean, the unbiased variance and
// 1/std.
static void SR_FN(fwd_reduce)(const sr_bn_args *a) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0, rows = a->rows;
	double *restrict sum = a->sum, *restrict sumsq = a->sumsq;
	for (int g = 0; g < a->splits; g++) {
		const float *restrict k = a->x + (size_t)g * rows * c + c0;
		SR_FN(split_sums)(a, g, sum, sumsq);
		SR_FN(fwd_finish)(w, rows, a->eps, sum, sumsq, k, a->mean + g * c + c0, a->var + g * c + c0,
		                  a->invstd + g * c + c0);
	}
}

// bwd_reduce is the backward's second step for channels [c0, c1): dbeta,
// dgamma and each split's k1 = gamma*invstd, k2 = mean(dz) and
// k3 = mean(dz*xh), in kk (splits x 3 x c).
static void SR_FN(bwd_reduce)(const sr_bn_args *a) {
	const int c = a->c, c0 = a->c0, w = a->c1 - a->c0, rows = a->rows;
	double *restrict sdz = a->sum, *restrict sdzx = a->sumsq;
	const float *restrict gamma = a->gamma + c0;
	float *restrict dgamma = a->dgamma + c0, *restrict dbeta = a->dbeta + c0;
	for (int j = 0; j < w; j++) {
		dgamma[j] = 0;
		dbeta[j] = 0;
	}
	for (int g = 0; g < a->splits; g++) {
		SR_FN(split_sums)(a, g, sdz, sdzx);
		float *k1 = a->kk + (size_t)g * 3 * c + c0;
		SR_FN(bwd_finish)(w, rows, sdz, sdzx, gamma, a->invstd + g * c + c0, dgamma, dbeta, k1, k1 + c, k1 + 2 * c);
	}
}

// eval_split is bn_fwd_eval over rows [b0, b1) of every channel.
static void SR_FN(eval_split)(const sr_bn_args *a) {
	const int c = a->c;
	const float ia = 1 / a->alpha;
	size_t o = (size_t)a->b0 * c;
	SR_FN(eval_rows)(a->act, a->b1 - a->b0, c, c, a->x + o, a->y + o, a->k1, a->k2, a->alpha, ia, a->ssr_shift,
	                 a->ssr_scale);
}
