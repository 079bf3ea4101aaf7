package kernels

import (
	"fmt"
	"math"
)

// Float is the element type of the reference implementations.
type Float interface{ ~float32 | ~float64 }

// The reference implementations below are plain loops written to be
// obviously correct, not fast. Each panics-free function returns an error on
// a length mismatch like the fast kernels do.

// ConvForwardRef computes y = conv(x, w) (NHWC x, OIHW w, NHWC y).
func ConvForwardRef[F Float](s ConvShape, x, w, y []F) error {
	if err := refConvCheck(s, len(x), len(w), len(y)); err != nil {
		return err
	}
	oh, ow := s.OutH(), s.OutW()
	for n := 0; n < s.N; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for k := 0; k < s.K; k++ {
					var acc float64
					for r := 0; r < s.R; r++ {
						for q := 0; q < s.S; q++ {
							ih, iw := i*s.Stride-s.Pad+r, j*s.Stride-s.Pad+q
							if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
								continue
							}
							for c := 0; c < s.C; c++ {
								acc += float64(x[((n*s.H+ih)*s.W+iw)*s.C+c]) * float64(w[((k*s.C+c)*s.R+r)*s.S+q])
							}
						}
					}
					y[((n*oh+i)*ow+j)*s.K+k] = F(acc)
				}
			}
		}
	}
	return nil
}

// ConvBackwardDataRef computes dx (overwritten) from dy.
func ConvBackwardDataRef[F Float](s ConvShape, dy, w, dx []F) error {
	if err := refConvCheck(s, len(dx), len(w), len(dy)); err != nil {
		return err
	}
	acc := make([]float64, len(dx))
	oh, ow := s.OutH(), s.OutW()
	for n := 0; n < s.N; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for k := 0; k < s.K; k++ {
					g := float64(dy[((n*oh+i)*ow+j)*s.K+k])
					for r := 0; r < s.R; r++ {
						for q := 0; q < s.S; q++ {
							ih, iw := i*s.Stride-s.Pad+r, j*s.Stride-s.Pad+q
							if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
								continue
							}
							for c := 0; c < s.C; c++ {
								acc[((n*s.H+ih)*s.W+iw)*s.C+c] += g * float64(w[((k*s.C+c)*s.R+r)*s.S+q])
							}
						}
					}
				}
			}
		}
	}
	for i, v := range acc {
		dx[i] = F(v)
	}
	return nil
}

// ConvBackwardWeightsRef computes dw (overwritten, OIHW) from x and dy.
func ConvBackwardWeightsRef[F Float](s ConvShape, x, dy, dw []F) error {
	if err := refConvCheck(s, len(x), len(dw), len(dy)); err != nil {
		return err
	}
	acc := make([]float64, len(dw))
	oh, ow := s.OutH(), s.OutW()
	for n := 0; n < s.N; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for k := 0; k < s.K; k++ {
					g := float64(dy[((n*oh+i)*ow+j)*s.K+k])
					for r := 0; r < s.R; r++ {
						for q := 0; q < s.S; q++ {
							ih, iw := i*s.Stride-s.Pad+r, j*s.Stride-s.Pad+q
							if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
								continue
							}
							for c := 0; c < s.C; c++ {
								acc[((k*s.C+c)*s.R+r)*s.S+q] += g * float64(x[((n*s.H+ih)*s.W+iw)*s.C+c])
							}
						}
					}
				}
			}
		}
	}
	for i, v := range acc {
		dw[i] = F(v)
	}
	return nil
}

func refConvCheck(s ConvShape, lx, lw, ly int) error {
	if err := s.validate(); err != nil {
		return err
	}
	return checkLens("conv reference", []lenCheck{{"x", lx, s.XLen()}, {"w", lw, s.WLen()}, {"y", ly, s.YLen()}})
}

