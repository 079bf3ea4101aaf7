package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

// The worker pool is the one piece of package state: kernels are called
// from gorgonia Ops that have no place to carry a pool, and one pool per
// process matches the one set of cores. It is created once, on first use.
var (
	poolOnce    sync.Once
	poolThreads int // set by SetThreads before first use; 0 = runtime.NumCPU
	poolMu      sync.Mutex
	thePool     *workerPool
)

// SetThreads sets the number of workers the Go kernels use and the OpenMP
// thread count of oneDNN's calls. It must be called before any kernel runs;
// a later call is a no-op when n matches the running pool and an error
// otherwise.
func SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("kernels: SetThreads(%d): need at least 1", n)
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	if thePool != nil {
		if thePool.n == n {
			return nil
		}
		return fmt.Errorf("kernels: SetThreads(%d): the worker pool already runs with %d workers", n, thePool.n)
	}
	poolThreads = n
	if !setDnnlThreads(n) {
		return fmt.Errorf("kernels: SetThreads(%d): omp_set_num_threads not found in the loaded libgomp", n)
	}
	return nil
}

// Threads returns the number of workers the Go kernels use.
func Threads() int { return pool().n }

func pool() *workerPool {
	poolOnce.Do(func() {
		poolMu.Lock()
		defer poolMu.Unlock()
		n := poolThreads
		if n < 1 {
			n = runtime.NumCPU()
		}
		thePool = newWorkerPool(n)
	})
	return thePool
}

// task is one parallel job: run(i, n) does part i of n.
type task interface {
	run(i, n int)
}

// workerPool runs a task split into n parts on n-1 long-lived goroutines
// plus the caller. Passing a pointer as the task interface allocates
// nothing, which keeps the kernels allocation-free.
type workerPool struct {
	n    int
	busy sync.Mutex
	work []chan task
	done chan struct{}

	// Task structs for the free-function kernels, used while busy is held,
	// so a parallel call allocates nothing.
	maxPool  maxPoolTask
	poolBest []int32 // maxPoolTask's C scratch
	act      actTask
	// MaxPoolBackward's task and its parts' error slots.
	maxPoolBwd maxPoolBwdTask
	poolBad    []int
	bnPart     []float32 // BNAct's row-split block partials
}

func newWorkerPool(n int) *workerPool {
	p := &workerPool{n: n, done: make(chan struct{}, n)}
	for i := 1; i < n; i++ {
		ch := make(chan task)
		p.work = append(p.work, ch)
		go p.worker(i, ch)
	}
	return p
}

func (p *workerPool) worker(i int, ch chan task) {
	for t := range ch {
		t.run(i, p.n)
		p.done <- struct{}{}
	}
}

// do runs t in parallel. When another goroutine holds the pool, t runs
// serially on the caller instead of waiting, so concurrent callers never
// deadlock and results do not depend on scheduling (every task's parts
// write disjoint outputs, and reductions combine per-part partials in
// part order).
func (p *workerPool) do(t task) {
	if !p.acquire() {
		for i := 0; i < p.n; i++ {
			t.run(i, p.n)
		}
		return
	}
	defer p.busy.Unlock()
	p.runHeld(t)
}

// acquire takes the pool for a parallel run; false means run serially.
func (p *workerPool) acquire() bool { return p.n > 1 && p.busy.TryLock() }

// runHeld runs t on all workers; the caller holds p.busy.
func (p *workerPool) runHeld(t task) {
	for _, ch := range p.work {
		ch <- t
	}
	t.run(0, p.n)
	for range p.work {
		<-p.done
	}
}

// span returns the half-open range of part i of n over [0, total).
func span(total, i, n int) (lo, hi int) {
	return total * i / n, total * (i + 1) / n
}
