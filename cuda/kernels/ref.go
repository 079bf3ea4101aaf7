package kernels

import "math"

// The references below mirror each kernel's arithmetic in plain Go, with
// float64 accumulation, on host slices of the same layout. They need no
// cgo (the GPU check binary is built with CGO_ENABLED=0); their tests check
// them against speedrun/cpu/kernels' references where those apply.

// F32ToBF16 rounds f to bfloat16 bits, nearest even, as bf16_round does.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// BF16ToF32 widens bfloat16 bits to float32.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// ActRef applies activation act (Act* codes) to z.
func ActRef(act int, alpha, z float64) float64 {
	switch act {
	case ActReLU:
		return math.Max(z, 0)
	case ActCELU:
		if z > 0 {
			return z
		}
		return alpha * (math.Exp(z/alpha) - 1)
	case ActShiftScaleReLU:
		return (math.Max(z, 0) - math.Sqrt(1/math.Pi)) / math.Sqrt(1-1/math.Pi)
	case ActGELU:
		return z * 0.5 * (1 + math.Erf(z/math.Sqrt2))
	}
	return z
}

// ActGradRef is d act / dz at z.
func ActGradRef(act int, alpha, z float64) float64 {
	switch act {
	case ActReLU:
		if z > 0 {
			return 1
		}
		return 0
	case ActCELU:
		if z > 0 {
			return 1
		}
		return math.Exp(z / alpha)
	case ActShiftScaleReLU:
		if z > 0 {
			return 1 / math.Sqrt(1-1/math.Pi)
		}
		return 0
	case ActGELU:
		return 0.5*(1+math.Erf(z/math.Sqrt2)) + z*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi)
	}
	return 1
}

// BNStatsRef is bn_stats_part then bn_stats_combine: per group g of R
// rows and channel c, the mean and biased variance (G*C each,
// group-major).
func BNStatsRef(x []float32, G, R, C int) (mean, variance []float32) {
	mean, variance = make([]float32, G*C), make([]float32, G*C)
	for g := 0; g < G; g++ {
		for c := 0; c < C; c++ {
			var s float64
			for r := 0; r < R; r++ {
				s += float64(x[(g*R+r)*C+c])
			}
			m := s / float64(R)
			var q float64
			for r := 0; r < R; r++ {
				d := float64(x[(g*R+r)*C+c]) - m
				q += d * d
			}
			mean[g*C+c], variance[g*C+c] = float32(m), float32(q/float64(R))
		}
	}
	return mean, variance
}

// chunks is the row ranges of S = ceil(R/chunk) chunks.
func chunks(R, chunk int) [][2]int {
	var out [][2]int
	for r0 := 0; r0 < R; r0 += chunk {
		out = append(out, [2]int{r0, min(R, r0+chunk)})
	}
	return out
}

// BNStatsPartRef is bn_stats_part: per group, chunk s of `chunk` rows and
// channel, the chunk's mean and sum of squared deviations from it, at
// (g*S + s)*C + c.
func BNStatsPartRef(x []float32, G, R, C, chunk int) (pm, pm2 []float32) {
	ch := chunks(R, chunk)
	S := len(ch)
	pm, pm2 = make([]float32, G*S*C), make([]float32, G*S*C)
	for g := range G {
		for s, rr := range ch {
			for c := range C {
				var sum float64
				for r := rr[0]; r < rr[1]; r++ {
					sum += float64(x[(g*R+r)*C+c])
				}
				m := sum / float64(rr[1]-rr[0])
				var q float64
				for r := rr[0]; r < rr[1]; r++ {
					d := float64(x[(g*R+r)*C+c]) - m
					q += d * d
				}
				pm[(g*S+s)*C+c], pm2[(g*S+s)*C+c] = float32(m), float32(q)
			}
		}
	}
	return pm, pm2
}

// BNStatsCombineRef is bn_stats_combine: Chan et al.'s merge of the chunk
// partials in chunk order.
func BNStatsCombineRef(pm, pm2 []float32, G, R, C, chunk int) (mean, variance []float32) {
	ch := chunks(R, chunk)
	S := len(ch)
	mean, variance = make([]float32, G*C), make([]float32, G*C)
	for g := range G {
		for c := range C {
			var n, m, m2 float64
			for s, rr := range ch {
				nb := float64(rr[1] - rr[0])
				o := (g*S+s)*C + c
				d, nn := float64(pm[o])-m, n+nb
				m += d * nb / nn
				m2 += float64(pm2[o]) + d*d*n*nb/nn
				n = nn
			}
			mean[g*C+c], variance[g*C+c] = float32(m), float32(m2/float64(R))
		}
	}
	return mean, variance
}

