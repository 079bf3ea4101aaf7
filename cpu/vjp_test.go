package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"speedrun/backend"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// TestFrozenGradMatchesTrainer checks Grad, the frozen-model backward
// pass of post 7's analyses (cpu/vjp.go), against the training graph's
// gradient of the summed cross entropy: for the no-BN net they are the
// same function, and for the BN nets (BN before or after the softplus)
// frozen at mean 0 and variance 1-eps the eval-mode BN is the identity,
// so all three must give the no-BN training graph's gradient, to float32
// rounding.
func TestFrozenGradMatchesTrainer(t *testing.T) {
	for _, tc := range []struct{ name, bn, order string }{
		{"no bn", "none", "conv-bn-act-pool"},
		{"bn", "bn", "conv-bn-act-pool"},
		{"bn after act", "bn", "conv-act-bn-pool"},
	} {
		t.Run(tc.name, func(t *testing.T) { testFrozenGrad(t, tc.bn, tc.order) })
	}
}

func testFrozenGrad(t *testing.T, bn, order string) {
	net := model.Net{Name: "simple8", Width: 0.0625, BN: "none", BNScaleInit: "one", Act: "softplus", SoftplusBeta: 10,
		SoftplusThreshold: 2.5, Order: "conv-bn-act-pool", ClassifierScale: 0.125}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stages.Config{Net: net, Train: stages.Train{BatchSize: 4, Optimizer: "sgd", BNBiasLRMul: 1, BNBiasWDDiv: 1, LR: []stages.Knot{{Epoch: 0, LR: 0}, {Epoch: 1, LR: 0}}}}
	params, _ := train.InitParams(backend.Request{Config: cfg, Spec: spec, Seed: 1})
	frozen := net
	frozen.BN, frozen.Order = bn, order
	fspec, err := model.Build(frozen)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	const n = 4
	x := make([]float32, n*3*32*32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []int32{1, 2, 3, 4}
	tr, err := NewTrainer(spec, cfg, 1, n)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.setParams(params)
	if _, err := tr.Step(x, y, 0); err != nil {
		t.Fatal(err)
	}
	k := len(fspec.Layers)
	f := backend.Frozen{Spec: fspec, Params: params, Mean: make([][]float32, k), Var: make([][]float32, k)}
	for i, l := range fspec.Layers {
		if l.Op == model.OpBN && !l.BN.Identity {
			f.Mean[i], f.Var[i] = make([]float32, l.BN.C), make([]float32, l.BN.C)
			for j := range f.Var[i] {
				f.Var[i][j] = float32(1 - l.BN.Eps)
			}
		}
	}
	be, _ := New(Options{})
	grads := make([][]float64, len(spec.Params))
	_, err = be.Grad(f, x, n, func(z, d []float32) (float64, error) {
		for i := range n {
			row := z[i*10 : (i+1)*10]
			_, lse, _ := model.CrossEntropyLSE(row, int(y[i]), 0)
			for j, v := range row {
				d[i*10+j] = float32(math.Exp(float64(v) - lse))
			}
			d[i*10+int(y[i])] -= 1
		}
		return 0, nil
	}, grads)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range tr.Grads() {
		if g.Data == nil {
			continue
		}
		var dn, nn float64
		for j, v := range g.Data {
			dn += (float64(v) - grads[i][j]) * (float64(v) - grads[i][j])
			nn += float64(v) * float64(v)
		}
		if e := math.Sqrt(dn / nn); e > 1e-5 {
			t.Errorf("%s: relative error %.3g against the training graph (norm %.3g)", g.Name, e, math.Sqrt(nn))
		}
	}
}
