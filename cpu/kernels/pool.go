package kernels

import (
	"fmt"
	"math"
)

// poolDims checks a k x k, stride-k, unpadded pool over an n x h x w x c
// input and returns the output height and width (floored, like PyTorch).
func poolDims(fn string, n, h, w, c, k int) (oh, ow int, err error) {
	if n < 1 || h < 1 || w < 1 || c < 1 || k < 1 || k > h || k > w {
		return 0, 0, fmt.Errorf("kernels: %s: bad shape n=%d h=%d w=%d c=%d k=%d: want all >= 1 and k <= h, w", fn, n, h, w, c, k)
	}
	return h / k, w / k, nil
}

// maxPoolDims is poolDims for a max pool, whose window must fit its
// byte argmax.
func maxPoolDims(fn string, n, h, w, c, k int) (oh, ow int, err error) {
	if k > MaxWindow {
		return 0, 0, fmt.Errorf("kernels: %s: k=%d: windows above %d do not fit a byte's argmax", fn, k, MaxWindow)
	}
	return poolDims(fn, n, h, w, c, k)
}

// MaxWindow is the largest k of a max pool: its argmax, one byte per
// output, holds a position in the k x k window.
const MaxWindow = 16

// MaxPoolForward is a k x k max pool with stride k and no padding over an
// NHWC input. y is n x h/k x w/k x c; argmax (same length, or nil when no
// backward follows) records where in its window each maximum was, di*k+dj
// for MaxPoolBackward: a byte, where a flat index into x took four.
func MaxPoolForward(x []float32, n, h, w, c, k int, y []float32, argmax []uint8) error {
	oh, ow, err := maxPoolDims("MaxPoolForward", n, h, w, c, k)
	if err != nil {
		return err
	}
	m := n * oh * ow * c
	checks := []lenCheck{{"x", len(x), n * h * w * c}, {"y", len(y), m}, {"argmax", len(argmax), m}}
	if argmax == nil {
		checks = checks[:2]
	}
	if err := checkLens("MaxPoolForward", checks); err != nil {
		return err
	}
	t := maxPoolTask{x: x, y: y, argmax: argmax, n: n, h: h, w: w, c: c, k: k, oh: oh, ow: ow, isa: HostISA()}
	if p := pool(); p.acquire() {
		// The C loops' per-part scratch lives in the pool: it grows to the
		// widest layer once, then no call allocates.
		if len(p.poolBest) < 2*p.n*c {
			p.poolBest = make([]int32, 2*p.n*c)
		}
		t.best = p.poolBest
		p.maxPool = t
		p.runHeld(&p.maxPool)
		p.maxPool = maxPoolTask{}
		p.busy.Unlock()
	} else {
		t.best = make([]int32, 2*c) // a concurrent caller holds the pool: rare
		t.run(0, 1)
	}
	return nil
}

// maxPoolTask is one MaxPoolForward call, split over output rows.
type maxPoolTask struct {
	x, y                  []float32
	argmax                []uint8 // nil: not recorded
	n, h, w, c, k, oh, ow int
	isa                   ISA     // the C loops' (bn_simd.h max_pool_rows); ISANone: the Go loop
	best                  []int32 // C scratch: 2c per part
}

// orderKey maps float32 bits to an int32 with the same order as the floats
// (-0 just below +0, NaNs beyond the infinities), so maxima are found with
// integer compares, which compile to conditional moves instead of
// unpredictable branches.
func orderKey(v float32) int32 {
	b := int32(math.Float32bits(v))
	return b ^ int32(uint32(b>>31)>>1)
}

// fromOrderKey inverts orderKey.
func fromOrderKey(k int32) float32 {
	return math.Float32frombits(uint32(k ^ int32(uint32(k>>31)>>1)))
}