// ActRef returns act(z) in float64.
func ActRef(a Activation, z float64) float64 {
	switch a.Kind {
	case ActReLU:
		return math.Max(z, 0)
	case ActCELU:
		if z > 0 {
			return z
		}
		al := float64(a.Alpha)
		return al * (math.Exp(z/al) - 1)
	case ActShiftScaleReLU:
		return (math.Max(z, 0) - math.Sqrt(1/math.Pi)) / math.Sqrt(1-1/math.Pi)
	case ActGELU:
		return z * 0.5 * (1 + math.Erf(z/math.Sqrt2))
	case ActSoftplus:
		return softplus(z, float64(a.Beta), float64(a.Threshold))
	}
	return z
}

// ActGradRef returns act'(z) in float64 (0 at the ReLU kink, like PyTorch).
func ActGradRef(a Activation, z float64) float64 {
	switch a.Kind {
	case ActReLU:
		if z > 0 {
			return 1
		}
		return 0
	case ActCELU:
		if z > 0 {
			return 1
		}
		return math.Exp(z / float64(a.Alpha))
	case ActShiftScaleReLU:
		if z > 0 {
			return 1 / math.Sqrt(1-1/math.Pi)
		}
		return 0
	case ActGELU:
		return 0.5*(1+math.Erf(z/math.Sqrt2)) + z*math.Exp(-z*z/2)/math.Sqrt(2*math.Pi)
	case ActSoftplus:
		return softplusGrad(z, float64(a.Beta), float64(a.Threshold))
	}
	return 1
}

// ActForwardRef computes y = act(x).
func ActForwardRef[F Float](a Activation, x, y []F) error {
	if len(x) != len(y) {
		return fmt.Errorf("kernels: ActForwardRef: len(x)=%d, len(y)=%d", len(x), len(y))
	}
	for i, v := range x {
		y[i] = F(ActRef(a, float64(v)))
	}
	return nil
}

// ActBackwardRef computes dx = dy * act'(x).
func ActBackwardRef[F Float](a Activation, x, dy, dx []F) error {
	if len(x) != len(dy) || len(x) != len(dx) {
		return fmt.Errorf("kernels: ActBackwardRef: len(x)=%d, len(dy)=%d, len(dx)=%d", len(x), len(dy), len(dx))
	}
	for i, v := range x {
		dx[i] = F(float64(dy[i]) * ActGradRef(a, float64(v)))
	}
	return nil
}

func refBNCheck(s BNShape) (splits, rows int, err error) {
	if s.N < 1 || s.HW < 1 || s.C < 1 || s.Ghost < 0 || (s.Ghost > 0 && s.N%s.Ghost != 0) {
		return 0, 0, fmt.Errorf("kernels: BN reference: bad shape %+v", s)
	}
	splits = 1
	if s.Ghost > 0 {
		splits = s.N / s.Ghost
	}
	return splits, s.N * s.HW / splits, nil
}

// BNActForwardTrainRef is the reference of BNAct.ForwardTrain. mean and
// varUnbiased have len splits*C.
func BNActForwardTrainRef[F Float](s BNShape, eps float64, a Activation, x, gamma, beta, y, mean, varUnbiased []F) error {
	splits, rows, err := refBNCheck(s)
	if err != nil {
		return err
	}
	c := s.C
	if err := checkLens("BNActForwardTrainRef", []lenCheck{{"x", len(x), s.N * s.HW * c}, {"y", len(y), len(x)}, {"gamma", len(gamma), c}, {"beta", len(beta), c}, {"mean", len(mean), splits * c}, {"varUnbiased", len(varUnbiased), splits * c}}); err != nil {
		return err
	}
	for g := 0; g < splits; g++ {
		for ch := 0; ch < c; ch++ {
			var mu, v float64
			for r := g * rows; r < (g+1)*rows; r++ {
				mu += float64(x[r*c+ch])
			}
			mu /= float64(rows)
			for r := g * rows; r < (g+1)*rows; r++ {
				d := float64(x[r*c+ch]) - mu
				v += d * d
			}
			mean[g*c+ch] = F(mu)
			if rows > 1 {
				varUnbiased[g*c+ch] = F(v / float64(rows-1))
			} else {
				varUnbiased[g*c+ch] = 0
			}
			v /= float64(rows)
			for r := g * rows; r < (g+1)*rows; r++ {
				h := (float64(x[r*c+ch]) - mu) / math.Sqrt(v+eps)
				y[r*c+ch] = F(ActRef(a, float64(gamma[ch])*h+float64(beta[ch])))
			}
		}
	}
	return nil
}

