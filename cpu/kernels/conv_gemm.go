package kernels

// gemmConv is im2col plus OpenBLAS SGEMM. The im2col matrix has one row per
// output pixel and columns ordered (r, s, c), so each tap copies C
// contiguous NHWC channels; the weights are reordered to K x (R*S*C) to
// match. Images are processed in chunks so the column buffer stays small.
type gemmConv struct {
	s      ConvShape
	oh, ow int
	rsc    int
	chunk  int       // images per chunk
	col    []float32 // chunk*oh*ow x rsc
	wr     []float32 // K x rsc (OHWI)
	direct bool      // 1x1, stride 1, no pad: x is its own im2col
}

// colBudget bounds the im2col buffer (floats): 16 MiB keeps it near L3 and
// leaves each SGEMM thousands of rows.
const colBudget = 1 << 22

func newGemmConv(s ConvShape) (*gemmConv, error) {
	g := &gemmConv{s: s, oh: s.OutH(), ow: s.OutW(), rsc: s.R * s.S * s.C}
	g.direct = s.R == 1 && s.S == 1 && s.Stride == 1 && s.Pad == 0
	per := g.oh * g.ow * g.rsc
	g.chunk = max(1, min(s.N, colBudget/per))
	if !g.direct {
		g.col = make([]float32, g.chunk*per)
	}
	g.wr = make([]float32, s.K*g.rsc)
	return g, nil
}

// reorderW writes w (OIHW) into g.wr (OHWI).
func (g *gemmConv) reorderW(w []float32) {
	s := g.s
	for k := 0; k < s.K; k++ {
		for c := 0; c < s.C; c++ {
			for r := 0; r < s.R; r++ {
				for q := 0; q < s.S; q++ {
					g.wr[k*g.rsc+(r*s.S+q)*s.C+c] = w[((k*s.C+c)*s.R+r)*s.S+q]
				}
			}
		}
	}
}

// im2col fills g.col for images [b0, b1).
func (g *gemmConv) im2col(x []float32, b0, b1 int) []float32 {
	s := g.s
	if g.direct {
		return x[b0*s.H*s.W*s.C : b1*s.H*s.W*s.C]
	}
	col := g.col[:(b1-b0)*g.oh*g.ow*g.rsc]
	row := 0
	for b := b0; b < b1; b++ {
		for i := 0; i < g.oh; i++ {
			for j := 0; j < g.ow; j++ {
				dst := col[row*g.rsc : (row+1)*g.rsc]
				row++
				for r := 0; r < s.R; r++ {
					ih := i*s.Stride - s.Pad + r
					for q := 0; q < s.S; q++ {
						iw := j*s.Stride - s.Pad + q
						d := dst[(r*s.S+q)*s.C : (r*s.S+q+1)*s.C]
						if ih < 0 || ih >= s.H || iw < 0 || iw >= s.W {
							clear(d)
							continue
						}
						p := ((b*s.H+ih)*s.W + iw) * s.C
						copy(d, x[p:p+s.C])
					}
				}
			}
		}
	}
	return col
}

// col2im adds g.col for images [b0, b1) into dx.
func (g *gemmConv) col2im(col, dx []float32, b0, b1 int) {
	s := g.s
	row := 0
	for b := b0; b < b1; b++ {
		for i := 0; i < g.oh; i++ {
			for j := 0; j < g.ow; j++ {
				src := col[row*g.rsc : (row+1)*g.rsc]
				row++
				for r := 0; r < s.R; r++ {
					ih := i*s.Stride - s.Pad + r
					if ih < 0 || ih >= s.H {
						continue
					}
					for q := 0; q < s.S; q++ {
						iw := j*s.Stride - s.Pad + q
						if iw < 0 || iw >= s.W {
							continue
						}
						p := ((b*s.H+ih)*s.W + iw) * s.C
						d := dx[p : p+s.C]
						sr := src[(r*s.S+q)*s.C : (r*s.S+q+1)*s.C]
						sr = sr[:len(d)]
						for c := range d {
							d[c] += sr[c]
						}
					}
				}
			}
		}
	}
}

func (g *gemmConv) forward(x, w, y []float32) error {
	g.reorderW(w)
	s, pix := g.s, g.oh*g.ow
	for b0 := 0; b0 < s.N; b0 += g.chunk {
		b1 := min(b0+g.chunk, s.N)
		col := g.im2col(x, b0, b1)
		m := (b1 - b0) * pix
		sgemm(false, true, m, s.K, g.rsc, 1, col, g.rsc, g.wr, g.rsc, 0, y[b0*pix*s.K:b1*pix*s.K], s.K)
	}
	return nil
}

func (g *gemmConv) backwardData(dy, w, dx []float32) error {
	g.reorderW(w)
	s, pix := g.s, g.oh*g.ow
	if g.direct {
		// dx = dy * wr, straight into dx.
		sgemm(false, false, s.N*pix, g.rsc, s.K, 1, dy, s.K, g.wr, g.rsc, 0, dx, g.rsc)
		return nil
	}
	clear(dx)
	for b0 := 0; b0 < s.N; b0 += g.chunk {
		b1 := min(b0+g.chunk, s.N)
		m := (b1 - b0) * pix
		col := g.col[:m*g.rsc]
		sgemm(false, false, m, g.rsc, s.K, 1, dy[b0*pix*s.K:b1*pix*s.K], s.K, g.wr, g.rsc, 0, col, g.rsc)
		g.col2im(col, dx, b0, b1)
	}
	return nil
}

func (g *gemmConv) backwardWeights(x, dy, dw []float32) error {
	s, pix := g.s, g.oh*g.ow
	for b0 := 0; b0 < s.N; b0 += g.chunk {
		b1 := min(b0+g.chunk, s.N)
		col := g.im2col(x, b0, b1)
		m := (b1 - b0) * pix
		beta := float32(1)
		if b0 == 0 {
			beta = 0
		}
		sgemm(true, false, s.K, g.rsc, m, 1, dy[b0*pix*s.K:b1*pix*s.K], s.K, col, g.rsc, beta, g.wr, g.rsc)
	}
	// g.wr now holds dw in OHWI; write it out as OIHW.
	for k := 0; k < s.K; k++ {
		for c := 0; c < s.C; c++ {
			for r := 0; r < s.R; r++ {
				for q := 0; q < s.S; q++ {
					dw[((k*s.C+c)*s.R+r)*s.S+q] = g.wr[k*g.rsc+(r*s.S+q)*s.C+c]
				}
			}
		}
	}
	return nil
}

func (g *gemmConv) close() error { return nil }