func (t *maxPoolTask) run(part, parts int) {
	h, w, c, k, oh, ow := t.h, t.w, t.c, t.k, t.oh, t.ow
	lo, hi := span(t.n*oh, part, parts)
	if t.isa != ISANone {
		t.simd(lo, hi, t.best[2*part*c:2*(part+1)*c])
		return
	}
	for row := lo; row < hi; row++ {
		b, i := row/oh, row%oh
		for j := 0; j < ow; j++ {
			o := ((b*oh+i)*ow + j) * c
			yr := t.y[o : o+c]
			first := ((b*h+i*k)*w + j*k) * c
			for ch := range yr {
				// The first maximum in window order wins, as in PyTorch; a
				// NaN wins over numbers, so it propagates.
				best, arg := orderKey(t.x[first+ch]), 0
				for di := 0; di < k; di++ {
					p := ((b*h+i*k+di)*w+j*k)*c + ch
					for dj := 0; dj < k; dj, p = dj+1, p+c {
						kv := orderKey(t.x[p])
						if kv > best {
							best, arg = kv, di*k+dj
						}
					}
				}
				yr[ch] = fromOrderKey(best)
				if t.argmax != nil {
					t.argmax[o+ch] = uint8(arg)
				}
			}
		}
	}
}

// MaxPoolBackward writes dx (overwritten: zeros plus dy routed to the
// argmax positions MaxPoolForward recorded) for MaxPoolForward's shapes.
// It runs parallel over output rows: each part clears its windows' input
// rows and routes their dy while they are in cache. An argmax outside its
// window (k*k or more) is an error.
func MaxPoolBackward(dy []float32, argmax []uint8, n, h, w, c, k int, dx []float32) error {
	oh, ow, err := maxPoolDims("MaxPoolBackward", n, h, w, c, k)
	if err != nil {
		return err
	}
	m := n * oh * ow * c
	if err := checkLens("MaxPoolBackward", []lenCheck{{"dy", len(dy), m}, {"argmax", len(argmax), m}, {"dx", len(dx), n * h * w * c}}); err != nil {
		return err
	}
	t := newMaxPoolBwdTask(dy, argmax, n, h, w, c, k, oh, ow, dx, HostISA())
	if p := pool(); p.acquire() {
		if len(p.poolBad) < p.n {
			p.poolBad = make([]int, p.n)
		}
		t.bad = p.poolBad[:p.n]
		p.maxPoolBwd = t
		p.runHeld(&p.maxPoolBwd)
		p.maxPoolBwd = maxPoolBwdTask{}
		p.busy.Unlock()
	} else {
		t.bad = make([]int, 1) // a concurrent caller holds the pool: rare
		t.run(0, 1)
	}
	for _, o := range t.bad {
		if o >= 0 {
			return fmt.Errorf("kernels: MaxPoolBackward: argmax[%d]=%d is outside its %dx%d window", o, argmax[o], k, k)
		}
	}
	return nil
}

// maxPoolBwdTask is one MaxPoolBackward call, split over output rows;
// bad[part] is the first output whose argmax left its window, or -1.
type maxPoolBwdTask struct {
	dy, dx                   []float32
	argmax                   []uint8
	h, w, c, k, oh, ow, rows int
	bad                      []int
	isa                      ISA // the C loops' (bn_simd.h max_pool_bwd_rows); ISANone: the Go loop
	// off[a] is window position a's offset in dx from the window's first
	// element (the Go loop): a table, because dividing by k per element
	// cost more than the routing.
	off [MaxWindow * MaxWindow]int32
}

func newMaxPoolBwdTask(dy []float32, argmax []uint8, n, h, w, c, k, oh, ow int, dx []float32, isa ISA) maxPoolBwdTask {
	t := maxPoolBwdTask{dy: dy, dx: dx, argmax: argmax, h: h, w: w, c: c, k: k, oh: oh, ow: ow, rows: n * oh, isa: isa}
	for a := range k * k {
		t.off[a] = int32(((a/k)*w + a%k) * c)
	}
	return t
}

