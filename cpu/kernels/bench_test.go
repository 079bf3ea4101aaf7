package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// resnet9Convs are the conv layers of DavidNet's ResNet-9 on 32x32 CIFAR-10
// images (every conv 3x3, pad 1; res convs appear twice in the network).
var resnet9Convs = []struct {
	name    string
	h, c, k int
}{
	{"prep", 32, 3, 64},
	{"layer1", 32, 64, 128},
	{"res1", 16, 128, 128},
	{"layer2", 16, 128, 256},
	{"layer3", 8, 256, 512},
	{"res3", 4, 512, 512},
}

// resnet9ConvShapes returns the ResNet-9 conv shapes at batch n, by layer name.
func resnet9ConvShapes(n int) (names []string, shapes []ConvShape) {
	for _, l := range resnet9Convs {
		names = append(names, l.name)
		shapes = append(shapes, ConvShape{N: n, H: l.h, W: l.h, C: l.c, K: l.k, R: 3, S: 3, Stride: 1, Pad: 1})
	}
	return names, shapes
}

// benchLib is one implementation under measurement.
type benchLib struct {
	name string
	make func(ConvShape) (convImpl, error)
}

var benchLibs = []benchLib{
	{"onednn", func(s ConvShape) (convImpl, error) { return newDnnlConvAlg(s, dnnlDirect, false) }},
	{"onednn-bf16", func(s ConvShape) (convImpl, error) {
		if !HasBF16() {
			return nil, ErrNoBF16
		}
		return newDnnlConvAlg(s, dnnlDirect, true)
	}},
	{"onednn-winograd", func(s ConvShape) (convImpl, error) { return newDnnlConvAlg(s, dnnlWinograd, false) }},
	{"openblas", func(s ConvShape) (convImpl, error) { return newGemmConv(s) }},
}

// BenchmarkConv measures each library on the ResNet-9 conv shapes at batch
// 128 and 512, per pass, and reports nominal GFLOP/s (padding taps
// counted, as in the PyTorch anchors). Run with e.g.
//
//	go test -run - -bench Conv/.*/b128 -benchtime 5x ./cpu/kernels
func BenchmarkConv(b *testing.B) {
	for _, lib := range benchLibs {
		b.Run(lib.name, func(b *testing.B) {
			for _, n := range []int{128, 512} {
				names, shapes := resnet9ConvShapes(n)
				for i, s := range shapes {
					b.Run(fmt.Sprintf("%s_b%d", names[i], n), func(b *testing.B) { benchConvShape(b, lib, s) })
				}
			}
		})
	}
}

func benchConvShape(b *testing.B, lib benchLib, s ConvShape) {
	impl, err := lib.make(s)
	if err != nil {
		b.Skipf("%s unavailable for %v: %v", lib.name, s, err)
	}
	defer impl.close()
	rng := rand.New(rand.NewPCG(1, 1))
	x, w, dy := randF32(rng, s.XLen()), randF32(rng, s.WLen()), randF32(rng, s.YLen())
	y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
	passes := []struct {
		name string
		f    func() error
	}{
		{"fwd", func() error { return impl.forward(x, w, y) }},
		{"bwd_data", func() error { return impl.backwardData(dy, w, dx) }},
		{"bwd_weights", func() error { return impl.backwardWeights(x, dy, dw) }},
	}
	for _, p := range passes {
		if s.C == 3 && p.name == "bwd_data" {
			continue // the network never needs the image gradient
		}
		b.Run(p.name, func(b *testing.B) {
			cpu := timeLoop(b, p.f) // the warm-up call takes page faults and JIT
			b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			// FLOPs per CPU-second: the efficiency figure that survives a
			// loaded machine (spinning OpenMP/OpenBLAS threads count against it).
			b.ReportMetric(s.FLOPs()/cpu/1e9, "GFLOP/cpu-s")
		})
	}
}