// BNActBwdPartRef is bn_act_bwd_part: per group, chunk and channel, the
// partial sums of dz and dz*xhat.
func BNActBwdPartRef(x, dy, mean, variance, gamma, beta []float32, R, C, chunk int, eps float64, act int, alpha float64) (pa, pb []float32) {
	G := len(x) / (R * C)
	ch := chunks(R, chunk)
	S := len(ch)
	pa, pb = make([]float32, G*S*C), make([]float32, G*S*C)
	for g := range G {
		for s, rr := range ch {
			for c := range C {
				gc := g*C + c
				is := 1 / math.Sqrt(float64(variance[gc])+eps)
				var a, b float64
				for r := rr[0]; r < rr[1]; r++ {
					i := (g*R+r)*C + c
					xh := (float64(x[i]) - float64(mean[gc])) * is
					dz := float64(dy[i]) * ActGradRef(act, alpha, float64(gamma[c])*xh+float64(beta[c]))
					a += dz
					b += dz * xh
				}
				pa[(g*S+s)*C+c], pb[(g*S+s)*C+c] = float32(a), float32(b)
			}
		}
	}
	return pa, pb
}

// BNActBwdCombineRef is bn_act_bwd_combine: the partials summed per (g, c)
// in chunk order.
func BNActBwdCombineRef(pa, pb []float32, G, S, C int) (sdz, sdzx []float32) {
	sdz, sdzx = make([]float32, G*C), make([]float32, G*C)
	for g := range G {
		for c := range C {
			for s := range S {
				sdz[g*C+c] += pa[(g*S+s)*C+c]
				sdzx[g*C+c] += pb[(g*S+s)*C+c]
			}
		}
	}
	return sdz, sdzx
}

// BNActFwdRef is bn_act_fwd: y = act(gamma*(x-mean)/sqrt(var+eps) + beta)
// with per-group statistics (len(mean) = G*C; G = len(x)/(R*C)).
func BNActFwdRef(x, mean, variance, gamma, beta []float32, R, C int, eps float64, act int, alpha float64) []float32 {
	y := make([]float32, len(x))
	for i := range x {
		c, gc := i%C, (i/(R*C))*C+i%C
		xh := (float64(x[i]) - float64(mean[gc])) / math.Sqrt(float64(variance[gc])+eps)
		y[i] = float32(ActRef(act, alpha, float64(gamma[c])*xh+float64(beta[c])))
	}
	return y
}

// BNActBwdRef is bn_act_bwd_part, bn_act_bwd_combine and bn_act_bwd_dx: it returns
// dx and the per-(group, channel) sums sdz = sum dz, sdzx = sum dz*xhat.
func BNActBwdRef(x, dy, mean, variance, gamma, beta []float32, R, C int, eps float64, act int, alpha float64) (dx, sdz, sdzx []float32) {
	G := len(x) / (R * C)
	sdz, sdzx = make([]float32, G*C), make([]float32, G*C)
	dz := make([]float64, len(x))
	xh := make([]float64, len(x))
	a, b := make([]float64, G*C), make([]float64, G*C)
	for i := range x {
		c, gc := i%C, (i/(R*C))*C+i%C
		xh[i] = (float64(x[i]) - float64(mean[gc])) / math.Sqrt(float64(variance[gc])+eps)
		dz[i] = float64(dy[i]) * ActGradRef(act, alpha, float64(gamma[c])*xh[i]+float64(beta[c]))
		a[gc] += dz[i]
		b[gc] += dz[i] * xh[i]
	}
	dx = make([]float32, len(x))
	for i := range x {
		c, gc := i%C, (i/(R*C))*C+i%C
		is := 1 / math.Sqrt(float64(variance[gc])+eps)
		dx[i] = float32(float64(gamma[c]) * is * (dz[i] - a[gc]/float64(R) - xh[i]*b[gc]/float64(R)))
	}
	for i := range a {
		sdz[i], sdzx[i] = float32(a[i]), float32(b[i])
	}
	return dx, sdz, sdzx
}