func (t *maxPoolBwdTask) run(part, parts int) {
	t.bad[part] = -1
	lo, hi := span(t.rows, part, parts)
	if t.isa != ISANone {
		t.bad[part] = t.simd(lo, hi)
		return
	}
	c, k := t.c, t.k
	in, out := t.w*c, t.ow*c // floats per input and output row
	for r := lo; r < hi; r++ {
		b, i := r/t.oh, r%t.oh
		r0, r1 := b*t.h+i*k, b*t.h+i*k+k
		if i == t.oh-1 {
			r1 = (b + 1) * t.h // the rows below the last window get zeros
		}
		dx := t.dx[r0*in : r1*in]
		clear(dx)
		dy, am := t.dy[r*out:(r+1)*out], t.argmax[r*out:(r+1)*out]
		kk, kc := uint8(k*k), k*c
		off := &t.off
		for j := range t.ow {
			o := j * c
			win, dyr := dx[j*kc:], dy[o:o+c]
			for ch, a := range am[o : o+c] {
				if a >= kk {
					t.bad[part] = r*out + o + ch
					return
				}
				win[int(off[a])+ch] = dyr[ch] // windows do not overlap: one dy per element
			}
		}
	}
}

// AvgPoolForward is a k x k average pool with stride k and no padding.
func AvgPoolForward(x []float32, n, h, w, c, k int, y []float32) error {
	oh, ow, err := poolDims("AvgPoolForward", n, h, w, c, k)
	if err != nil {
		return err
	}
	if err := checkLens("AvgPoolForward", []lenCheck{{"x", len(x), n * h * w * c}, {"y", len(y), n * oh * ow * c}}); err != nil {
		return err
	}
	inv := 1 / float32(k*k)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				o := ((b*oh+i)*ow + j) * c
				yr := y[o : o+c]
				clear(yr)
				for di := 0; di < k; di++ {
					for dj := 0; dj < k; dj++ {
						p := ((b*h+i*k+di)*w + j*k + dj) * c
						xr := x[p : p+c]
						yr := yr[:len(xr)]
						for ch, v := range xr {
							yr[ch] += v
						}
					}
				}
				for ch := range yr {
					yr[ch] *= inv
				}
			}
		}
	}
	return nil
}

// AvgPoolBackward writes dx (overwritten) for AvgPoolForward's shapes.
// Input rows and columns beyond the last whole window get zero gradient.
func AvgPoolBackward(dy []float32, n, h, w, c, k int, dx []float32) error {
	oh, ow, err := poolDims("AvgPoolBackward", n, h, w, c, k)
	if err != nil {
		return err
	}
	if err := checkLens("AvgPoolBackward", []lenCheck{{"dy", len(dy), n * oh * ow * c}, {"dx", len(dx), n * h * w * c}}); err != nil {
		return err
	}
	clear(dx)
	inv := 1 / float32(k*k)
	for b := 0; b < n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				o := ((b*oh+i)*ow + j) * c
				dr := dy[o : o+c]
				for di := 0; di < k; di++ {
					for dj := 0; dj < k; dj++ {
						p := ((b*h+i*k+di)*w + j*k + dj) * c
						xr := dx[p : p+c]
						dr := dr[:len(xr)]
						for ch := range xr {
							xr[ch] = dr[ch] * inv
						}
					}
				}
			}
		}
	}
	return nil
}

