package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// resnet9BNs are the batch-norm inputs of ResNet-9 per image: HW and C.
var resnet9BNs = []struct {
	name  string
	hw, c int
}{
	{"prep", 1024, 64},
	{"layer1", 1024, 128},
	{"res1", 256, 128},
	{"layer2", 256, 256},
	{"layer3", 64, 512},
	{"res3", 16, 512},
}

// BenchmarkBNActQuarter measures the C loops' fused BN+ReLU passes on the
// width-0.25 ResNet-9 shapes at batch 512.
func BenchmarkBNActQuarter(b *testing.B) {
	const n = 512
	for _, l := range resnet9BNs {
		l.c /= 4
		s := BNShape{N: n, HW: l.hw, C: l.c}
		bn, err := newBNAct(s, 1e-5, Activation{Kind: ActReLU}, BNAuto)
		if err != nil {
			b.Fatal(err)
		}
		f := newBNBench(bn)
		b.Run(l.name+"/fwd", func(b *testing.B) { timeLoop(b, f.fwd) })
		b.Run(l.name+"/bwd", func(b *testing.B) { timeLoop(b, f.bwd) })
		b.Run(l.name+"/fwd_eval", func(b *testing.B) { timeLoop(b, f.eval) })
		b.Run(l.name+"/bwd16", func(b *testing.B) { timeLoop(b, f.bwd16) })
		bn.Close()
	}
}

// BenchmarkBNAct measures the fused BN+ReLU passes on the ResNet-9 shapes
// at batch 128, through oneDNN, the Go loops and their vectorised C
// (BNAuto), and reports the bytes each pass must move (GB/s).
func BenchmarkBNAct(b *testing.B) {
	const n = 128
	for _, l := range resnet9BNs {
		for _, ghost := range []int{0, 32} {
			for _, impl := range []string{"onednn", "go", "c"} {
				s := BNShape{N: n, HW: l.hw, C: l.c, Ghost: ghost}
				mode := map[string]BNLib{"onednn": BNOneDNN, "go": BNGo, "c": BNAuto}[impl]
				bn, err := newBNAct(s, 1e-5, Activation{Kind: ActReLU}, mode)
				if err != nil {
					b.Fatal(err)
				}
				f, m := newBNBench(bn), n*l.hw*l.c
				name := fmt.Sprintf("%s/%s_b%d_ghost%d", impl, l.name, n, ghost)
				// Streams: forward reads x, writes y; backward reads x and dy,
				// writes dx, then reads x and dx, writes dx.
				run := func(pass string, streams int, f func() error) {
					b.Run(name+"/"+pass, func(b *testing.B) {
						timeLoop(b, f)
						b.ReportMetric(float64(streams*4*m)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
					})
				}
				run("fwd", 2, f.fwd)
				run("bwd", 6, f.bwd)
				if impl == "c" {
					run("bwd16", 5, f.bwd16)
				}
				if ghost == 0 {
					run("fwd_eval", 2, f.eval)
				}
				bn.Close()
			}
		}
	}
}

// BenchmarkPoolLoss measures the max pool after layer1 (batch 128) and the
// loss at batch 512.
func BenchmarkPoolLoss(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, h, c = 128, 32, 128
	x := randF32(rng, n*h*h*c)
	y, am := make([]float32, len(x)/4), make([]uint8, len(x)/4)
	dx := make([]float32, len(x))
	b.Run("maxpool2_layer1_b128/fwd", func(b *testing.B) {
		timeLoop(b, func() error { return MaxPoolForward(x, n, h, h, c, 2, y, am) })
		b.ReportMetric(float64(4*len(x)+8*len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run("maxpool2_layer1_b128/bwd", func(b *testing.B) {
		timeLoop(b, func() error { return MaxPoolBackward(y, am, n, h, h, c, 2, dx) })
		b.ReportMetric(float64(4*len(x)+8*len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	const ln, classes = 512, 10
	logits, d := randF32(rng, ln*classes), make([]float32, ln*classes)
	labels := make([]int32, ln)
	b.Run("loss_b512", func(b *testing.B) {
		timeLoop(b, func() error {
			_, _, err := SoftmaxCrossEntropy(logits, labels, ln, classes, 0.2, d)
			return err
		})
	})
}

// bnBench holds a benchmark's random buffers for one BNAct.
type bnBench struct {
	bn                                *BNAct
	x, y, dx, g, be, mean, vr, dg, db []float32
	dx16                              []uint16
}

func newBNBench(bn *BNAct) *bnBench {
	rng := rand.New(rand.NewPCG(1, 1))
	s := bn.Shape()
	m, sc := s.N*s.HW*s.C, bn.Splits()*s.C
	return &bnBench{bn: bn, x: randF32(rng, m), y: make([]float32, m), dx: make([]float32, m),
		g: randF32(rng, s.C), be: randF32(rng, s.C), mean: make([]float32, sc), vr: make([]float32, sc),
		dg: make([]float32, s.C), db: make([]float32, s.C), dx16: make([]uint16, m)}
}

func (f *bnBench) fwd() error { return f.bn.ForwardTrain(f.x, f.g, f.be, f.y, f.mean, f.vr) }
func (f *bnBench) bwd() error { return f.bn.Backward(f.x, f.y, f.g, f.dx, f.dg, f.db) }

// bwd16 writes dx in bf16, with dz in the float32 dx.
func (f *bnBench) bwd16() error { return f.bn.BackwardBF16(f.x, f.y, f.g, f.dx, f.dx16, f.dg, f.db) }

// eval uses the first split's batch statistics as the running ones.
func (f *bnBench) eval() error {
	c := f.bn.Shape().C
	return f.bn.ForwardEval(f.x, f.g, f.be, f.mean[:c], f.vr[:c], f.y)
}