// BNActBackwardTrainRef is the reference of BNAct.Backward: it recomputes
// the forward statistics from x and writes dx, dgamma, dbeta (overwritten).
func BNActBackwardTrainRef[F Float](s BNShape, eps float64, a Activation, x, dy, gamma, beta, dx, dgamma, dbeta []F) error {
	splits, rows, err := refBNCheck(s)
	if err != nil {
		return err
	}
	c := s.C
	if err := checkLens("BNActBackwardTrainRef", []lenCheck{{"x", len(x), s.N * s.HW * c}, {"dy", len(dy), len(x)}, {"dx", len(dx), len(x)}, {"gamma", len(gamma), c}, {"beta", len(beta), c}, {"dgamma", len(dgamma), c}, {"dbeta", len(dbeta), c}}); err != nil {
		return err
	}
	dg := make([]float64, c)
	db := make([]float64, c)
	for g := 0; g < splits; g++ {
		for ch := 0; ch < c; ch++ {
			var mu, v float64
			for r := g * rows; r < (g+1)*rows; r++ {
				mu += float64(x[r*c+ch])
			}
			mu /= float64(rows)
			for r := g * rows; r < (g+1)*rows; r++ {
				d := float64(x[r*c+ch]) - mu
				v += d * d
			}
			v /= float64(rows)
			is := 1 / math.Sqrt(v+eps)
			gm, bt := float64(gamma[ch]), float64(beta[ch])
			// dL/dxhat = dz*gamma; the standard BN backward:
			// dx = is/m * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)).
			var sdh, sdhx float64
			for r := g * rows; r < (g+1)*rows; r++ {
				h := (float64(x[r*c+ch]) - mu) * is
				dz := float64(dy[r*c+ch]) * ActGradRef(a, gm*h+bt)
				dg[ch] += dz * h
				db[ch] += dz
				sdh += dz * gm
				sdhx += dz * gm * h
			}
			m := float64(rows)
			for r := g * rows; r < (g+1)*rows; r++ {
				h := (float64(x[r*c+ch]) - mu) * is
				dz := float64(dy[r*c+ch]) * ActGradRef(a, gm*h+bt)
				dx[r*c+ch] = F(is / m * (m*dz*gm - sdh - h*sdhx))
			}
		}
	}
	for ch := 0; ch < c; ch++ {
		dgamma[ch], dbeta[ch] = F(dg[ch]), F(db[ch])
	}
	return nil
}

// BNActForwardEvalRef is the reference of BNAct.ForwardEval.
func BNActForwardEvalRef[F Float](c int, eps float64, a Activation, x, gamma, beta, runMean, runVar, y []F) error {
	if c < 1 || len(x)%c != 0 || len(y) != len(x) || len(gamma) != c || len(beta) != c || len(runMean) != c || len(runVar) != c {
		return fmt.Errorf("kernels: BNActForwardEvalRef: bad lengths for C=%d", c)
	}
	for i, v := range x {
		ch := i % c
		h := (float64(v) - float64(runMean[ch])) / math.Sqrt(float64(runVar[ch])+eps)
		y[i] = F(ActRef(a, float64(gamma[ch])*h+float64(beta[ch])))
	}
	return nil
}

// BNActBackwardEvalRef is the reference of BNAct.BackwardEval.
func BNActBackwardEvalRef[F Float](c int, eps float64, a Activation, x, dy, gamma, beta, runMean, runVar, dx, dgamma, dbeta []F) error {
	if c < 1 || len(x)%c != 0 || len(dy) != len(x) || len(dx) != len(x) || len(gamma) != c || len(beta) != c ||
		len(runMean) != c || len(runVar) != c || len(dgamma) != c || len(dbeta) != c {
		return fmt.Errorf("kernels: BNActBackwardEvalRef: bad lengths for C=%d", c)
	}
	dg := make([]float64, c)
	db := make([]float64, c)
	for i, v := range x {
		ch := i % c
		is := 1 / math.Sqrt(float64(runVar[ch])+eps)
		h := (float64(v) - float64(runMean[ch])) * is
		dz := float64(dy[i]) * ActGradRef(a, float64(gamma[ch])*h+float64(beta[ch]))
		dg[ch] += dz * h
		db[ch] += dz
		dx[i] = F(dz * float64(gamma[ch]) * is)
	}
	for ch := 0; ch < c; ch++ {
		dgamma[ch], dbeta[ch] = F(dg[ch]), F(db[ch])
	}
	return nil
}