// BNParamGradRef is bn_param_grad: sums over groups.
func BNParamGradRef(sdz, sdzx []float32, G, C int) (dgamma, dbeta []float32) {
	dgamma, dbeta = make([]float32, C), make([]float32, C)
	for c := 0; c < C; c++ {
		var a, b float64
		for g := 0; g < G; g++ {
			a += float64(sdzx[g*C+c])
			b += float64(sdz[g*C+c])
		}
		dgamma[c], dbeta[c] = float32(a), float32(b)
	}
	return dgamma, dbeta
}

// BNRunningUpdateRef is bn_running_update, in place.
func BNRunningUpdateRef(runMean, runVar, mean, variance []float32, momentum, unbias float64) {
	for i := range runMean {
		runMean[i] = float32((1-momentum)*float64(runMean[i]) + momentum*float64(mean[i]))
		runVar[i] = float32((1-momentum)*float64(runVar[i]) + momentum*float64(variance[i])*unbias)
	}
}

// BNSplitAverageRef is bn_split_average.
func BNSplitAverageRef(runMean, runVar []float32, G, C int) (mean, variance []float32) {
	mean, variance = make([]float32, C), make([]float32, C)
	for c := 0; c < C; c++ {
		var a, b float64
		for g := 0; g < G; g++ {
			a += float64(runMean[g*C+c])
			b += float64(runVar[g*C+c])
		}
		mean[c], variance[c] = float32(a/float64(G)), float32(b/float64(G))
	}
	return mean, variance
}

// maxWindow visits the K x K windows (stride K) of an NHWC tensor: o
// indexes the output, off the window's inputs in row-major order.
func maxWindow(N, H, W, C, K int, f func(o int, off []int)) {
	P, Q := H/K, W/K
	off := make([]int, K*K)
	for b := 0; b < N; b++ {
		for p := 0; p < P; p++ {
			for q := 0; q < Q; q++ {
				for c := 0; c < C; c++ {
					base := ((b*H+K*p)*W+K*q)*C + c
					for u := range K {
						for v := range K {
							off[u*K+v] = base + (u*W+v)*C
						}
					}
					f(((b*P+p)*Q+q)*C+c, off)
				}
			}
		}
	}
}

// MaxPoolFwdRef is maxpool_fwd.
func MaxPoolFwdRef(x []float32, N, H, W, C, K int) []float32 {
	y := make([]float32, N*(H/K)*(W/K)*C)
	maxWindow(N, H, W, C, K, func(o int, off []int) {
		m := x[off[0]]
		for _, i := range off[1:] {
			m = max(m, x[i])
		}
		y[o] = m
	})
	return y
}

// MaxPoolBwdRef is maxpool_bwd: each dy goes to its window's first max.
func MaxPoolBwdRef(x, dy []float32, N, H, W, C, K int) []float32 {
	dx := make([]float32, len(x))
	maxWindow(N, H, W, C, K, func(o int, off []int) {
		best := off[0]
		for _, i := range off[1:] {
			if x[i] > x[best] {
				best = i
			}
		}
		dx[best] = dy[o]
	})
	return dx
}

// GAvgPoolFwdRef is gavgpool_fwd: the mean over HW per (n, c), summed in
// fp32 in position order.
func GAvgPoolFwdRef(x []float32, N, HW, C int) []float32 {
	y := make([]float32, N*C)
	for b := 0; b < N; b++ {
		for c := 0; c < C; c++ {
			var s float32
			for k := 0; k < HW; k++ {
				s += x[(b*HW+k)*C+c]
			}
			y[b*C+c] = s / float32(HW)
		}
	}
	return y
}

// GAvgPoolBwdRef is gavgpool_bwd.
func GAvgPoolBwdRef(dy []float32, N, HW, C int) []float32 {
	dx := make([]float32, N*HW*C)
	for i := range dx {
		b, c := i/(HW*C), i%C
		dx[i] = dy[b*C+c] / float32(HW)
	}
	return dx
}

// ActFwdRef is act_fwd.
func ActFwdRef(x []float32, act int, alpha float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(ActRef(act, alpha, float64(v)))
	}
	return y
}

// ActBwdRef is act_bwd: dy * act'(x).
func ActBwdRef(x, dy []float32, act int, alpha float64) []float32 {
	dx := make([]float32, len(x))
	for i, v := range x {
		dx[i] = float32(float64(dy[i]) * ActGradRef(act, alpha, float64(v)))
	}
	return dx
}

// ScaleRef is scale_*_*: a*x.
func ScaleRef(x []float32, a float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = a * v
	}
	return y
}

