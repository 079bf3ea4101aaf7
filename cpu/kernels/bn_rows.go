package kernels

import "math"

// Row kernels of the fused batch norm: each works on one row's contiguous
// channel range. Every slice is resliced to len(x) first, which lets the
// compiler drop the bounds checks in the loops. The ReLU selections go
// through the float bits as integers so the compiler emits a conditional
// move: the signs are random, and a branch would mispredict half the time.
// Consequence: a ReLU maps -0 and negative NaNs to +0.

// rowSums adds x-k into s and (x-k)^2 into q. k is a per-channel shift
// (a sample of the channel): sums of squares about a nearby point keep
// float32 precision when the mean is large against the spread.
func rowSums(x, k, s, q []float32) {
	k, s, q = k[:len(x)], s[:len(x)], q[:len(x)]
	for j, v := range x {
		d := v - k[j]
		s[j] += d
		q[j] += d * d
	}
}

// reluBits returns max(z, 0) without a branch.
func reluBits(z float32) float32 {
	zb := int32(math.Float32bits(z))
	if zb < 0 {
		zb = 0
	}
	return math.Float32frombits(uint32(zb))
}

// keepIfPositive returns d when z > 0 and 0 otherwise, without a branch.
func keepIfPositive(z, d float32) float32 {
	db := math.Float32bits(d)
	if int32(math.Float32bits(z)) <= 0 {
		db = 0
	}
	return math.Float32frombits(db)
}

// normRow writes y = act(gamma*xh + beta) with xh = (x-mean)*inv.
func normRow(a Activation, x, y, mean, inv, gamma, beta []float32) {
	y = y[:len(x)]
	mean, inv, gamma, beta = mean[:len(x)], inv[:len(x)], gamma[:len(x)], beta[:len(x)]
	switch a.Kind {
	case ActIdentity:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			y[j] = gamma[j]*h + beta[j]
		}
	case ActReLU:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			y[j] = reluBits(gamma[j]*h + beta[j])
		}
	case ActShiftScaleReLU:
		sh, sc := float32(ssrShift), float32(ssrScale)
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			y[j] = (reluBits(gamma[j]*h+beta[j]) - sh) * sc
		}
	case ActCELU:
		al, ia := a.Alpha, 1/a.Alpha
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			y[j] = celu(gamma[j]*h+beta[j], al, ia)
		}
	case ActGELU:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			y[j] = gelu(gamma[j]*h + beta[j])
		}
	}
}

// dzRow writes dz = dy * act'(gamma*xh + beta) and adds dz into s and
// dz*xh into q, with xh = (x-mean)*inv recomputed bit for bit as normRow
// computed it. dz may alias dy.
func dzRow(a Activation, x, dy, dz, mean, inv, gamma, beta, s, q []float32) {
	dy, dz, mean, inv = dy[:len(x)], dz[:len(x)], mean[:len(x)], inv[:len(x)]
	gamma, beta, s, q = gamma[:len(x)], beta[:len(x)], s[:len(x)], q[:len(x)]
	switch a.Kind {
	case ActIdentity:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			d := dy[j]
			dz[j] = d
			s[j] += d
			q[j] += d * h
		}
	case ActReLU:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			d := keepIfPositive(gamma[j]*h+beta[j], dy[j])
			dz[j] = d
			s[j] += d
			q[j] += d * h
		}
	case ActShiftScaleReLU:
		sc := float32(ssrScale)
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			d := keepIfPositive(gamma[j]*h+beta[j], dy[j]*sc)
			dz[j] = d
			s[j] += d
			q[j] += d * h
		}
	case ActCELU:
		ia := 1 / a.Alpha
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			d := dy[j] * celuGrad(gamma[j]*h+beta[j], ia)
			dz[j] = d
			s[j] += d
			q[j] += d * h
		}
	case ActGELU:
		for j, v := range x {
			h := (v - mean[j]) * inv[j]
			d := dy[j] * geluGrad(gamma[j]*h+beta[j])
			dz[j] = d
			s[j] += d
			q[j] += d * h
		}
	}
}

// dxRow turns dz (in dx) into the batch-norm input gradient:
// dx = k1*(dz - k2 - xh*k3), with xh = (x-mean)*inv, k1 = gamma*invstd,
// k2 = mean(dz) and k3 = mean(dz*xh) over the split.
func dxRow(x, dx, mean, inv, k1, k2, k3 []float32) {
	dx, mean, inv = dx[:len(x)], mean[:len(x)], inv[:len(x)]
	k1, k2, k3 = k1[:len(x)], k2[:len(x)], k3[:len(x)]
	for j, v := range x {
		h := (v - mean[j]) * inv[j]
		dx[j] = k1[j] * (dx[j] - k2[j] - h*k3[j])
	}
}
