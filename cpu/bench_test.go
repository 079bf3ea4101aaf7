package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"speedrun/model"
)

// BenchmarkResNet9Step times one full-width ResNet-9 training step
// (forward, backward, optimizer) at batch 128 and 512 on random data.
func BenchmarkResNet9Step(b *testing.B) {
	for _, batch := range []int{128, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			net := testNet("resnet9", 1)
			spec, err := model.Build(net)
			if err != nil {
				b.Fatal(err)
			}
			tr, err := NewTrainer(spec, testConfig(batch), 1, batch)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			x, y := randBatch(rand.New(rand.NewPCG(1, 2)), batch, tr.inputLen(), 10)
			if _, err := tr.Step(x, y, 0.1); err != nil { // warm-up: heap growth, page faults
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(x, y, 0.1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