// ColsCopyRef is cols_copy into a copy of dst.
func ColsCopyRef(dst, src []float32, rows, dC, dc0, sC, sc0, width int) []float32 {
	out := append([]float32(nil), dst...)
	for r := range rows {
		copy(out[r*dC+dc0:r*dC+dc0+width], src[r*sC+sc0:r*sC+sc0+width])
	}
	return out
}

// BiasRowsRef is bias_rows_* on a copy of y.
func BiasRowsRef(y, b []float32, rows, C int) []float32 {
	out := append([]float32(nil), y...)
	for i := range rows * C {
		out[i] += b[i%C]
	}
	return out
}

// ColSumRef is col_sum_f32.
func ColSumRef(x []float32, rows, C int) []float32 {
	out := make([]float32, C)
	for r := range rows {
		for c := range C {
			out[c] += x[r*C+c]
		}
	}
	return out
}

// GMaxPoolFwdRef is gmaxpool_fwd: max over HW per (n, c).
func GMaxPoolFwdRef(x []float32, N, HW, C int) []float32 {
	y := make([]float32, N*C)
	for b := 0; b < N; b++ {
		for c := 0; c < C; c++ {
			m := x[b*HW*C+c]
			for k := 1; k < HW; k++ {
				m = max(m, x[(b*HW+k)*C+c])
			}
			y[b*C+c] = m
		}
	}
	return y
}

// GMaxPoolBwdRef is gmaxpool_bwd.
func GMaxPoolBwdRef(x, dy []float32, N, HW, C int) []float32 {
	dx := make([]float32, len(x))
	for b := 0; b < N; b++ {
		for c := 0; c < C; c++ {
			best := b*HW*C + c
			for k := 1; k < HW; k++ {
				if i := (b*HW+k)*C + c; x[i] > x[best] {
					best = i
				}
			}
			dx[best] = dy[b*C+c]
		}
	}
	return dx
}

// XentLSRef is xent_ls_f32: per-example smoothed loss, dlogits scaled by
// scale, and 1/0 correctness of the first maximal logit.
func XentLSRef(logits []float32, labels []int32, N, K int, eps, scale float64) (dlogits, loss, correct []float32) {
	dlogits, loss, correct = make([]float32, N*K), make([]float32, N), make([]float32, N)
	for i := 0; i < N; i++ {
		row := logits[i*K : (i+1)*K]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v) - float64(row[best]))
		}
		lse := float64(row[best]) + math.Log(se)
		var l float64
		for j, v := range row {
			t := eps / float64(K)
			if j == int(labels[i]) {
				t += 1 - eps
			}
			l -= t * (float64(v) - lse)
			dlogits[i*K+j] = float32(scale * (math.Exp(float64(v)-lse) - t))
		}
		loss[i] = float32(l)
		if best == int(labels[i]) {
			correct[i] = 1
		}
	}
	return dlogits, loss, correct
}

// MuonMomentumRef is muon_momentum_f32, in place on v and u.
func MuonMomentumRef(g, v, u []float32, mom float32, nesterov bool) {
	for i := range g {
		v[i] = mom*v[i] + g[i]
		u[i] = v[i]
		if nesterov {
			u[i] = g[i] + mom*v[i]
		}
	}
}

// MuonNormsRef is muon_norms: sqrt(rows)/|w| and 1/(|u|+eps) from the
// rows' norms.
func MuonNormsRef(wn, un []float32, eps float64) [2]float32 {
	var a, b float64
	for r := range wn {
		a += float64(wn[r]) * float64(wn[r])
		b += float64(un[r]) * float64(un[r])
	}
	return [2]float32{float32(math.Sqrt(float64(len(wn))) / math.Sqrt(a)), float32(1 / (math.Sqrt(b) + eps))}
}

// MuonScaleRef is muon_scale_f32: w scaled by s[0] in place, and u*s[1].
func MuonScaleRef(w, u []float32, s [2]float32) []float32 {
	x := make([]float32, len(u))
	for i := range w {
		w[i] *= s[0]
		x[i] = u[i] * s[1]
	}
	return x
}

// SGDRef is sgd_f32, in place (the CPU engine's optimizer rule).
func SGDRef(w, g, v []float32, lr, wd, mom float32, nesterov bool) {
	for i := range w {
		gi := g[i] + wd*w[i]
		v[i] = mom*v[i] + gi
		s := v[i]
		if nesterov {
			s = gi + mom*v[i]
		}
		w[i] -= lr * s
	}
}

