package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"speedrun/model"
	"speedrun/stages"
)

// TestForwardMatchesEngine checks the probe's forward pass against the
// engine's eval-mode logits on the no-BN 8-layer net (where eval and
// training mode agree).
func TestForwardMatchesEngine(t *testing.T) {
	net := model.Net{Name: "simple8", Width: 1.0 / 16, BN: "none", Act: "relu", BNScaleInit: "one", FreezeBNScale: true,
		Order: "conv-bn-act-pool", ClassifierScale: 0.125}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stages.Config{Kind: "train", Net: net, Train: stages.Train{Epochs: 1, BatchSize: 4, Momentum: 0.9, Optimizer: "sgd", BNBiasLRMul: 1, BNBiasWDDiv: 1}}
	const n = 4
	tr, err := NewTrainer(spec, cfg, 5, n)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x := make([]float32, n*32*32*3)
	rng := rand.New(rand.NewPCG(9, 0))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	want, err := tr.Eval(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var params [][]float32
	for _, p := range tr.Params() {
		params = append(params, p.Data)
	}
	var got []float32
	visited := 0
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Forward(spec, params, x, n, func(i int, y []float32) error {
		visited++
		if i == len(spec.Layers)-1 {
			got = slices.Clone(y)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if visited != len(spec.Layers) {
		t.Errorf("visited %d layers, want %d", visited, len(spec.Layers))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: forward %g, engine %g", i, got[i], want[i])
		}
	}
}
