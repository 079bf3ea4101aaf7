package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"speedrun/model"
	"speedrun/stages"
)

func testNet(name string, width float64) model.Net {
	n := model.Net{Name: name, Width: width, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125, Depth: 3, FCWidth: 8}
	if name == "airbench94" {
		// Its groups pool before BN (model.Net.validate).
		n.Order, n.Act = "conv-pool-bn-act", "gelu"
	}
	return n
}

func testConfig(batch int) stages.Config {
	return stages.Config{Train: stages.Train{Epochs: 1, BatchSize: batch, LR: []stages.Knot{{Epoch: 0, LR: 0.4}}, Momentum: 0.9, Nesterov: true,
		WeightDecay: 5e-4, BNBiasLRMul: 1, BNBiasWDDiv: 1, Optimizer: "sgd", Schedule: "step", EvalEvery: 1}}
}

func randBatch(rng *rand.Rand, n, il, classes int) ([]float32, []int32) {
	x := make([]float32, n*il)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return x, y
}

func TestTrainerStepRuns(t *testing.T) {
	spec, err := model.Build(testNet("resnet9", 1.0/16))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(spec, testConfig(8), 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := randBatch(rng, 8, 3*32*32, 10)
	for i := range 3 {
		loss, err := tr.Step(x, y, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d loss %v", i, loss/8)
		if math.IsNaN(loss) {
			t.Fatal("NaN")
		}
	}
	// A step allocates (almost) nothing: our tape allocates nothing; what
	// is left is gorgonia's UnsafeDo for each sum of gradients (ResNet-9
	// has two), about one object each. gorgonia's TapeMachine made about
	// 350 per step.
	var stepErr error
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := tr.Step(x, y, 0.4); err != nil {
			stepErr = err
		}
	})
	if stepErr != nil {
		t.Fatal(stepErr)
	}
	if allocs > 8 {
		t.Errorf("%.0f heap allocations per step, want at most 8", allocs)
	}
	logits, err := tr.Eval(x[:3*3*32*32], 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(logits[:10])
}
