package kernels

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Concurrent callers share the worker pool: one runs in parallel, the
// others serially on their own goroutine. Results must be bit-identical to
// a lone call either way.
func TestConcurrentCallersDeterministic(t *testing.T) {
	s := BNShape{N: 4, HW: 8, C: 40, Ghost: 2}
	m := s.N * s.HW * s.C
	rng := rand.New(rand.NewPCG(6, 6))
	x, dy := randF32(rng, m), randF32(rng, m)
	g, be := randF32(rng, s.C), randF32(rng, s.C)
	px := randF32(rng, 2*8*8*16)

	type out struct{ y, dx, dg, db, pool []float32 }
	run := func() (out, error) {
		b, err := NewBNAct(s, 1e-5, Activation{Kind: ActCELU, Alpha: 0.5})
		if err != nil {
			return out{}, err
		}
		o := out{y: make([]float32, m), dx: make([]float32, m), dg: make([]float32, s.C), db: make([]float32, s.C), pool: make([]float32, 2*4*4*16)}
		mean, vr := make([]float32, b.Splits()*s.C), make([]float32, b.Splits()*s.C)
		if err := b.ForwardTrain(x, g, be, o.y, mean, vr); err != nil {
			return o, err
		}
		if err := b.Backward(x, dy, g, o.dx, o.dg, o.db); err != nil {
			return o, err
		}
		err = MaxPoolForward(px, 2, 8, 8, 16, 2, o.pool, make([]uint8, len(o.pool)))
		return o, err
	}
	want, err := run()
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			for range 20 {
				o, err := run()
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(o.y, want.y) || !slices.Equal(o.dx, want.dx) || !slices.Equal(o.dg, want.dg) ||
					!slices.Equal(o.db, want.db) || !slices.Equal(o.pool, want.pool) {
					t.Errorf("worker %d: results differ from a lone call", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSetThreads(t *testing.T) {
	n := Threads() // starts the pool
	if err := SetThreads(n); err != nil {
		t.Errorf("SetThreads(%d) with the pool running at %d: %v", n, n, err)
	}
	if err := SetThreads(n + 1); err == nil {
		t.Errorf("SetThreads(%d) with the pool running at %d: no error", n+1, n)
	}
	if err := SetThreads(0); err == nil {
		t.Error("SetThreads(0): no error")
	}
	if !setDnnlThreads(0) { // 0 restores OpenMP's default for later tests
		t.Error("omp_set_num_threads not found in the loaded libgomp")
	}
}

// An argmax outside its window is an error, not a write that could race
// with another part; so are windows too large for a byte's argmax.
func TestMaxPoolBackwardBadArgmax(t *testing.T) {
	const n, h, w, c, k = 2, 4, 4, 3, 2
	x := make([]float32, n*h*w*c)
	for i := range x {
		x[i] = float32(i % 7)
	}
	m := n * (h / k) * (w / k) * c
	y, am, dy, dx := make([]float32, m), make([]uint8, m), make([]float32, m), make([]float32, len(x))
	if err := MaxPoolForward(x, n, h, w, c, k, y, am); err != nil {
		t.Fatal(err)
	}
	if err := MaxPoolBackward(dy, am, n, h, w, c, k, dx); err != nil {
		t.Fatalf("valid argmax: %v", err)
	}
	for _, bad := range []uint8{k * k, 255} {
		am2 := append([]uint8(nil), am...)
		am2[m-1] = bad
		if err := MaxPoolBackward(dy, am2, n, h, w, c, k, dx); err == nil {
			t.Errorf("argmax[%d] = %d: no error", m-1, bad)
		}
	}
	if err := MaxPoolBackward(dy[:m-1], am, n, h, w, c, k, dx); err == nil {
		t.Error("short dy: no error")
	}
	const big = MaxWindow + 1
	xb, yb := make([]float32, big*big), make([]float32, 1)
	if err := MaxPoolForward(xb, 1, big, big, 1, big, yb, make([]uint8, 1)); err == nil {
		t.Errorf("k=%d: no error", big)
	}
	if err := MaxPoolBackward(yb, make([]uint8, 1), 1, big, big, 1, big, xb); err == nil {
		t.Errorf("backward k=%d: no error", big)
	}
}
