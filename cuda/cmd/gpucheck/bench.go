package main

import (
	"fmt"

	"speedrun/cuda"
	"speedrun/cuda/cudnn"
	"speedrun/cuda/driver"
	"speedrun/cuda/kernels"
	"speedrun/cuda/launch"
)

// Bench timing: each measured call runs benchWarm times untimed, then
// benchReps times between two events; the line reports the mean.
const (
	benchWarm = 2
	benchReps = 10
)

// runBench times N3's convolutions (cuDNN, bf16 NHWC) and our heaviest
// kernels at the training batch (512), as "bench" lines. No correctness is
// checked here; the check subcommands do that.
func runBench(c *checker, b *cuda.Backend, k *launch.Kernels) {
	const batch = 512
	dnn := b.DNN
	h, err := dnn.Create()
	if err != nil {
		c.fail(Line{Check: "bench", Name: "cudnnCreate"}, err)
		return
	}
	defer dnn.Destroy(h)
	var total float64
	for _, cs := range convShapes {
		s := cs.s
		s.N = batch
		ms, err := benchConv(c, dnn, h, cs.name, s)
		if err != nil {
			c.fail(Line{Check: "bench", Name: cs.name}, err)
		}
		total += ms
		c.err = nil
		c.freeAll()
	}
	// The BN + CELU layers of N3 at batch 512 (ghost batch 32).
	for _, l := range []struct {
		name    string
		hw, ch  int
		repeats int // layers of this shape in N3
	}{{"prep bn", 32 * 32, 64, 1}, {"layer1 bn", 16 * 16, 128, 3}, {"layer2 bn", 8 * 8, 256, 1}, {"layer3 bn", 4 * 4, 512, 3}} {
		ms, err := benchBN(c, k, l.name, batch, l.hw, l.ch)
		if err != nil {
			c.fail(Line{Check: "bench", Name: l.name}, err)
		}
		total += ms * float64(l.repeats)
		c.err = nil
		c.freeAll()
	}
	c.emit(Line{Check: "bench", Name: "sum of the above per training step (convs + BN, no pools, loss, optimizer or launch gaps)",
		Shape: fmt.Sprintf("batch %d", batch), MS: total, Pass: true})
}

