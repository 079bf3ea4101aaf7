package cpu

import (
	"context"
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

// TestBenchMeasuresMemory: Bench reports the activation arena, a part of
// the process's peak RSS, and the bf16 graph's arena (bf16 conv inputs,
// in-place BN scratch) is smaller than the float32 one's.
func TestBenchMeasuresMemory(t *testing.T) {
	arena := map[string]int64{}
	for _, prec := range []string{"f32", "bf16"} {
		net := testNet("resnet9", 1.0/8)
		r, err := Bench(context.Background(), BenchOptions{Net: net, Batch: 16, Steps: 1, Seed: 1, Precision: prec})
		if err != nil {
			t.Fatal(err)
		}
		if r.ArenaBytes <= 0 || r.ArenaBytes >= r.PeakRSSBytes {
			t.Errorf("%s: arena %d bytes, peak RSS %d: want 0 < arena < RSS", prec, r.ArenaBytes, r.PeakRSSBytes)
		}
		arena[r.Precision] = r.ArenaBytes
	}
	if f, h := arena["f32"], arena["bf16"]; h != 0 && h >= f {
		t.Errorf("arena %d bytes in bf16, %d in f32: want less", h, f)
	}
	t.Log(arena)
}
