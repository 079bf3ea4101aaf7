package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"speedrun/model"
)

// TestCompileAll compiles every catalogue network (and the whole post-4
// family) at width 1/16 and takes one training step and one eval pass.
func TestCompileAll(t *testing.T) {
	names := model.Names()
	for _, kind := range []string{"extra:", "residual:"} {
		for _, l := range []string{"L1", "L2", "L3", "L1+L2", "L1+L3", "L2+L3", "L1+L2+L3"} {
			names = append(names, kind+l)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, name := range names {
		spec, err := model.Build(testNet(name, 1.0/16))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tr, err := NewTrainer(spec, testConfig(2), 1, 2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		x, y := randBatch(rng, 2, tr.inputLen(), spec.Classes)
		loss, err := tr.Step(x, y, 0.1)
		if err != nil || math.IsNaN(loss) {
			t.Errorf("%s: step: loss %v, err %v", name, loss, err)
		}
		if _, err := tr.Eval(x, 2); err != nil {
			t.Errorf("%s: eval: %v", name, err)
		}
		tr.Close()
	}
}