// RowNormsRef is row_norms_f32: |x_r - y_r| per row of n (y nil: |x_r|).
func RowNormsRef(x, y []float32, rows, n int) []float32 {
	out := make([]float32, rows)
	for r := range rows {
		var s float64
		for j := r * n; j < (r+1)*n; j++ {
			d := float64(x[j])
			if y != nil {
				d -= float64(y[j])
			}
			s += d * d
		}
		out[r] = float32(math.Sqrt(s))
	}
	return out
}

// SGDLARSRef is sgd_lars_f32, in place: SGDRef per row with the learning
// rate scaled by wn[r] / (gn[r] + 0.01).
func SGDLARSRef(w, g, v, wn, gn []float32, rowLen int, lr, wd, mom float32, nesterov bool) {
	for r := range len(w) / rowLen {
		ratio := float32(float64(wn[r]) / (float64(gn[r]) + 0.01))
		lo, hi := r*rowLen, (r+1)*rowLen
		SGDRef(w[lo:hi], g[lo:hi], v[lo:hi], lr*ratio, wd, mom, nesterov)
	}
}

// EMARef is ema_f32, in place.
func EMARef(ema, w []float32, rho float32) {
	for i := range ema {
		ema[i] = rho*ema[i] + (1-rho)*w[i]
	}
}

// AugmentRef is augment_*: src is [*, PH, PW, C], idx selects N images and
// par holds AugParams ints per image (oy, ox, flip, cy, cx, ch, cw).
func AugmentRef(src []float32, idx, par []int32, N, PH, PW, H, W, C int) []float32 {
	y := make([]float32, N*H*W*C)
	for b := 0; b < N; b++ {
		p := par[b*AugParams : (b+1)*AugParams]
		oy, ox, flip, cy, cx, ch, cw := int(p[0]), int(p[1]), p[2] != 0, int(p[3]), int(p[4]), int(p[5]), int(p[6])
		for h := 0; h < H; h++ {
			for w := 0; w < W; w++ {
				if h >= cy && h < cy+ch && w >= cx && w < cx+cw {
					continue
				}
				sw := w
				if flip {
					sw = W - 1 - w
				}
				s := ((int(idx[b])*PH+oy+h)*PW + ox + sw) * C
				copy(y[((b*H+h)*W+w)*C:((b*H+h)*W+w+1)*C], src[s:s+C])
			}
		}
	}
	return y
}

// PrepNHWCRef is prep_nhwc: n uint8 CHW 3x32x32 images to normalised
// NHWC fp32 images reflect-padded by pad, through lut (3 x 256).
func PrepNHWCRef(src []uint8, lut []float32, n, pad int) []float32 {
	side := 32 + 2*pad
	refl := func(i int) int {
		if i < 0 {
			return -i
		}
		if i >= 32 {
			return 62 - i
		}
		return i
	}
	out := make([]float32, n*side*side*3)
	for b := range n {
		for y := range side {
			for x := range side {
				for c := range 3 {
					out[((b*side+y)*side+x)*3+c] = lut[c*256+int(src[b*3072+c*1024+refl(y-pad)*32+refl(x-pad)])]
				}
			}
		}
	}
	return out
}

// PrepLUT is prep_nhwc's table from per-channel mean and std on the 0-1
// scale (data.ChannelStats), the values data.Prepare computes.
func PrepLUT(mean, std [3]float64) []float32 {
	lut := make([]float32, 3*256)
	for c := range 3 {
		for v := range 256 {
			lut[c*256+v] = float32((float64(v)/255 - mean[c]) / std[c])
		}
	}
	return lut
}

// WhitenPatchesRef is whiten_patches_f64: the (33-k)^2 k x k patches of
// each of n prepared images as rows of 3k^2 (channel, dy, dx).
func WhitenPatchesRef(imgs []float32, n, side, pad, k int) []float64 {
	q := 33 - k
	X := make([]float64, 0, n*q*q*3*k*k)
	for b := range n {
		img := imgs[b*side*side*3:]
		for y := range q {
			for x := range q {
				for ch := range 3 {
					for dy := range k {
						for dx := range k {
							X = append(X, float64(img[((pad+y+dy)*side+pad+x+dx)*3+ch]))
						}
					}
				}
			}
		}
	}
	return X
}