// GlobalMaxPoolForward takes the max over hw positions: x is n x hw x c,
// y is n x c, argmax (n x c) records the position in [0, hw) of each max.
func GlobalMaxPoolForward(x []float32, n, hw, c int, y []float32, argmax []int32) error {
	if n < 1 || hw < 1 || c < 1 {
		return fmt.Errorf("kernels: GlobalMaxPoolForward: bad shape n=%d hw=%d c=%d: want all >= 1", n, hw, c)
	}
	if err := checkLens("GlobalMaxPoolForward", []lenCheck{{"x", len(x), n * hw * c}, {"y", len(y), n * c}, {"argmax", len(argmax), n * c}}); err != nil {
		return err
	}
	for b := 0; b < n; b++ {
		yr, ar := y[b*c:b*c+c], argmax[b*c:b*c+c]
		copy(yr, x[b*hw*c:b*hw*c+c])
		clear(ar)
		for p := 1; p < hw; p++ {
			xr := x[(b*hw+p)*c : (b*hw+p+1)*c]
			yr, ar := yr[:len(xr)], ar[:len(xr)]
			for ch, v := range xr {
				if v > yr[ch] {
					yr[ch] = v
					ar[ch] = int32(p)
				}
			}
		}
	}
	return nil
}

// GlobalMaxPoolBackward writes dx (n x hw x c, overwritten) from dy (n x c)
// and the positions recorded by GlobalMaxPoolForward.
func GlobalMaxPoolBackward(dy []float32, argmax []int32, n, hw, c int, dx []float32) error {
	if n < 1 || hw < 1 || c < 1 {
		return fmt.Errorf("kernels: GlobalMaxPoolBackward: bad shape n=%d hw=%d c=%d: want all >= 1", n, hw, c)
	}
	if err := checkLens("GlobalMaxPoolBackward", []lenCheck{{"dy", len(dy), n * c}, {"argmax", len(argmax), n * c}, {"dx", len(dx), n * hw * c}}); err != nil {
		return err
	}
	clear(dx)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			p := argmax[b*c+ch]
			if p < 0 || int(p) >= hw {
				return fmt.Errorf("kernels: GlobalMaxPoolBackward: argmax[%d]=%d outside [0, %d)", b*c+ch, p, hw)
			}
			dx[(b*hw+int(p))*c+ch] = dy[b*c+ch]
		}
	}
	return nil
}

// GlobalAvgPoolForward averages over hw positions: x is n x hw x c, y n x c.
func GlobalAvgPoolForward(x []float32, n, hw, c int, y []float32) error {
	if n < 1 || hw < 1 || c < 1 {
		return fmt.Errorf("kernels: GlobalAvgPoolForward: bad shape n=%d hw=%d c=%d: want all >= 1", n, hw, c)
	}
	if err := checkLens("GlobalAvgPoolForward", []lenCheck{{"x", len(x), n * hw * c}, {"y", len(y), n * c}}); err != nil {
		return err
	}
	inv := 1 / float32(hw)
	for b := 0; b < n; b++ {
		yr := y[b*c : b*c+c]
		clear(yr)
		for p := 0; p < hw; p++ {
			xr := x[(b*hw+p)*c : (b*hw+p+1)*c]
			yr := yr[:len(xr)]
			for ch, v := range xr {
				yr[ch] += v
			}
		}
		for ch := range yr {
			yr[ch] *= inv
		}
	}
	return nil
}

// GlobalAvgPoolBackward writes dx (n x hw x c, overwritten) from dy (n x c).
func GlobalAvgPoolBackward(dy []float32, n, hw, c int, dx []float32) error {
	if n < 1 || hw < 1 || c < 1 {
		return fmt.Errorf("kernels: GlobalAvgPoolBackward: bad shape n=%d hw=%d c=%d: want all >= 1", n, hw, c)
	}
	if err := checkLens("GlobalAvgPoolBackward", []lenCheck{{"dy", len(dy), n * c}, {"dx", len(dx), n * hw * c}}); err != nil {
		return err
	}
	inv := 1 / float32(hw)
	for b := 0; b < n; b++ {
		dr := dy[b*c : b*c+c]
		for p := 0; p < hw; p++ {
			xr := dx[(b*hw+p)*c : (b*hw+p+1)*c]
			dr := dr[:len(xr)]
			for ch := range xr {
				xr[ch] = dr[ch] * inv
			}
		}
	}
	return nil
}