// MaxPoolForwardRef is the reference of MaxPoolForward; argmax may be nil.
func MaxPoolForwardRef[F Float](x []F, n, h, w, c, k int, y []F, argmax []int32) error {
	oh, ow, err := poolDims("MaxPoolForwardRef", n, h, w, c, k)
	if err != nil {
		return err
	}
	if len(x) != n*h*w*c || len(y) != n*oh*ow*c || (argmax != nil && len(argmax) != len(y)) {
		return fmt.Errorf("kernels: MaxPoolForwardRef: bad lengths")
	}
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for ch := 0; ch < c; ch++ {
					best := -1
					for di := 0; di < k; di++ {
						for dj := 0; dj < k; dj++ {
							p := ((b*h+i*k+di)*w+j*k+dj)*c + ch
							if best < 0 || x[p] > x[best] {
								best = p
							}
						}
					}
					o := ((b*oh+i)*ow+j)*c + ch
					y[o] = x[best]
					if argmax != nil {
						argmax[o] = int32(best)
					}
				}
			}
		}
	}
	return nil
}

// MaxPoolBackwardRef routes each dy to its window's maximum of x.
func MaxPoolBackwardRef[F Float](x, dy []F, n, h, w, c, k int, dx []F) error {
	y := make([]F, len(dy))
	am := make([]int32, len(dy))
	if err := MaxPoolForwardRef(x, n, h, w, c, k, y, am); err != nil {
		return err
	}
	if len(dx) != len(x) {
		return fmt.Errorf("kernels: MaxPoolBackwardRef: len(dx)=%d, want %d", len(dx), len(x))
	}
	clear(dx)
	for i, a := range am {
		dx[a] += dy[i]
	}
	return nil
}

// AvgPoolForwardRef is the reference of AvgPoolForward.
func AvgPoolForwardRef[F Float](x []F, n, h, w, c, k int, y []F) error {
	oh, ow, err := poolDims("AvgPoolForwardRef", n, h, w, c, k)
	if err != nil {
		return err
	}
	if len(x) != n*h*w*c || len(y) != n*oh*ow*c {
		return fmt.Errorf("kernels: AvgPoolForwardRef: bad lengths")
	}
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for ch := 0; ch < c; ch++ {
					var acc float64
					for di := 0; di < k; di++ {
						for dj := 0; dj < k; dj++ {
							acc += float64(x[((b*h+i*k+di)*w+j*k+dj)*c+ch])
						}
					}
					y[((b*oh+i)*ow+j)*c+ch] = F(acc / float64(k*k))
				}
			}
		}
	}
	return nil
}

// AvgPoolBackwardRef is the reference of AvgPoolBackward.
func AvgPoolBackwardRef[F Float](dy []F, n, h, w, c, k int, dx []F) error {
	oh, ow, err := poolDims("AvgPoolBackwardRef", n, h, w, c, k)
	if err != nil {
		return err
	}
	if len(dx) != n*h*w*c || len(dy) != n*oh*ow*c {
		return fmt.Errorf("kernels: AvgPoolBackwardRef: bad lengths")
	}
	clear(dx)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for ch := 0; ch < c; ch++ {
					g := float64(dy[((b*oh+i)*ow+j)*c+ch]) / float64(k*k)
					for di := 0; di < k; di++ {
						for dj := 0; dj < k; dj++ {
							dx[((b*h+i*k+di)*w+j*k+dj)*c+ch] += F(g)
						}
					}
				}
			}
		}
	}
	return nil
}