// timeReps times f over benchReps calls after benchWarm untimed ones.
func (c *checker) timeReps(f func() error) (float64, error) {
	for i := 0; i < benchWarm; i++ {
		if err := f(); err != nil {
			return 0, err
		}
	}
	ms, err := c.timed(func() error {
		for i := 0; i < benchReps; i++ {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
	return ms / benchReps, err
}

// benchConv times forward, backward-data and backward-filter and returns
// their summed mean time in ms.
func benchConv(c *checker, dnn *cudnn.DNN, h cudnn.Handle, name string, s kernels.ConvShape) (float64, error) {
	xd, err := dnn.Tensor4d(cudnn.TensorNHWC, cudnn.BF16, s.N, s.C, s.H, s.W)
	if err != nil {
		return 0, err
	}
	defer dnn.DestroyTensor(xd)
	yd, err := dnn.Tensor4d(cudnn.TensorNHWC, cudnn.BF16, s.N, s.K, s.P(), s.Q())
	if err != nil {
		return 0, err
	}
	defer dnn.DestroyTensor(yd)
	wd, err := dnn.Filter4d(cudnn.BF16, cudnn.TensorNHWC, s.K, s.C, s.R, s.R)
	if err != nil {
		return 0, err
	}
	defer dnn.DestroyFilter(wd)
	cd, err := dnn.Conv2d(s.Pad, s.Stride, cudnn.Float, cudnn.TensorOpMath)
	if err != nil {
		return 0, err
	}
	defer dnn.DestroyConv(cd)
	nx, nw, ny := s.N*s.H*s.W*s.C, s.K*s.C*s.R*s.R, s.N*s.P()*s.Q()*s.K
	px, _ := c.up(round(c.randn(nx), launch.BF16), launch.BF16)
	pw, _ := c.up(round(c.randn(nw), launch.BF16), launch.BF16)
	pdy, _ := c.up(round(c.randn(ny), launch.BF16), launch.BF16)
	py, _ := c.zeros(ny, launch.BF16)
	pdx, _ := c.zeros(nx, launch.BF16)
	pdw, _ := c.zeros(nw, launch.BF16)
	if c.err != nil {
		return 0, c.err
	}
	flop := 2 * float64(ny) * float64(s.C*s.R*s.R)
	desc := fmt.Sprintf("N=%d H=%d W=%d C=%d K=%d R=%d bf16 nhwc", s.N, s.H, s.W, s.C, s.K, s.R)
	var sum float64
	type pass struct {
		name string
		perf func() ([]cudnn.ConvAlgoPerf, error)
		ws   func(int) (int, error)
		run  func(cudnn.ConvWork) error
	}
	for _, p := range []pass{
		{"fwd", func() ([]cudnn.ConvAlgoPerf, error) { return dnn.ForwardAlgos(h, xd, wd, cd, yd) },
			func(a int) (int, error) { return dnn.ForwardWorkspace(h, xd, wd, cd, yd, a) },
			func(w cudnn.ConvWork) error { return dnn.Forward(h, 1, xd, px, wd, pw, cd, w, 0, yd, py) }},
		{"bwd_data", func() ([]cudnn.ConvAlgoPerf, error) { return dnn.BackwardDataAlgos(h, wd, yd, cd, xd) },
			func(a int) (int, error) { return dnn.BackwardDataWorkspace(h, wd, yd, cd, xd, a) },
			func(w cudnn.ConvWork) error { return dnn.BackwardData(h, 1, wd, pw, yd, pdy, cd, w, 0, xd, pdx) }},
		{"bwd_filter", func() ([]cudnn.ConvAlgoPerf, error) { return dnn.BackwardFilterAlgos(h, xd, yd, cd, wd) },
			func(a int) (int, error) { return dnn.BackwardFilterWorkspace(h, xd, yd, cd, wd, a) },
			func(w cudnn.ConvWork) error { return dnn.BackwardFilter(h, 1, xd, px, yd, pdy, cd, w, 0, wd, pdw) }},
	} {
		l := Line{Check: "bench", Name: name + " " + p.name, Prec: "bf16", Shape: desc, Pass: true}
		perf, err := p.perf()
		if err != nil {
			c.fail(l, err)
			continue
		}
		// Time the heuristics' first three usable choices; keep the best.
		best, note := -1.0, ""
		tried := 0
		for _, a := range perf {
			if a.Status != 0 || tried == 3 {
				continue
			}
			n, err := p.ws(a.Algo)
			if err != nil {
				continue
			}
			var space driver.DevicePtr
			if n > 0 {
				if space, err = c.alloc(n); err != nil {
					continue
				}
			}
			tried++
			w := cudnn.ConvWork{Algo: a.Algo, Space: space, Bytes: n}
			ms, err := c.timeReps(func() error { return p.run(w) })
			if err != nil {
				note += fmt.Sprintf("algo %d: %v; ", a.Algo, err)
				continue
			}
			note += fmt.Sprintf("algo %d: %.3f ms (ws %d B); ", a.Algo, ms, n)
			if best < 0 || ms < best {
				best = ms
			}
		}
		if best < 0 {
			l.Pass, l.Err = false, "no algorithm ran: "+note
			c.emit(l)
			continue
		}
		l.MS, l.Note = best, fmt.Sprintf("%.1f TFLOP/s; %s", flop/(best*1e-3)/1e12, note)
		c.emit(l)
		sum += best
	}
	return sum, nil
}

// benchBN times the fused ghost-BN + CELU forward (stats + apply) and
// backward (reduce + dx) of one layer in bf16, chunked as the engine runs
// them and unsplit, returning the chunked sum in ms.
func benchBN(c *checker, k *launch.Kernels, name string, batch, hw, ch int) (float64, error) {
	const ghost = 32
	n := batch * hw * ch
	shape := launch.BNShape{G: batch / ghost, R: ghost * hw, C: ch}
	act := launch.BNAct{Kind: kernels.ActCELU, Alpha: 0.3}
	px, _ := c.up(round(c.randn(n), launch.BF16), launch.BF16)
	pdy, _ := c.up(round(c.randn(n), launch.BF16), launch.BF16)
	py, _ := c.zeros(n, launch.BF16)
	pdx, _ := c.zeros(n, launch.BF16)
	g, _ := c.up(make([]float32, ch), launch.F32)
	bt, _ := c.up(make([]float32, ch), launch.F32)
	m, _ := c.zeros(shape.G*ch, launch.F32)
	v, _ := c.zeros(shape.G*ch, launch.F32)
	s1, _ := c.zeros(shape.G*ch, launch.F32)
	s2, _ := c.zeros(shape.G*ch, launch.F32)
	if c.err != nil {
		return 0, c.err
	}
	part, _ := c.zeros(k.BNPartFloats(shape), launch.F32)
	if c.err != nil {
		return 0, c.err
	}
	// Bytes moved at least once: fwd reads x twice (stats) + once, writes y;
	// bwd reads x, dy twice, writes dx.
	gbs := func(bytes, ms float64) string { return fmt.Sprintf("%.0f GB/s effective", bytes/(ms*1e-3)/1e9) }
	// The chunked reductions (the engine's) and, side by side, the unsplit
	// ones (one block row per ghost group), with the ratio.
	var fwd, bwd [2]float64
	for i, maxChunks := range []int{0, 1} {
		k.BNMaxChunks = maxChunks
		S, chunk := k.BNChunks(shape)
		desc := fmt.Sprintf("N=%d HW=%d C=%d ghost=%d bf16, %d chunks of %d rows", batch, hw, ch, ghost, S, chunk)
		var err error
		fwd[i], err = c.timeReps(func() error {
			if err := k.BNStats(0, launch.BF16, shape, px, m, v, part); err != nil {
				return err
			}
			return k.BNActFwd(0, launch.BF16, shape, px, py, m, v, g, bt, 1e-5, act)
		})
		if err != nil {
			k.BNMaxChunks = 0
			return 0, err
		}
		bwd[i], err = c.timeReps(func() error {
			return k.BNActBwd(0, launch.BF16, shape, px, pdy, pdx, m, v, g, bt, s1, s2, part, 1e-5, act)
		})
		if err != nil {
			k.BNMaxChunks = 0
			return 0, err
		}
		what := ""
		if i == 1 {
			what = fmt.Sprintf("unsplit; the engine's chunked version takes %.2fx its time; ", fwd[0]/fwd[1])
		}
		c.emit(Line{Check: "bench", Name: name + " fwd (stats + apply)", Prec: "bf16", Shape: desc, MS: fwd[i], Pass: true, Note: what + gbs(float64(4*2*n), fwd[i])})
		if i == 1 {
			what = fmt.Sprintf("unsplit; the engine's chunked version takes %.2fx its time; ", bwd[0]/bwd[1])
		}
		c.emit(Line{Check: "bench", Name: name + " bwd (reduce + dx)", Prec: "bf16", Shape: desc, MS: bwd[i], Pass: true, Note: what + gbs(float64(5*2*n), bwd[i])})
	}
	k.BNMaxChunks = 0
	return fwd[0] + bwd[0], nil
}
