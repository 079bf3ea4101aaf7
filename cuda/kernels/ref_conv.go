package kernels

import "sync"

// ConvShape is a convolution as the GPU check runs it: input N x H x W x C
// (NHWC), weights K x C x R x R (OIHW), stride and zero padding, output
// N x P x Q x K (NHWC).
type ConvShape struct{ N, H, W, C, K, R, Stride, Pad int }

// P and Q are the output height and width.
func (s ConvShape) P() int { return (s.H+2*s.Pad-s.R)/s.Stride + 1 }
func (s ConvShape) Q() int { return (s.W+2*s.Pad-s.R)/s.Stride + 1 }

// taps visits every (output, input, weight) index triple of image n.
func (s ConvShape) taps(n int, f func(y, x, w int)) {
	P, Q := s.P(), s.Q()
	for p := 0; p < P; p++ {
		for q := 0; q < Q; q++ {
			for k := 0; k < s.K; k++ {
				yi := ((n*P+p)*Q+q)*s.K + k
				for r := 0; r < s.R; r++ {
					ih := p*s.Stride - s.Pad + r
					if ih < 0 || ih >= s.H {
						continue
					}
					for t := 0; t < s.R; t++ {
						iw := q*s.Stride - s.Pad + t
						if iw < 0 || iw >= s.W {
							continue
						}
						for c := 0; c < s.C; c++ {
							f(yi, ((n*s.H+ih)*s.W+iw)*s.C+c, ((k*s.C+c)*s.R+r)*s.R+t)
						}
					}
				}
			}
		}
	}
}

// perImage runs f for every image on its own goroutine (the GPU machine
// checks full layers against these references).
func (s ConvShape) perImage(f func(n int)) {
	var wg sync.WaitGroup
	for n := 0; n < s.N; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(n)
		}()
	}
	wg.Wait()
}

// ConvFwdRef is y = conv(x, w) with float64 accumulation.
func ConvFwdRef(s ConvShape, x, w []float32) []float32 {
	acc := make([]float64, s.N*s.P()*s.Q()*s.K)
	s.perImage(func(n int) { // images write disjoint outputs
		s.taps(n, func(y, xi, wi int) { acc[y] += float64(x[xi]) * float64(w[wi]) })
	})
	return narrow(acc)
}

// ConvBwdDataRef is dx = conv^T(dy, w).
func ConvBwdDataRef(s ConvShape, dy, w []float32) []float32 {
	acc := make([]float64, s.N*s.H*s.W*s.C)
	s.perImage(func(n int) {
		s.taps(n, func(y, xi, wi int) { acc[xi] += float64(dy[y]) * float64(w[wi]) })
	})
	return narrow(acc)
}

// ConvBwdFilterRef is dw = corr(x, dy), OIHW.
func ConvBwdFilterRef(s ConvShape, x, dy []float32) []float32 {
	part := make([][]float64, s.N) // per image, summed in order: deterministic
	s.perImage(func(n int) {
		acc := make([]float64, s.K*s.C*s.R*s.R)
		s.taps(n, func(y, xi, wi int) { acc[wi] += float64(x[xi]) * float64(dy[y]) })
		part[n] = acc
	})
	acc := make([]float64, s.K*s.C*s.R*s.R)
	for _, p := range part {
		for i, v := range p {
			acc[i] += v
		}
	}
	return narrow(acc)
}

// GemmRef is row-major C(m,n) = A(m,k) B(k,n).
func GemmRef(m, n, k int, a, b []float32) []float32 {
	acc := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			av := float64(a[i*k+p])
			for j := 0; j < n; j++ {
				acc[i*n+j] += av * float64(b[p*n+j])
			}
		}
	}
	return narrow(acc)
}

// OIHWToOHWI reorders conv weights for cuDNN's NHWC filter format (KRSC).
func OIHWToOHWI(w []float32, K, C, R int) []float32 {
	out := make([]float32, len(w))
	for k := 0; k < K; k++ {
		for c := 0; c < C; c++ {
			for r := 0; r < R; r++ {
				for t := 0; t < R; t++ {
					out[((k*R+r)*R+t)*C+c] = w[((k*C+c)*R+r)*R+t]
				}
			}
		}
	}
	return out
}

func narrow(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}