func refGlobalCheck(fn string, lx, ly, n, hw, c int) error {
	if n < 1 || hw < 1 || c < 1 || lx != n*hw*c || ly != n*c {
		return fmt.Errorf("kernels: %s: bad shape n=%d hw=%d c=%d for lengths %d, %d", fn, n, hw, c, lx, ly)
	}
	return nil
}

// GlobalMaxPoolForwardRef is the reference of GlobalMaxPoolForward.
func GlobalMaxPoolForwardRef[F Float](x []F, n, hw, c int, y []F) error {
	if err := refGlobalCheck("GlobalMaxPoolForwardRef", len(x), len(y), n, hw, c); err != nil {
		return err
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			best := x[b*hw*c+ch]
			for p := 1; p < hw; p++ {
				best = max(best, x[(b*hw+p)*c+ch])
			}
			y[b*c+ch] = best
		}
	}
	return nil
}

// GlobalMaxPoolBackwardRef routes dy to each channel's first maximum.
func GlobalMaxPoolBackwardRef[F Float](x, dy []F, n, hw, c int, dx []F) error {
	if err := refGlobalCheck("GlobalMaxPoolBackwardRef", len(x), len(dy), n, hw, c); err != nil {
		return err
	}
	if len(dx) != len(x) {
		return fmt.Errorf("kernels: GlobalMaxPoolBackwardRef: len(dx)=%d, want %d", len(dx), len(x))
	}
	clear(dx)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			bp := 0
			for p := 1; p < hw; p++ {
				if x[(b*hw+p)*c+ch] > x[(b*hw+bp)*c+ch] {
					bp = p
				}
			}
			dx[(b*hw+bp)*c+ch] = dy[b*c+ch]
		}
	}
	return nil
}

// GlobalAvgPoolForwardRef is the reference of GlobalAvgPoolForward.
func GlobalAvgPoolForwardRef[F Float](x []F, n, hw, c int, y []F) error {
	if err := refGlobalCheck("GlobalAvgPoolForwardRef", len(x), len(y), n, hw, c); err != nil {
		return err
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			var acc float64
			for p := 0; p < hw; p++ {
				acc += float64(x[(b*hw+p)*c+ch])
			}
			y[b*c+ch] = F(acc / float64(hw))
		}
	}
	return nil
}

// GlobalAvgPoolBackwardRef is the reference of GlobalAvgPoolBackward.
func GlobalAvgPoolBackwardRef[F Float](dy []F, n, hw, c int, dx []F) error {
	if err := refGlobalCheck("GlobalAvgPoolBackwardRef", len(dx), len(dy), n, hw, c); err != nil {
		return err
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hw; p++ {
				dx[(b*hw+p)*c+ch] = F(float64(dy[b*c+ch]) / float64(hw))
			}
		}
	}
	return nil
}

// SoftmaxCrossEntropyRef is the reference of SoftmaxCrossEntropy (dlogits
// may be nil when only the loss is wanted).
func SoftmaxCrossEntropyRef[F Float](logits []F, labels []int32, n, classes int, smoothing float64, dlogits []F) (lossSum float64, correct int, err error) {
	if n < 1 || classes < 1 || len(logits) != n*classes || len(labels) != n || (dlogits != nil && len(dlogits) != n*classes) {
		return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropyRef: bad lengths")
	}
	for i := 0; i < n; i++ {
		row := logits[i*classes : (i+1)*classes]
		lab := int(labels[i])
		if lab < 0 || lab >= classes {
			return 0, 0, fmt.Errorf("kernels: SoftmaxCrossEntropyRef: labels[%d]=%d outside [0, %d)", i, lab, classes)
		}
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		if best == lab {
			correct++
		}
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v) - float64(row[best]))
		}
		lse := float64(row[best]) + math.Log(se)
		for j, v := range row {
			t := smoothing / float64(classes)
			if j == lab {
				t += 1 - smoothing
			}
			lossSum += -t * (float64(v) - lse)
			if dlogits != nil {
				dlogits[i*classes+j] = F(math.Exp(float64(v)-lse) - t)
			}
		}
	}
	return lossSum, correct, nil
}
