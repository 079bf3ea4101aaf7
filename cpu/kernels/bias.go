package kernels

import "fmt"

// AddBias adds b[c] to every row of y, a rows x C matrix (NHWC
// activations: rows = N*H*W), on the worker pool by ranges of rows.
func AddBias(y, b []float32) error {
	c := len(b)
	if c == 0 || len(y)%c != 0 {
		return fmt.Errorf("kernels: AddBias: len(y)=%d is not a multiple of C=%d", len(y), c)
	}
	t := biasTask{y: y, b: b}
	run(&t, len(y))
	return nil
}

// BiasGrad writes db[c] = the sum over rows of dy[r, c] (dy rows x C):
// each worker sums its range of rows in float64 into its part of part
// (BiasGradScratch(C) floats, the caller's, so a step allocates nothing),
// and the parts are added in part order, so the result does not depend on
// scheduling.
func BiasGrad(dy, db []float32, part []float64) error {
	c := len(db)
	if c == 0 || len(dy)%c != 0 {
		return fmt.Errorf("kernels: BiasGrad: len(dy)=%d is not a multiple of C=%d", len(dy), c)
	}
	n := pool().n
	if len(part) < n*c {
		return fmt.Errorf("kernels: BiasGrad: %d scratch floats, want %d", len(part), n*c)
	}
	t := biasTask{y: dy, b: db, grad: true, part: part}
	run(&t, len(dy))
	clear(db)
	for k := range n {
		for j := range c {
			db[j] += float32(t.part[k*c+j])
		}
	}
	return nil
}

// run runs t on the pool, or on the caller for a small job or when the
// pool is busy (serial parts keep the same partials).
func run(t task, size int) {
	p := pool()
	if size < 1<<14 || !p.acquire() {
		for i := range p.n {
			t.run(i, p.n)
		}
		return
	}
	defer p.busy.Unlock()
	p.runHeld(t)
}

// biasTask is one AddBias (y += b per row) or BiasGrad (part i's sums of
// y's columns into part[i*C:]) call, split by rows.
type biasTask struct {
	y, b []float32
	grad bool
	part []float64
}

func (t *biasTask) run(i, n int) {
	c := len(t.b)
	lo, hi := span(len(t.y)/c, i, n)
	if !t.grad {
		for r := lo; r < hi; r++ {
			row := t.y[r*c : (r+1)*c]
			b := t.b[:len(row)]
			for j := range row {
				row[j] += b[j]
			}
		}
		return
	}
	s := t.part[i*c : (i+1)*c]
	clear(s)
	for r := lo; r < hi; r++ {
		row := t.y[r*c : (r+1)*c]
		s := s[:len(row)]
		for j, v := range row {
			s[j] += float64(v)
		}
	}
}

// BiasGradScratch is the scratch BiasGrad needs for C channels.
func BiasGradScratch(c int) int { return pool().n * c }
