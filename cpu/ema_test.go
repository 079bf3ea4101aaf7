package cpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"speedrun/data"
	"speedrun/model"
	"speedrun/train"
)

func TestEMA(t *testing.T) {
	spec, err := model.Build(testNet("resnet9", 1.0/16))
	if err != nil {
		t.Fatal(err)
	}
	st, err := newState(spec, 4)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func() {
		for _, p := range st.params {
			for i := range p {
				p[i] = float32(rng.NormFloat64())
			}
		}
		for _, b := range st.bn {
			for i := range b.mean {
				b.mean[i], b.vr[i] = float32(rng.NormFloat64()), float32(rng.Float64())
			}
		}
	}
	fill()
	x0 := takeSnapshot(st)
	e := newEMA(st)
	fill()
	x1 := takeSnapshot(st)
	rho := math.Pow(0.99, 5)
	e.update(st, rho)
	// Direct: e = rho*x0 + (1-rho)*x1, for params and BN stats alike.
	for i := range x0.params {
		for j := range x0.params[i] {
			want := float32(rho)*x0.params[i][j] + float32(1-rho)*x1.params[i][j]
			if d := e.params[i][j] - want; d > 1e-6 || d < -1e-6 {
				t.Fatalf("ema param %d[%d] = %v, want %v", i, j, e.params[i][j], want)
			}
		}
	}
	for l, b := range x0.bn {
		want := float32(rho)*b[1][0] + float32(1-rho)*x1.bn[l][1][0]
		if d := e.bn[l][1][0] - want; d > 1e-6 || d < -1e-6 {
			t.Fatalf("ema running var of layer %d = %v, want %v", l, e.bn[l][1][0], want)
		}
	}
	// with swaps the EMA values in and restores the live ones.
	err = e.with(st, func() error {
		if st.params[0][0] != e.params[0][0] {
			t.Errorf("inside with: param %v, want the EMA's %v", st.params[0][0], e.params[0][0])
		}
		return nil
	})
	if err != nil || st.params[0][0] != x1.params[0][0] {
		t.Errorf("after with: param %v, want the live %v (err %v)", st.params[0][0], x1.params[0][0], err)
	}
}

// TestLogitsViews checks the engine's logits of the plain and the
// mirrored view of the test set against Eval on those images.
func TestLogitsViews(t *testing.T) {
	spec, err := model.Build(testNet("resnet9", 1.0/16))
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Synthetic(data.SyntheticOptions{Train: 50, Test: 40, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	prep, err := data.Prepare(set, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(spec, testConfig(16), 9, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	e := &engine{tr: tr, su: train.Setup{Spec: spec}, prep: prep}
	n, il := prep.TestLen(), tr.inputLen()
	flipX := make([]float32, n*il)
	data.FlipNHWC(flipX, prep.Test, n)
	for _, c := range []struct {
		view data.View
		x    []float32
	}{{data.View{}, prep.Test}, {data.View{Flip: true}, flipX}} {
		want, err := tr.Eval(c.x, n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n*spec.Classes)
		if err := e.Logits(false, c.view, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("view %+v: the engine's logits differ from Eval's", c.view)
		}
	}
}
