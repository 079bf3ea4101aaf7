package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// tinyFC is a one-layer linear classifier (deepfc of depth 1, 10 wide):
// small enough to compute its gradient by hand.
func tinyFC(t *testing.T) (*model.Spec, stages.Config) {
	t.Helper()
	net := model.Net{Name: "deepfc", Depth: 1, FCWidth: 10, Width: 1, BN: "none", Act: "relu", BNScaleInit: "one", Order: "conv-bn-act-pool", ClassifierScale: 1}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stages.Config{Kind: "train", Net: net, Train: stages.Train{Epochs: 1, BatchSize: 4, Momentum: 0.9, Nesterov: true,
		WeightDecay: 5e-4, Optimizer: "sgd", BNBiasLRMul: 1, BNBiasWDDiv: 1, LR: []stages.Knot{{Epoch: 0, LR: 0.4}}}}
	return spec, cfg
}

// TestLayerStatTinyNet checks the per-layer statistics (|w|, |g| and
// |dw|/|w|) of one step against a direct float64 computation: the softmax cross-entropy
// gradient of a linear layer, and the first Nesterov step with coupled
// weight decay, dw = -(lambda/N)(1+rho)(g + alpha N w).
func TestLayerStatTinyNet(t *testing.T) {
	spec, cfg := tinyFC(t)
	const n, k = 4, 10
	tr, err := NewTrainer(spec, cfg, 7, n)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*k)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []int32{0, 3, 7, 9}
	before := slices.Clone(tr.Params()[0].Data)
	logged := train.LoggedParams(spec)
	if len(logged) != 1 {
		t.Fatalf("%d logged params, want the one weight", len(logged))
	}
	e := &engine{tr: tr}
	if err := e.SaveWeights(logged); err != nil {
		t.Fatal(err)
	}
	const lr = 0.4
	if _, err := tr.Step(x, y, lr); err != nil {
		t.Fatal(err)
	}
	got := make([]train.Norms, 1)
	if err := e.LayerNorms(logged, got); err != nil {
		t.Fatal(err)
	}
	wn, gn, ratio := got[0].Weight, got[0].Grad, got[0].Delta/got[0].Weight

	// Direct: logits = W x, dL/dW = sum_i (softmax_i - onehot_i) x_i^T.
	grad := make([]float64, k*k)
	for i := range n {
		logits := make([]float64, k)
		top := math.Inf(-1)
		for o := range k {
			for j := range k {
				logits[o] += float64(before[o*k+j]) * float64(x[i*k+j])
			}
			top = math.Max(top, logits[o])
		}
		var z float64
		for o := range logits {
			z += math.Exp(logits[o] - top)
		}
		for o := range k {
			p := math.Exp(logits[o]-top) / z
			if int32(o) == y[i] {
				p--
			}
			for j := range k {
				grad[o*k+j] += p * float64(x[i*k+j])
			}
		}
	}
	var wantW, wantG, wantD float64
	for i, g := range grad {
		b := float64(before[i])
		wantW += b * b
		wantG += g * g
		d := lr / n * (1 + cfg.Train.Momentum) * (g + cfg.Train.WeightDecay*n*b)
		wantD += d * d
	}
	wantW, wantG, wantD = math.Sqrt(wantW), math.Sqrt(wantG), math.Sqrt(wantD)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"|w|", wn, wantW}, {"|g|", gn, wantG}, {"|dw|/|w|", ratio, wantD / wantW}} {
		if math.Abs(c.got-c.want) > 1e-4*math.Abs(c.want) {
			t.Errorf("%s = %.8g, direct computation %.8g", c.name, c.got, c.want)
		}
	}
}
